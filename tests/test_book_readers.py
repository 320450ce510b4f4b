"""Issue 19: a drop-in for the book's notebooks. Both initialisations by name, wih/who that
behave like the book's arrays, assignable activation functions, lr = 0, the HTML repr."""
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy
import pytest
import scipy.special
from numpy.testing import assert_allclose, assert_array_equal

import cnn_core
from cnn_core import reference

from conftest import NEUTRAL_CWD, child_env

X = numpy.linspace(0.01, 0.99, 4)
T = numpy.array([0.99, 0.01, 0.01])


def samples(n=30, inodes=4, onodes=3, seed=1):
    rng = numpy.random.default_rng(seed)
    inputs = rng.random((n, inodes)) * 0.98 + 0.01
    targets = numpy.full((n, onodes), 0.01)
    targets[numpy.arange(n), rng.integers(0, onodes, n)] = 0.99
    return inputs, targets


# ------------------------------------------------------------------ 1. both initialisations

@pytest.mark.parametrize("cls", [cnn_core.neuralNetwork, reference.neuralNetwork])
@pytest.mark.parametrize("k", [0, 7])
def test_book_init_is_the_corrected_formula_after_numpy_random_seed(cls, k):
    inodes, hnodes, onodes = 784, 100, 10
    numpy.random.seed(k)
    wih = numpy.random.normal(0.0, pow(inodes, -0.5), (hnodes, inodes))   # the book, 2017
    who = numpy.random.normal(0.0, pow(hnodes, -0.5), (onodes, hnodes))
    numpy.random.seed(k)
    net = cls(inodes, hnodes, onodes, 0.1, init="book")
    assert_array_equal(net.wih, wih)
    assert_array_equal(net.who, who)


@pytest.mark.parametrize("cls", [cnn_core.neuralNetwork, reference.neuralNetwork])
def test_documents_init_stays_the_default(cls):
    numpy.random.seed(3)
    wih = numpy.random.normal(0.0, pow(20, -0.5), (20, 30))
    who = numpy.random.normal(0.0, pow(5, -0.5), (5, 20))
    numpy.random.seed(3)
    default = cls(30, 20, 5, 0.1)
    numpy.random.seed(3)
    named = cls(30, 20, 5, 0.1, init="documents")
    for net in (default, named):
        assert_array_equal(net.wih, wih)
        assert_array_equal(net.who, who)


@pytest.mark.parametrize("init", ["documents", "book"])
def test_both_versions_start_alike_with_a_seed(init):
    a = cnn_core.neuralNetwork(30, 20, 5, 0.1, seed=4, init=init)
    b = reference.neuralNetwork(30, 20, 5, 0.1, seed=4, init=init)
    assert_array_equal(a.wih, b.wih)
    assert_array_equal(a.who, b.who)
    assert a.init == init


def test_unknown_init_is_refused():
    with pytest.raises(ValueError, match="init"):
        cnn_core.neuralNetwork(4, 3, 2, 0.1, init="xavier")
    with pytest.raises(ValueError, match="init"):
        reference.neuralNetwork(4, 3, 2, 0.1, init="xavier")


def test_cli_takes_init(data_dir, capsys):
    from cnn_core import cli
    assert cli.main(["compare", "--dataset", "iris", "--epochs", "2", "--init", "book"]) == 0
    assert "largest weight difference" in capsys.readouterr().out
    assert cli.main(["train", "--init", "nonsense"]) == 2


# ------------------------------------------------------------------ 2. wih/who are the arrays

def test_weights_are_the_live_arrays():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    assert net.wih is net.wih and net.who is net.who         # no copy per read
    net.wih[0, 0] = 5.0
    assert net.wih[0, 0] == 5.0
    net.wih += 0.01
    assert net.wih[0, 0] == 5.01
    numpy.clip(net.wih, -1, 1, out=net.wih)
    assert net.wih.max() <= 1.0
    net.who *= 0.5
    ref = reference.neuralNetwork(4, 8, 3, 0.3, seed=0)
    ref.wih, ref.who = net.wih.copy(), net.who.copy()
    net.train(X, T)
    ref.train(X, T)
    assert_allclose(net.wih, ref.wih, rtol=1e-12, atol=1e-12)
    assert_allclose(net.query(X), ref.query(X), rtol=1e-12, atol=1e-12)


def test_a_reference_taken_before_training_shows_the_trained_weights():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    before, start = net.wih, net.wih.copy()
    net.train(X, T)
    net.train(X, T)
    assert net.wih is before                     # read again: the pending update applied
    assert (before - start).any()
    ref = reference.neuralNetwork(4, 8, 3, 0.3, seed=0)
    ref.train(X, T)
    ref.train(X, T)
    assert_allclose(before, ref.wih, rtol=1e-12, atol=1e-12)


