"""The exceptions of cnn_core and the messages both stacks raise them with.

Every message that the book network (``book.py``) and the deep networks (``network.py``,
``layers.py``, the trainer) share is built here, so that the two say the same thing the same
way: what diverged and where, what the network keeps, and what to try.
"""

__all__ = ["DivergenceError", "FitInterrupted", "FileError", "SlowPathWarning", "KernelsMissing"]


class DivergenceError(ValueError):
    """Training produced non-finite values (the learning rate is too large or the inputs are
    not scaled). The network keeps the last finite weights."""


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``: the network holds the training of exactly ``samples_seen`` samples
    (counted over all epochs of that call)."""

    def __init__(self, message, samples_seen):
        super().__init__(message)
        self.samples_seen = samples_seen


class FileError(ValueError):
    """A file that is not what it should be; the message names the file and the problem."""


class KernelsMissing(ImportError):
    """The compiled kernels are not there (a source tree that was not built): everything but the
    NumPy versions (``cnn_core.reference``, ``cnn_core.errors``) needs them."""


class SlowPathWarning(UserWarning):
    """A network was given an activation_function that the kernels do not have: it runs on a
    NumPy path (the book's class's code), many times slower."""


# ------------------------------------------------------------------ message builders

def advice(lr):
    """What to try after a divergence; `lr` as it should be printed (a number or a string)."""
    return f"Try a smaller learning rate (now {lr}) or inputs scaled to about [0, 1]."


def diverged_in_fit(epoch, where, kept, lr):
    """fit's DivergenceError: at `epoch` (from 1), `where` (what was not finite, where), and
    what the network `kept`."""
    return DivergenceError(f"Training diverged at epoch {epoch} ({where}); the network keeps "
                           f"{kept}. {advice(lr)}")


def diverged_validation(epoch, largest, lr):
    """fit's DivergenceError when the validation data's forward pass is not finite after
    `epoch` (from 1); `largest` is the largest parameter's size."""
    return DivergenceError(f"Training diverged at epoch {epoch}: the forward pass of the validation "
                           f"data is not finite (the parameters have grown to {largest:.3g}, or "
                           f"the validation inputs are too large); the network keeps its "
                           f"parameters from the end of that epoch, which are finite. {advice(lr)}")


def diverged_step(lr):
    """A training step whose forward pass was not finite (nothing was updated)."""
    return DivergenceError("train: the forward pass gave non-finite values, so no update was "
                           "made: the inputs are too large or the weights are no longer finite "
                           f"(training diverged). {advice(lr)}")


def diverged_update(lr):
    """A training step whose update would have made weights non-finite (it was not made)."""
    return DivergenceError("train: the update would make weights non-finite (too large for the "
                           "network's dtype), so it was not made: the network keeps its weights "
                           f"from before this call. {advice(lr)}")


def not_finite(call, what):
    """A query (`call`: "query", "predict", ...) whose values are not finite; `what` names the
    network's trainable values ("weights", "parameters")."""
    return DivergenceError(f"{call + ': ' if call else ''}the network's values are not finite, "
                           f"because its {what} are not (training diverged) or the inputs are "
                           f"too large.")


def fit_interrupted(seen, n_rows=None):
    """The FitInterrupted of a fit stopped after `seen` samples; with `n_rows` (the rows of one
    epoch, for batch training) it says how many whole epochs that is."""
    if n_rows is None:
        return FitInterrupted(f"fit interrupted after {seen} samples; the network holds the "
                              f"training of exactly those samples.", seen)
    epochs, rest = divmod(seen, n_rows)
    where = (f"{epochs} whole epoch{'s' if epochs != 1 else ''}" +
             (f" and {rest} samples of the next" if rest else ""))
    return FitInterrupted(f"fit interrupted after {seen} samples ({where}); the network holds the "
                          f"training of exactly those samples, in whole batches.", seen)
