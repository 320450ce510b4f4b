import os
from pathlib import Path

import numpy
import pytest

from cnn_core import datasets

DTYPES = [numpy.float64, numpy.float32]
# Tolerances against the NumPy version: float64 to ~1e-12 absolute, float32 relative.
RTOL = {numpy.float64: 1e-12, numpy.float32: 1e-5}
ATOL = {numpy.float64: 1e-12, numpy.float32: 1e-6}


def shared_data_dir():
    """$CNN_CORE_DATA, or ../shared/datasets beside the project, when it exists."""
    candidates = [os.environ.get("CNN_CORE_DATA"), Path(__file__).resolve().parents[2] / "shared" / "datasets"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def data_dir():
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data sets not found: set CNN_CORE_DATA to the folder holding mnist/, "
                    "fashion-mnist/ and iris/ (e.g. ../shared/datasets)")
    return d


@pytest.fixture(scope="session")
def mnist(data_dir):
    try:
        return datasets.load_mnist("digits", data_dir=data_dir)
    except datasets.DataNotFoundError as exc:
        pytest.skip(f"MNIST files missing: {exc}")


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture(params=["cython", "numpy"])
def backend(request):
    """The two backends of cnn_core.Network: compiled kernels and their NumPy twins."""
    return request.param
