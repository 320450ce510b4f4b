"""Safe points of long calls: Ctrl-C held back until the caller is between two whole steps
(DeferredInterrupts), a lock that a long call releases between steps so that other threads
get in (StepLock), and locks that survive os.fork (fork_safe).

Python raises KeyboardInterrupt at whatever bytecode the main thread runs when SIGINT arrives.
A training step of a deep network is many kernel calls with Python in between (forward and
backward through every layer, then one optimizer call per layer), so an interrupt could leave
a batch applied to some layers and not to others. Inside ``with DeferredInterrupts() as d``
(in the main thread) SIGINT only records itself; ``d.check()``, called where the state is whole,
then runs the handler that was in place, which for the default handler raises
KeyboardInterrupt there. In other threads (where Python never delivers SIGINT) it does nothing.
"""
import os
import signal
import threading
import time
import weakref
from contextlib import contextmanager

try:        # the C functions under signal.signal/getsignal, without their enum conversions
    from _signal import getsignal as _getsignal, signal as _setsignal   # (4 us a call saved)
except ImportError:                                                     # not CPython
    _getsignal, _setsignal = signal.getsignal, signal.signal
_SIGINT = int(signal.SIGINT)

__all__ = ["DeferredInterrupts", "StepLock", "fork_safe"]


class DeferredInterrupts:
    """Hold SIGINT back until :meth:`check` (see the module's docstring)."""

    def __init__(self):
        self._previous = None           # the handler to run at check(), while installed
        self._pending = None            # (signum, frame) of a SIGINT not yet handled

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            previous = _getsignal(_SIGINT)
            if callable(previous):      # not SIG_IGN, SIG_DFL or a handler set outside Python
                _setsignal(_SIGINT, self._record)
                self._previous = previous
        return self

    def _record(self, signum, frame):
        self._pending = (signum, frame)

    def check(self):
        """Run the held-back SIGINT's handler now (KeyboardInterrupt for the default one)."""
        if self._pending is not None:
            signum, frame = self._pending
            self._pending = None
            self._previous(signum, frame)

    @contextmanager
    def paused(self):
        """Deliver SIGINT at once within the block (e.g. around the user's callbacks)."""
        if self._previous is None:
            yield
            return
        self.check()
        _setsignal(_SIGINT, self._previous)
        try:
            yield
        finally:
            _setsignal(_SIGINT, self._record)

    def __exit__(self, *exc_info):
        if self._previous is not None:
            _setsignal(_SIGINT, self._previous)
            try:
                self.check()            # a Ctrl-C that came after the last check is not lost
            finally:
                self._previous = None
        return False


class StepLock:
    """A re-entrant lock for state that a long call (fit) changes in steps, holding the lock for
    one step at a time. A plain lock lets the long call take it back at once after each step
    (the waiting thread is still waking up), so that another thread may wait for the whole call;
    here the long call runs :meth:`let_waiting_in` between steps, which waits (a few
    milliseconds at most) until the threads waiting for the lock have had it."""

    def __init__(self):
        self._lock = threading.RLock()
        self._waiting = []              # one entry per thread blocked in __enter__

    def __enter__(self):
        if not self._lock.acquire(blocking=False):
            self._waiting.append(None)
            try:
                self._lock.acquire()
            finally:
                self._waiting.pop()
        return self

    def __exit__(self, *exc_info):
        self._lock.release()
        return False

    def _at_fork_reinit(self):
        self._lock._at_fork_reinit()
        self._waiting = []

    def let_waiting_in(self, timeout=0.005):
        """Called without holding the lock: return once no thread waits for it, or after
        `timeout` seconds."""
        if self._waiting:
            end = time.perf_counter() + timeout
            while self._waiting and time.perf_counter() < end:
                time.sleep(0)


# --------------------------------------------------------------------------------------------
# os.fork: a child gets a copy of the memory with every lock as it was, and only the thread
# that forked. A network's `_training` lock held by a fit in another thread would stay held in
# the child forever, and its arrays might be half-way through a kernel call. So before a fork
# the forking thread takes every network's step lock (`_lock`: it waits for the kernel call in
# progress, a few milliseconds), the child renews both locks (free, owned by nobody), and the
# parent lets go: the child's copy is between two whole steps and usable.
# --------------------------------------------------------------------------------------------

_FORK_SAFE = weakref.WeakSet()
_held = []


def fork_safe(owner):
    """Register `owner` (an object with locks `_training` and `_lock`) for the fork handling
    above, for as long as it lives."""
    _FORK_SAFE.add(owner)


def _before_fork():
    for owner in list(_FORK_SAFE):
        lock = owner._lock
        lock.__enter__()
        _held.append(lock)


def _after_fork_in_parent():
    while _held:
        _held.pop().__exit__(None, None, None)


def _after_fork_in_child():
    _held.clear()
    for owner in list(_FORK_SAFE):
        for lock in (owner._training, owner._lock):
            lock._at_fork_reinit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
