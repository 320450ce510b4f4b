"""The progress bar of long trainings: the CLI's epochs, ``Network.fit(verbose=1)`` and
``neuralNetwork.fit(progress=True)``.

In a Jupyter kernel: tqdm's widget (``tqdm.notebook``; needs ipywidgets, as ``pip install
"cnn_core[notebook]"`` installs), else tqdm's text bar in the cell. Elsewhere: tqdm's bar where
tqdm is installed (``pip install "cnn_core[progress]"``), else a plain one-line counter on a
terminal; nothing when stderr is not a terminal.
"""
import sys
import time

__all__ = ["Progress"]


class Progress:
    """A progress bar for `total` samples on stderr: ``bar(done)`` as they are done, then
    ``bar.close()``."""

    def __init__(self, desc, total, stream=None):
        self.desc, self.total = desc, total
        self.stream = sys.stderr if stream is None else stream
        self.start = self.last = time.perf_counter()
        self.shown = False
        self.bar = _jupyter_bar(desc, total) if _in_jupyter() else None
        if self.bar is None:
            try:
                import tqdm as _package         # noqa: F401  (first: tqdm.std may be cached)
                from tqdm.std import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, desc=desc, unit=" samples", unit_scale=True, leave=False,
                            file=self.stream, disable=None, dynamic_ncols=True)

    def __call__(self, done):
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            return
        now = time.perf_counter()
        if not isatty(self.stream) or (now - self.last < 0.2 and done < self.total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        self.stream.write(f"\r{self.desc}: {done}/{self.total} samples ({100 * done / self.total:3.0f}%), "
                          f"{rate:,.0f} samples/s, ETA {eta:.0f} s ")
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.shown:
            self.stream.write("\r\033[K")


def isatty(stream):
    """Whether `stream` is a terminal (False for anything that cannot say)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _in_jupyter():
    """Whether this runs in a Jupyter kernel (whose stderr is not a terminal, but shows bars)."""
    shell = sys.modules.get("IPython")
    try:
        return shell is not None and "ipykernel" in sys.modules and shell.get_ipython() is not None
    except AttributeError:
        return False


def _jupyter_bar(desc, total):
    """tqdm's widget (with ipywidgets) or text bar for a Jupyter cell; None without tqdm."""
    try:
        import tqdm as _package                 # noqa: F401  (first: tqdm.std may be cached)
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm
        except ImportError:
            from tqdm.std import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit=" samples", unit_scale=True, file=sys.stderr,
                mininterval=0.2)