def test_assignment_still_checks_and_copies():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    new = numpy.ones((8, 4))
    net.wih = new
    new[0, 0] = 7.0
    assert net.wih[0, 0] == 1.0
    with pytest.raises(ValueError, match="shape"):
        net.wih = numpy.ones((4, 8))
    with pytest.raises(ValueError, match="finite"):
        net.who = numpy.full((3, 8), numpy.nan)


def test_non_finite_values_written_in_place_raise_divergence():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    net.train(X, T)                              # the bounds of train() are known now
    net.wih[2, 1] = numpy.inf
    with pytest.raises(cnn_core.DivergenceError):
        net.train(X, T)
    with pytest.raises(cnn_core.DivergenceError):
        net.query(X)
    with pytest.raises(cnn_core.DivergenceError):
        net.fit(*samples())
    with pytest.raises(ValueError, match="in place"):
        net.who += numpy.nan
    net.wih = numpy.zeros((8, 4))                # finite again: trains
    net.who = numpy.zeros((3, 8))
    net.train(X, T)


def test_query_during_fit_in_another_thread_sees_whole_samples():
    inputs, targets = samples(2000, 50, 10)
    net = cnn_core.neuralNetwork(50, 40, 10, 0.1, seed=0)
    done = threading.Event()
    errors = []

    def train():
        try:
            net.fit(inputs, targets, epochs=3)
        except Exception as exc:            # pragma: no cover
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=train)
    worker.start()
    while not done.is_set():
        out = net.query(inputs[0])
        assert numpy.isfinite(out).all()
    worker.join()
    assert not errors


# ------------------------------------------------------------------ 3. lr = 0

def test_learning_rate_zero_trains_nothing():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.0, seed=0)
    wih, who = net.wih.copy(), net.who.copy()
    net.train(X, T)
    net.fit(*samples())
    assert_array_equal(net.wih, wih)
    assert_array_equal(net.who, who)
    net.lr = 0
    assert net.lr == 0
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            net.lr = bad
        with pytest.raises(ValueError, match="learningrate must be a positive finite number"):
            cnn_core.neuralNetwork(4, 8, 3, bad)


def test_learning_rate_zero_saves_and_loads(tmp_path):
    net = cnn_core.neuralNetwork(4, 8, 3, 0, seed=0)
    net.save(tmp_path / "zero.npz")
    assert cnn_core.neuralNetwork.load(tmp_path / "zero.npz").lr == 0


# ------------------------------------------------------------------ 3. assignable activations

class BookClass:
    """The book's class (part 2, with the 2017 initialisation left to the test), transcribed:
    activation_function on both layers, o * (1 - o) in the update rule, backquery through
    inverse_activation_function on both layers."""

    def __init__(self, wih, who, learningrate, function, inverse):
        self.wih, self.who, self.lr = wih.copy(), who.copy(), learningrate
        self.activation_function = function
        self.inverse_activation_function = inverse

    def train(self, inputs_list, targets_list):
        inputs = numpy.array(inputs_list, ndmin=2).T
        targets = numpy.array(targets_list, ndmin=2).T
        hidden_inputs = numpy.dot(self.wih, inputs)
        hidden_outputs = self.activation_function(hidden_inputs)
        final_inputs = numpy.dot(self.who, hidden_outputs)
        final_outputs = self.activation_function(final_inputs)
        output_errors = targets - final_outputs
        hidden_errors = numpy.dot(self.who.T, output_errors)
        self.who += self.lr * numpy.dot((output_errors * final_outputs * (1.0 - final_outputs)),
                                        numpy.transpose(hidden_outputs))
        self.wih += self.lr * numpy.dot((hidden_errors * hidden_outputs * (1.0 - hidden_outputs)),
                                        numpy.transpose(inputs))

    def query(self, inputs_list):
        inputs = numpy.array(inputs_list, ndmin=2).T
        hidden_outputs = self.activation_function(numpy.dot(self.wih, inputs))
        return self.activation_function(numpy.dot(self.who, hidden_outputs))

    def backquery(self, targets_list):
        final_outputs = numpy.array(targets_list, ndmin=2).T
        final_inputs = self.inverse_activation_function(final_outputs)
        hidden_outputs = numpy.dot(self.who.T, final_inputs)
        hidden_outputs -= numpy.min(hidden_outputs)
        hidden_outputs /= numpy.max(hidden_outputs)
        hidden_outputs *= 0.98
        hidden_outputs += 0.01
        hidden_inputs = self.inverse_activation_function(hidden_outputs)
        inputs = numpy.dot(self.wih.T, hidden_inputs)
        inputs -= numpy.min(inputs)
        inputs /= numpy.max(inputs)
        inputs *= 0.98
        inputs += 0.01
        return inputs


