"""Trained networks in and out: ONNX export, PyTorch both ways, the book's weights from files.

Shapes
------
The book's network (:class:`cnn_core.neuralNetwork`) keeps ``wih`` (hnodes, inodes) and ``who``
(onodes, hnodes) and computes, for rows X (N, inodes) (``predict``; ``query`` gives the
transpose (onodes, N))::

    H = f(X @ wih.T)            # f: sigmoid or relu
    Y = sigmoid(H @ who.T)      # (N, onodes)

As ONNX that is ``Gemm(X, wih, transB=1)`` (no C), the hidden op, ``Gemm(H, who, transB=1)``,
``Sigmoid``; as PyTorch ``Linear(inodes, hnodes, bias=False)`` (whose ``weight`` *is* wih),
the hidden module, ``Linear(hnodes, onodes, bias=False)`` (``weight`` is who), ``Sigmoid``.

A :class:`cnn_core.Network` of :class:`cnn_core.layers.Dense` layers computes per layer
``Y = f(X @ W + b)`` with W (n_in, n_out), b (n_out,): ONNX ``Gemm(X, W, b)`` (C omitted when
the layer has no bias), then the activation's op; PyTorch ``Linear(n_in, n_out)`` with
``weight = W.T`` (n_out, n_in) and ``bias = b``, then the activation's module.

A sigmoid with a slope epsilon != 1 computes ``sigmoid(slope * (X @ W + b))``, the
multiplication after the sum, as the kernels do. ONNX: ``Gemm``, ``Mul`` by a scalar of the
network's dtype, ``Sigmoid`` (folding the slope into Gemm's alpha and into the bias gives
``slope * (X @ W) + slope * b``, which rounds differently); PyTorch: the module
:class:`SlopedSigmoid` ``(slope)``, ``torch.sigmoid(slope * x)`` (folding the slope into the
Linear's weight and bias is exact only for powers of two, so it is never folded).

ONNX models take ``input`` (N, n_in) with a symbolic batch dimension "N" and give ``output``
(N, n_out), FLOAT for float32 networks and DOUBLE for float64; the default opset is
:data:`DEFAULT_OPSET` (17: every op used is unchanged since opset 13, and 17 loads in
runtimes from onnxruntime 1.12 on); ``opset=`` takes 13 to the newest the installed onnx knows.
Each model's IR version is the smallest that its opset allows, so older runtimes load it.
onnxruntime runs every op used here in float32 and float64 (Gemm, Mul, Sigmoid, Relu, Tanh,
Softmax; tested for every opset from 13 on).

``onnx`` and ``torch`` are optional: ``pip install "cnn_core[onnx]"`` / ``"cnn_core[torch]"``;
they are imported when a function needs them. Export reads the weights through the public
getters; export a network that no other thread is training.
"""
import io
import json
import os
from collections import namedtuple

import numpy

__all__ = ["ACTIVATION_TABLE", "DEFAULT_OPSET", "MIN_OPSET", "to_onnx", "network_to_torch",
           "network_from_torch", "book_to_torch", "book_from_torch", "book_from_arrays",
           "load_book_weights", "SlopedSigmoid"]

# Our activations -> (the ONNX op after the Gemm, the torch.nn module class after the Linear),
# None for none. A sigmoid with a slope != 1: Mul + Sigmoid, SlopedSigmoid (module docstring).
ACTIVATION_TABLE = {
    "sigmoid": ("Sigmoid", "Sigmoid"),
    "relu": ("Relu", "ReLU"),
    "tanh": ("Tanh", "Tanh"),
    "identity": (None, None),
    "softmax": ("Softmax", "Softmax"),          # ONNX axis=-1, torch dim=-1: per row
}

MIN_OPSET = 13
DEFAULT_OPSET = 17

BOOK_INPUT_SCALING = ("inputs as given to query(); the book's MNIST recipe scales pixels "
                      "x / 255 * 0.99 + 0.01")

# One layer as the exporters see it: `weight` as ONNX's Gemm takes it with `trans_b`
# ((n_out, n_in) when trans_b, else (n_in, n_out)), `bias` (n_out,) or None.
_Layer = namedtuple("_Layer", "weight trans_b bias activation slope")

_EXPECTED_MODULES = "Linear, ReLU, Sigmoid, Tanh, Softmax or Identity"


