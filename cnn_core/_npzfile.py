"""Read arrays from an .npz file (written by numpy.savez) that may be truncated, corrupted or
hostile, without unpickling and without trusting what it declares.

``numpy.load(allow_pickle=False)`` already refuses pickled object arrays, but it allocates the
array that a member's header declares before reading its data: a header claiming a shape of
10**13 values gives a MemoryError (or an allocation of terabytes) instead of an error about the
file. Here every member's header is checked against the size the archive records for that
member, and only members stored plainly or with deflate (what numpy.savez and
numpy.savez_compressed write) are read, so memory use is bounded by the file's own size (deflate
expands at most about 1032 times). Every problem is a ValueError naming the file.
"""
import os
import zipfile

import numpy

__all__ = ["read_npz", "path_name", "FileError"]

_READERS = {(1, 0): numpy.lib.format.read_array_header_1_0,
            (2, 0): numpy.lib.format.read_array_header_2_0}


def path_name(path):
    """``os.fspath(path)``, or a TypeError saying what a path is."""
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a file name (str or os.PathLike); got "
                        f"{type(path).__name__}.") from None


class FileError(ValueError):
    """A file that is not what it should be; the message names the file and the problem."""


class _Problem(Exception):
    """What is wrong with the file (becomes the ValueError naming it)."""


def read_npz(path, keys, what):
    """{key: array} for `keys` of the .npz file at `path`.

    A missing file raises FileNotFoundError; anything else wrong (not a zip archive, members
    missing, truncated or corrupted data, object arrays, headers that disagree with the archive)
    a FileError (a ValueError) "<path>: not a valid <what>: <problem>."."""
    name = path_name(path)
    try:
        with zipfile.ZipFile(name) as archive:
            members = {info.filename: info for info in archive.infolist()}
            missing = [k for k in keys if k + ".npy" not in members]
            if missing:
                raise _Problem(f"it lacks {missing}")
            return {k: _member(archive, members[k + ".npy"]) for k in keys}
    except FileNotFoundError:
        raise
    except _Problem as exc:
        problem = str(exc)
    except zipfile.BadZipFile as exc:
        problem = "it is not an .npz archive" if "not a zip file" in str(exc) else f"corrupted: {exc}"
    except (zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError,
            ValueError) as exc:         # RuntimeError: zipfile's "encrypted, password required"
        problem = f"{type(exc).__name__}: {exc}"
    raise FileError(f"{name}: not a valid {what}: {problem.rstrip('.')}.")


def _member(archive, info):
    key = info.filename[:-4]
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _Problem(f"{key} is stored with compression method {info.compress_type}; "
                       f"numpy.savez writes {zipfile.ZIP_STORED} (stored) or "
                       f"{zipfile.ZIP_DEFLATED} (deflate)")
    with archive.open(info) as f:
        try:
            version = numpy.lib.format.read_magic(f)
        except ValueError as exc:
            raise _Problem(f"{key} is not a .npy array ({str(exc).rstrip('.')})") from None
        reader = _READERS.get(version)
        if reader is None:
            raise _Problem(f"{key} has .npy format version {version}; expected 1.0 or 2.0")
        try:
            shape, fortran_order, dtype = reader(f)
        except ValueError as exc:
            raise _Problem(f"{key} has no valid .npy header ({str(exc).rstrip('.')})") from None
        if dtype.hasobject:
            raise _Problem(f"{key} holds Python objects (pickled data), which are never loaded")
        if dtype.itemsize == 0:
            raise _Problem(f"{key} has dtype {dtype} of size 0")
        count = 1
        for d in shape:
            count *= d
        nbytes = count * dtype.itemsize
        header = f.tell()
        if header + nbytes != info.file_size:
            raise _Problem(f"{key} is truncated or corrupted: its header declares {nbytes} bytes "
                           f"of data (shape {shape}, {dtype}), the archive holds "
                           f"{info.file_size - header}")
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise _Problem(f"{key} is truncated: {len(data)} of {nbytes} bytes")
        f.read(1)                       # at the end: zipfile checks the CRC-32 here
    array = numpy.frombuffer(data, dtype=dtype, count=count)
    if fortran_order:
        return array.reshape(shape[::-1]).transpose().copy()
    return array.reshape(shape).copy()
