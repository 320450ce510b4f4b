"""The one reader and writer of cnn_core's files: .npz archives (numpy.savez's format) that
``save``, ``load`` and pickling go through.

Writing (:func:`write_npz`): to a path, atomically: the archive goes to a temporary file in the
target's folder, is flushed and fsynced, then renamed over the target, so a save that fails
part-way (disk full, file-size limit) leaves the previous file as it was. The path is used
exactly as given (numpy.savez would add ".npz"); folders, devices and other non-regular files
are refused. Or to a binary file object open for writing.

Reading (:class:`NpzReader`): from a path (regular files only: not /dev/zero, a pipe or a
folder) or a seekable binary file object, without unpickling and without trusting what the file
declares. ``numpy.load(allow_pickle=False)`` allocates whatever a member's header declares before
reading its data; here each member's header is checked, before any data is read, against the
size the archive's directory records for it, against the largest expansion its compression
allows (deflate: about 1032 times), and against the shape and dtype the caller expects, and its
data is read into one array of that size. So memory use is bounded by the file's own size, and a
member that could not belong to a valid file is refused before its data is read. Every problem
is a :class:`FileError` (a ValueError) naming the file.
"""
import io
import json
from contextlib import contextmanager
import os
import stat
import tempfile
import zipfile

import numpy

from .errors import FileError

__all__ = ["PicklesThroughFile", "NpzReader", "write_npz", "write_file", "write_config_file",
           "read_config", "check_kind", "scalar", "FileError", "source_name", "field", "restore"]

_READERS = {(1, 0): numpy.lib.format.read_array_header_1_0,
            (2, 0): numpy.lib.format.read_array_header_2_0}
# deflate expands at most 1032:1; a little more for the stream's own framing
_DEFLATE_MAX_RATIO = 1040
# members whose shape the caller does not fix (names, versions, JSON texts) are at most this big
_UNSHAPED_LIMIT = 1 << 26
_CHUNK = 1 << 22


def source_name(source):
    """A name for `source` in messages: the path, or the file object's name, or its type."""
    if isinstance(source, (str, bytes, os.PathLike)):
        return os.fsdecode(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else f"<{type(source).__name__}>"


def _path(value, verb, example="net.npz"):
    """``os.fspath(value)`` for a path (str, bytes or os.PathLike), else None (a file object),
    else a TypeError saying what is accepted."""
    if isinstance(value, (str, bytes, os.PathLike)):
        name = os.fsdecode(value)
        if not name:
            raise ValueError(f"{verb}: the path is empty; give a file name such as {example!r}.")
        return name
    needed = "read" if verb == "load" else "write"
    if not callable(getattr(value, needed, None)):
        raise TypeError(f"path must be a file name (str or os.PathLike); got "
                        f"{type(value).__name__}. {verb} also takes a binary file object (with "
                        f"{needed}(){' and seek()' if verb == 'load' else ''}).")
    if isinstance(value, io.TextIOBase) or "b" not in getattr(value, "mode", "b"):
        raise TypeError(f"{verb} needs a binary file object (opened with '{needed[0]}b', or "
                        f"io.BytesIO); got a text-mode {type(value).__name__}.")
    return None


# ------------------------------------------------------------------------------------ writing

def write_npz(target, arrays):
    """Write `arrays` ({name: array}) as an uncompressed .npz to `target`: a path (atomically, as
    the module says) or a binary file object open for writing (at its position)."""
    write_file(target, lambda f: numpy.savez(f, **arrays))


def write_file(target, write, verb="save", example="net.npz"):
    """Call ``write(f)`` with a binary file object: `target` itself when it is one, else a
    temporary file in the folder of the path `target`, flushed, fsynced and renamed over it
    (the previous file stays whole if anything fails). `verb` starts the messages."""
    name = _path(target, verb, example)
    if name is None:
        write(target)
        flush = getattr(target, "flush", None)
        if callable(flush):
            flush()
        return
    try:
        info = os.stat(name)
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(f"{verb}: {name} is a folder; give a file name in it, such as "
                                f"{os.path.join(name, example)}.")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{verb}: {name} is not a regular file (a device, pipe or socket); "
                         f"{verb} writes regular files only.")
    folder = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{verb}: the folder {folder} does not exist; create it first.")
    fd, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(name) + ".",
                                     suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask())
        os.replace(temporary, name)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:                                # the rename itself survives a crash once the folder is synced
        folder_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder_fd)
    except OSError:
        pass
    finally:
        os.close(folder_fd)


