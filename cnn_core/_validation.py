"""Checks of user input with messages that say what was expected, what came and what to do.

Every public entry point runs its arguments through these before any state is touched, so a
call that raises leaves the network as it was.
"""
import numbers

import numpy

from ._dispatch import kernels

FLOAT_DTYPES = (numpy.dtype(numpy.float64), numpy.dtype(numpy.float32))


def positive_int(value, name):
    """`value` as an int >= 1 (ints and NumPy integers; not bools, floats or strings)."""
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer; got {value!r} ({type(value).__name__}).")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def positive_float(value, name):
    """`value` as a finite float > 0 (a learning rate, a standard deviation, ...)."""
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not numpy.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value!r}.")
    return value


def nonnegative_float(value, name):
    """`value` as a finite float >= 0 (a learning rate, where 0 is allowed: it trains nothing,
    as the book's class lets it). Negative, NaN and infinite values are refused."""
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {value!r} ({type(value).__name__}); "
                        f"0 is allowed too.")
    value = float(value)
    if not numpy.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a positive finite number; got {value!r} (0 is allowed "
                         f"too: it trains nothing).")
    return value


def rate_in_dtype(value, name, dtype):
    """`value` (a positive finite float) if it stays a positive normal number when cast to
    `dtype`, the precision the kernels compute in; else a ValueError."""
    dtype = numpy.dtype(dtype)
    info = numpy.finfo(dtype)
    if not float(info.tiny) <= value <= float(info.max):
        with numpy.errstate(over="ignore", under="ignore"):
            cast = float(dtype.type(value))
        raise ValueError(f"{name} must be a rate that {dtype.name} can hold, between "
                         f"{float(info.tiny):.3g} and {float(info.max):.3g}; got {value!r}, which "
                         f"becomes {cast!r} in {dtype.name}. Use a rate of about 0.001 to 1 "
                         f"(or a float64 network).")
    return value


def n_threads(value):
    """None (automatic) or an int from 1 to MAX_THREADS (cnn_core._dispatch.MAX_THREADS): more
    would only slow the kernels down, and thousands would make OpenMP end the process."""
    from ._dispatch import MAX_THREADS
    if value is None:
        return None
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"n_threads must be None (automatic) or a positive integer; got {value!r} "
                        f"({type(value).__name__}).")
    if not 1 <= value <= MAX_THREADS:
        raise ValueError(f"n_threads must be a positive integer no larger than {MAX_THREADS}; got "
                         f"{value!r}. Give a number of threads from 1 to {MAX_THREADS}, or None "
                         f"for automatic.")
    return int(value)


def float_dtype(value):
    """numpy.float64 or numpy.float32 as a numpy.dtype."""
    try:
        dtype = numpy.dtype(value)
    except TypeError:
        raise TypeError(f"dtype must be numpy.float64 or numpy.float32; got {value!r}.") from None
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32; got {dtype.name!r}.")
    return dtype


