"""Hyperparameter searches of cnn_core's scikit-learn estimators on a real dask.distributed
cluster (two worker processes on this machine, started and stopped here) and on joblib's
process backend: the same cv_results_ and best_params_ as the same search run serially, and one
BLAS thread per worker unless n_threads says otherwise."""
import concurrent.futures
import warnings

import numpy
import pytest

pytest.importorskip("sklearn", minversion="1.6", reason="the searches need scikit-learn: "
                    "pip install 'cnn_core[dask]'")
pytest.importorskip("dask", reason="dask is not installed: pip install 'cnn_core[dask]'")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed: "
                                  "pip install 'cnn_core[dask]'")
joblib = pytest.importorskip("joblib")

from sklearn.datasets import load_digits                       # noqa: E402
from sklearn.exceptions import ConvergenceWarning              # noqa: E402
from sklearn.model_selection import GridSearchCV               # noqa: E402

from cnn_core.sklearn import BookClassifier, MLPClassifier, effective_n_threads  # noqa: E402

START_TIMEOUT = 120       # seconds for the cluster to come up
STOP_TIMEOUT = 60


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes with 1 thread each, on 127.0.0.1 (no dashboard),
    and a Client of it; both closed after the module's tests."""
    def start():
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        return cluster, distributed.Client(cluster, timeout=START_TIMEOUT)

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        cluster, client = pool.submit(start).result(timeout=START_TIMEOUT)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"the dask LocalCluster did not start within {START_TIMEOUT} s")
    finally:
        pool.shutdown(wait=False)
    try:
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield client
    finally:
        client.close(timeout=STOP_TIMEOUT)
        cluster.close(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def search(n_jobs):
    return GridSearchCV(MLPClassifier(hidden_layer_sizes=(16,), max_iter=15, random_state=0),
                        {"alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]},
                        cv=3, n_jobs=n_jobs)


def fit(s, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return s.fit(X, y)


def same_results(a, b):
    assert a.best_params_ == b.best_params_
    assert numpy.array_equal(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"])
    assert numpy.array_equal(a.cv_results_["std_test_score"], b.cv_results_["std_test_score"])
    assert numpy.array_equal(a.best_estimator_.predict_proba(a._X), b.best_estimator_.predict_proba(a._X))


def test_grid_search_on_dask_equals_serial(client, digits):
    X, y = digits
    serial = fit(search(1), X, y)
    with joblib.parallel_backend("dask"):
        on_dask = fit(search(-1), X, y)
    serial._X = on_dask._X = X
    same_results(on_dask, serial)
    # the tasks ran on the cluster's workers
    assert len(client.scheduler_info()["workers"]) == 2


def test_grid_search_on_loky_equals_serial(digits):
    X, y = digits
    serial = fit(search(1), X, y)
    parallel = fit(search(2), X, y)
    serial._X = parallel._X = X
    same_results(parallel, serial)


def test_book_classifier_search_on_dask(client, digits):
    X, y = digits
    pixels = numpy.round(X * 255)
    grid = {"hidden_nodes": [20, 40], "learning_rate": [0.1, 0.3]}
    serial = GridSearchCV(BookClassifier(epochs=2, random_state=0), grid, cv=3).fit(pixels, y)
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(BookClassifier(epochs=2, random_state=0), grid, cv=3,
                               n_jobs=-1).fit(pixels, y)
    assert on_dask.best_params_ == serial.best_params_
    assert numpy.array_equal(on_dask.cv_results_["mean_test_score"],
                             serial.cv_results_["mean_test_score"])


def _threads_seen(n_threads):
    """Inside a task: the estimator's thread count, and the BLAS threads during its fit."""
    import threadpoolctl
    from cnn_core import sklearn as cs
    seen = []
    original = cs._EpochEnd.__call__

    def spy(self, net, epoch, logs):
        seen.append(sorted({i["num_threads"] for i in threadpoolctl.threadpool_info()
                            if i["user_api"] == "blas"}))
        return original(self, net, epoch, logs)

    cs._EpochEnd.__call__ = spy
    try:
        est = cs.MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, n_threads=n_threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(numpy.eye(4), [0, 1, 0, 1])
    finally:
        cs._EpochEnd.__call__ = original
    return effective_n_threads(est), seen[0]


def test_one_blas_thread_inside_dask_workers(client):
    # a plain dask task, and a joblib task sent to dask
    assert client.submit(_threads_seen, None, pure=False).result(timeout=60) == (1, [1])
    assert client.submit(_threads_seen, 2, pure=False).result(timeout=60) == (2, [2])
    with joblib.parallel_backend("dask"):
        got = joblib.Parallel(n_jobs=-1)(joblib.delayed(_threads_seen)(n) for n in (None, 2))
    assert got == [(1, [1]), (2, [2])]
    # outside any worker: the BLAS's own setting
    assert effective_n_threads(MLPClassifier()) is None
