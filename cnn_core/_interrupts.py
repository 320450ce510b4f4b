"""Safe points of long calls: signals held back until the caller is between two whole steps
(DeferredInterrupts), a lock that a long call releases between steps so that other threads
get in (StepLock), and locks that survive os.fork (fork_safe).

Python runs a signal's handler at whatever bytecode the main thread runs when the signal
arrives: KeyboardInterrupt for SIGINT, and whatever the program installed for the others (a
server's or job scheduler's SIGTERM handler raising SystemExit, a SIGALRM timeout raising an
exception). A training step of a deep network is many kernel calls with Python in between
(forward and backward through every layer, then one optimizer call per layer), so a handler that
raises could leave a batch applied to some layers and not to others. Inside
``with DeferredInterrupts() as d`` (in the main thread) every signal that has a Python handler
only records itself; ``d.check()``, called where the state is whole, then runs the handlers that
were in place, in the order the signals arrived (the default SIGINT handler raises
KeyboardInterrupt there). Signals without a Python handler (SIG_DFL, SIG_IGN, or a handler set
outside Python) are left alone: Python code cannot run for them anyway. In other threads (where
Python never runs signal handlers) it does nothing.
"""
import os
import signal
from operator import is_ as _is
import threading
import time
import weakref
from contextlib import contextmanager

try:        # the C functions under signal.signal/getsignal, without their enum conversions
    from _signal import getsignal as _getsignal, signal as _setsignal   # (4 us a call saved)
except ImportError:                                                     # not CPython
    _getsignal, _setsignal = signal.getsignal, signal.signal

# Every signal a Python handler may be installed for. Entering DeferredInterrupts reads the
# handler of each (about 0.1 us apiece, a few microseconds per fit in all): the handlers can
# change at any time through signal.signal, which tells no one, so they are not cached.
_SIGNALS = tuple(sorted(int(s) for s in signal.valid_signals()
                        if s not in (getattr(signal, "SIGKILL", None),
                                     getattr(signal, "SIGSTOP", None))))

__all__ = ["DeferredInterrupts", "StepLock", "fork_safe"]


class DeferredInterrupts:
    """Hold back the signals that have Python handlers until :meth:`check` (see the module's
    docstring)."""

    def __init__(self):
        self._previous = None           # {signal: handler to run at check()}, while installed
        self._pending = []              # (signum, frame) of signals not yet handled, in order

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._install()
        return self

    # the handlers last seen on entering (a list, one per _SIGNALS) and the Python ones among
    # them: comparing the list is cheaper than looking at each again (the usual case)
    _seen = _seen_python = None

    def _install(self):
        """Put _record in place of every Python handler (not SIG_IGN, SIG_DFL, None)."""
        handlers = list(map(_getsignal, _SIGNALS))
        seen = DeferredInterrupts._seen
        if seen is not None and all(map(_is, handlers, seen)):    # the same objects
            previous = DeferredInterrupts._seen_python
        else:
            previous = {sig: h for sig, h in zip(_SIGNALS, handlers) if callable(h)}
            DeferredInterrupts._seen, DeferredInterrupts._seen_python = handlers, previous
        record = self._record
        for sig in previous:
            _setsignal(sig, record)
        self._previous = previous or None

    def _uninstall(self):
        for sig, handler in self._previous.items():
            _setsignal(sig, handler)

    def _record(self, signum, frame):
        self._pending.append((signum, frame))

    def check(self):
        """Run the held-back signals' handlers now, in the order the signals came
        (KeyboardInterrupt for the default SIGINT handler). If one raises, the others stay held
        for the next check (or the end of the block)."""
        pending = self._pending
        while pending:
            signum, frame = pending.pop(0)
            self._previous[signum](signum, frame)

    @contextmanager
    def paused(self):
        """Deliver signals at once within the block (e.g. around the user's callbacks, which may
        also install other handlers: those are held back after the block)."""
        if self._previous is None:
            yield
            return
        self.check()
        self._uninstall()
        try:
            yield
        finally:
            self._install()

    def __exit__(self, *exc_info):
        if self._previous is not None:
            self._uninstall()
            try:
                self.check()            # a signal that came after the last check is not lost
            finally:
                self._previous = None
                self._pending = []
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