def scaled_tanh(x):
    return 0.5 * (numpy.tanh(x) + 1.0)         # a sigmoid-shaped function the kernels lack


def scaled_arctanh(y):
    return numpy.arctanh(2.0 * y - 1.0)


def test_assigning_another_function_does_what_the_books_class_does():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    book = BookClass(net.wih, net.who, 0.3, scaled_tanh, scaled_arctanh)
    with pytest.warns(cnn_core.book.SlowPathWarning, match="expit"):
        net.activation_function = scaled_tanh
    net.inverse_activation_function = scaled_arctanh
    assert net.activation_function is scaled_tanh
    inputs, targets = samples(40)
    for x, t in zip(inputs[:20], targets[:20]):
        net.train(x, t)
        book.train(x, t)
    net.fit(inputs[20:], targets[20:])
    for x, t in zip(inputs[20:], targets[20:]):
        book.train(x, t)
    assert_allclose(net.wih, book.wih, rtol=1e-12, atol=1e-14)
    assert_allclose(net.who, book.who, rtol=1e-12, atol=1e-14)
    assert_allclose(net.query(X), book.query(X), rtol=1e-12, atol=1e-14)
    assert_allclose(net.predict(inputs), book.query(inputs).T, rtol=1e-12, atol=1e-14)
    target = numpy.array([0.99, 0.01, 0.01])
    assert_allclose(net.backquery(target), book.backquery(target), rtol=1e-10, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # one warning per network, not per assignment
        net.activation_function = numpy.tanh
        net.activation_function = scaled_tanh
    with pytest.raises(ValueError, match="cannot hold"):
        net.save(__import__("io").BytesIO())


def test_assigning_expit_keeps_the_kernels():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0, activation="relu")
    ref = reference.neuralNetwork(4, 8, 3, 0.3, seed=0)            # sigmoid on both layers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.activation_function = lambda x: scipy.special.expit(x)
    assert net.activation == "sigmoid" and "train" not in vars(net)
    inputs, targets = samples(30)
    net.fit(inputs, targets)
    ref.fit(inputs, targets)
    assert_allclose(net.wih, ref.wih, rtol=1e-12, atol=1e-12)
    assert_allclose(net.backquery([0.99, 0.01, 0.01]), ref.backquery([0.99, 0.01, 0.01]),
                    rtol=1e-10, atol=1e-12)


def test_back_to_expit_after_another_function_uses_the_kernels_again():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    with pytest.warns(cnn_core.book.SlowPathWarning):
        net.activation_function = scaled_tanh
    net.activation_function = scipy.special.expit
    assert "train" not in vars(net) and net.inverse_activation_function is scipy.special.logit
    book = BookClass(net.wih, net.who, 0.3, scipy.special.expit, scipy.special.logit)
    net.train(X, T)
    book.train(X, T)
    assert_allclose(net.wih, book.wih, rtol=1e-12, atol=1e-14)


def test_backquery_refuses_an_inverse_that_does_not_match():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    with pytest.warns(cnn_core.book.SlowPathWarning):
        net.activation_function = scaled_tanh          # the inverse is still logit
    with pytest.raises(ValueError, match="does not invert"):
        net.backquery([0.99, 0.01, 0.01])
    other = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    other.inverse_activation_function = scaled_arctanh  # the function is still expit
    with pytest.raises(ValueError, match="does not invert"):
        other.backquery([0.99, 0.01, 0.01])
    other.inverse_activation_function = lambda y: scipy.special.logit(y)
    assert other.backquery([0.99, 0.01, 0.01]).shape == (4, 1)


@pytest.mark.parametrize("bad, error", [(3, TypeError), ("expit", TypeError),
                                        (lambda x: x.sum(), ValueError),
                                        (lambda x, y: x, TypeError)])
def test_assigned_functions_are_checked(bad, error):
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    with pytest.raises(error):
        net.activation_function = bad
    with pytest.raises(error):
        net.inverse_activation_function = bad
    assert net.activation_function is scipy.special.expit


