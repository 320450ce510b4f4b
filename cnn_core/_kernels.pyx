# The compute kernels of cnn_core: every loop of the library is here (or in the C helper
# _simd.h that this module includes). Declarations and activation codes are in _kernels.pxd.
#
# Conventions
# - A `cdef` kernel takes memoryviews or pointers and scalars, writes into outputs it is given,
#   allocates nothing, raises nothing and is `noexcept nogil`. `floating` is float32 or float64.
# - A `def` wrapper checks only what would make the kernel read or write out of bounds (shapes),
#   then runs the kernel under `with nogil:`. Dtypes and contiguity are checked by the typed
#   memoryviews themselves. Input validation with user-facing messages lives in Python
#   (cnn_core/_validation.py); these wrappers are private.
# - The book network (`neuralNetwork`) keeps all its state in one `BookState` (_book.pxi), which
#   owns its arrays (the weights, the scratch, and the pending update `xp`, `s`: after a
#   training step, the update of `wih`, wih += outer(s, xp), is left pending and applied in the
#   same pass over `wih` as the next sample's forward product, so that each row of `wih` is
#   read and written once per sample) and whose methods are the book network's only way into
#   the kernels; the rule that whatever reads `wih` applies the pending update first lives
#   there. Its `def` methods play the role of the wrappers above (the arrays it owns need no
#   checks; the caller's inputs are checked as above).
#
# This file is compiled once per instruction set (see setup.py); nothing here depends on which.

cimport cython
from cython.parallel cimport parallel, threadid
from libc.math cimport exp, expf, log, logf, sqrt, sqrtf, tanh, tanhf
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

cimport openmp

import numpy as _numpy

ACTIVATION_CODES = {
    "identity": Activation.IDENTITY,
    "sigmoid": Activation.SIGMOID,
    "relu": Activation.RELU,
    "tanh": Activation.TANH,
    "softmax": Activation.SOFTMAX,
}


# --------------------------------------------------------------------------------------------
# Element-wise activations
# --------------------------------------------------------------------------------------------

cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef floating sigmoid(floating x) noexcept nogil:
    """1 / (1 + exp(-x)), without overflow for any x (the formula of scipy.special.expit)."""
    cdef floating z
    if x < 0:
        z = _exp(x)
        return z / (1 + z)
    return 1 / (1 + _exp(-x))


cdef floating activate(floating x, int activation, floating slope) noexcept nogil:
    """f(x) for one value; `slope` is the sigmoid's epsilon in 1 / (1 + exp(-epsilon x))."""
    if activation == Activation.SIGMOID:
        return sigmoid(slope * x) if slope != 1 else sigmoid(x)
    if activation == Activation.RELU:
        return x if x > 0 else 0
    if activation == Activation.TANH:
        if floating is float:
            return tanhf(x)
        else:
            return tanh(x)
    return x


cdef floating derivative_from_output(floating y, int activation, floating slope) noexcept nogil:
    """f'(x) written with the output y = f(x) (the book's y * (1 - y) for the sigmoid)."""
    if activation == Activation.SIGMOID:
        return slope * y * (1 - y) if slope != 1 else y * (1 - y)
    if activation == Activation.RELU:
        return 1 if y > 0 else 0
    if activation == Activation.TANH:
        return 1 - y * y
    return 1


cdef void activate_inplace(floating *z, Py_ssize_t n, int activation, floating slope) noexcept nogil:
    """z[i] = f(z[i]) for i < n (not softmax, which works on rows). The sigmoid runs on whole
    vectors (C helper in _simd.h); an element's value does not depend on its position."""
    cdef Py_ssize_t i
    if activation == Activation.IDENTITY:
        return
    if activation == Activation.SIGMOID:
        if slope != 1:
            for i in range(n):
                z[i] *= slope
        if floating is double:
            cnn_sigmoid_double(z, n)
        else:
            cnn_sigmoid_float(z, n)
        return
    for i in range(n):
        z[i] = activate(z[i], activation, slope)


def activate_array(floating[::1] z, int activation, double slope=1.0):
    """z = f(z) in place for a 1-D contiguous array (element-wise activations)."""
    if activation == Activation.SOFTMAX:
        raise ValueError("activate_array: softmax works on rows, not elements")
    with nogil:
        if z.shape[0]:
            activate_inplace(&z[0], z.shape[0], activation, <floating>slope)


