"""cnn_core._rollback: the one policy of going back to the last finite weights."""
import numpy
import pytest

from cnn_core._rollback import Rollback


def make(state):
    replayed = []

    def replay(step):
        replayed.append(step)
        state[...] += step

    return Rollback(lambda: state.copy(), lambda saved: numpy.copyto(state, saved), replay), replayed


def test_back_restores_the_snapshot_then_replays_the_steps_before_the_failure():
    state = numpy.zeros(3)
    rollback, replayed = make(state)
    rollback.save()
    for step in (numpy.full(3, 1.0), numpy.full(3, 2.0), numpy.full(3, 4.0)):
        state[...] += step
        rollback.trained(step)
    state[:] = numpy.inf                     # the failing step
    rollback.back(keep=2)
    numpy.testing.assert_array_equal(state, numpy.full(3, 3.0))
    assert len(replayed) == 2


def test_back_with_given_steps_and_save_forgets_earlier_steps():
    state = numpy.zeros(2)
    rollback, replayed = make(state)
    rollback.save()
    rollback.trained(numpy.ones(2))
    state += 1
    rollback.save()                          # a new epoch: the step above is in the snapshot
    assert rollback.steps == []
    state[:] = numpy.nan
    rollback.back(steps=[numpy.full(2, 0.5)])
    numpy.testing.assert_array_equal(state, numpy.full(2, 1.5))


def test_back_before_save_is_an_error():
    rollback, _ = make(numpy.zeros(1))
    with pytest.raises(RuntimeError, match="before save"):
        rollback.back()