# ==================================================================== what the networks hold

def _book_classes():
    from .book import neuralNetwork
    from .network import Network
    return neuralNetwork, Network


def _layers_of(net):
    """("neuralNetwork" or "Network", [_Layer...], dtype) for a network, read through its
    public getters (copies)."""
    neuralNetwork, Network = _book_classes()
    if isinstance(net, neuralNetwork):
        return "neuralNetwork", [_Layer(net.wih, True, None, net.activation, 1.0),
                                 _Layer(net.who, True, None, "sigmoid", 1.0)], numpy.dtype(net.dtype)
    if isinstance(net, Network):
        return "Network", [_Layer(layer.W, False, layer.b, layer.activation, float(layer.slope))
                           for layer in net.layers], numpy.dtype(net.dtype)
    raise TypeError(f"expected a cnn_core.neuralNetwork or a cnn_core.Network; got "
                    f"{type(net).__name__}.")


def _activation_label(layer):
    return layer.activation if layer.slope == 1 else f"{layer.activation}(slope={layer.slope!r})"


# ==================================================================== ONNX

def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError('to_onnx needs the onnx package: pip install "cnn_core[onnx]"') from None
    return onnx, helper, numpy_helper


def _check_opset(opset, onnx):
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, (bool, numpy.bool_)) or not isinstance(opset, (int, numpy.integer)):
        raise TypeError(f"opset must be None or an int from {MIN_OPSET} to {newest}; got "
                        f"{opset!r} ({type(opset).__name__}).")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be from {MIN_OPSET} to {newest} (the newest the installed "
                         f"onnx {onnx.__version__} knows); got {int(opset)}. Use opset=None for "
                         f"the default {min(DEFAULT_OPSET, newest)}, or upgrade onnx for newer "
                         f"opsets.")
    return int(opset)


def _graph_nodes(layers, dtype, x):
    """The ONNX nodes and initializers computing the layers from the tensor named `x`:
    (nodes, initializers, name of the last tensor)."""
    _, helper, numpy_helper = _import_onnx()
    nodes, inits = [], []

    def constant(name, value):
        inits.append(numpy_helper.from_array(numpy.asarray(value, dtype), name))
        return name

    for i, layer in enumerate(layers):
        p = f"layer{i}."
        w = constant(p + "W", layer.weight)
        inputs = [x, w] + ([constant(p + "b", layer.bias)] if layer.bias is not None else [])
        z = p + "Z"
        nodes.append(helper.make_node("Gemm", inputs, [z], name=p + "Gemm",
                                      transB=1 if layer.trans_b else 0))
        if layer.slope != 1:
            scaled = p + "slope_Z"
            nodes.append(helper.make_node("Mul", [z, constant(p + "slope", layer.slope)],
                                          [scaled], name=p + "Mul"))
            z = scaled
        op = ACTIVATION_TABLE[layer.activation][0]
        if op is None:
            x = z
            continue
        x = p + "Y"
        extra = {"axis": -1} if op == "Softmax" else {}
        nodes.append(helper.make_node(op, [z], [x], name=p + op, **extra))
    return nodes, inits, x


def _metadata(kind, layers, dtype, sizes):
    import cnn_core
    props = {
        "cnn_core_version": cnn_core.__version__,
        "network": kind,
        "sizes": "-".join(map(str, sizes)),
        "dtype": dtype.name,
        "activations": json.dumps([l.activation for l in layers]),
        "slopes": json.dumps([l.slope for l in layers]),
        "biases": json.dumps([l.bias is not None for l in layers]),
    }
    layers_text = ", ".join(f"layer {i}: {_activation_label(l)}" for i, l in enumerate(layers))
    doc = (f"cnn_core {cnn_core.__version__} {kind} {props['sizes']} ({dtype.name}); "
           f"{layers_text}. Input 'input' (N, {sizes[0]}), output 'output' (N, {sizes[-1]}).")
    if kind == "neuralNetwork":
        props["input_scaling"] = BOOK_INPUT_SCALING
        doc += f" Input scaling: {BOOK_INPUT_SCALING}."
    return props, doc