def choice(value, name, options):
    """`value` if it is one of `options` (strings), else a ValueError listing them."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {sorted(options)}.")
    return value


def real_array(value, name, dtype):
    """`value` (array, list, tuple, number) as a C-contiguous array of `dtype`, all finite.

    Accepts bools, integers and floats of any byte order and memory layout; refuses None,
    strings, complex, object and other non-numeric data with a TypeError."""
    dtype = numpy.dtype(dtype)
    if type(value) is numpy.ndarray and value.dtype == dtype and value.flags.c_contiguous:
        array = value                                   # the common case, checked fast
    else:
        array = _convert(value, name, dtype)
    if not kernels.all_finite(array.reshape(-1)):
        index = int(numpy.flatnonzero(~numpy.isfinite(array.reshape(-1)))[0])
        where = tuple(int(i) for i in numpy.unravel_index(index, array.shape))
        original = numpy.asarray(value).reshape(-1)[index]
        reason = f" (too large for {dtype.name})" if numpy.isfinite(original) else ""
        raise ValueError(f"{name} must be finite; got {original} at index "
                         f"{where if array.ndim != 1 else where[0]}{reason}.")
    return array


def refuse_unsupported(value, name, expected="numbers (a list or an array)"):
    """TypeError for data that NumPy would take but not as the user meant: None, text, bytes
    (bytearray and byte memoryviews read as uint8 numbers, bytes would not), and masked arrays
    (their mask would be ignored)."""
    if value is None or isinstance(value, str):
        raise TypeError(f"{name} must be {expected}; got {type(value).__name__}.")
    if isinstance(value, (bytes, bytearray)) or (isinstance(value, memoryview)
                                                 and value.format in _BYTE_FORMATS):
        raise TypeError(f"{name} must be {expected}; got {type(value).__name__} (raw bytes, "
                        f"not numbers): convert them first, e.g. numpy.frombuffer(data, "
                        f"dtype=numpy.uint8) for byte values.")
    if isinstance(value, numpy.ma.MaskedArray):
        raise TypeError(f"{name} must be {expected}; masked arrays are not "
                        f"supported (the mask would be ignored): fill the masked values "
                        f"({name}.filled(...)) or drop those rows.")


_BYTE_FORMATS = ("B", "b", "c")


def _convert(value, name, dtype):
    refuse_unsupported(value, name)
    try:
        array = numpy.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a rectangular array of numbers; {exc}") from None
    kind = array.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real numbers; got complex values (dtype {array.dtype}).")
    if kind not in "biuf":
        raise TypeError(f"{name} must be numbers; got an array of dtype {array.dtype}.")
    with numpy.errstate(over="ignore"):             # too large for float32: reported as not finite
        # (ascontiguousarray makes a number 1-D; keep the shape the user gave, for messages)
        return numpy.ascontiguousarray(array, dtype=dtype).reshape(array.shape)


_ALL_FINITE = {numpy.dtype(numpy.float64): kernels.all_finite["double"],
               numpy.dtype(numpy.float32): kernels.all_finite["float"]}


def rows(value, name, width, what, dtype):
    """`value` as a 2-D C-contiguous (N, width) array: a 1-D array of `width` values is one row.

    `what` names the width in messages, e.g. "inodes"."""
    if (type(value) is numpy.ndarray and value.shape == (width,) and value.dtype == dtype
            and value.flags.c_contiguous and _ALL_FINITE[value.dtype](value)):
        return value.reshape(1, width)              # one sample, as the book passes it: fast
    array = real_array(value, name, dtype)
    if array.ndim <= 1:
        if array.size != width:
            raise ValueError(f"{name} must have {width} values ({what}); got shape {array.shape}.")
        return array.reshape(1, width)
    if array.ndim == 2 and array.shape[1] == width and array.shape[0] >= 1:
        return array
    if array.ndim == 2 and array.shape[1] == width:           # no rows
        raise ValueError(f"{name} must have {width} columns ({what}) and at least one row; got "
                         f"shape {array.shape}, which has no rows.")
    if array.ndim == 2 and array.shape[0] == width and array.shape[1] == 1:
        hint = f" Pass one sample as a 1-D array of {width} values, or N samples as rows (N, {width})."
    else:
        hint = f" Pass one sample as {width} values, or N samples as a 2-D array (N, {width})."
    raise ValueError(f"{name} must have {width} columns ({what}), one row per sample; "
                     f"got shape {array.shape}.{hint}")


def matrix(value, name, shape, dtype):
    """`value` as a finite C-contiguous array of exactly `shape` (weights being assigned)."""
    array = real_array(value, name, dtype)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got shape {array.shape}.")
    return array


def boolean(value, name):
    """`value` as a bool (True/False or a NumPy bool; not 0/1 or strings)."""
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__}).")
    return bool(value)


def real(value, name, low=None, high=None, low_open=False, high_open=False):
    """`value` as a finite float within [low, high] (open ends where asked)."""
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r} ({type(value).__name__}).")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not numpy.isfinite(value) or too_low or too_high:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low}")
        if high is not None:
            bounds.append(f"{'<' if high_open else '<='} {high}")
        raise ValueError(f"{name} must be a finite number {' and '.join(bounds)}; got {value!r}.".replace("number ;", "number;"))
    return value


def rng(seed):
    """``numpy.random.default_rng(seed)`` for a seed (None, a non-negative int, a sequence of
    them, or a Generator), with a message that says what a seed is when it is none."""
    if isinstance(seed, (bool, float, str)):
        raise TypeError(f"seed must be None, an int or a numpy Generator; got {seed!r}.")
    try:
        return numpy.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"seed must be None, a non-negative int or a numpy Generator; "
                        f"got {seed!r} ({exc}).") from None


def normal_sampler(seed):
    """The normal(mean, std, size) to draw initial weights with: ``numpy.random.normal`` (the
    global state, as the book) when `seed` is None, else ``rng(seed).normal``."""
    return numpy.random.normal if seed is None else rng(seed).normal
