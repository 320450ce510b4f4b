"""cnn_core.neuralNetwork against the NumPy version (cnn_core.reference) from identical weights."""
import numpy
import pytest
from hypothesis import example, given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import cnn_core
import cnn_core._threads
import cnn_core._tuning
from cnn_core import reference

from conftest import ATOL, RTOL


def pair(inodes, hnodes, onodes, lr, dtype=numpy.float64, activation="sigmoid", seed=7, **kw):
    """A cnn_core network and a NumPy one starting from the same weights."""
    ours = cnn_core.neuralNetwork(inodes, hnodes, onodes, lr, dtype=dtype, activation=activation, seed=seed, **kw)
    theirs = reference.neuralNetwork(inodes, hnodes, onodes, lr, dtype=dtype, activation=activation, seed=seed)
    return ours, theirs


def float64_twin(net):
    """The NumPy version in float64 from the same (possibly float32) weights: the exact result."""
    twin = reference.neuralNetwork(net.inodes, net.hnodes, net.onodes, net.lr, activation=net.activation)
    twin.wih, twin.who = net.wih.astype(numpy.float64), net.who.astype(numpy.float64)
    return twin


def assert_same_weights(ours, theirs, dtype=numpy.float64, exact=None):
    """float64: equal to 1e-12. float32: rounding drifts over many steps in any implementation
    (and jumps where a ReLU input crosses 0), so cnn_core must be within 1e-5 (relative to the
    largest weight) of the NumPy float32 version, or within 1e-4 of the float64 result (`exact`),
    or no further from it than the NumPy float32 version is."""
    assert ours.wih.dtype == theirs.wih.dtype == dtype
    scale = max(numpy.abs(theirs.wih).max(), numpy.abs(theirs.who).max())   # the network's weight scale
    for name in ("wih", "who"):
        a, b = getattr(ours, name), getattr(theirs, name)
        if dtype == numpy.float64:
            assert_allclose(a, b, rtol=RTOL[dtype], atol=ATOL[dtype], err_msg=name)
            continue
        if numpy.abs(a - b).max() <= 1e-5 * scale:
            continue
        assert exact is not None, f"{name}: float32 differs by {numpy.abs(a - b).max()}"
        truth = getattr(exact, name)
        ours_error, numpy_error = numpy.abs(a - truth).max(), numpy.abs(b - truth).max()
        assert ours_error <= max(1.5 * numpy_error, 1e-4 * scale), (name, ours_error, numpy_error)


def samples(rng, n, inodes, onodes, dtype=numpy.float64):
    X = rng.uniform(0.01, 1.0, (n, inodes)).astype(dtype)
    T = rng.uniform(0.01, 0.99, (n, onodes)).astype(dtype)
    return X, T


def test_global_seed_start_is_the_books():
    numpy.random.seed(42)
    ours = cnn_core.neuralNetwork(784, 200, 10, 0.1)
    numpy.random.seed(42)
    theirs = reference.neuralNetwork(784, 200, 10, 0.1)
    assert_array_equal(ours.wih, theirs.wih)
    assert_array_equal(ours.who, theirs.who)
    numpy.random.seed(42)   # and the book's own draws: normal(0, hnodes**-0.5), wih first
    assert_array_equal(ours.wih, numpy.random.normal(0.0, pow(200, -0.5), (200, 784)))
    assert_array_equal(ours.who, numpy.random.normal(0.0, pow(10, -0.5), (10, 200)))


def test_seed_keyword_uses_default_rng():
    net = cnn_core.neuralNetwork(3, 4, 2, 0.1, seed=5)
    rng = numpy.random.default_rng(5)
    assert_array_equal(net.wih, rng.normal(0.0, 4 ** -0.5, (4, 3)))
    assert_array_equal(net.who, rng.normal(0.0, 2 ** -0.5, (2, 4)))


@example(inodes=26, hnodes=39, onodes=1, lr=0.5, activation="relu", dtype=numpy.float32, seed=99386391)
@settings(max_examples=25, deadline=None)
@given(inodes=st.integers(1, 40), hnodes=st.integers(1, 40), onodes=st.integers(1, 12),
       lr=st.floats(0.01, 0.9), activation=st.sampled_from(["sigmoid", "relu"]),
       dtype=st.sampled_from([numpy.float64, numpy.float32]), seed=st.integers(0, 2**31))