def _model(kind, layers, dtype, opset):
    onnx, helper, _ = _import_onnx()
    opset = _check_opset(opset, onnx)
    elem = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE}[dtype.name]
    # n_in, then each layer's n_out
    sizes = [int(l.weight.shape[1 if l.trans_b else 0]) for l in layers[:1]] + \
            [int(l.weight.shape[0 if l.trans_b else 1]) for l in layers]
    nodes, inits, last = _graph_nodes(layers, dtype, "input")
    nodes.append(helper.make_node("Identity", [last], ["output"], name="output"))
    graph = helper.make_graph(
        nodes, f"cnn_core_{kind}",
        [helper.make_tensor_value_info("input", elem, ["N", sizes[0]])],
        [helper.make_tensor_value_info("output", elem, ["N", sizes[-1]])], inits)
    opsets = [helper.make_opsetid("", opset)]
    props, doc = _metadata(kind, layers, dtype, sizes)
    model = helper.make_model(graph, opset_imports=opsets, producer_name="cnn_core",
                              producer_version=props["cnn_core_version"], doc_string=doc,
                              ir_version=helper.find_min_ir_version_for(opsets))
    helper.set_model_props(model, props)
    return model


def to_onnx(net, path_or_file=None, *, opset=None):
    """The network as an ``onnx.ModelProto`` (input "input" (N, n_in), output "output"
    (N, n_out), the network's dtype); see the module docstring for the graph.

    ``path_or_file``: None, a path (str or os.PathLike; written atomically, as ``save`` writes)
    or a binary file object open for writing (written at its position). ``opset``: None for
    :data:`DEFAULT_OPSET`, or an int from 13 to ``onnx.defs.onnx_opset_version()``. Needs
    ``pip install "cnn_core[onnx]"``; running the model needs a runtime such as onnxruntime.
    """
    _import_onnx()
    kind, layers, dtype = _layers_of(net)
    model = _model(kind, layers, dtype, opset)
    if path_or_file is not None:
        from . import _npzfile
        data = model.SerializeToString()
        _npzfile.write_file(path_or_file, lambda f: f.write(data), verb="to_onnx",
                            example="model.onnx")
    return model


# ==================================================================== PyTorch

def _import_torch(what):
    try:
        import torch
    except ImportError:
        raise ImportError(f'{what} needs PyTorch: pip install "cnn_core[torch]"') from None
    return torch


_SLOPED_SIGMOID = None


def _sloped_sigmoid_class():
    """SlopedSigmoid, made on first use (it subclasses torch.nn.Module)."""
    global _SLOPED_SIGMOID
    if _SLOPED_SIGMOID is None:
        torch = _import_torch("SlopedSigmoid")

        class SlopedSigmoid(torch.nn.Module):
            """sigmoid(slope * x): cnn_core's sigmoid with a slope epsilon (the multiplication
            in the input's dtype, then torch.sigmoid). ``slope`` is a Python float."""

            def __init__(self, slope):
                super().__init__()
                self.slope = float(slope)       # as Dense keeps it; used in the input's dtype

            def forward(self, x):
                return torch.sigmoid(x * torch.as_tensor(self.slope, dtype=x.dtype,
                                                         device=x.device))

            def extra_repr(self):
                return f"slope={self.slope!r}"

        SlopedSigmoid.__module__ = __name__
        SlopedSigmoid.__qualname__ = "SlopedSigmoid"
        _SLOPED_SIGMOID = SlopedSigmoid
    return _SLOPED_SIGMOID


def __getattr__(name):
    # interchange.SlopedSigmoid without importing torch at import time (and for pickle)
    if name == "SlopedSigmoid":
        return _sloped_sigmoid_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _to_torch(net, what):
    _, layers, dtype = _layers_of(net)
    torch = _import_torch(what)
    tdtype = {"float32": torch.float32, "float64": torch.float64}[numpy.dtype(dtype).name]
    modules = []
    for layer in layers:
        weight = layer.weight if layer.trans_b else layer.weight.T
        n_out, n_in = weight.shape
        linear = torch.nn.utils.skip_init(torch.nn.Linear, n_in, n_out,
                                          bias=layer.bias is not None, dtype=tdtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(numpy.array(weight, order="C")))
            if layer.bias is not None:
                linear.bias.copy_(torch.from_numpy(numpy.array(layer.bias, order="C")))
        modules.append(linear)
        if layer.activation == "sigmoid" and layer.slope != 1:
            modules.append(_sloped_sigmoid_class()(layer.slope))
            continue
        name = ACTIVATION_TABLE[layer.activation][1]
        if name == "Softmax":
            modules.append(torch.nn.Softmax(dim=-1))
        elif name is not None:
            modules.append(getattr(torch.nn, name)())
    return torch.nn.Sequential(*modules)


