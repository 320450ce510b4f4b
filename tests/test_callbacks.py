"""cnn_core.callbacks: EarlyStopping, ReduceLROnPlateau and ModelCheckpoint in Network.fit, with
Keras's semantics."""
import math

import numpy
import pytest

from cnn_core import Network
from cnn_core.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from cnn_core.layers import Dense
from cnn_core.optimizers import SGD, StepDecay

NAN = float("nan")


def make_net(seed=0, lr=0.1):
    layers = [Dense(4, 8, "tanh", seed=seed), Dense(8, 3, "softmax", seed=seed + 1)]
    return Network(layers, loss="cross_entropy", optimizer=SGD(lr))


@pytest.fixture
def data():
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    return X, y


def logs(**values):
    base = {"loss": NAN, "accuracy": NAN, "val_loss": NAN, "val_accuracy": NAN, "lr": 0.1}
    base.update(values)
    return base


def drive(callback, net, values, key="val_loss"):
    """Call `callback` with `values` of `key` epoch by epoch; the epoch at which it said stop."""
    for epoch, v in enumerate(values, 1):
        if callback(net, epoch, logs(**{key: v})) is True:
            return epoch
    return None


# ------------------------------------------------------------------ EarlyStopping

def test_early_stopping_patience_as_keras():
    net = make_net()
    # Keras: best at epoch 2 (0.5); epochs 3, 4 do not improve; patience 2 stops at epoch 4
    assert drive(EarlyStopping(patience=2), net, [1.0, 0.5, 0.6, 0.55, 0.1]) == 4
    # patience 0: the first epoch without improvement stops
    assert drive(EarlyStopping(), net, [1.0, 0.9, 0.95, 0.1]) == 3
    # min_delta: improvements of 0.05 or less do not count
    cb = EarlyStopping(patience=1, min_delta=0.05)
    assert drive(cb, net, [1.0, 0.96, 0.5]) == 2
    assert cb.best == 1.0 and cb.best_epoch == 1 and cb.stopped_epoch == 2


def test_early_stopping_mode():
    net = make_net()
    # "auto" with accuracy watches for a maximum
    assert drive(EarlyStopping(monitor="val_accuracy"), net, [0.5, 0.6, 0.55], "val_accuracy") == 3
    assert drive(EarlyStopping(monitor="val_loss", mode="max"), net, [0.5, 0.6, 0.55]) == 3
    assert drive(EarlyStopping(monitor="loss", mode="min"), net, [0.5, 0.4, 0.45], "loss") == 3


def test_early_stopping_baseline():
    net = make_net()
    # never better than the baseline: stops after `patience` epochs
    assert drive(EarlyStopping(patience=2, baseline=0.1), net, [1.0, 0.9, 0.8, 0.7]) == 2


def test_early_stopping_never_after_the_first_epoch_and_resets_per_fit():
    net = make_net()
    cb = EarlyStopping(patience=0, baseline=0.0)
    assert cb(net, 1, logs(val_loss=1.0)) is False
    assert cb(net, 2, logs(val_loss=1.0)) is True
    # epoch 1 of a new fit starts afresh
    assert cb(net, 1, logs(val_loss=5.0)) is False and cb.best == 5.0 and cb.stopped_epoch == 0


def test_early_stopping_in_fit(data):
    X, y = data
    net = make_net()
    # the loss always falls, but never by 10: best at epoch 1, patience 2 stops at epoch 3
    cb = EarlyStopping(monitor="loss", patience=2, min_delta=10.0)
    net.fit(X, y, epochs=50, batch_size=10, shuffle=False, callbacks=[cb])
    assert len(net.history["loss"]) == 3 and cb.stopped_epoch == 3 and cb.best_epoch == 1


def test_restore_best_weights_in_fit(data):
    X, y = data
    reference = make_net().fit(X, y, epochs=1, batch_size=10, shuffle=False)
    net = make_net()
    cb = EarlyStopping(monitor="loss", patience=2, min_delta=10.0, restore_best_weights=True)
    net.fit(X, y, epochs=50, batch_size=10, shuffle=False, callbacks=[cb])
    assert len(net.history["loss"]) == 3
    for a, b in zip(net.layers, reference.layers):
        assert numpy.array_equal(a.W, b.W) and numpy.array_equal(a.b, b.b)
    assert not numpy.array_equal(net.layers[0].W, make_net().fit(
        X, y, epochs=3, batch_size=10, shuffle=False).layers[0].W)


def test_restore_best_weights_of_the_best_epoch_by_validation(data):
    """Driven by hand: the weights restored are those at the end of the best epoch."""
    X, y = data
    net = make_net()
    cb = EarlyStopping(patience=1, restore_best_weights=True)
    seen = []
    for epoch, v in enumerate([1.0, 0.2, 0.3, 0.4], 1):
        net.fit(X, y, epochs=1, batch_size=10, shuffle=False)
        seen.append(net.layers[0].W)
        if cb(net, epoch, logs(val_loss=v)):
            break
    assert epoch == 3
    assert numpy.array_equal(net.layers[0].W, seen[1])


def test_without_restore_the_last_weights_are_kept(data):
    X, y = data
    net = make_net()
    cb = EarlyStopping(monitor="loss", patience=1, min_delta=10.0)
    net.fit(X, y, epochs=50, batch_size=10, shuffle=False, callbacks=[cb])
    again = make_net().fit(X, y, epochs=2, batch_size=10, shuffle=False)
    assert numpy.array_equal(net.layers[0].W, again.layers[0].W)


