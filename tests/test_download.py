"""Downloads, against a real HTTP server on 127.0.0.1 started here.

The server serves a temporary folder with the layout of the data folder (mnist/..., iris/...);
a few of its paths misbehave on purpose (wrong bytes, a connection closed half-way, a stall).
Tiny IDX files with their checksums patched into ``datasets.CHECKSUMS`` test every path without
the real data; the real files are served too when ``CNN_CORE_DATA`` is there.
"""
import gzip
import hashlib
import http.server
import shutil
import threading
from functools import partial

import numpy
import pytest
from numpy.testing import assert_array_equal

from cnn_core import datasets
from conftest import CLOSED_URL
from test_datasets import tiny_mnist


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; ``server.behaviour[path]`` makes a path misbehave:
    "cut": announce the whole length, send half, close; "stall": send half, then wait."""

    def do_GET(self):
        self.server.requests.append(self.path)
        behaviour = self.server.behaviour.get(self.path)
        if behaviour is None:
            return super().do_GET()
        body = (self.server.root / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if behaviour == "stall":
            self.server.release.wait(10)
        self.close_connection = True

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass                # a client that gave up (the stall test) is expected


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = Server(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    httpd.root, httpd.requests, httpd.behaviour, httpd.release = root, [], {}, threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def tiny_served(server, monkeypatch):
    """Tiny MNIST files on the server, their checksums in the table."""
    parts = tiny_mnist(server.root)
    for path in (server.root / "mnist").iterdir():
        data = path.read_bytes()
        monkeypatch.setitem(datasets.CHECKSUMS, ("mnist", path.name), (
            len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()))
    return parts


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_CORE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "cnn_core"


def files_in(folder):
    """Every file under `folder`, hidden temporary files included, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_into_the_cache_then_reuse(server, tiny_served, cache, tmp_path, capsys):
    x_train, y_train, x_test, y_test = datasets.load_mnist(data_dir=tmp_path / "empty", mirror=server.url)
    assert_array_equal(x_train, tiny_served["train"][0].reshape(5, 784))
    assert_array_equal(y_test, tiny_served["t10k"][1])
    assert files_in(cache) == sorted(f"mnist/{name}" for name in datasets.MNIST_FILES)
    assert sorted(server.requests) == sorted(f"/mnist/{name}" for name in datasets.MNIST_FILES)
    assert f"cnn_core: downloading {server.url}mnist/train-images-idx3-ubyte.gz" in capsys.readouterr().err
    datasets.load_mnist(mirror=server.url)                 # now found in the cache
    assert len(server.requests) == 4


def test_environment_mirror_and_precedence(server, tiny_served, cache, monkeypatch):
    monkeypatch.setenv("CNN_CORE_MIRROR", server.url)
    assert len(datasets.load_mnist()[0]) == 5
    assert len(server.requests) == 4
    assert datasets.download_urls("mnist", "a.gz", mirror="http://elsewhere/x/") == ["http://elsewhere/x/mnist/a.gz"]
    monkeypatch.delenv("CNN_CORE_MIRROR")
    assert datasets.download_urls("mnist", "a.gz") == [
        "https://ossci-datasets.s3.amazonaws.com/mnist/a.gz", "https://storage.googleapis.com/cvdf-datasets/mnist/a.gz"]
    assert datasets.download_urls("iris", "iris.csv")[0].startswith("https://raw.githubusercontent.com/mwaskom/seaborn-data/")


def test_found_locally_means_no_request(server, tiny_served, cache, tmp_path):
    tiny_mnist(tmp_path / "local")
    datasets.load_mnist(data_dir=tmp_path / "local", mirror=server.url)
    assert server.requests == [] and files_in(cache) == []


def test_checksum_mismatch_deletes_the_file(server, tiny_served, cache):
    target = server.root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF                                        # same size, one byte other
    target.write_bytes(bytes(data))
    with pytest.raises(datasets.DataNotFoundError) as info:
        datasets.load_mnist(mirror=server.url)
    message = str(info.value)
    assert "mnist/t10k-labels-idx1-ubyte.gz not found" in message
    assert "checksum mismatch: got" in message and "the download was deleted" in message
    assert "mnist/t10k-labels-idx1-ubyte.gz" not in files_in(cache)
    assert not [f for f in files_in(cache) if f.endswith(".part")]
    # the three good files were kept (each verified on its own)
    assert files_in(cache) == sorted(f"mnist/{name}" for name in datasets.MNIST_FILES[:3])