def network_to_torch(net):
    """An equivalent ``torch.nn.Sequential`` for a :class:`cnn_core.Network`: per Dense layer a
    ``Linear`` (weight W.T, bias b; no bias for bias=False) and the activation's module (none
    for identity; :class:`SlopedSigmoid` for a sigmoid with slope != 1), in the network's dtype
    (float64 -> torch.float64). Needs ``pip install "cnn_core[torch]"``."""
    _, Network = _book_classes()
    if not isinstance(net, Network):
        raise TypeError(f"network_to_torch expects a cnn_core.Network; got {type(net).__name__}"
                        f"{' (use book_to_torch for the book network)' if _is_book(net) else ''}.")
    return _to_torch(net, "network_to_torch")


def book_to_torch(net):
    """An equivalent ``torch.nn.Sequential`` for the book's :class:`cnn_core.neuralNetwork`:
    ``Linear(inodes, hnodes, bias=False)`` (weight = wih), ``Sigmoid`` or ``ReLU``,
    ``Linear(hnodes, onodes, bias=False)`` (weight = who), ``Sigmoid``, in the network's dtype.
    Needs ``pip install "cnn_core[torch]"``."""
    if not _is_book(net):
        raise TypeError(f"book_to_torch expects a cnn_core.neuralNetwork; got "
                        f"{type(net).__name__} (use network_to_torch for a Network).")
    return _to_torch(net, "book_to_torch")


def _is_book(net):
    return isinstance(net, _book_classes()[0])


def _parse_torch(module, what):
    """[_Layer] (weight (n_out, n_in), trans_b=True) and the numpy dtype of a Sequential of
    Linear layers, each followed by at most one activation module."""
    torch = _import_torch(what)
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"{what}: expected a torch.nn.Sequential of {_EXPECTED_MODULES} "
                        f"modules; got {type(module).__name__}. Wrap the layers in "
                        f"torch.nn.Sequential(...).")
    sloped = _sloped_sigmoid_class()
    acts = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Softmax: "softmax"}
    layers, dtype, pending = [], None, None       # pending: [weight, bias, activation, slope, index]
    for i, m in enumerate(module):
        kind = type(m).__name__
        if type(m) is nn.Identity:
            continue
        if type(m) is nn.Linear:
            w = m.weight.detach()
            if w.dtype not in (torch.float32, torch.float64):
                raise TypeError(f"{what}: layer {i} (Linear) has dtype {w.dtype}; cnn_core "
                                f"networks are float32 or float64: convert the module with "
                                f".double() or .float().")
            if dtype is not None and w.dtype != dtype:
                raise ValueError(f"{what}: layer {i} (Linear) is {w.dtype} but the earlier "
                                 f"layers are {dtype}; give one dtype to all (module.double() "
                                 f"or module.float()).")
            dtype = w.dtype
            if pending is not None:
                layers.append(pending)
            bias = None if m.bias is None else m.bias.detach().cpu().numpy().copy()
            pending = [w.cpu().numpy().copy(), bias, "identity", 1.0, i]
            continue
        if type(m) in acts or type(m) is sloped:
            if pending is None:
                raise ValueError(f"{what}: layer {i} is {kind} before any Linear; expected the "
                                 f"module to start with a Linear layer.")
            if pending[2] != "identity":
                raise ValueError(f"{what}: layer {i} is {kind}, a second activation after the "
                                 f"Linear at layer {pending[4]}; expected each Linear followed by "
                                 f"at most one of ReLU, Sigmoid, Tanh, Softmax (or Identity).")
            if type(m) is sloped:
                pending[2], pending[3] = "sigmoid", float(m.slope)
            else:
                if type(m) is nn.Softmax and m.dim not in (-1, 1):
                    raise ValueError(f"{what}: layer {i} is Softmax(dim={m.dim}); cnn_core's "
                                     f"softmax works on rows of (N, features): expected "
                                     f"Softmax(dim=-1) (or dim=1).")
                pending[2] = acts[type(m)]
            continue
        raise ValueError(f"{what}: layer {i} is {kind}; expected {_EXPECTED_MODULES}.")
    if pending is None:
        raise ValueError(f"{what}: the Sequential has no Linear layer; expected Linear layers, "
                         f"each followed by at most one of ReLU, Sigmoid, Tanh, Softmax.")
    layers.append(pending)
    npdtype = numpy.float32 if dtype == torch.float32 else numpy.float64
    return [_Layer(w, True, b, a, s) for w, b, a, s, _ in layers], npdtype, [p[4] for p in layers]


