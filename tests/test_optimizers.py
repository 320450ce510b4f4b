"""Each optimizer's first two steps recomputed by hand; schedules; state and arguments."""
import math

import numpy
import pytest
from numpy.testing import assert_allclose

from cnn_core import _dense_numpy as twins, optimizers
from cnn_core.optimizers import (SGD, AdaGrad, Adam, ExponentialDecay, InverseTimeDecay, Momentum,
                                 Nesterov, RMSprop, StepDecay)

P0 = [1.0, -2.0]
G1 = [0.5, 0.25]
G2 = [-1.0, 2.0]


def two_steps(opt, backend, dtype=numpy.float64):
    if backend == "numpy":
        opt._bind(twins)
    p = numpy.array(P0, dtype)
    after = []
    for g in (G1, G2):
        assert opt.update([p], [numpy.array(g, dtype)]) is True
        after.append(p.copy())
    assert opt.iterations == 2
    return after


def test_sgd(backend):
    p1, p2 = two_steps(SGD(0.1), backend)
    # p1 = p0 - 0.1 * g1 = [1 - 0.05, -2 - 0.025]
    assert_allclose(p1, [0.95, -2.025], rtol=1e-15)
    # p2 = p1 - 0.1 * g2 = [0.95 + 0.1, -2.025 - 0.2]
    assert_allclose(p2, [1.05, -2.225], rtol=1e-15)


def test_sgd_with_weight_decay(backend):
    p1, p2 = two_steps(SGD(0.1, weight_decay=0.5), backend)
    # d1 = g1 + 0.5 * p0 = [0.5 + 0.5, 0.25 - 1.0] = [1.0, -0.75]; p1 = p0 - 0.1 d1 = [0.9, -1.925]
    assert_allclose(p1, [0.9, -1.925], rtol=1e-15)
    # d2 = g2 + 0.5 * p1 = [-1 + 0.45, 2 - 0.9625] = [-0.55, 1.0375]; p2 = [0.955, -2.02875]
    assert_allclose(p2, [0.955, -2.02875], rtol=1e-14)


def test_momentum(backend):
    opt = SGD(0.1, momentum=0.9)
    p1, p2 = two_steps(opt, backend)
    # v1 = g1 = [0.5, 0.25]; p1 = p0 - 0.1 v1 = [0.95, -2.025]
    assert_allclose(p1, [0.95, -2.025], rtol=1e-15)
    # v2 = 0.9 v1 + g2 = [0.45 - 1, 0.225 + 2] = [-0.55, 2.225]; p2 = p1 - 0.1 v2 = [1.005, -2.2475]
    assert_allclose(p2, [1.005, -2.2475], rtol=1e-14)
    assert_allclose(opt._state[0][0], [-0.55, 2.225], rtol=1e-15)
    assert_allclose(two_steps(Momentum(0.1), backend)[1], p2, rtol=1e-15)     # the same rule


def test_nesterov(backend):
    p1, p2 = two_steps(SGD(0.1, momentum=0.9, nesterov=True), backend)
    # v1 = g1; d1 = g1 + 0.9 v1 = 1.9 g1 = [0.95, 0.475]; p1 = p0 - 0.1 d1 = [0.905, -2.0475]
    assert_allclose(p1, [0.905, -2.0475], rtol=1e-15)
    # v2 = 0.9 v1 + g2 = [-0.55, 2.225]; d2 = g2 + 0.9 v2 = [-1.495, 4.0025]
    # p2 = p1 - 0.1 d2 = [0.905 + 0.1495, -2.0475 - 0.40025] = [1.0545, -2.44775]
    assert_allclose(p2, [1.0545, -2.44775], rtol=1e-14)
    assert_allclose(two_steps(Nesterov(0.1), backend)[1], p2, rtol=1e-15)


def test_adagrad(backend):
    p1, p2 = two_steps(AdaGrad(0.1), backend)
    # h1 = g1^2 = [0.25, 0.0625]; p1 = p0 - 0.1 g1 / (sqrt(h1) + 1e-10) = p0 - 0.1 sign(g1)
    assert_allclose(p1, [1.0 - 0.1 * 0.5 / (0.5 + 1e-10), -2.0 - 0.1 * 0.25 / (0.25 + 1e-10)], rtol=1e-15)
    # h2 = h1 + g2^2 = [1.25, 4.0625]; p2 = p1 - 0.1 g2 / (sqrt(h2) + 1e-10)
    expected = [p1[0] + 0.1 * 1.0 / (math.sqrt(1.25) + 1e-10), p1[1] - 0.1 * 2.0 / (math.sqrt(4.0625) + 1e-10)]
    assert_allclose(p2, expected, rtol=1e-15)
    assert_allclose(p2, [0.9 + 0.1 / math.sqrt(1.25), -2.1 - 0.2 / math.sqrt(4.0625)], rtol=1e-9)  # eps aside