def test_cut_connection_leaves_no_partial_file(server, tiny_served, cache):
    server.behaviour["/mnist/train-images-idx3-ubyte.gz"] = "cut"
    with pytest.raises(datasets.DataNotFoundError, match=r"the download was cut short: \d+ of \d+ bytes arrived; "
                                                         r"the partial file was deleted"):
        datasets.load_mnist(mirror=server.url)
    assert files_in(cache) == []


def test_stalled_download_times_out_and_leaves_nothing(server, tiny_served, cache, monkeypatch):
    monkeypatch.setattr(datasets, "DOWNLOAD_TIMEOUT", 0.5)
    server.behaviour["/mnist/train-images-idx3-ubyte.gz"] = "stall"
    with pytest.raises(datasets.DataNotFoundError, match=r"the download broke off after \d+ bytes \(\w+: timed out\)"):
        datasets.load_mnist(mirror=server.url)
    assert files_in(cache) == []


def test_interrupt_during_download_leaves_nothing(server, tiny_served, cache, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(hashlib, "sha256", lambda: type("H", (), {"update": interrupted})())
    with pytest.raises(KeyboardInterrupt):
        datasets.load_mnist(mirror=server.url)
    assert files_in(cache) == []


def test_not_on_the_server(server, cache):
    with pytest.raises(datasets.DataNotFoundError, match=r"iris/iris.csv not found .* the download failed "
                                                         r"\(http://127.0.0.1:\d+/iris/iris.csv: HTTP error 404"):
        datasets.load_iris(mirror=server.url)


def test_offline_says_where_to_put_the_files(cache, tmp_path):
    with pytest.raises(datasets.DataNotFoundError) as info:
        datasets.load_mnist("fashion", data_dir=tmp_path / "mine", mirror=CLOSED_URL)
    message = str(info.value)
    assert message.startswith("fashion-mnist/train-images-idx3-ubyte.gz not found (looked in ")
    assert str(tmp_path / "mine" / "fashion-mnist") in message and str(cache / "fashion-mnist") in message
    assert f"the download failed ({CLOSED_URL}fashion-mnist/train-images-idx3-ubyte.gz: cannot connect" in message
    assert "set CNN_CORE_DATA to a folder holding fashion-mnist/train-images-idx3-ubyte.gz" in message
    assert "CNN_CORE_MIRROR" in message and "\n" not in message
    assert files_in(cache) == []


def test_bad_mirror_and_unwritable_cache(cache, tmp_path, monkeypatch):
    with pytest.raises(datasets.DataNotFoundError, match=r"not a URL .*a mirror looks like https://host/path/"):
        datasets.load_iris(mirror="/some/folder")
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))              # a file, not a folder
    with pytest.raises(datasets.DataNotFoundError, match=r"cannot write to the cache folder .*set XDG_CACHE_HOME"):
        datasets.load_iris(mirror=CLOSED_URL)


def test_gzip_served_as_is(server, tiny_served, cache):
    """The checksums are those of the .gz files: nothing is decompressed on the way."""
    datasets.load_mnist(mirror=server.url)
    for name in datasets.MNIST_FILES:
        assert (cache / "mnist" / name).read_bytes() == (server.root / "mnist" / name).read_bytes()
        gzip.decompress((cache / "mnist" / name).read_bytes())


def test_real_files_with_the_published_checksums(server, cache, data_dir):
    """The shared files, served as a mirror, pass the published checksums unchanged."""
    for folder in ("mnist", "iris"):
        shutil.copytree(data_dir / folder, server.root / folder)
    x_train, y_train, x_test, y_test = datasets.load_mnist(mirror=server.url)
    assert x_train.shape == (60000, 784) and numpy.bincount(y_test)[0] == 980
    X, y, names = datasets.load_iris(mirror=server.url)
    assert X.shape == (150, 4)
    assert files_in(cache) == ["iris/iris.csv"] + sorted(f"mnist/{name}" for name in datasets.MNIST_FILES)