def network_from_torch(module, cls=None, *, loss=None, optimizer=None):
    """A :class:`cnn_core.Network` (or ``cls``, a subclass) equal to ``module``: a
    ``torch.nn.Sequential`` of ``Linear`` layers, each followed by at most one of ``ReLU``,
    ``Sigmoid``, ``Tanh``, ``Softmax(dim=-1)``, :class:`SlopedSigmoid` (``Identity`` anywhere
    is skipped; a Linear with no activation after it is an "identity" layer), float32 or
    float64 (kept). ``cls`` None: :class:`cnn_core.Network`. ``loss``: None for
    "cross_entropy" with a softmax output, else "squared_error"; ``optimizer`` as Network takes
    it. The parameters are copied. Needs ``pip install "cnn_core[torch]"``."""
    from .layers import Dense
    if cls is None:
        cls = _book_classes()[1]
    layers, dtype, where = _parse_torch(module, "from_torch")
    dense = []
    for layer, index in zip(layers, where):
        n_out, n_in = layer.weight.shape
        d = Dense(n_in, n_out, layer.activation, bias=layer.bias is not None, slope=layer.slope,
                  dtype=dtype, seed=0)
        try:
            d.W = layer.weight.T
            if layer.bias is not None:
                d.b = layer.bias
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"from_torch: the Linear at layer {index}: {exc} Its weight and "
                            f"bias must be finite.") from None
        dense.append(d)
    if loss is None:
        loss = "cross_entropy" if layers[-1].activation == "softmax" else "squared_error"
    return cls(dense, loss=loss, optimizer=optimizer)


def book_from_torch(module, learningrate, cls=None, *, n_threads=None):
    """The book's :class:`cnn_core.neuralNetwork` (or ``cls``) equal to ``module``:
    ``Sequential(Linear(i, h, bias=False), Sigmoid() or ReLU(), Linear(h, o, bias=False),
    Sigmoid())``; wih is the first Linear's weight, who the second's, in its dtype. ``cls``
    None: :class:`cnn_core.neuralNetwork`."""
    layers, dtype, _ = _parse_torch(module, "book_from_torch")
    expected = ("expected Sequential(Linear(i, h, bias=False), Sigmoid() or ReLU(), "
                "Linear(h, o, bias=False), Sigmoid()) (use network_from_torch for other networks)")
    if len(layers) != 2:
        raise ValueError(f"book_from_torch: the module has {len(layers)} Linear layer(s); "
                         f"{expected}.")
    for k, layer in enumerate(layers):
        if layer.bias is not None:
            raise ValueError(f"book_from_torch: Linear layer {k} has a bias; the book network "
                             f"has none: {expected}.")
    hidden, out = layers
    if hidden.activation not in ("sigmoid", "relu") or hidden.slope != 1:
        raise ValueError(f"book_from_torch: the hidden activation is "
                         f"{_activation_label(hidden)}; {expected}.")
    if out.activation != "sigmoid" or out.slope != 1:
        raise ValueError(f"book_from_torch: the output activation is "
                         f"{_activation_label(out)}; {expected}.")
    return book_from_arrays(hidden.weight, out.weight, learningrate, activation=hidden.activation,
                            dtype=dtype, cls=cls, n_threads=n_threads)


# ==================================================================== the book's weights

def _shape_of(value, name):
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a 2-D array of numbers; got {type(value).__name__}.")
    try:
        array = numpy.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a rectangular 2-D array of numbers; {exc}") from None
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array; got shape {array.shape}.")
    return array