def test_rmsprop(backend):
    p1, p2 = two_steps(RMSprop(0.01), backend)
    # v1 = 0.01 g1^2 = [0.0025, 0.000625]; p1 = p0 - 0.01 g1 / (sqrt(v1) + 1e-8)
    #    = p0 - 0.01 * [0.5 / 0.05, 0.25 / 0.025] (+ eps) = p0 - [0.1, 0.1]
    assert_allclose(p1, [0.9, -2.1], rtol=1e-7)
    # v2 = 0.99 v1 + 0.01 g2^2 = [0.002475 + 0.01, 0.00061875 + 0.04] = [0.012475, 0.04061875]
    expected = [p1[0] + 0.01 * 1.0 / (math.sqrt(0.012475) + 1e-8),
                p1[1] - 0.01 * 2.0 / (math.sqrt(0.04061875) + 1e-8)]
    assert_allclose(p2, expected, rtol=1e-14)


def test_adam(backend):
    p1, p2 = two_steps(Adam(0.001), backend)
    # t = 1: m = 0.1 g1, v = 0.001 g1^2, bias corrections 0.1 and 0.001: mhat = g1, vhat = g1^2
    # p1 = p0 - 0.001 * g1 / (|g1| + 1e-8) ~ p0 - 0.001 sign(g1)
    assert_allclose(p1, [1.0 - 0.001 * 0.5 / (0.5 + 1e-8), -2.0 - 0.001 * 0.25 / (0.25 + 1e-8)], rtol=1e-15)
    # t = 2: m = 0.9 * 0.1 g1 + 0.1 g2 = [0.045 - 0.1, 0.0225 + 0.2] = [-0.055, 0.2225]
    #        v = 0.999 * 0.001 g1^2 + 0.001 g2^2 = [0.00024975 + 0.001, 0.0000624375 + 0.004]
    #        bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999
    m = [-0.055, 0.2225]
    v = [0.00124975, 0.0040624375]
    expected = [p1[k] - 0.001 * (m[k] / 0.19) / (math.sqrt(v[k] / 0.001999) + 1e-8) for k in range(2)]
    assert_allclose(p2, expected, rtol=1e-13)


def test_float32_follows_the_same_rules(backend):
    for make in (lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.01), lambda: RMSprop(0.01), lambda: AdaGrad(0.1)):
        a = two_steps(make(), backend, numpy.float32)
        b = two_steps(make(), backend, numpy.float64)
        assert a[1].dtype == numpy.float32
        assert_allclose(a[1], b[1], rtol=1e-6)


def test_state_is_lazy_and_per_array():
    opt = Adam()
    assert opt._state is None
    W, b = numpy.ones((2, 3)), numpy.ones(3)
    opt.update([W, b], [numpy.ones((2, 3)), numpy.ones(3)])
    assert [s[0].shape for s in opt._state] == [(6,), (3,)]
    with pytest.raises(ValueError, match=r"state was made for 2 parameter array\(s\) of sizes \[6, 3\]"):
        opt.update([W], [numpy.ones((2, 3))])
    SGD(0.1).update([W], [numpy.ones((2, 3))])      # plain SGD needs no state


def test_schedules():
    s = StepDecay(0.1, step_size=3, gamma=0.5)
    assert [s(t) for t in (0, 2, 3, 5, 6)] == [0.1, 0.1, 0.05, 0.05, 0.025]
    e = ExponentialDecay(1.0, 0.5, decay_steps=2)
    assert e(0) == 1.0 and e(2) == 0.5 and e(1) == pytest.approx(0.5 ** 0.5)
    assert ExponentialDecay(1.0, 0.5, decay_steps=2, staircase=True)(3) == 0.5
    i = InverseTimeDecay(0.3, 1.0, decay_steps=10)
    assert i(0) == 0.3 and i(10) == pytest.approx(0.15) and i(30) == pytest.approx(0.075)


