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
# - The book network (`neuralNetwork`) keeps its buffers in a 1-D `work` array laid out as
#   BOOK_WORK below, plus the pending update (`xp`, `s`): after a training step, the update of
#   `wih` (wih += outer(s, xp)) is left pending and applied in the same pass over `wih` as the
#   next sample's forward product, so that each row of `wih` is read and written once per sample.
#
# This file is compiled once per instruction set (see setup.py); nothing here depends on which.

cimport cython
from cython.parallel cimport parallel, threadid
from libc.math cimport exp, expf, log, logf, tanh, tanhf, isfinite, fabs
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

cimport openmp

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
    """z[i] = f(z[i]) for i < n (not softmax, which works on rows)."""
    cdef Py_ssize_t i
    if activation == Activation.IDENTITY:
        return
    for i in range(n):
        z[i] = activate(z[i], activation, slope)


cdef bint all_finite_ptr(const floating *x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating acc = 0
    for i in range(n):
        acc += x[i] - x[i]      # 0 for finite values, NaN for NaN or +-inf
    return acc == 0


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


# --------------------------------------------------------------------------------------------
# The book network: per-sample training with the update of wih kept pending
# --------------------------------------------------------------------------------------------

def book_work_size(Py_ssize_t hnodes, Py_ssize_t onodes):
    """Length of the `work` buffer of a book network: hin, h, eh (hnodes each), o, e (onodes)."""
    return 3 * hnodes + 2 * onodes


cdef bint book_output_phase(floating[:, ::1] who, const floating *t, floating lr, int activation,
                            floating[::1] work, floating[::1] s) noexcept nogil:
    """Everything of one training step after hin = wih @ x, the book's rule.

    Reads hin from work, writes h, o, e, eh into work, updates who in place and sets the pending
    update of wih: s = lr * eh * f'(h). Returns False (changing nothing) when hin or the output
    pre-activations are not finite."""
    cdef Py_ssize_t O = who.shape[0], H = who.shape[1], j, k
    cdef floating *hin = &work[0]
    cdef floating *h = hin + H
    cdef floating *eh = h + H
    cdef floating *o = eh + H
    cdef floating *e = o + O
    cdef floating g, ek
    if not all_finite_ptr(hin, H):
        return False
    for j in range(H):
        h[j] = activate(hin[j], activation, <floating>1)
    rows_update_dot(&who[0, 0], H, 0, O, <floating *>NULL, <floating *>NULL, h, o)
    if not all_finite_ptr(o, O):
        return False
    for k in range(O):
        o[k] = sigmoid(o[k])
        e[k] = t[k] - o[k]
    # hidden errors from who before its update: eh = who.T @ e
    for j in range(H):
        eh[j] = 0
    for k in range(O):
        ek = e[k]
        for j in range(H):
            eh[j] += who[k, j] * ek
    # who += lr * outer(e * o * (1 - o), h)
    for k in range(O):
        g = e[k] * o[k] * (1 - o[k])
        for j in range(H):
            who[k, j] += lr * (g * h[j])
    for j in range(H):
        s[j] = lr * (eh[j] * derivative_from_output(h[j], activation, <floating>1))
    return True


cdef Py_ssize_t book_train_loop(floating[:, ::1] wih, floating[:, ::1] who,
                                const floating[:, ::1] X, const floating[:, ::1] T,
                                const Py_ssize_t[::1] order, floating lr, int activation,
                                floating[::1] work, floating[::1] xp, floating[::1] s,
                                Py_ssize_t[::1] state, int n_threads) noexcept nogil:
    """Train on the rows order[0], order[1], ... of X, T one sample at a time (the book's rule).

    state[0] says whether wih owes the update outer(s, xp) (the pending update); on return it
    owes the last sample's update (xp holds a copy of that sample). state[1] counts the samples
    trained. Rows of wih are split between `n_threads` threads at multiples of 4, so the result
    is the same for any thread count. Returns -1, or the position in `order` of the first sample
    whose forward pass was not finite: training stops there, with wih holding every update
    before it and nothing pending."""
    cdef Py_ssize_t N = order.shape[0], H = wih.shape[0], I = wih.shape[1], n
    cdef const floating *x
    cdef bint pending = state[0] != 0
    cdef const floating *xprev = &xp[0] if pending else NULL
    cdef floating *hin = &work[0]
    cdef Py_ssize_t failed[1]
    cdef Py_ssize_t *failed_at = failed
    cdef Py_ssize_t r0, r1, per_thread
    cdef int tid
    failed[0] = -1
    if N == 0:
        return -1
    if n_threads <= 1:
        for n in range(N):
            x = &X[order[n], 0]
            rows_update_dot(&wih[0, 0], I, 0, H, xprev, &s[0], x, hin)
            if not book_output_phase(who, &T[order[n], 0], lr, activation, work, s):
                state[0] = 0
                state[1] += n
                return n
            xprev = x
    else:
        per_thread = (H // 4 + n_threads - 1) // n_threads * 4
        with parallel(num_threads=n_threads):
            tid = threadid()
            r0 = min(H, tid * per_thread)
            r1 = H if tid == n_threads - 1 else min(H, r0 + per_thread)
            x = xprev
            for n in range(N):
                # x still points at the previous sample here: its update is the pending one
                rows_update_dot(&wih[0, 0], I, r0, r1, x if (n > 0 or pending) else NULL,
                                &s[0], &X[order[n], 0], hin)
                cnn_barrier()
                if tid == 0 and not book_output_phase(who, &T[order[n], 0], lr, activation, work, s):
                    failed_at[0] = n
                cnn_barrier()
                if failed_at[0] >= 0:
                    break
                x = &X[order[n], 0]
        if failed[0] >= 0:
            state[0] = 0
            state[1] += failed[0]
            return failed[0]
    memcpy(&xp[0], &X[order[N - 1], 0], I * sizeof(floating))
    state[0] = 1
    state[1] += N
    return -1


def book_train(floating[:, ::1] wih, floating[:, ::1] who,
               const floating[:, ::1] X, const floating[:, ::1] T, const Py_ssize_t[::1] order,
               double lr, int activation, floating[::1] work, floating[::1] xp, floating[::1] s,
               Py_ssize_t[::1] state, int n_threads=1):
    """Per-sample training on X[order], T[order] (see book_train_loop); returns its status.

    Shapes: wih (H, I), who (O, H), X (N, I), T (N, O), order (M,) with values in [0, N),
    work (book_work_size(H, O),), xp (I,), s (H,), state (2,): [pending, samples trained]."""
    cdef Py_ssize_t H = wih.shape[0], I = wih.shape[1], O = who.shape[0], n
    cdef Py_ssize_t status
    if (who.shape[1] != H or X.shape[1] != I or T.shape[1] != O or T.shape[0] != X.shape[0]
            or work.shape[0] != 3 * H + 2 * O or xp.shape[0] != I or s.shape[0] != H
            or state.shape[0] != 2):
        raise ValueError("book_train: inconsistent shapes")
    for n in range(order.shape[0]):
        if not 0 <= order[n] < X.shape[0]:
            raise ValueError("book_train: order out of range")
    with nogil:
        status = book_train_loop(wih, who, X, T, order, <floating>lr, activation,
                                 work, xp, s, state, n_threads)
    return status


def book_query_one(floating[:, ::1] wih, const floating[:, ::1] who, const floating[::1] x,
                   int activation, floating[::1] work, const floating[::1] xp,
                   const floating[::1] s, Py_ssize_t[::1] state, floating[::1] out):
    """out = sigmoid(who @ f(wih @ x)) for one sample, applying a pending update on the way.

    Shapes: x (I,), out (O,); the rest as book_train. Afterwards nothing is pending. Returns
    False when a pre-activation is not finite (the weights are not, or x is too large)."""
    cdef Py_ssize_t H = wih.shape[0], I = wih.shape[1], O = who.shape[0], k
    cdef floating *hin = &work[0]
    cdef floating *h = hin + H
    cdef bint ok
    if (who.shape[1] != H or x.shape[0] != I or out.shape[0] != O
            or work.shape[0] != 3 * H + 2 * O or xp.shape[0] != I or s.shape[0] != H
            or state.shape[0] != 2):
        raise ValueError("book_query_one: inconsistent shapes")
    with nogil:
        rows_update_dot(&wih[0, 0], I, 0, H, &xp[0] if state[0] else NULL, &s[0], &x[0], hin)
        state[0] = 0
        for k in range(H):
            h[k] = activate(hin[k], activation, <floating>1)
        rows_update_dot(<floating *>&who[0, 0], H, 0, O, <floating *>NULL, <floating *>NULL, h, &out[0])
        ok = all_finite_ptr(hin, H) and all_finite_ptr(&out[0], O)
        for k in range(O):
            out[k] = sigmoid(out[k])
    return ok


def book_flush(floating[:, ::1] wih, const floating[::1] xp, const floating[::1] s,
               Py_ssize_t[::1] state):
    """Apply the pending update, if any: wih += outer(s, xp)."""
    if xp.shape[0] != wih.shape[1] or s.shape[0] != wih.shape[0] or state.shape[0] != 2:
        raise ValueError("book_flush: inconsistent shapes")
    if not state[0]:
        return
    with nogil:
        rows_update_dot(&wih[0, 0], wih.shape[1], 0, wih.shape[0], &xp[0], &s[0],
                        <floating *>NULL, <floating *>NULL)
        state[0] = 0


def book_query_batch(const floating[:, ::1] wih, const floating[:, ::1] who,
                     const floating[:, ::1] X, int activation, floating[:, ::1] hidden,
                     floating[:, ::1] out):
    """out = sigmoid(f(X @ wih.T) @ who.T) for N rows at once (BLAS).

    Shapes: X (N, I), hidden (N, H) scratch, out (N, O). Returns False when a pre-activation
    is not finite."""
    cdef int N = X.shape[0], I = wih.shape[1], H = wih.shape[0], O = who.shape[0]
    cdef bint ok
    if (who.shape[1] != H or X.shape[1] != I or hidden.shape[0] != N or hidden.shape[1] != H
            or out.shape[0] != N or out.shape[1] != O):
        raise ValueError("book_query_batch: inconsistent shapes")
    if N == 0:
        return True
    with nogil:
        gemm(False, True, N, H, I, <floating>1, &X[0, 0], I, &wih[0, 0], I, <floating>0, &hidden[0, 0], H)
        ok = all_finite_ptr(&hidden[0, 0], <Py_ssize_t>N * H)
        activate_inplace(&hidden[0, 0], <Py_ssize_t>N * H, activation, <floating>1)
        gemm(False, True, N, O, H, <floating>1, &hidden[0, 0], H, &who[0, 0], H, <floating>0, &out[0, 0], O)
        ok = ok and all_finite_ptr(&out[0, 0], <Py_ssize_t>N * O)
        activate_inplace(&out[0, 0], <Py_ssize_t>N * O, Activation.SIGMOID, <floating>1)
    return ok


def book_train_batch(floating[:, ::1] wih, floating[:, ::1] who,
                     const floating[:, ::1] X, const floating[:, ::1] T, double lr, int activation,
                     floating[:, ::1] hidden, floating[:, ::1] out, floating[:, ::1] err,
                     floating[:, ::1] hidden_err):
    """One update summed over N rows (what the NumPy version does with a 2-D input), by BLAS.

    Shapes: X (N, I), T (N, O); scratch hidden (N, H), out (N, O), err (N, O), hidden_err (N, H).
    Returns False, changing no weight, when a forward value is not finite."""
    cdef int N = X.shape[0], I = wih.shape[1], H = wih.shape[0], O = who.shape[0]
    cdef Py_ssize_t i, j
    cdef floating y
    cdef floating rate = <floating>lr
    cdef bint ok = True
    if (who.shape[1] != H or X.shape[1] != I or T.shape[0] != N or T.shape[1] != O
            or hidden.shape[0] != N or hidden.shape[1] != H or out.shape[0] != N
            or out.shape[1] != O or err.shape[0] != N or err.shape[1] != O
            or hidden_err.shape[0] != N or hidden_err.shape[1] != H):
        raise ValueError("book_train_batch: inconsistent shapes")
    if N == 0:
        return True
    with nogil:
        gemm(False, True, N, H, I, <floating>1, &X[0, 0], I, &wih[0, 0], I, <floating>0, &hidden[0, 0], H)
        ok = all_finite_ptr(&hidden[0, 0], <Py_ssize_t>N * H)
        if ok:
            activate_inplace(&hidden[0, 0], <Py_ssize_t>N * H, activation, <floating>1)
            gemm(False, True, N, O, H, <floating>1, &hidden[0, 0], H, &who[0, 0], H, <floating>0, &out[0, 0], O)
            ok = all_finite_ptr(&out[0, 0], <Py_ssize_t>N * O)
        if ok:
            for i in range(N):
                for j in range(O):
                    y = sigmoid(out[i, j])
                    err[i, j] = T[i, j] - y
                    out[i, j] = err[i, j] * y * (1 - y)
            # hidden errors with who before its update: hidden_err = err @ who
            gemm(False, False, N, H, O, <floating>1, &err[0, 0], O, &who[0, 0], H, <floating>0, &hidden_err[0, 0], H)
            # who += lr * out.T @ hidden
            gemm(True, False, O, H, N, rate, &out[0, 0], O, &hidden[0, 0], H, <floating>1, &who[0, 0], H)
            for i in range(N):
                for j in range(H):
                    hidden_err[i, j] = hidden_err[i, j] * derivative_from_output(hidden[i, j], activation, <floating>1)
            # wih += lr * hidden_err.T @ X
            gemm(True, False, H, I, N, rate, &hidden_err[0, 0], H, &X[0, 0], I, <floating>1, &wih[0, 0], I)
    return ok


def book_backquery(const floating[:, ::1] wih, const floating[:, ::1] who,
                   const floating[::1] targets, int activation, floating[::1] hidden,
                   floating[::1] out):
    """The book's backquery: run the network backwards from output values in (0, 1).

    final inputs = logit(targets); hidden = who.T @ that, rescaled into [0.01, 0.99], through the
    inverse hidden activation; out = wih.T @ that, rescaled into [0.01, 0.99].
    Shapes: targets (O,), hidden (H,) scratch, out (I,). Returns False when a signal is constant
    (nothing to rescale) or not finite."""
    cdef Py_ssize_t H = wih.shape[0], I = wih.shape[1], O = who.shape[0], j, k
    cdef floating t
    cdef bint ok
    if who.shape[1] != H or targets.shape[0] != O or hidden.shape[0] != H or out.shape[0] != I:
        raise ValueError("book_backquery: inconsistent shapes")
    with nogil:
        for j in range(H):
            hidden[j] = 0
        for k in range(O):
            if floating is float:
                t = logf(targets[k] / (1 - targets[k]))
            else:
                t = log(targets[k] / (1 - targets[k]))
            for j in range(H):
                hidden[j] += who[k, j] * t
        ok = _rescale(&hidden[0], H)
        if ok:
            for j in range(H):
                if activation == Activation.SIGMOID:
                    if floating is float:
                        hidden[j] = logf(hidden[j] / (1 - hidden[j]))
                    else:
                        hidden[j] = log(hidden[j] / (1 - hidden[j]))
            for k in range(I):
                out[k] = 0
            for j in range(H):
                t = hidden[j]
                for k in range(I):
                    out[k] += wih[j, k] * t
            ok = _rescale(&out[0], I)
    return ok


cdef bint _rescale(floating *v, Py_ssize_t n) noexcept nogil:
    """v = (v - min) / (max - min) * 0.98 + 0.01, in the book's order of operations."""
    cdef floating lo = v[0], hi
    cdef Py_ssize_t i
    if not all_finite_ptr(v, n):
        return False
    for i in range(n):
        if v[i] < lo:
            lo = v[i]
    for i in range(n):
        v[i] -= lo
    hi = v[0]
    for i in range(n):
        if v[i] > hi:
            hi = v[i]
    if not hi > 0:
        return False
    for i in range(n):
        v[i] = v[i] / hi * <floating>0.98 + <floating>0.01
    return True


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