def _umask():
    """This process's umask (read without changing it, where /proc tells)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


# ------------------------------------------------------------------------------------ reading

class _Problem(Exception):
    """What is wrong with the file (becomes the FileError naming it)."""


class NpzReader:
    """``with NpzReader(source, what) as f: f.read(keys, expect)``: members of a cnn_core .npz
    file, checked as the module says. `what` names the kind of file in messages ("cnn_core
    network file"). A missing path raises FileNotFoundError; anything else wrong a FileError
    "<name>: not a valid <what>: <problem>."; :meth:`fail` raises one for a problem the caller
    finds."""

    def __init__(self, source, what):
        self.what = what
        self.name = source_name(source)
        path = _path(source, "load")
        self._own = None
        if path is not None:
            info = os.stat(path)        # FileNotFoundError as it is
            if not stat.S_ISREG(info.st_mode):
                self.fail("it is a folder (IsADirectoryError)" if stat.S_ISDIR(info.st_mode) else
                          "it is not a regular file (a device, pipe or socket)")
            self._own = f = open(path, "rb")
        else:
            f = source
            seekable = getattr(f, "seekable", None)
            if not (callable(seekable) and seekable()):
                raise TypeError(f"load needs a seekable binary file object (an open file or "
                                f"io.BytesIO); {self.name} is not seekable. Read it into "
                                f"io.BytesIO(data) first.")
        try:
            start = f.tell()
            self.size = f.seek(0, os.SEEK_END) - start
            f.seek(start)
            self._archive = zipfile.ZipFile(f)
            self._members = {info.filename: info for info in self._archive.infolist()}
        except BaseException as exc:
            self.close()
            self._raise(exc)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def close(self):
        archive = getattr(self, "_archive", None)
        if archive is not None:
            archive.close()
        if self._own is not None:
            self._own.close()
            self._own = None

    def fail(self, problem):
        """Raise the FileError for `problem` (a phrase, without the final period)."""
        raise FileError(f"{self.name}: not a valid {self.what}: {str(problem).rstrip('.')}.")

    @contextmanager
    def checking(self):
        """Within the block, what a check of the file's values raises (TypeError, ValueError,
        KeyError, IndexError, OverflowError, RecursionError) becomes this file's FileError; a
        FileError passes as it is (it names its file already: never wrapped twice)."""
        try:
            yield
        except FileError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError) as exc:
            self.fail(exc)

    def has(self, key):
        return key + ".npy" in self._members

    def read(self, keys, expect=None):
        """{key: array} for `keys`. `expect` maps a key to (shape, dtype) that its header must
        declare (checked before its data is read; dtype None: any), optionally with a third
        item, the message for a wrong shape ("{got}" in it becomes the shape found). Keys not in
        `expect` are limited to a small size."""
        expect = expect or {}
        try:
            missing = [k for k in keys if not self.has(k)]
            if missing:
                raise _Problem(f"it lacks {missing}")
            return {k: self._member(self._members[k + ".npy"], expect.get(k)) for k in keys}
        except BaseException as exc:
            self._raise(exc)

    def _raise(self, exc):
        if isinstance(exc, (FileError, FileNotFoundError)) or not isinstance(exc, Exception):
            raise exc
        if isinstance(exc, _Problem):
            problem = str(exc)
        elif isinstance(exc, zipfile.BadZipFile):
            problem = "it is not an .npz archive" if "not a zip file" in str(exc) else f"corrupted: {exc}"
        elif isinstance(exc, (zipfile.LargeZipFile, OSError, EOFError, NotImplementedError,
                              RuntimeError, ValueError, TypeError, OverflowError, MemoryError)):
            problem = f"{type(exc).__name__}: {exc}"   # RuntimeError: zipfile's "encrypted"
        else:
            raise exc
        self.fail(problem)

    def _member(self, info, expected):
        key = info.filename[:-4]
        if info.compress_type == zipfile.ZIP_STORED:
            ratio = 1
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            ratio = _DEFLATE_MAX_RATIO
        else:
            raise _Problem(f"{key} is stored with compression method {info.compress_type}; "
                           f"numpy.savez writes {zipfile.ZIP_STORED} (stored) or "
                           f"{zipfile.ZIP_DEFLATED} (deflate)")
        if info.compress_size > self.size or info.file_size > ratio * info.compress_size + 64:
            raise _Problem(f"{key} declares {info.file_size} bytes from {info.compress_size} "
                           f"stored bytes, more than its compression can give (the archive is "
                           f"{self.size} bytes)")
        with self._archive.open(info) as f:
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
            if expected is not None:
                want_shape, want_dtype, *message = expected
                if tuple(shape) != tuple(want_shape):
                    template = message[0] if message else f"{key} must have shape {tuple(want_shape)}; got shape {{got}}"
                    raise _Problem(template.format(got=tuple(shape)))
                if want_dtype is not None and dtype != numpy.dtype(want_dtype):
                    raise _Problem(f"{key} is {dtype}, the file says {numpy.dtype(want_dtype).name}")
            elif nbytes > _UNSHAPED_LIMIT:
                raise _Problem(f"{key} declares {nbytes} bytes (shape {shape}, {dtype}); at most "
                               f"{_UNSHAPED_LIMIT} are expected for it")
            array = numpy.empty(count, dtype)
            view = memoryview(array.view(numpy.uint8).reshape(-1)) if nbytes else memoryview(b"")
            done = 0
            while done < nbytes:
                got = f.readinto(view[done:done + _CHUNK])
                if not got:
                    raise _Problem(f"{key} is truncated: {done} of {nbytes} bytes")
                done += got
            f.read(1)                   # at the end: zipfile checks the CRC-32 here
        if fortran_order:
            return numpy.ascontiguousarray(array.reshape(shape[::-1]).transpose())
        return array.reshape(shape)


def write_config_file(target, kind, version, config, arrays):
    """A file of cnn_core's JSON-configured kind (Network, Dense, Optimizer): members "kind",
    "format_version", "config" (JSON text) and the arrays."""
    write_npz(target, {"kind": kind, "format_version": version, "config": json.dumps(config),
                       **arrays})


def check_kind(reader, kind, version):
    """Check that the file `reader` reads is a `kind` file of a format version from 1 to
    `version` (its members "kind" and "format_version"); the version, else the reader's
    FileError. Every cnn_core file format starts with this check."""
    head = reader.read(("kind", "format_version"))
    found = head["kind"]
    if found.shape != () or found.dtype.kind != "U" or str(found) != kind:
        reader.fail(f"kind is {_short(found)}, expected {kind!r}")
    number = scalar(reader, head["format_version"], int, "format_version")
    if not 1 <= number <= version:
        reader.fail(f"format version {number}; this cnn_core reads version"
                    f"{'' if version == 1 else 's 1 to'} {version}")
    return number


def read_config(reader, kind, version):
    """The configuration dict of a file written by write_config_file, after checking its kind
    and format version (files of versions 1 to `version` are read)."""
    check_kind(reader, kind, version)
    text = reader.read(("config",))["config"]
    if text.shape != () or text.dtype.kind != "U":
        reader.fail(f"config must be a JSON text; got {_short(text)}")
    with reader.checking():
        return field(json.loads(str(text)), "config", dict)


_JSON_NAMES = {dict: "object", list: "array", str: "string"}


def field(value, name, kind):
    """`value` if it is of type `kind` (dict, list or str: a part of a file's JSON
    configuration), else a ValueError."""
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ValueError(f"{name} must be a JSON {_JSON_NAMES[kind]}; got {_short(value)}")
    return value


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def scalar(reader, array, kind, name):
    """The single number `array` (a member read by `reader`) as `kind` (int or float); else the
    reader's FileError."""
    if array.shape != () or array.dtype.kind not in ("iu" if kind is int else "iuf"):
        reader.fail(f"{name} must be a single {'integer' if kind is int else 'number'}, got {array!r}")
    return kind(array)


# ------------------------------------------------------------------------------------ pickling

class PicklesThroughFile:
    """Base of every object that pickles: pickle, copy.copy and copy.deepcopy carry the object's
    save format (``_write(file)``, by default ``save``; classmethod ``_read(file)``, by default
    ``load``), validated again when read back; never its __dict__ with locks, kernel buffers or
    views in it. A copy is a new, independent object."""

    __slots__ = ()

    def __reduce__(self):
        buffer = io.BytesIO()
        self._write(buffer)
        return restore, (type(self), buffer.getvalue())

    def _write(self, file):
        self.save(file)

    @classmethod
    def _read(cls, file):
        return cls.load(file)


def restore(cls, data):
    """The object of class `cls` that ``__reduce__`` wrote as `data` (bytes). Pickles name this
    function: it stays here, under this name, in later releases."""
    if not isinstance(data, (bytes, bytearray)):
        raise FileError(f"a pickled {cls.__name__} must carry its file as bytes; got "
                        f"{type(data).__name__}.")
    return cls._read(io.BytesIO(data))