def test_numpy_path_divergence_leaves_the_weights():
    net = cnn_core.neuralNetwork(4, 8, 3, 1e300, seed=0)
    with pytest.warns(cnn_core.book.SlowPathWarning):
        net.activation_function = lambda x: x + 0.0       # unbounded: the update overflows
    with pytest.raises(cnn_core.DivergenceError):
        for _ in range(5):
            wih, who = net.wih.copy(), net.who.copy()
            net.train(X, T)
    assert_array_equal(net.wih, wih)            # as before the failing step
    assert_array_equal(net.who, who)


# ------------------------------------------------------------------ 4. own images, rotation

def _picture(tmp_path, name, background, ink, mode, fmt="PNG"):
    """A 100 x 80 picture: `background` with an ink block over columns 25-74, rows 20-59, which
    the box filter maps onto exactly columns and rows 7-20 of 28 (100 / 28 = 25 / 7 and
    80 / 28 = 20 / 7)."""
    Image = pytest.importorskip("PIL.Image")
    a = numpy.full((80, 100), background, numpy.uint8)
    a[20:60, 25:75] = ink
    if mode == "RGB":
        a = numpy.repeat(a[:, :, None], 3, axis=2)           # grey in RGB: luma is the value
    path = tmp_path / name
    Image.fromarray(a, mode).save(path, fmt)
    return path


def _expected(background, ink):
    """By hand: 28 x 28 of background with the block, then x / 255 * 0.99 + 0.01."""
    grey = numpy.full((28, 28), float(background))
    grey[7:21, 7:21] = ink
    return (grey / 255 * 0.99 + 0.01).reshape(784)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_load_image_dark_on_light_is_inverted(tmp_path, mode):
    from cnn_core.datasets import load_image
    x = load_image(_picture(tmp_path, f"dark_{mode}.png", 250, 20, mode))
    assert x.shape == (784,) and x.dtype == numpy.float64
    assert_allclose(x, _expected(255 - 250, 255 - 20), rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_load_image_light_on_dark_is_kept(tmp_path, mode):
    from cnn_core.datasets import load_image
    x = load_image(_picture(tmp_path, f"light_{mode}.png", 10, 200, mode))
    assert_allclose(x, _expected(10, 200), rtol=0, atol=1e-6)
    forced = load_image(_picture(tmp_path, "f.png", 10, 200, mode), invert=True)
    assert_allclose(forced, _expected(245, 55), rtol=0, atol=1e-6)


def test_load_image_reads_jpeg_and_28_pixel_pictures(tmp_path):
    from cnn_core.datasets import load_image
    x = load_image(_picture(tmp_path, "p.jpg", 250, 20, "RGB", "JPEG"))
    assert_allclose(x, _expected(5, 235), rtol=0, atol=0.03)    # JPEG is lossy
    Image = pytest.importorskip("PIL.Image")
    a = numpy.zeros((28, 28), numpy.uint8)
    a[3, 4] = 255
    Image.fromarray(a).save(tmp_path / "m.png")
    assert_allclose(load_image(tmp_path / "m.png"), a.reshape(784) / 255 * 0.99 + 0.01)


def test_load_image_errors(tmp_path, monkeypatch):
    from cnn_core import datasets
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(ValueError, match="bad.png"):
        datasets.load_image(tmp_path / "bad.png")
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)
    with pytest.raises(datasets.ImagesUnavailable, match=r'pip install "cnn_core\[images\]"'):
        datasets.load_image(tmp_path / "bad.png")


def test_rotated_adds_the_books_rotations():
    import scipy.ndimage
    from cnn_core.datasets import rotated
    inputs, targets = samples(3, 784, 10)
    X, Y = rotated(inputs, targets)
    assert X.shape == (9, 784) and Y.shape == (9, 10)
    for n in range(3):
        assert_array_equal(X[3 * n], inputs[n])
        for k, angle in enumerate((-10, 10), 1):
            book = scipy.ndimage.rotate(inputs[n].reshape(28, 28), angle, cval=0.01, order=1,
                                        reshape=False)
            assert_array_equal(X[3 * n + k], book.reshape(784))
        assert_array_equal(Y[3 * n:3 * n + 3], numpy.repeat(targets[n:n + 1], 3, axis=0))
    with pytest.raises(ValueError, match="square"):
        rotated(numpy.zeros((2, 10)), numpy.zeros((2, 3)))