def test_per_sample_training_matches_numpy(inodes, hnodes, onodes, lr, activation, dtype, seed):
    ours, theirs = pair(inodes, hnodes, onodes, lr, dtype, activation, seed)
    exact = float64_twin(theirs)
    X, T = samples(numpy.random.default_rng(seed), 200, inodes, onodes, dtype)
    for x, t in zip(X, T):
        for net in (ours, theirs, exact):
            net.train(x, t)
    assert_same_weights(ours, theirs, dtype, exact)
    if dtype == numpy.float64:
        assert_allclose(ours.query(X[0]), theirs.query(X[0]), rtol=RTOL[dtype], atol=ATOL[dtype])


@settings(max_examples=20, deadline=None)
@given(inodes=st.integers(1, 30), hnodes=st.integers(1, 30), onodes=st.integers(1, 10),
       n=st.integers(1, 25), activation=st.sampled_from(["sigmoid", "relu"]),
       dtype=st.sampled_from([numpy.float64, numpy.float32]), seed=st.integers(0, 2**31))
def test_batch_training_and_query_match_numpy(inodes, hnodes, onodes, n, activation, dtype, seed):
    ours, theirs = pair(inodes, hnodes, onodes, 0.2, dtype, activation, seed)
    exact = float64_twin(theirs)
    rng = numpy.random.default_rng(seed)
    for _ in range(20):
        X, T = samples(rng, n, inodes, onodes, dtype)
        for net in (ours, theirs, exact):
            net.train(X, T)          # one update summed over the n rows
    assert_same_weights(ours, theirs, dtype, exact)
    out = ours.query(X)
    assert out.shape == (onodes, n) and out.dtype == dtype
    # outputs from the same weights: compare on ours
    theirs.wih, theirs.who = ours.wih, ours.who
    assert_allclose(out, theirs.query(X), rtol=RTOL[dtype], atol=ATOL[dtype])
    assert_allclose(ours.predict(X), theirs.query(X).T, rtol=RTOL[dtype], atol=ATOL[dtype])


def test_book_size_hundreds_of_steps_float64():
    ours, theirs = pair(784, 200, 10, 0.1)
    X, T = samples(numpy.random.default_rng(1), 300, 784, 10)
    for x, t in zip(X, T):
        ours.train(x, t)
        theirs.train(x, t)
    assert_same_weights(ours, theirs)


def test_book_size_float32():
    """After 10 steps within 1e-5 of NumPy float32; after 300, as close to float64 as it is."""
    ours, theirs = pair(784, 200, 10, 0.1, numpy.float32)
    exact = float64_twin(theirs)
    X, T = samples(numpy.random.default_rng(1), 300, 784, 10)
    for i, (x, t) in enumerate(zip(X, T)):
        for net in (ours, theirs, exact):
            net.train(x, t)
        if i == 9:
            assert_same_weights(ours, theirs, numpy.float32)
    assert_same_weights(ours, theirs, numpy.float32, exact)


def test_mixed_calls_keep_the_pending_update_invisible():
    """train, query, weight reads, 2-D calls and assignments interleaved: the NumPy version's
    results at every point."""
    ours, theirs = pair(20, 16, 5, 0.3)
    X, T = samples(numpy.random.default_rng(3), 30, 20, 5)
    for i in range(0, 30, 3):
        ours.train(X[i], T[i]); theirs.train(X[i], T[i])
        assert_allclose(ours.query(X[i + 1]), theirs.query(X[i + 1]), atol=1e-13)
        ours.train(X[i + 1], T[i + 1]); theirs.train(X[i + 1], T[i + 1])
        assert_same_weights(ours, theirs)
        ours.train(X[i:i + 3], T[i:i + 3]); theirs.train(X[i:i + 3], T[i:i + 3])
        ours.train(X[i + 2], T[i + 2]); theirs.train(X[i + 2], T[i + 2])
        assert_allclose(ours.query(X[:4]), theirs.query(X[:4]), atol=1e-13)
    ours.train(X[0], T[0]); theirs.train(X[0], T[0])
    ours.who = theirs.who * 0.5; theirs.who = theirs.who * 0.5
    ours.train(X[1], T[1]); theirs.train(X[1], T[1])
    ours.wih = theirs.wih; ours.train(X[2], T[2]); theirs.train(X[2], T[2])
    assert_same_weights(ours, theirs)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_fit_is_train_row_by_row_for_small_networks(dtype, activation):
    X, T = samples(numpy.random.default_rng(4), 500, 30, 4, dtype)
    a = cnn_core.neuralNetwork(30, 24, 4, 0.2, dtype=dtype, seed=1, activation=activation)
    b = cnn_core.neuralNetwork(30, 24, 4, 0.2, dtype=dtype, seed=1, activation=activation)
    a.fit(X, T, epochs=3)
    for _ in range(3):
        for x, t in zip(X, T):
            b.train(x, t)
    assert_array_equal(a.wih, b.wih)
    assert_array_equal(a.who, b.who)


