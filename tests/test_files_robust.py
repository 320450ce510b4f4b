"""Saves are atomic and exact to the path given; loads are bounded (issue 14, points 4 and 5).

Faults that could hang or exhaust the process (a file-size limit, /dev/zero, a pipe, a
compressed member that expands to hundreds of megabytes) run in a subprocess with a timeout."""
import io
import os
import stat
import subprocess
import sys
import textwrap
import zipfile

import numpy
import pytest

import cnn_core
from conftest import NEUTRAL_CWD, child_env
from cnn_core import FileError

HERE = os.path.dirname(os.path.abspath(__file__))


def run_python(code, timeout=60):
    env = child_env(HERE)
    try:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                                text=True, timeout=timeout, env=env, cwd=NEUTRAL_CWD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child hung (no exit within {timeout} s)")
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def networks():
    book = cnn_core.neuralNetwork(6, 5, 3, 0.2, seed=0)
    deep = cnn_core.Network([cnn_core.layers.Dense(6, 4, "relu", seed=0),
                             cnn_core.layers.Dense(4, 3, "softmax", seed=1)], loss="cross_entropy")
    return [book, deep]


@pytest.mark.parametrize("net", networks(), ids=["book", "deep"])
def test_save_refuses_what_is_no_file_and_writes_nothing_elsewhere(tmp_path, net):
    with pytest.raises(ValueError, match=r"save: the path is empty"):
        net.save("")
    with pytest.raises(IsADirectoryError, match=r"is a folder; give a file name in it"):
        net.save(tmp_path)
    with pytest.raises(ValueError, match=r"/dev/full is not a regular file"):
        net.save("/dev/full")
    with pytest.raises(FileNotFoundError, match=r"the folder .*no/such does not exist"):
        net.save(tmp_path / "no" / "such" / "net.npz")
    assert os.listdir(tmp_path) == []                   # no temporary file left anywhere


def test_a_save_keeps_the_file_mode_and_gives_new_files_the_umask(tmp_path):
    net = networks()[0]
    net.save(tmp_path / "new.npz")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o666 & ~umask
    os.chmod(tmp_path / "new.npz", 0o640)
    net.save(tmp_path / "new.npz")
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640


@pytest.mark.parametrize("kind", ["book", "deep"])
def test_a_save_that_fails_part_way_leaves_the_previous_file_whole(tmp_path, kind):
    """Under a file-size limit the write fails (EFBIG) part-way: the old file must still be
    there, byte for byte, and no temporary file may be left."""
    out = run_python(f"""
        import os, resource, signal, numpy, cnn_core
        from cnn_core.layers import Dense
        path = {str(tmp_path / 'net.npz')!r}
        if {kind!r} == "book":
            small = cnn_core.neuralNetwork(6, 5, 3, 0.2, seed=0)
            big = cnn_core.neuralNetwork(300, 200, 10, 0.2, seed=1)
        else:
            small = cnn_core.Network([Dense(6, 3, seed=0)])
            big = cnn_core.Network([Dense(300, 200, seed=1), Dense(200, 10, seed=2)])
        small.save(path)
        good = open(path, "rb").read()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(good) + 1000, resource.RLIM_INFINITY))
        try:
            big.save(path)
        except OSError as exc:
            print("refused:", exc.errno == 27)
        assert open(path, "rb").read() == good
        assert os.listdir(os.path.dirname(path)) == ["net.npz"], os.listdir(os.path.dirname(path))
        type(small).load(path)
        print("whole")
    """)
    assert out.split() == ["refused:", "True", "whole"]


@pytest.mark.parametrize("cls", [cnn_core.neuralNetwork, cnn_core.Network])
def test_load_refuses_devices_pipes_and_folders_without_reading(tmp_path, cls):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    out = run_python(f"""
        import resource, cnn_core
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.RLIM_INFINITY))
        for path in ("/dev/zero", {str(fifo)!r}, {str(tmp_path)!r}):
            try:
                cnn_core.{cls.__name__}.load(path)
            except cnn_core.FileError as exc:
                print(exc)
    """)
    assert "/dev/zero: not a valid" in out and "it is not a regular file (a device, pipe or socket)" in out
    assert f"{fifo}: not a valid" in out
    assert f"{tmp_path}: not a valid" in out and "it is a folder" in out


def test_a_compressed_member_that_does_not_fit_the_file_is_refused_before_it_is_read(tmp_path):
    """A 380 kB archive whose wih member inflates to 380 MB of zeros, with a header consistent
    with that size but not with the sizes the file declares: refused from the header, with
    no more memory than the archive's size (the load used to take 763 MB before refusing)."""
    net = cnn_core.neuralNetwork(4, 2, 3, 0.1, seed=0)
    net.save(tmp_path / "good.npz")
    with zipfile.ZipFile(tmp_path / "good.npz") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = io.BytesIO()
    numpy.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                     "shape": (2, 23_750_000)})
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name == "wih.npy":
                with archive.open(name, "w", force_zip64=True) as member:
                    member.write(header.getvalue())
                    zeros = bytes(1 << 20)
                    for _ in range(2 * 23_750_000 * 8 >> 20):
                        member.write(zeros)
                    member.write(bytes(2 * 23_750_000 * 8 % (1 << 20)))
            else:
                archive.writestr(name, data)
    assert os.path.getsize(path) < 1 << 20
    out = run_python(f"""
        import resource, cnn_core
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            cnn_core.neuralNetwork.load({str(path)!r})
        except cnn_core.FileError as exc:
            print(exc)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    message, grown_mb = out.strip().splitlines()
    assert "wih must have shape (2, 4); got shape (2, 23750000)" in message
    assert int(grown_mb) < 20


def test_a_member_declaring_more_than_its_compression_can_give_is_refused(tmp_path):
    """The archive's directory itself is checked: a stored (uncompressed) member whose declared
    size differs from its stored size cannot be read."""
    net = cnn_core.neuralNetwork(4, 2, 3, 0.1, seed=0)
    net.save(tmp_path / "good.npz")
    data = bytearray((tmp_path / "good.npz").read_bytes())
    with zipfile.ZipFile(tmp_path / "good.npz") as archive:
        info = archive.getinfo("wih.npy")
    # the central directory entry of wih.npy: its uncompressed size field, 24 bytes in
    entries = [i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)]
    for start in entries:
        name_length = int.from_bytes(data[start + 28:start + 30], "little")
        if bytes(data[start + 46:start + 46 + name_length]) == b"wih.npy":
            data[start + 24:start + 28] = (info.file_size * 5000).to_bytes(4, "little")
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(FileError, match=r"wih declares \d+ bytes from \d+ stored bytes, more than its "
                                        r"compression can give"):
        cnn_core.neuralNetwork.load(tmp_path / "bad.npz")


def test_file_errors_are_one_exception_type():
    assert issubclass(FileError, ValueError) and cnn_core.FileError is FileError