cdef bint all_finite_ptr(const floating *x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef int bad = 0
    for i in range(n):
        bad = bad | (x[i] - x[i] != 0)      # x - x is 0 for finite x, NaN for NaN or +-inf
    return not bad                          # (an integer OR: the compiler vectorizes it)


def all_finite(const floating[::1] x):
    """True when every value of the 1-D contiguous array `x` is finite."""
    cdef bint ok
    with nogil:
        ok = all_finite_ptr(&x[0], x.shape[0]) if x.shape[0] else True
    return ok


def logit(const floating[::1] y, floating[::1] out):
    """out = log(y / (1 - y)), the inverse of the sigmoid (scipy.special.logit's formula)."""
    cdef Py_ssize_t i
    if out.shape[0] != y.shape[0]:
        raise ValueError("logit: out and y differ in length")
    with nogil:
        for i in range(y.shape[0]):
            if floating is float:
                out[i] = logf(y[i] / (1 - y[i]))
            else:
                out[i] = log(y[i] / (1 - y[i]))


# --------------------------------------------------------------------------------------------
# Matrix products
# --------------------------------------------------------------------------------------------

cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating *A, int lda, const floating *B, int ldb,
               floating beta, floating *C, int ldc) noexcept nogil:
    """Row-major C (m, n) = alpha * op(A) @ op(B) + beta * C through BLAS.

    lda, ldb, ldc are the row lengths of the stored (row-major) arrays. BLAS is column-major,
    so this computes C^T = op(B)^T @ op(A)^T with the operands swapped."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is double:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *>B, &ldb, <double *>A, &lda, &beta, C, &ldc)
    else:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *>B, &ldb, <float *>A, &lda, &beta, C, &ldc)


cdef void rows_update_dot(floating *W, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1,
                          const floating *xp, const floating *s, const floating *x,
                          floating *out) noexcept nogil:
    """For rows j in [r0, r1) of W (row length n): W[j] += s[j] * xp when xp is not NULL, then
    out[j] = W[j] . x when x is not NULL. One pass over the rows (C helper in _simd.h)."""
    if floating is double:
        cnn_rows_update_dot_double(W, n, r0, r1, xp, s, x, out)
    else:
        cnn_rows_update_dot_float(W, n, r0, r1, xp, s, x, out)


cdef void dot_block(const floating *W, Py_ssize_t ldw, Py_ssize_t rows,
                    const floating *const *x, Py_ssize_t nx, Py_ssize_t K,
                    floating *out, Py_ssize_t out_row, Py_ssize_t out_col) noexcept nogil:
    """out[j * out_row + n * out_col] = W[j] . x[n] for j < rows (row stride ldw), n < nx, vectors
    of length K (C helper in _simd.h). A value does not depend on `rows` or `nx`: any split of
    the rows between threads gives the same bits."""
    if floating is double:
        cnn_dot_block_double(W, ldw, rows, x, nx, K, out, out_row, out_col)
    else:
        cnn_dot_block_float(W, ldw, rows, x, nx, K, out, out_row, out_col)


cdef void rank_update(floating *W, Py_ssize_t ldw, Py_ssize_t rows, const floating *S,
                      Py_ssize_t lds, const floating *const *x, Py_ssize_t k,
                      Py_ssize_t K) noexcept nogil:
    """W[j] += sum over m < k of S[m * lds + j] * x[m], for j < rows: k rank-1 updates in one pass
    over W, bit for bit the same as applying them one after the other (C helper in _simd.h)."""
    if floating is double:
        cnn_rank_update_double(W, ldw, rows, S, lds, x, k, K)
    else:
        cnn_rank_update_float(W, ldw, rows, S, lds, x, k, K)


# --------------------------------------------------------------------------------------------
# The networks' kernels, one file per network kind (textually part of this module)
# --------------------------------------------------------------------------------------------

include "_book.pxi"
include "_dense.pxi"


# --------------------------------------------------------------------------------------------
# Machine facts
# --------------------------------------------------------------------------------------------

cdef extern from *:
    """
    static int cnn_cpu_supports(const char *feature) {
    #if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
        __builtin_cpu_init();
        if (!strcmp(feature, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        if (!strcmp(feature, "avx512")) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd");
    #endif
        return 0;
    }
    """
    int cnn_cpu_supports(const char *feature) nogil


def cpu_supports(str feature):
    """True when the CPU (and OS) can run the kernels built for `feature` ("avx2" or "avx512")."""
    cdef bytes name = feature.encode()
    return bool(cnn_cpu_supports(name))


def openmp_max_threads():
    """Threads OpenMP would use by default (OMP_NUM_THREADS or the number of cores)."""
    return openmp.omp_get_max_threads()


def openmp_team_size(int n_threads):
    """The number of threads OpenMP gives a region that asks for `n_threads` (it may give fewer:
    OMP_THREAD_LIMIT, OMP_DYNAMIC, OMP_MAX_ACTIVE_LEVELS, nesting), as the book kernels see it."""
    cdef int team = 1
    cdef int[1] out
    out[0] = 1
    if n_threads > 1 and not cnn_openmp_fork_serial():
        with nogil, parallel(num_threads=n_threads):
            team = book_team_size()
            if threadid() == 0:
                out[0] = team
    return out[0]


def openmp_fork_serial():
    """True in a child of fork() whose OpenMP thread pool could not be released before the fork
    (see _simd.h): the kernels then run on one thread."""
    return bool(cnn_openmp_fork_serial())


if cnn_openmp_fork_handlers() != 0:
    raise ImportError("cnn_core: pthread_atfork failed (out of memory?)")