def test_fit_shuffle_follows_a_permutation_per_epoch():
    X, T = samples(numpy.random.default_rng(5), 100, 8, 3)
    a = cnn_core.neuralNetwork(8, 6, 3, 0.3, seed=2)
    b = reference.neuralNetwork(8, 6, 3, 0.3, seed=2)
    a.fit(X, T, epochs=2, shuffle=True, seed=11)
    rng = numpy.random.default_rng(11)
    for order in (rng.permutation(100), rng.permutation(100)):
        b.fit(X[order], T[order])
    assert_same_weights(a, b)


@pytest.mark.parametrize("inodes, hnodes", [(50, 1), (50, 3), (50, 7), (50, 64), (50, 201),
                                            (300, 17), (784, 40), (2100, 2)])
def test_thread_count_does_not_change_a_bit(inodes, hnodes):
    """fit with 1, 2 and 3 threads: per-sample kernel (small networks) and block kernel
    (>= FIT_BLOCK_MIN_WEIGHTS weights; with 2 hidden units, threads with no rows)."""
    X, T = samples(numpy.random.default_rng(6), 150, inodes, 10)
    nets = [cnn_core.neuralNetwork(inodes, hnodes, 10, 0.1, seed=3, n_threads=n) for n in (1, 2, 3)]
    for net in nets:
        net.fit(X, T, epochs=2)
    for net in nets[1:]:
        assert_array_equal(net.wih, nets[0].wih)
        assert_array_equal(net.who, nets[0].who)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_block_kernel_stops_mid_block_at_the_first_non_finite_sample(dtype):
    """BookState.fit_rows, 1 to 3 threads, an infinite input in the second block (while the next block
    is being prepared): it returns that sample's position, with every update before it applied
    (the NumPy version's result on the samples before it) and the same bits on every thread
    count."""
    X, T = samples(numpy.random.default_rng(21), 100, 784, 10, dtype)
    X[45, 300] = numpy.inf
    results = []
    for n_threads in (1, 2, 3):
        ours, theirs = pair(784, 40, 10, 0.1, dtype)
        status = ours._kernel.fit_rows(X, T, numpy.arange(100), 0.1, 1, n_threads, 32)
        assert status == 45 and not ours._kernel.pending and ours._kernel.samples_trained == 45
        results.append((ours.wih, ours.who))
    exact = float64_twin(theirs)
    theirs.fit(X[:45], T[:45])
    exact.fit(X[:45].astype(numpy.float64), T[:45].astype(numpy.float64))
    assert_same_weights(ours, theirs, dtype, exact)
    for wih, who in results[1:]:
        assert_array_equal(wih, results[0][0])
        assert_array_equal(who, results[0][1])


@pytest.mark.parametrize("hnodes", [1, 7, 64, 201])
def test_one_sample_train_gives_the_same_bits_on_any_thread_count(dtype, hnodes):
    """train() called per sample with 1, 2 and 3 threads (rows of wih split between them), with
    queries, weight reads and a change of n_threads between the calls."""
    X, T = samples(numpy.random.default_rng(8), 120, 50, 10, dtype)
    nets = [cnn_core.neuralNetwork(50, hnodes, 10, 0.2, dtype=dtype, seed=5, n_threads=n)
            for n in (1, 2, 3)]
    for net in nets:
        for i, (x, t) in enumerate(zip(X, T)):
            net.train(x, t)
            if i % 40 == 39:
                net.query(X[0]), net.wih
            if i == 60 and net.n_threads == 3:
                net.n_threads = 2
    for net in nets[1:]:
        assert_array_equal(net.wih, nets[0].wih)
        assert_array_equal(net.who, nets[0].who)


