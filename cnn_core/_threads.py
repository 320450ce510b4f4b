"""How many threads the per-sample kernels run on: the one home of that choice.

The count comes from the network's ``n_threads``, else ``CNN_CORE_NUM_THREADS``
(:func:`cnn_core._dispatch.default_threads`), else it is chosen while training: a network large
enough to gain (``_tuning.AUTO_THREADS_MIN_WEIGHTS`` weights) tries two threads and one, when two
cores are there, and keeps the faster (:class:`AdaptiveThreads`). Results never depend on it.

A plan answers ``next()`` (the count for the next chunk of work) and learns from
``record(n, samples, seconds)``; ``candidates`` are the counts it chooses among. One-sample
``train()`` calls are too short to time one by one: they take a count per window of calls
(:class:`CallWindow`).
"""
import os

from . import _tuning
from ._dispatch import default_threads, kernels

__all__ = ["plan", "FixedThreads", "AdaptiveThreads", "CallWindow", "usable_cores"]


def usable_cores():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                      # not on Linux
        return os.cpu_count() or 1


_USABLE_CORES = usable_cores()


def plan(n_threads, weights, kept, kind):
    """The thread plan of a network whose choice is `n_threads` (None: automatic) and whose
    largest per-sample product has `weights` weights, for work of `kind` ("fit", "call"). An
    automatic plan is kept in the dict `kept` (the network's), so that what it learnt holds
    across calls; a count given (n_threads, else CNN_CORE_NUM_THREADS) is read on every call."""
    n = n_threads or default_threads()
    if n is not None:
        return FixedThreads(n)
    if kind not in kept:
        most = 1
        if weights >= _tuning.AUTO_THREADS_MIN_WEIGHTS:
            most = min(2, _USABLE_CORES, kernels.openmp_max_threads())
        kept[kind] = AdaptiveThreads((most, 1) if most > 1 else (1,))
    return kept[kind]


class FixedThreads:
    """The thread count the user chose."""

    def __init__(self, n):
        self.n = n
        self.candidates = (n,)

    def next(self):
        return self.n

    def record(self, n, samples, seconds):
        pass


class AdaptiveThreads:
    """The thread count for each chunk of work when the user did not choose one. Results do not
    depend on it, so each candidate is measured on the way and the faster kept, trying the other
    again after 2, 4, 8, ... chunks, then every THREAD_PROBE_EVERY: on a machine busy with other
    work (another process, BLAS threads still spinning after a product), two threads that wait
    for each other at every sample can be many times slower than one, and a choice made in such
    a moment is soon revisited."""

    def __init__(self, candidates):
        self.candidates = candidates
        self.rate = {}              # samples/s per thread count, recent chunks averaged
        self.started = set()        # the first chunk on a thread count includes its start-up
        self.chunks = 0
        self.gap = 1                # chunks between probes, doubling up to THREAD_PROBE_EVERY
        self.probe_at = None
        self.last = None            # the count of the last chunk recorded

    def next(self):
        self.chunks += 1
        untried = [n for n in self.candidates if n not in self.rate]
        if untried:
            return untried[0]
        best = max(self.candidates, key=self.rate.get)
        if len(self.candidates) == 1:
            return best
        if self.probe_at is None or self.chunks >= self.probe_at:
            if self.probe_at is not None:
                best = next(n for n in self.candidates if n != best)
            self.gap = min(2 * self.gap, _tuning.THREAD_PROBE_EVERY)
            self.probe_at = self.chunks + self.gap
        return best

    def record(self, n, samples, seconds):
        if n not in self.started:
            self.started.add(n)
            return
        rate = samples / max(seconds, 1e-9)
        # a run of chunks on one count is averaged; a probe replaces what is known of its count,
        # which may be from a busier moment long ago
        fresh = n not in self.rate or n != self.last
        self.rate[n] = rate if fresh else 0.5 * (self.rate[n] + rate)
        self.last = n


class CallWindow:
    """One-sample train() calls run in windows of THREAD_WINDOW_CALLS calls on one thread count:
    a window takes its count from the plan, and reports its kernel time to it when it ends."""

    def __init__(self):
        self.n_threads = None
        self.size = 0
        self.left = 0               # calls left in this window (0: take a count first)
        self.timed = False          # only a plan with a choice to make needs the times
        self.seconds = 0.0

    def renew(self, plan):
        """Close this window (timed over its calls) and open the next; its thread count."""
        if self.timed:
            plan.record(self.n_threads, self.size, self.seconds)
        self.n_threads = plan.next()
        self.timed = len(plan.candidates) > 1
        self.size = _tuning.THREAD_WINDOW_CALLS
        self.left, self.seconds = self.size, 0.0
        return self.n_threads
