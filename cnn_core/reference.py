"""The NumPy version of the documents: the yardstick for every result and every speed.

``neuralNetwork`` is the network of *Make Your Own Neural Network* (3 layers, sigmoid, no biases,
the book's update rule), corrected to run on NumPy 2, with the same constructor keywords as
:class:`cnn_core.neuralNetwork`. It is kept plain NumPy on purpose: whatever cnn_core computes
is compared against it, and every speed-up is a ratio to it.

It needs nothing compiled: ``import cnn_core.reference`` works without the kernels. (The NumPy
twins of the deep networks' kernels are in ``cnn_core._dense_numpy``.)
"""
import numpy
import scipy.special

from . import _npzfile, activations

__all__ = ["neuralNetwork"]


class neuralNetwork(_npzfile.PicklesThroughFile):
    """The book's network: ``wih`` (hnodes, inodes), ``who`` (onodes, hnodes), no biases.

    ``activation`` is the hidden layer's ("sigmoid" as the book, or "relu"); the output layer is
    always sigmoid. ``init="documents"`` (default) draws wih ~ normal(0, hnodes**-0.5) and who ~
    normal(0, onodes**-0.5); ``init="book"`` the book's notebooks' corrected scales,
    normal(0, inodes**-0.5) and normal(0, hnodes**-0.5). Without ``seed`` the weights come from ``numpy.random.normal`` exactly as the
    book draws them (wih first, then who); with ``seed`` from ``numpy.random.default_rng(seed)``.
    ``n_threads`` is accepted for a common signature and ignored (NumPy uses its BLAS threads).
    """

    def __init__(self, inputnodes, hiddennodes, outputnodes, learningrate, *,
                 dtype=numpy.float64, seed=None, activation="sigmoid", n_threads=None,
                 init="documents"):
        self.inodes = inputnodes
        self.hnodes = hiddennodes
        self.onodes = outputnodes
        self.lr = learningrate
        self.dtype = numpy.dtype(dtype)
        self.activation = activation
        self.init = init
        normal = numpy.random.normal if seed is None else numpy.random.default_rng(seed).normal
        if init == "documents":         # SPEC section 1
            wih_std, who_std = pow(self.hnodes, -0.5), pow(self.onodes, -0.5)
        elif init == "book":            # the book's notebooks, corrected in 2017
            wih_std, who_std = pow(self.inodes, -0.5), pow(self.hnodes, -0.5)
        else:
            raise ValueError(f"Unknown init {init!r}; expected one of ['book', 'documents'].")
        self.wih = normal(0.0, wih_std, (self.hnodes, self.inodes)).astype(self.dtype)
        self.who = normal(0.0, who_std, (self.onodes, self.hnodes)).astype(self.dtype)
        hidden = activations.get(activation, ("sigmoid", "relu"))      # the one activation table
        self.activation_function = hidden.function
        self._derivative = hidden.derivative
        self.inverse_activation_function = hidden.inverse
        self._output_function = scipy.special.expit
        self._inverse_output_function = scipy.special.logit

    def train(self, inputs_list, targets_list):
        inputs = numpy.array(inputs_list, ndmin=2, dtype=self.dtype).T
        targets = numpy.array(targets_list, ndmin=2, dtype=self.dtype).T

        hidden_inputs = numpy.dot(self.wih, inputs)
        hidden_outputs = self.activation_function(hidden_inputs)
        final_inputs = numpy.dot(self.who, hidden_outputs)
        final_outputs = self._output_function(final_inputs)

        output_errors = targets - final_outputs
        hidden_errors = numpy.dot(self.who.T, output_errors)

        self.who += self.lr * numpy.dot((output_errors * final_outputs * (1.0 - final_outputs)),
                                        numpy.transpose(hidden_outputs))
        self.wih += self.lr * numpy.dot((hidden_errors * self._derivative(hidden_outputs)),
                                        numpy.transpose(inputs))

    def query(self, inputs_list):
        inputs = numpy.array(inputs_list, ndmin=2, dtype=self.dtype).T
        hidden_outputs = self.activation_function(numpy.dot(self.wih, inputs))
        return self._output_function(numpy.dot(self.who, hidden_outputs))

    def backquery(self, targets_list):
        final_outputs = numpy.array(targets_list, ndmin=2, dtype=self.dtype).T
        final_inputs = self._inverse_output_function(final_outputs)

        hidden_outputs = _rescaled(numpy.dot(self.who.T, final_inputs))
        hidden_inputs = self.inverse_activation_function(hidden_outputs)
        return _rescaled(numpy.dot(self.wih.T, hidden_inputs))

    # The two conveniences cnn_core adds, written the plain way so the comparison is fair.
    def fit(self, inputs, targets, epochs=1):
        """Per-sample ``train`` over every row of ``inputs`` (N, inodes), ``epochs`` times."""
        for _ in range(epochs):
            for x, t in zip(inputs, targets):
                self.train(x, t)
        return self

    def predict(self, inputs):
        """Outputs for N rows of ``inputs`` (N, inodes), as (N, onodes)."""
        return self.query(inputs).T

    # pickle, copy.copy and copy.deepcopy go through cnn_core.neuralNetwork's file format (the
    # same fields, checked the same way when read back), so either class reads the other's.
    def _write(self, file):
        from . import book
        _npzfile.write_npz(file, {
            "kind": book.FILE_KIND, "format_version": book.FORMAT_VERSION,
            "inodes": self.inodes, "hnodes": self.hnodes, "onodes": self.onodes, "lr": self.lr,
            "dtype": self.dtype.name, "activation": self.activation,
            "wih": numpy.asarray(self.wih, self.dtype), "who": numpy.asarray(self.who, self.dtype)})

    @classmethod
    def _read(cls, file):
        from . import book
        fields = book.read_file(file)
        net = cls.__new__(cls)
        net.__init__(fields["inodes"], fields["hnodes"], fields["onodes"], fields["lr"],
                     dtype=fields["dtype"], seed=0, activation=fields["activation"])
        net.wih, net.who = fields["wih"].copy(), fields["who"].copy()
        return net


def _rescaled(signal):
    """The book's rescaling of a layer's signal into [0.01, 0.99], in place."""
    signal -= numpy.min(signal)
    signal /= numpy.max(signal)
    signal *= 0.98
    signal += 0.01
    return signal
