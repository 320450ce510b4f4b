"""Back to the last finite weights after a diverged training step: one policy for both fits.

A fit keeps a snapshot of the trainable state taken at the start of an epoch, and the steps it
trained since. When a step gives non-finite values, the network goes back to the snapshot and
replays the finite steps that came before the failing one (the same computation in the same
order, so the same bits); the weights are then exactly those of training up to that step.
Copying the weights before every step would cost a copy per step; this costs one per epoch.

    rollback = Rollback(snapshot, restore, replay)
    rollback.save()                  # at the start of an epoch
    rollback.trained(step)           # after each finite step (the step as replay takes it)
    rollback.back(keep)              # after a failure: restore, replay the first `keep` steps
"""

__all__ = ["Rollback"]


class Rollback:
    """The last saved state and the steps trained since, for going back after a failure.

    ``snapshot()`` returns a copy of the state; ``restore(saved)`` writes such a copy back;
    ``replay(step)`` trains one recorded step again (it was finite, so it is again).
    """

    __slots__ = ("_snapshot", "_restore", "_replay", "_saved", "_steps")

    def __init__(self, snapshot, restore, replay):
        self._snapshot, self._restore, self._replay = snapshot, restore, replay
        self._saved = None
        self._steps = []

    def save(self):
        """Take the snapshot that a later failure goes back to; forget the steps recorded."""
        self._saved = self._snapshot()
        self._steps = []

    def trained(self, step):
        """Record a step trained since the snapshot (as ``replay`` takes it)."""
        self._steps.append(step)

    @property
    def steps(self):
        """The steps recorded since the snapshot, in order."""
        return list(self._steps)

    def back(self, keep=None, steps=None):
        """Restore the snapshot, then replay the first `keep` recorded steps (all with None),
        or the given `steps` instead of the recorded ones."""
        if self._saved is None:
            raise RuntimeError("Rollback.back() before save(): nothing to go back to")
        self._restore(self._saved)
        todo = self._steps if steps is None else steps
        for step in (todo if keep is None else todo[:keep]):
            self._replay(step)