def book_from_arrays(wih, who, learningrate, *, activation="sigmoid", dtype=None, cls=None,
                     n_threads=None):
    """The book's network with the given weights: wih (hnodes, inodes), who (onodes, hnodes);
    the sizes come from the arrays. ``dtype``: None for float32 when both arrays are float32,
    else float64. The weights are validated and copied by the network's setters (finite, real
    numbers)."""
    if cls is None:
        cls = _book_classes()[0]
    wih_a = _shape_of(wih, "wih")
    who_a = _shape_of(who, "who")
    h, i = wih_a.shape
    o, h2 = who_a.shape
    if h2 != h:
        raise ValueError(f"who must have shape (onodes, hnodes) with hnodes = {h}, the rows of "
                         f"wih (hnodes, inodes) {wih_a.shape}; got who of shape {who_a.shape}. "
                         f"(Are the arrays swapped or transposed?)")
    if min(h, i, o) < 1:
        raise ValueError(f"wih {wih_a.shape} and who {who_a.shape} must have at least one row "
                         f"and column each.")
    if dtype is None:
        dtype = numpy.float32 if wih_a.dtype == who_a.dtype == numpy.float32 else numpy.float64
    net = cls(i, h, o, learningrate, dtype=dtype, activation=activation, seed=0,
              n_threads=n_threads)
    net.wih = wih
    net.who = who
    return net


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _read_weights(source, name):
    """A 2-D float array from a .npy file (numpy.save) or a text file (numpy.savetxt: comma or
    whitespace separated)."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike) to a .npy, .csv or .txt "
                        f"file; got {type(source).__name__}.")
    label = os.fspath(source)
    try:
        with open(source, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: no file {label}; give the path of the file saved with "
                                f"numpy.save or numpy.savetxt.") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{name}: {label} is a folder; give the path of the file saved "
                                f"with numpy.save or numpy.savetxt.") from None
    if head.startswith(_ZIP_MAGIC):
        raise ValueError(f"{name}: {label} is a zip archive (.npz), not one array; for a "
                         f"network saved with net.save use neuralNetwork.load, else give the "
                         f".npy (numpy.save) or .csv/.txt (numpy.savetxt) file of one matrix.")
    if head.startswith(_NPY_MAGIC):
        try:
            array = numpy.load(source, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{name}: {label} could not be read as a .npy array of numbers "
                             f"({exc}); save the weights with numpy.save(file, array).") from None
    else:
        try:
            with open(source, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError:
            raise ValueError(f"{name}: {label} is neither a .npy file (numpy.save) nor text "
                             f"(numpy.savetxt); expected one of them.") from None
        lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            raise ValueError(f"{name}: {label} holds no numbers; expected a matrix written by "
                             f"numpy.savetxt (one row per line).")
        delimiter = "," if "," in lines[0] else None
        try:
            array = numpy.loadtxt(io.StringIO(text), delimiter=delimiter, ndmin=2,
                                  dtype=numpy.float64)
        except ValueError as exc:
            sep = "comma" if delimiter else "whitespace"
            raise ValueError(f"{name}: {label} is not a matrix of numbers ({sep} separated, one "
                             f"row per line, as numpy.savetxt writes): {exc}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}: {label} holds an array of dtype {array.dtype}; expected real "
                         f"numbers.")
    if array.ndim != 2:
        raise ValueError(f"{name}: {label} holds an array of shape {array.shape}; expected a "
                         f"2-D matrix ({'hnodes, inodes' if name == 'wih' else 'onodes, hnodes'}).")
    return array


def load_book_weights(wih_file, who_file, learningrate, *, activation="sigmoid", dtype=None,
                      cls=None, n_threads=None):
    """The book's network from its two weight files, as the book's readers save them: each a
    .npy (``numpy.save``; read with allow_pickle=False) or a text file (``numpy.savetxt``,
    comma or whitespace separated; .csv or .txt). wih (hnodes, inodes), who (onodes, hnodes);
    ``dtype`` None: the .npy files' dtype when both are float32, else float64."""
    wih = _read_weights(wih_file, "wih")
    who = _read_weights(who_file, "who")
    try:
        return book_from_arrays(wih, who, learningrate, activation=activation, dtype=dtype,
                                cls=cls, n_threads=n_threads)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"load_book_weights({os.fspath(wih_file)!r}, "
                        f"{os.fspath(who_file)!r}): {exc}") from None