def test_monitor_not_measured_is_a_clear_error(data):
    X, y = data
    with pytest.raises(ValueError, match=r"'val_loss'.*not measured.*validation_data.*'loss'"):
        make_net().fit(X, y, epochs=2, callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match=r"'val_los'.*not in the logs.*'accuracy'"):
        make_net().fit(X, y, epochs=2, callbacks=[EarlyStopping(monitor="val_los")])
    # with validation data it is measured
    cb = EarlyStopping(patience=100)
    make_net().fit(X, y, epochs=3, validation_data=(X, y), callbacks=[cb])
    assert math.isfinite(cb.best)


def test_argument_checks():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=-1)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="min_lr"):
        ReduceLROnPlateau(min_lr=-1)
    with pytest.raises(TypeError, match="path"):
        ModelCheckpoint(3)
    with pytest.raises(TypeError, match="monitor"):
        EarlyStopping(monitor=None)


# ------------------------------------------------------------------ ReduceLROnPlateau

def test_reduce_lr_on_plateau_as_keras():
    net = make_net(lr=1.0)
    cb = ReduceLROnPlateau(factor=0.5, patience=2)
    rates = []
    for epoch, v in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5], 1):
        cb(net, epoch, logs(val_loss=v))
        rates.append(net.optimizer.lr)
    # epochs 2, 3 without improvement -> halve; 4, 5 -> halve; 6 improves; 7, 8 -> halve
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]


def test_reduce_lr_min_lr_and_cooldown():
    net = make_net(lr=1.0)
    cb = ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05)
    for epoch in range(1, 6):
        cb(net, epoch, logs(val_loss=1.0))
    assert net.optimizer.lr == 0.05
    net = make_net(lr=1.0)
    cb = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    rates = []
    for epoch in range(1, 8):
        cb(net, epoch, logs(val_loss=1.0))
        rates.append(net.optimizer.lr)
    # Keras: the cooldown counter is decremented before the check, so with cooldown 2 the
    # rate is cut every second epoch after the first cut
    assert rates == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]


def test_reduce_lr_in_fit_shows_in_history(data):
    X, y = data
    net = make_net(lr=0.1)
    net.fit(X, y, epochs=4, batch_size=10, shuffle=False,
            callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)])
    assert net.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_reduce_lr_refuses_a_schedule():
    layers = [Dense(4, 3, "softmax", seed=0)]
    net = Network(layers, loss="cross_entropy", optimizer=SGD(StepDecay(0.1, 10)))
    with pytest.raises(ValueError, match="schedule"):
        ReduceLROnPlateau()(net, 1, logs(val_loss=1.0))


# ------------------------------------------------------------------ ModelCheckpoint

def test_checkpoint_every_epoch_with_formatted_path(data, tmp_path):
    X, y = data
    net = make_net()
    cb = ModelCheckpoint(str(tmp_path / "net-{epoch:02d}-{loss:.3f}.npz"))
    net.fit(X, y, epochs=3, batch_size=10, shuffle=False, callbacks=[cb])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3 and files[0].startswith("net-01-")
    last = Network.load(cb.last_saved)
    assert numpy.array_equal(last.layers[0].W, net.layers[0].W)
    assert last.history["loss"] == net.history["loss"]


def test_checkpoint_save_best_only(data, tmp_path):
    X, y = data
    net = make_net()
    path = tmp_path / "best.npz"
    cb = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    saved = []
    for epoch, v in enumerate([1.0, 0.5, 0.7, 0.9], 1):
        net.fit(X, y, epochs=1, batch_size=10, shuffle=False)
        cb(net, epoch, logs(val_loss=v))
        if cb.last_saved is not None and (not saved or saved[-1][0] != epoch):
            saved.append((epoch, net.layers[0].W))
        cb.last_saved = None
    assert [e for e, _ in saved] == [1, 2]
    assert numpy.array_equal(Network.load(path).layers[0].W, saved[-1][1])
    with pytest.raises(ValueError, match="val_loss"):
        ModelCheckpoint(path, save_best_only=True)(net, 1, logs())


def test_checkpoint_with_validation_in_fit(data, tmp_path):
    X, y = data
    net = make_net()
    path = tmp_path / "best.npz"
    cb = ModelCheckpoint(path, save_best_only=True)
    net.fit(X, y, epochs=5, batch_size=10, validation_data=(X[:20], y[:20]), callbacks=[cb])
    best = int(numpy.argmin(net.history["val_loss"]))
    loaded = Network.load(path)
    assert loaded.history["val_loss"] == net.history["val_loss"][:best + 1]
    assert cb.best == min(net.history["val_loss"])


def test_callbacks_together(data):
    X, y = data
    net = make_net()
    stop = EarlyStopping(monitor="val_accuracy", patience=3, restore_best_weights=True)
    net.fit(X, y, epochs=200, batch_size=10, validation_data=(X, y), seed=0,
            callbacks=[ReduceLROnPlateau(monitor="val_loss", patience=2, factor=0.5), stop])
    assert len(net.history["loss"]) < 200
    assert net.accuracy(X, y) == max(net.history["val_accuracy"]) == stop.best