def test_automatic_threads_of_one_sample_train_switch_without_changing_a_bit(monkeypatch):
    """Without n_threads, train() tries one and two threads in windows of calls and keeps the
    faster: the result is the single-thread one, to the bit, whatever it chose."""
    monkeypatch.delenv("CNN_CORE_NUM_THREADS", raising=False)
    monkeypatch.setattr(cnn_core._tuning, "THREAD_WINDOW_CALLS", 5)
    monkeypatch.setattr(cnn_core._tuning, "THREAD_PROBE_EVERY", 3)
    monkeypatch.setattr(cnn_core._threads, "_USABLE_CORES", 2)
    inodes, hnodes = 100, 500
    assert inodes * hnodes >= cnn_core._tuning.AUTO_THREADS_MIN_WEIGHTS
    X, T = samples(numpy.random.default_rng(9), 80, inodes, 10)
    auto = cnn_core.neuralNetwork(inodes, hnodes, 10, 0.1, seed=2)
    one = cnn_core.neuralNetwork(inodes, hnodes, 10, 0.1, seed=2, n_threads=1)
    used = set()
    for x, t in zip(X, T):
        auto.train(x, t)
        one.train(x, t)
        used.add(auto._call_window.n_threads)
    if cnn_core._dispatch.kernels.openmp_max_threads() >= 2:
        assert used == {1, 2}
    assert_array_equal(auto.wih, one.wih)
    assert_array_equal(auto.who, one.who)


def test_thread_choice_follows_n_threads_and_the_environment(monkeypatch):
    net = cnn_core.neuralNetwork(20, 10, 3, 0.1, seed=0)
    x, t = numpy.full(20, 0.5), numpy.full(3, 0.5)
    monkeypatch.setenv("CNN_CORE_NUM_THREADS", "2")
    net.train(x, t)
    assert net._call_window.n_threads == 2
    net.n_threads = 3
    net.train(x, t)
    assert net._call_window.n_threads == 3
    monkeypatch.delenv("CNN_CORE_NUM_THREADS")
    net.n_threads = None
    net.train(x, t)
    assert net._call_window.n_threads == 1          # too small to gain from a second thread


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_block_training_matches_numpy(dtype, activation, n_threads):
    """fit on a network large enough for block training: the NumPy version's per-sample result,
    over several blocks and a partial one, with shuffling."""
    assert 784 * 60 >= cnn_core._tuning.FIT_BLOCK_MIN_WEIGHTS
    ours, theirs = pair(784, 60, 10, 0.1, dtype, activation, n_threads=n_threads)
    exact = float64_twin(theirs)
    X, T = samples(numpy.random.default_rng(12), 250, 784, 10)
    ours.fit(X, T, epochs=2, shuffle=True, seed=4)
    rng = numpy.random.default_rng(4)
    for order in (rng.permutation(250), rng.permutation(250)):
        theirs.fit(X[order], T[order])
        exact.fit(X[order], T[order])
    assert_same_weights(ours, theirs, dtype, exact)


def test_backquery_matches_numpy(dtype):
    ours, theirs = pair(784, 100, 10, 0.1, dtype)
    X, T = samples(numpy.random.default_rng(8), 50, 784, 10, dtype)
    ours.fit(X, T)
    theirs.fit(X, T)
    targets = numpy.full(10, 0.01)
    targets[3] = 0.99
    got = ours.backquery(targets)
    assert got.shape == (784, 1) and got.dtype == dtype
    assert_allclose(got, theirs.backquery(targets), rtol=100 * RTOL[dtype], atol=100 * ATOL[dtype])
    assert got.min() == pytest.approx(0.01) and got.max() == pytest.approx(0.99)