def test_the_schedule_drives_the_rate(backend):
    opt = SGD(StepDecay(0.1, step_size=1, gamma=0.5))
    assert opt.lr == 0.1
    p1, p2 = two_steps(opt, backend)
    # step 1 with lr 0.1: [0.95, -2.025]; step 2 with lr 0.05: p1 - 0.05 g2 = [1.0, -2.125]
    assert_allclose(p2, [1.0, -2.125], rtol=1e-15)
    assert opt.lr == 0.025


@pytest.mark.parametrize("lr", [0.3, StepDecay(0.1, step_size=2, gamma=0.5),
                                ExponentialDecay(0.2, 0.5, decay_steps=3)])
def test_rates_are_the_lr_of_the_next_updates(lr):
    """_rates(n), what the per-sample kernel trains with, gives the rate each of the next n
    updates uses (lr at iterations, iterations + 1, ...); the update counts itself."""
    opt = SGD(lr)
    opt._advance(3)
    rates = opt._rates(5)
    assert rates.dtype == numpy.float64 and rates.shape == (5,) and opt.iterations == 3
    p, g = numpy.zeros(2), numpy.zeros(2)
    seen = []
    for _ in range(5):
        seen.append(opt.lr)
        assert opt._update([p], [g])
    assert list(rates) == seen and opt.iterations == 8


@pytest.mark.parametrize("make, error, match", [
    (lambda: SGD(-0.1), ValueError, r"lr must be a positive finite number; got -0.1"),
    (lambda: SGD("fast"), TypeError, r"lr must be a positive number or a schedule"),
    (lambda: SGD(0.1, momentum=1.5), ValueError, r"momentum must be a finite number >= 0 and < 1; got 1.5"),
    (lambda: SGD(0.1, nesterov=True), ValueError, r"nesterov=True needs a momentum > 0"),
    (lambda: SGD(0.1, weight_decay=-1), ValueError, r"weight_decay must be a finite number >= 0"),
    (lambda: Adam(betas=(0.9,)), TypeError, r"betas must be a pair"),
    (lambda: Adam(betas=(0.9, 1.0)), ValueError, r"beta2 must be a finite number >= 0 and < 1"),
    (lambda: RMSprop(eps=0), ValueError, r"eps must be a positive finite number"),
    (lambda: StepDecay(0.1, step_size=0), ValueError, r"step_size must be a positive integer"),
    (lambda: ExponentialDecay(0.1, decay_rate=2), ValueError, r"decay_rate must be a finite number > 0 and <= 1"),
    (lambda: optimizers.get("adamm"), ValueError, r"Unknown optimizer 'adamm'; expected one of \['adagrad', 'adam'"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_update_calls_change_nothing():
    opt = SGD(0.1)
    W = numpy.ones((2, 2))
    for params, grads, error, match in [
        ([W], [numpy.ones((2, 3))], ValueError, r"grads\[0\] must be an array of the shape and dtype of params\[0\]"),
        ([W], [numpy.ones((2, 2), numpy.float32)], ValueError, r"grads\[0\]"),
        ([W, W], [numpy.ones((2, 2))], ValueError, r"as many gradient arrays as parameter arrays"),
        ([W.T], [numpy.ones((2, 2))], ValueError, r"writable C-contiguous"),
        ([[1.0, 2.0]], [numpy.ones(2)], TypeError, r"params\[0\] must be a float32 or float64 NumPy array"),
        (W, numpy.ones((2, 2)), TypeError, r"update takes a list"),
    ]:
        with pytest.raises(error, match=match):
            opt.update(params, grads)
    assert (W == 1).all() and opt.iterations == 0


def test_get_by_name_and_config_round_trip():
    assert isinstance(optimizers.get("ADAM"), Adam)
    assert optimizers.get("sgd").lr == 0.01
    for opt in (SGD(0.2, momentum=0.5, nesterov=True, weight_decay=0.1), Adam(0.01, betas=(0.8, 0.9)),
                RMSprop(0.02, alpha=0.9), AdaGrad(0.3), Momentum(0.1), Nesterov(0.1),
                SGD(InverseTimeDecay(0.5, 0.1, 100))):
        back = type(opt).from_config(opt.get_config())
        assert back.get_config() == opt.get_config()