def test_scripts_run(tmp_path, data_dir):
    import subprocess
    import sys
    from pathlib import Path
    from conftest import child_env
    root = Path(__file__).resolve().parents[1]
    for k, (background, ink) in enumerate([(250, 20), (10, 200)]):
        _picture(tmp_path, f"digit{k}.png", background, ink, "L")
    out = subprocess.run([sys.executable, str(root / "python" / "own_images.py"), str(tmp_path),
                          "--limit", "2000", "--out", str(tmp_path / "grid.png")],
                         capture_output=True, text=True, timeout=300, env=child_env())
    assert out.returncode == 0, out.stderr
    assert "digit0.png" in out.stdout and "digit1.png" in out.stdout
    out = subprocess.run([sys.executable, str(root / "python" / "rotation_augmentation.py"),
                          "--limit", "500", "--test-limit", "500"],
                         capture_output=True, text=True, timeout=300, env=child_env())
    assert out.returncode == 0, out.stderr
    assert "rotated" in out.stdout


# ------------------------------------------------------------------ 5. the book's experiments

def test_sweep_command_prints_and_draws(tmp_path, data_dir, capsys):
    require = __import__("conftest").require_matplotlib
    require()
    from cnn_core import cli
    assert cli.main(["sweep", "--study", "hidden", "--seeds", "2", "--limit", "300",
                     "--test-limit", "200", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "accuracy against hidden nodes" in out and "200" in out
    picture = tmp_path / "sweep_hidden.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size < 100_000
    assert cli.main(["sweep", "--study", "epochs", "--seeds", "1", "--limit", "100",
                     "--test-limit", "100", "--no-plot"]) == 0
    assert "accuracy against epochs" in capsys.readouterr().out


def test_run_sweep_matches_separate_networks():
    from cnn_core import cli
    inputs, targets = samples(60, 784, 10)
    labels = targets.argmax(axis=1)
    by_epochs = cli.run_sweep("epochs", inputs, targets, inputs, labels, seeds=1)
    numpy.random.seed(0)
    net = cnn_core.neuralNetwork(784, 200, 10, 0.1).fit(inputs, targets, epochs=3)
    assert by_epochs[3] == [float(numpy.mean(net.predict(inputs).argmax(axis=1) == labels))]


# ------------------------------------------------------------------ 6. the notebook experience

def test_html_repr_says_shape_dtype_activation_init_and_training():
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0, init="book", dtype=numpy.float32)
    net.fit(*samples(12))
    page = net._repr_html_()
    for text in ("4-8-3", "float32", "sigmoid", "book", "12 samples", "0.3"):
        assert text in page, text
    with pytest.warns(cnn_core.book.SlowPathWarning):
        net.activation_function = scaled_tanh
    assert "scaled_tanh" in net._repr_html_() and "custom" in repr(net)


def test_fit_progress_true_and_callable(capsys):
    net = cnn_core.neuralNetwork(4, 8, 3, 0.3, seed=0)
    inputs, targets = samples(50)
    net.fit(inputs, targets, epochs=2, progress=True)     # a bar on a terminal; here nothing breaks
    seen = []
    net.fit(inputs, targets, epochs=2, progress=lambda e, d, n: seen.append((e, d, n)))
    assert seen[-1] == (1, 50, 50)
    net.fit(inputs, targets, progress=False)
    with pytest.raises(TypeError, match="progress"):
        net.fit(inputs, targets, progress="yes")
    assert net._kernel.samples_trained == 250


def test_ctrl_c_during_a_numpy_path_fit_leaves_whole_samples():
    """An assigned activation runs fit on NumPy; Ctrl-C there is held back to a sample boundary
    too (never who updated and wih not): FitInterrupted counts the samples, and the weights are
    those of training exactly them. In a subprocess with a timeout; SIGINT from a timer."""
    code = textwrap.dedent("""
        import signal, warnings, numpy, cnn_core
        warnings.simplefilter("ignore", cnn_core.book.SlowPathWarning)
        rng = numpy.random.default_rng(0)
        X = rng.random((400, 30)); T = rng.random((400, 4)) * 0.98 + 0.01
        def make():
            net = cnn_core.neuralNetwork(30, 20, 4, 0.1, seed=1)
            net.activation_function = lambda x: 0.5 * (numpy.tanh(0.5 * x) + 1)
            return net
        net = make()
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        signal.signal(signal.SIGALRM, lambda *a: signal.raise_signal(signal.SIGINT))
        try:
            net.fit(X, T, epochs=1000)
        except cnn_core.FitInterrupted as exc:
            seen = exc.samples_seen
        else:
            raise SystemExit("fit was not interrupted")
        again = make()
        for k in range(seen):
            again.train(X[k % 400], T[k % 400])
        assert 0 < seen < 400000, seen
        assert again.wih.tobytes() == net.wih.tobytes() and again.who.tobytes() == net.who.tobytes()
        print("ok", seen)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=child_env(), cwd=NEUTRAL_CWD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