def test_inputs_of_any_layout_and_integer_type_give_the_same_results():
    base = cnn_core.neuralNetwork(6, 5, 3, 0.1, seed=0)
    X = numpy.arange(12, dtype=numpy.int32).reshape(2, 6)
    expected = base.query(X.astype(float))
    assert_array_equal(base.query(X), expected)
    assert_array_equal(base.query(X.tolist()), expected)
    assert_array_equal(base.query(tuple(map(tuple, X))), expected)
    assert_array_equal(base.query(numpy.asfortranarray(X.astype(float))), expected)
    wide = numpy.zeros((2, 12)); wide[:, ::2] = X
    assert_array_equal(base.query(wide[:, ::2]), expected)                  # non-contiguous
    assert_array_equal(base.query(X.astype(">f8")), expected)               # big-endian
    assert_array_equal(base.query(X[0]), expected[:, :1])


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_one_sample_in_any_form_trains_and_queries_to_the_same_bits(dtype):
    """One-sample train and query take a fast path for a finite contiguous 1-D array of the
    network's dtype; every other form is converted first, with the same result to the bit."""
    import array
    rng = numpy.random.default_rng(3)
    x, t = rng.uniform(0.01, 1, 6), rng.uniform(0.01, 0.99, 3)
    own = lambda a: a.astype(dtype)                                 # noqa: E731
    read_only = own(x)
    read_only.flags.writeable = False
    wide = numpy.zeros(12, dtype)
    wide[::2] = x
    forms = [
        (own(x), own(t)),                                           # the fast path
        (read_only, own(t)),                                        # read-only: fast too
        (x, t),                                                     # float64 into float32 and back
        (wide[::2], own(t)),                                        # non-contiguous
        (own(x).astype(own(x).dtype.newbyteorder(">")), own(t)),    # big-endian
        (own(x)[None, :], own(t)[None, :]),                         # one row of a 2-D array
        (x.tolist(), t.tolist()),
        (array.array("d", x), array.array("d", t)),
        (memoryview(own(x)), memoryview(own(t))),
    ]
    results = []
    for inputs, targets in forms:
        net = cnn_core.neuralNetwork(6, 5, 3, 0.3, seed=0, dtype=dtype)
        for _ in range(3):
            net.train(inputs, targets)
        results.append((net.wih, net.who, net.query(inputs)))
    for wih, who, out in results[1:]:
        assert_array_equal(wih, results[0][0])
        assert_array_equal(who, results[0][1])
        assert_array_equal(out, results[0][2])
    assert results[0][2].shape == (3, 1) and results[0][2].dtype == dtype


@pytest.mark.parametrize("method", ["train", "query"])
def test_a_non_finite_sample_is_refused_before_the_fast_path_touches_anything(method):
    net = cnn_core.neuralNetwork(4, 3, 2, 0.1, seed=0)
    net.train(numpy.full(4, 0.5), numpy.full(2, 0.5))
    before = net.wih, net.who
    for bad in (numpy.nan, numpy.inf):
        x = numpy.array([0.1, 0.2, bad, 0.4])
        with pytest.raises(ValueError, match=r"inputs must be finite; got (nan|inf) at index 2"):
            net.train(x, numpy.full(2, 0.5)) if method == "train" else net.query(x)
    with pytest.raises(ValueError, match=r"targets must be finite"):
        net.train(numpy.full(4, 0.5), numpy.array([0.5, numpy.nan]))
    assert_array_equal(net.wih, before[0])
    assert_array_equal(net.who, before[1])


def test_float32_network_matches_float32_numpy_and_is_float32():
    ours, theirs = pair(10, 8, 4, 0.5, numpy.float32)
    X, T = samples(numpy.random.default_rng(9), 100, 10, 4)       # float64 data, converted
    ours.fit(X, T)
    theirs.fit(X, T)
    assert ours.query(X[0]).dtype == numpy.float32
    assert_same_weights(ours, theirs, numpy.float32)


def test_activation_functions_are_the_books():
    import scipy.special
    net = cnn_core.neuralNetwork(2, 2, 2, 0.1)
    assert net.activation_function is scipy.special.expit
    assert net.inverse_activation_function is scipy.special.logit
    relu = cnn_core.neuralNetwork(2, 2, 2, 0.1, activation="relu")
    assert_array_equal(relu.activation_function(numpy.array([-1.0, 2.0])), [0.0, 2.0])
