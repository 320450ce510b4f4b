# The book network (neuralNetwork, cnn_core/book.py): its kernels and BookState, the one object
# that holds its state. Included by _kernels.pyx.
#
# Layout
# - BookState (at the end of this file) owns every array of one network: wih (H, I), who (O, H),
#   the pending update (xp (I,), s (H,): wih += outer(s, xp) is owed after a training step and
#   applied in the same pass over wih as the next sample's forward product), state (2,):
#   [update pending?, samples trained], the scratch of one step (work) and of the blocked fit
#   (made at its first use), all starting on cache lines. Its methods are the network's only
#   way in: one-sample train/query (the hot path: they convert only their own inputs), per-
#   sample training over rows, the blocked fit, the summed N-row step, batch query, backquery,
#   snapshot/restore, the finiteness check. Whatever reads wih (its `wih` property, queries,
#   snapshot of the weights, the checks) applies the pending update first, here and only here,
#   so it is never visible outside the class.
# - The kernels below are `cdef ... noexcept nogil` functions of `floating` (float32/float64
#   from one source); BookState keeps typed views of its arrays of its one dtype and each
#   method passes the views of that dtype to the fused kernel (or to a fused helper that
#   converts the caller's inputs), so the two precisions share every line of code.

# --------------------------------------------------------------------------------------------
# The book network: per-sample training with the update of wih kept pending
# --------------------------------------------------------------------------------------------

# With several threads, the rows of wih (hidden units) are split between them in groups of
# BOOK_GROUP rows, and each thread owns its rows for the whole call (they stay in its cache):
# the threads split the passes over wih; the rest of a training step, small, runs on the first
# thread. No value depends on the split, so results are the same bits for any thread count.
cdef enum:
    BOOK_GROUP = 4


cdef inline Py_ssize_t book_work_size(Py_ssize_t hnodes, Py_ssize_t onodes) noexcept nogil:
    """Length of the `work` buffer of a book network: hin, h (hnodes each); o, e, g (onodes
    each)."""
    return 2 * hnodes + 3 * onodes


cdef inline Py_ssize_t book_rows_per_thread(Py_ssize_t H, int nt) noexcept nogil:
    return ((H + BOOK_GROUP - 1) // BOOK_GROUP + nt - 1) // nt * BOOK_GROUP


cdef inline int book_team_size() noexcept nogil:
    """The number of threads of the team running the enclosing `with parallel():` region.

    `parallel(num_threads=n)` asks OpenMP for n threads, but the team it gets may be smaller:
    a single thread in a child made by os.fork() after the parent ran a team, under
    OMP_THREAD_LIMIT, OMP_DYNAMIC=true or OMP_MAX_ACTIVE_LEVELS=0, or inside another parallel
    region. So each region reads its team size here, inside the region (every thread gets the
    same value), and sizes the split of wih, the roles ("thread 0 runs the step", "the last
    thread prepares the next block") and its barrier (cnn_sync_wait) from it, never from n:
    waiting for n arrivals with fewer threads would spin forever. Results do not depend on it."""
    cdef int team = openmp.omp_get_num_threads()
    return team if team > 1 else 1


# (the C helpers of _simd.h, one per precision, as fused functions)
cdef inline void book_backward(floating *who, Py_ssize_t H, Py_ssize_t O, const floating *h,
                               const floating *e, const floating *g, floating lr,
                               floating *s) noexcept nogil:
    if floating is double:
        cnn_book_backward_double(who, H, O, h, e, g, lr, s)
    else:
        cnn_book_backward_float(who, H, O, h, e, g, lr, s)


cdef inline void book_hidden_in(const floating *a, const floating *S, Py_ssize_t lds,
                                const floating *g, Py_ssize_t ldg, Py_ssize_t n, Py_ssize_t rows,
                                floating *hin) noexcept nogil:
    if floating is double:
        cnn_book_hidden_in_double(a, S, lds, g, ldg, n, rows, hin)
    else:
        cnn_book_hidden_in_float(a, S, lds, g, ldg, n, rows, hin)


cdef bint book_step(floating[:, ::1] who, const floating *t, floating lr, int activation,
                    floating *work, floating *s) noexcept nogil:
    """One training step of the book's rule, after hin = wih @ x (work[:H]) is set: h = f(hin),
    o = sigmoid(who @ h), e = t - o; then s = lr * (who.T @ e) * f'(h), from who before its
    update (the pending update of wih: wih += outer(s, x)), and who += lr * outer(e * o * (1 - o),
    h). Returns False, changing nothing, when a pre-activation is not finite."""
    cdef Py_ssize_t O = who.shape[0], H = who.shape[1], j, k
    cdef floating *hin = work
    cdef floating *h = hin + H
    cdef floating *o = h + H
    cdef floating *e = o + O
    cdef floating *g = e + O
    cdef floating y
    if not all_finite_ptr(hin, H):
        return False
    for j in range(H):
        h[j] = hin[j]
    activate_inplace(h, H, activation, <floating>1)
    rows_update_dot(&who[0, 0], H, 0, O, <floating *>NULL, <floating *>NULL, h, o)
    if not all_finite_ptr(o, O):
        return False
    for k in range(O):
        y = sigmoid(o[k])
        e[k] = t[k] - y
        g[k] = e[k] * y * (1 - y)
    book_backward(&who[0, 0], H, O, h, e, g, lr, s)
    if activation == Activation.SIGMOID:
        for j in range(H):
            s[j] = lr * (s[j] * (h[j] * (1 - h[j])))
    else:
        for j in range(H):
            s[j] = lr * (s[j] * derivative_from_output(h[j], activation, <floating>1))
    return True


cdef Py_ssize_t book_train_loop(floating[:, ::1] wih, floating[:, ::1] who,
                                const floating *X, const floating *T,
                                const Py_ssize_t[::1] order, floating lr, int activation,
                                floating[::1] work, floating[::1] xp, floating[::1] s,
                                Py_ssize_t[::1] state, int n_threads) noexcept nogil:
    """Train on the rows order[0], order[1], ... of X (N, I), T (N, O) (C-contiguous, given by
    their first element) one sample at a time (the book's rule).

    state[0] says whether wih owes the update outer(s, xp) (the pending update); on return it
    owes the last sample's update (xp holds a copy of that sample): each sample's pass over wih
    applies the previous update and computes the new forward product. state[1] counts the
    samples trained. The threads split the rows of wih for that pass; the rest of the step runs
    on the first thread (book_step). Returns -1, or the position in `order` of the first sample
    whose forward pass was not finite: training stops there, with wih and who holding every
    update before it and nothing pending."""
    cdef Py_ssize_t N = order.shape[0], H = wih.shape[0], I = wih.shape[1], O = who.shape[0], n
    cdef const floating *x
    cdef bint pending = state[0] != 0
    cdef Py_ssize_t failed[1]
    cdef Py_ssize_t *failed_at = failed
    cdef Py_ssize_t r0, r1, per_thread
    # (one thread in a child of fork() whose OpenMP pool was copied: see _simd.h)
    cdef int tid, team, nt = n_threads if n_threads > 1 and not cnn_openmp_fork_serial() else 1
    cdef cnn_sync sync
    sync.waiting = 0
    sync.phase = 0
    failed[0] = -1
    if N == 0:
        return -1
    with parallel(num_threads=nt):
        # the team may be smaller than nt: split, roles and barrier follow it (book_team_size)
        tid = threadid()
        team = book_team_size()
        per_thread = book_rows_per_thread(H, team)
        r0 = min(H, tid * per_thread)
        r1 = H if tid == team - 1 else min(H, r0 + per_thread)
        x = &xp[0] if pending else NULL
        for n in range(N):
            rows_update_dot(&wih[0, 0], I, r0, r1, x, &s[0], X + order[n] * I, &work[0])
            cnn_sync_wait(&sync, team)
            if tid == 0:
                if not book_step(who, T + order[n] * O, lr, activation, &work[0], &s[0]):
                    failed_at[0] = n
            cnn_sync_wait(&sync, team)
            if failed_at[0] >= 0:
                break
            x = X + order[n] * I
    if failed[0] >= 0:
        state[0] = 0
        state[1] += failed[0]
        return failed[0]
    memcpy(&xp[0], X + order[N - 1] * I, I * sizeof(floating))
    state[0] = 1
    state[1] += N
    return -1


cdef bint book_query_sample(floating[:, ::1] wih, const floating[:, ::1] who, const floating *x,
                            int activation, floating[::1] work, const floating[::1] xp,
                            const floating[::1] s, Py_ssize_t[::1] state,
                            floating *out) noexcept nogil:
    """out = sigmoid(who @ f(wih @ x)) for one sample, applying a pending update on the way
    (nothing is pending afterwards). Returns False when a pre-activation is not finite."""
    cdef Py_ssize_t H = wih.shape[0], I = wih.shape[1], O = who.shape[0], k
    cdef floating *hin = &work[0]
    cdef floating *h = hin + H
    cdef bint ok
    rows_update_dot(&wih[0, 0], I, 0, H, &xp[0] if state[0] else NULL, &s[0], x, hin)
    state[0] = 0
    for k in range(H):
        h[k] = hin[k]
    activate_inplace(h, H, activation, <floating>1)
    rows_update_dot(<floating *>&who[0, 0], H, 0, O, <floating *>NULL, <floating *>NULL, h, out)
    ok = all_finite_ptr(hin, H) and all_finite_ptr(out, O)
    for k in range(O):
        out[k] = sigmoid(out[k])
    return ok



# --------------------------------------------------------------------------------------------
# One-sample train() never leaves non-finite weights: bounds on the weights' magnitudes
# --------------------------------------------------------------------------------------------
#
# A step whose forward pass is finite may still make weights overflow: who += lr * outer(g, h)
# at once, and wih += outer(s, x), the pending update, in the next sample's pass. Checking the
# weights after every step would cost a pass over wih (as much as the step). Instead BookState
# keeps bounds B_ih >= max |wih (pending update applied)| and B_ho >= max |who|, and before a
# step bounds what it can add from the sample alone: with y in (0, 1), |e_k| <= |t_k| + 1,
# |g_k| <= |e_k| / 4, f' <= 1, h <= 1 (sigmoid) or |h| <= B_ih sum |x| (relu), so
# |s_j| <= lr B_ho sum_k (|t_k| + 1) and the updates are at most |s| max |x| and lr |g| |h|
# (each bound below doubled for rounding). Far from overflow (bounds under a eighth of the
# largest number, the usual case) the step runs as is, and the bounds grow by what it actually
# added (max |s| max |x|, lr max |g| max |h|, and a relative rounding margin): O(I + H + O) work
# next to the step's O(H I). Near it, the step runs with a copy of who kept, then the weights
# it leaves are checked exactly (a pass over wih); if any would not be finite (or above half
# the largest number, so that no rounding of the fused pass can overflow) who is put back and
# the pending update dropped: the network is as before the call, which raises DivergenceError.
# The bounds are exact again after such a check. Every other BookState method that writes the
# weights or hands them out (fit, assignment, the summed N-row step, restore, the wih/who
# properties) forgets them; they are recomputed exactly (one pass) at the next train_one.

from libc.math cimport fabs, INFINITY
from libc.float cimport DBL_MAX, FLT_MAX, DBL_EPSILON, FLT_EPSILON

# (cdef globals: the fast paths test `type(x) is not _ndarray` first, a pointer comparison)
cdef object _ndarray = _numpy.ndarray
cdef object _MaskedArray = _numpy.ma.MaskedArray


cdef struct BookBounds:
    double wih          # >= max |wih| with the pending update applied
    double who          # >= max |who|
    bint known


cdef inline double book_max_abs(const floating *v, Py_ssize_t n) noexcept nogil:
    """max |v| of finite values (four running maxima, so the compares overlap)."""
    cdef double m0 = 0, m1 = 0, m2 = 0, m3 = 0, a
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        a = fabs(v[i])
        m0 = a if a > m0 else m0
        a = fabs(v[i + 1])
        m1 = a if a > m1 else m1
        a = fabs(v[i + 2])
        m2 = a if a > m2 else m2
        a = fabs(v[i + 3])
        m3 = a if a > m3 else m3
        i = i + 4
    while i < n:
        a = fabs(v[i])
        m0 = a if a > m0 else m0
        i = i + 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


cdef inline double book_sum_abs(const floating *v, Py_ssize_t n) noexcept nogil:
    cdef double a0 = 0, a1 = 0
    cdef Py_ssize_t i = 0
    while i + 2 <= n:
        a0 += fabs(v[i])
        a1 += fabs(v[i + 1])
        i = i + 2
    if i < n:
        a0 += fabs(v[i])
    return a0 + a1


cdef double book_max_abs_checked(const floating *v, Py_ssize_t n) noexcept nogil:
    """max |v|, or INFINITY when a value is not finite."""
    cdef double m = 0, a
    cdef Py_ssize_t i
    for i in range(n):
        a = fabs(v[i])
        if not a <= m:
            if not a < INFINITY:
                return INFINITY
            m = a
    return m


cdef double book_max_abs_updated(const floating *W, Py_ssize_t H, Py_ssize_t I,
                                 const floating *s, const floating *xp) noexcept nogil:
    """max |W[j, i] + s[j] * xp[i]| (W (H, I) with the update outer(s, xp) applied, as the next
    pass computes it), or INFINITY when a value is not finite."""
    cdef double m = 0, a
    cdef floating sj, v
    cdef Py_ssize_t j, i
    for j in range(H):
        sj = s[j]
        for i in range(I):
            v = W[j * I + i] + sj * xp[i]
            a = fabs(v)
            if not a <= m:
                if not a < INFINITY:
                    return INFINITY
                m = a
    return m


cdef void book_exact_bounds(floating[:, ::1] wih, floating[:, ::1] who, floating[::1] xp,
                            floating[::1] s, Py_ssize_t[::1] state, BookBounds *b) noexcept nogil:
    cdef Py_ssize_t H = wih.shape[0], I = wih.shape[1], O = who.shape[0]
    cdef double u = FLT_EPSILON if floating is float else DBL_EPSILON
    if state[0]:
        b.wih = book_max_abs_updated(&wih[0, 0], H, I, &s[0], &xp[0]) * (1 + 4 * u)
    else:
        b.wih = book_max_abs_checked(&wih[0, 0], H * I) * (1 + 4 * u)
    b.who = book_max_abs_checked(&who[0, 0], O * H) * (1 + 4 * u)
    b.known = True


cdef Py_ssize_t book_train_guarded(floating[:, ::1] wih, floating[:, ::1] who,
                                   const floating *x, const floating *t,
                                   const Py_ssize_t[::1] order1, floating lr, int activation,
                                   floating[::1] work, floating[::1] xp, floating[::1] s,
                                   Py_ssize_t[::1] state, int n_threads, BookBounds *b,
                                   floating *backup) noexcept nogil:
    """One step on x (I,), t (O,), finite (book_train_loop), that never leaves non-finite
    weights (see above). Returns 1 when trained, 0 when the forward pass was not finite (no
    step taken), 2 when the step's update would not be finite (no step taken: who put back,
    the pending update dropped; the network is as before)."""
    cdef Py_ssize_t H = wih.shape[0], I = wih.shape[1], O = who.shape[0]
    cdef double u = FLT_EPSILON if floating is float else DBL_EPSILON
    cdef double largest = FLT_MAX if floating is float else DBL_MAX
    cdef double limit = largest * 0.125, rate = lr, mx, hmax, s_bound
    cdef bint risky
    if not b.known:
        book_exact_bounds(wih, who, xp, s, state, b)
    mx = book_max_abs(x, I)
    hmax = 1.0 if activation == Activation.SIGMOID else 2 * b.wih * book_sum_abs(x, I)
    s_bound = 2 * rate * b.who * (book_sum_abs(t, O) + O)
    risky = not (b.wih + 2 * s_bound * mx < limit
                 and b.who + rate * (book_max_abs(t, O) + 1) * hmax < limit)
    if risky:
        memcpy(backup, &who[0, 0], O * H * sizeof(floating))
    if book_train_loop(wih, who, x, t, order1, lr, activation, work, xp, s, state,
                       n_threads) >= 0:
        return 0                    # nothing changed but the (checked) pending update applied
    if not risky:
        b.who = (b.who + rate * book_max_abs(&work[2 * H + 2 * O], O)
                 * book_max_abs(&work[H], H) * (1 + 8 * u)) * (1 + 4 * u)
        b.wih = (b.wih + book_max_abs(&s[0], H) * mx * (1 + 8 * u)) * (1 + 4 * u)
        return 1
    cdef double who_max = book_max_abs_checked(&who[0, 0], O * H)
    cdef double wih_max = book_max_abs_updated(&wih[0, 0], H, I, &s[0], &xp[0])
    if who_max <= 0.5 * largest and wih_max <= 0.5 * largest:
        b.who = who_max * (1 + 4 * u)
        b.wih = wih_max * (1 + 4 * u)
        return 1
    memcpy(&who[0, 0], backup, O * H * sizeof(floating))
    state[0] = 0
    state[1] -= 1
    return 2


cdef void book_flush(floating[:, ::1] wih, const floating[::1] xp, const floating[::1] s,
                     Py_ssize_t[::1] state) noexcept nogil:
    """Apply the pending update, if any: wih += outer(s, xp)."""
    if state[0]:
        rows_update_dot(&wih[0, 0], wih.shape[1], 0, wih.shape[0], &xp[0], &s[0],
                        <floating *>NULL, <floating *>NULL)
        state[0] = 0


cdef bint book_query_batch(const floating[:, ::1] wih, const floating[:, ::1] who,
                           const floating[:, ::1] X, int activation, floating[:, ::1] hidden,
                           floating[:, ::1] out) noexcept nogil:
    """out = sigmoid(f(X @ wih.T) @ who.T) for N rows at once (BLAS).

    Shapes: X (N, I), hidden (N, H) scratch, out (N, O). Returns False when a pre-activation
    is not finite."""
    cdef int N = X.shape[0], I = wih.shape[1], H = wih.shape[0], O = who.shape[0]
    cdef bint ok
    if N == 0:
        return True
    gemm(False, True, N, H, I, <floating>1, &X[0, 0], I, &wih[0, 0], I, <floating>0, &hidden[0, 0], H)
    ok = all_finite_ptr(&hidden[0, 0], <Py_ssize_t>N * H)
    activate_inplace(&hidden[0, 0], <Py_ssize_t>N * H, activation, <floating>1)
    gemm(False, True, N, O, H, <floating>1, &hidden[0, 0], H, &who[0, 0], H, <floating>0, &out[0, 0], O)
    ok = ok and all_finite_ptr(&out[0, 0], <Py_ssize_t>N * O)
    activate_inplace(&out[0, 0], <Py_ssize_t>N * O, Activation.SIGMOID, <floating>1)
    return ok


cdef bint book_train_batch(floating[:, ::1] wih, floating[:, ::1] who,
                           const floating[:, ::1] X, const floating[:, ::1] T, floating rate,
                           int activation, floating[:, ::1] hidden, floating[:, ::1] out,
                           floating[:, ::1] err, floating[:, ::1] hidden_err) noexcept nogil:
    """One update summed over N rows (what the NumPy version does with a 2-D input), by BLAS.

    Shapes: X (N, I), T (N, O); scratch hidden (N, H), out (N, O), err (N, O), hidden_err (N, H).
    Returns False, changing no weight, when a forward value is not finite."""
    cdef int N = X.shape[0], I = wih.shape[1], H = wih.shape[0], O = who.shape[0]
    cdef Py_ssize_t i, j
    cdef floating y
    if N == 0:
        return True
    gemm(False, True, N, H, I, <floating>1, &X[0, 0], I, &wih[0, 0], I, <floating>0, &hidden[0, 0], H)
    if not all_finite_ptr(&hidden[0, 0], <Py_ssize_t>N * H):
        return False
    activate_inplace(&hidden[0, 0], <Py_ssize_t>N * H, activation, <floating>1)
    gemm(False, True, N, O, H, <floating>1, &hidden[0, 0], H, &who[0, 0], H, <floating>0, &out[0, 0], O)
    if not all_finite_ptr(&out[0, 0], <Py_ssize_t>N * O):
        return False
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
    return True


cdef bint book_backquery(const floating[:, ::1] wih, const floating[:, ::1] who,
                         const floating[::1] targets, int activation, floating[::1] hidden,
                         floating[::1] out) noexcept nogil:
    """The book's backquery: run the network backwards from output values in (0, 1).

    final inputs = logit(targets); hidden = who.T @ that, rescaled into [0.01, 0.99], through the
    inverse hidden activation; out = wih.T @ that, rescaled into [0.01, 0.99].
    Shapes: targets (O,), hidden (H,) scratch, out (I,). Returns False when a signal is constant
    (nothing to rescale) or not finite."""
    cdef Py_ssize_t H = wih.shape[0], I = wih.shape[1], O = who.shape[0], j, k
    cdef floating t
    for j in range(H):
        hidden[j] = 0
    for k in range(O):
        t = _log(targets[k] / (1 - targets[k]))
        for j in range(H):
            hidden[j] += who[k, j] * t
    if not _rescale(&hidden[0], H):
        return False
    if activation == Activation.SIGMOID:
        for j in range(H):
            hidden[j] = _log(hidden[j] / (1 - hidden[j]))
    for k in range(I):
        out[k] = 0
    for j in range(H):
        t = hidden[j]
        for k in range(I):
            out[k] += wih[j, k] * t
    return _rescale(&out[0], I)


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
# Whole epochs in blocks: the same per-sample rule, with wih touched twice per block of samples
# --------------------------------------------------------------------------------------------
#
# Within a block of k samples x_0 .. x_{k-1} (rows of Xb), wih before sample n is
#     W_n = W_0 + sum_{m<n} outer(s_m, x_m),   so   W_n @ x_n = W_0 @ x_n + sum_{m<n} s_m (x_m . x_n).
# The products W_0 @ x_n for the whole block (A) and the Gram matrix x_m . x_n (G) are computed
# first, in register-blocked passes that read wih once for k samples; each sample then needs
# only O(hnodes * k) work for its pre-activations, and after the block wih gets the k updates in
# one pass (rank_update, the same bits as k rank-1 updates). The arithmetic is the book's rule;
# only the order of the sums differs from training one sample at a time.

cdef void book_fit_prepare(const floating[:, ::1] X, const Py_ssize_t[::1] order,
                           Py_ssize_t b0, Py_ssize_t nb, floating[:, ::1] Xb, floating[:, ::1] G,
                           Py_ssize_t base, const floating **xr) noexcept nogil:
    """Copy the block of samples X[order[b0:b0 + nb]] to rows base.. of Xb (xr points to them)
    and set G[base + m, n] = x_m . x_n for m < n, in groups of 4 rows m."""
    cdef Py_ssize_t I = X.shape[1], KB = G.shape[1], m
    for m in range(nb):
        memcpy(&Xb[base + m, 0], &X[order[b0 + m], 0], I * sizeof(floating))
    m = 0
    while m < nb:
        dot_block(&Xb[base + m, 0], I, min(4, nb - m), &xr[m], nb - m, I, &G[base + m, m], KB, 1)
        m = m + 4


cdef Py_ssize_t book_fit_loop(floating[:, ::1] wih, floating[:, ::1] who,
                              const floating[:, ::1] X, const floating[:, ::1] T,
                              const Py_ssize_t[::1] order, floating lr, int activation,
                              floating[::1] work, floating[:, ::1] Xb, floating[:, ::1] A,
                              floating[:, ::1] G, floating[:, ::1] S,
                              int n_threads) noexcept nogil:
    """Train on rows order[0], order[1], ... of X, T in blocks of A.shape[0] samples.

    Per block: the threads split the rows of wih for A = W_0 @ x_n; then the first thread runs
    the block's per-sample steps alone (they are small: split, they cost more in barriers and
    cache-line traffic than they save) while the last thread copies the next block's inputs
    and forms its Gram matrix (two buffers, alternating); then the threads split the rank
    update. Nothing may be pending on entry; nothing is pending on return. Results do not
    depend on n_threads. Returns -1, or the position in `order` of the first sample whose
    forward pass was not finite (wih and who then hold every update before it)."""
    cdef Py_ssize_t N = order.shape[0], H = wih.shape[0], I = wih.shape[1], KB = A.shape[0]
    cdef Py_ssize_t b0, nb, n, base, r0, r1, per_thread, m
    cdef const floating *xr[512]
    cdef floating *hin = &work[0]
    cdef Py_ssize_t shared[2]                # position of the first failure; samples done
    cdef Py_ssize_t *failed_at = shared
    cdef Py_ssize_t *done = shared + 1
    # (one thread in a child of fork() whose OpenMP pool was copied: see _simd.h)
    cdef int tid, team, nt = n_threads if n_threads > 1 and not cnn_openmp_fork_serial() else 1
    cdef cnn_sync sync
    sync.waiting = 0
    sync.phase = 0
    failed_at[0] = -1
    if N == 0:
        return -1
    for m in range(2 * KB):
        xr[m] = &Xb[m, 0]
    with parallel(num_threads=nt):
        # the team may be smaller than nt: split, roles and barrier follow it (book_team_size)
        tid = threadid()
        team = book_team_size()
        per_thread = book_rows_per_thread(H, team)
        r0 = min(H, tid * per_thread)
        r1 = H if tid == team - 1 else min(H, r0 + per_thread)
        if tid == team - 1:
            book_fit_prepare(X, order, 0, min(KB, N), Xb, G, 0, &xr[0])
        b0 = 0
        base = 0
        while b0 < N:
            nb = min(KB, N - b0)
            cnn_sync_wait(&sync, team)
            # A[n, j] = wih[j] . x_n for this thread's rows j (a thread may have none)
            if r0 < r1:
                dot_block(&wih[r0, 0], I, r1 - r0, &xr[base], nb, I, &A[0, r0], 1, H)
            cnn_sync_wait(&sync, team)
            if tid == 0:
                done[0] = nb
                for n in range(nb):
                    book_hidden_in(&A[n, 0], &S[0, 0], H, &G[base, n], KB, n, H, hin)
                    if not book_step(who, &T[order[b0 + n], 0], lr, activation, &work[0],
                                     &S[n, 0]):
                        done[0] = n
                        failed_at[0] = b0 + n
                        break
            if tid == team - 1 and b0 + KB < N:
                book_fit_prepare(X, order, b0 + KB, min(KB, N - b0 - KB), Xb, G, KB - base,
                                 &xr[KB - base])
            cnn_sync_wait(&sync, team)
            # wih += the block's updates (those before a failure)
            if r0 < r1:
                rank_update(&wih[r0, 0], I, r1 - r0, &S[0, r0], H, &xr[base], done[0], I)
            if failed_at[0] >= 0:
                break
            b0 = b0 + KB
            base = KB - base
    return failed_at[0]


# --------------------------------------------------------------------------------------------
# BookState: the arrays of one book network and every operation on them
# --------------------------------------------------------------------------------------------

cdef object book_aligned_zeros(shape, dtype, Py_ssize_t align=64):
    """Zeros of `shape` whose data starts on an `align`-byte boundary (a cache line). The
    kernels split rows between threads at multiples of 8 elements: with aligned buffers, two
    threads writing their own parts of a row do not write to one cache line (when the row
    length is a multiple of 8 too), which would send the line between the cores."""
    dtype = _numpy.dtype(dtype)
    nbytes = int(_numpy.prod(shape, dtype=_numpy.int64)) * dtype.itemsize
    raw = _numpy.zeros(nbytes + align, _numpy.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + nbytes].view(dtype).reshape(shape)


cdef object book_aligned_copy(array, dtype):
    out = book_aligned_zeros(_numpy.shape(array), dtype)
    _numpy.copyto(out, _numpy.asarray(array, dtype=dtype))
    return out


@cython.auto_pickle(False)
cdef class BookState:
    """The state of one book network: its weights wih (H, I) and who (O, H), the pending update
    of wih (xp, s, wih += outer(s, xp), owed after a training step), [pending?, samples
    trained], and the kernels' scratch, in arrays it owns (aligned on cache lines), with every
    operation the network makes on them. Whatever reads wih applies the pending update first.

    Not thread-safe: the network that owns it holds its locks around each call. Never pickled
    or copied (the network pickles through its save format and makes a new state)."""

    cdef readonly object dtype
    cdef readonly Py_ssize_t n_in, n_hidden, n_out
    cdef bint is64
    cdef object _wih, _who, _xp, _s, _work, _state   # the arrays (NumPy), owned
    cdef double[:, ::1] wih_d, who_d               # typed views: those of one dtype are set
    cdef double[::1] work_d, xp_d, s_d, backup_d
    cdef float[:, ::1] wih_f, who_f
    cdef float[::1] work_f, xp_f, s_f, backup_f
    cdef Py_ssize_t[::1] state, order1
    cdef int n_threads                              # of train_one
    cdef BookBounds bounds                          # of train_one (see book_train_guarded)
    cdef object scratch                             # of fit_rows: Xb, A, G, S, made at first use
    cdef Py_ssize_t block

    def __init__(self, wih, who, dtype=None):
        dtype = _numpy.dtype(_numpy.asarray(wih).dtype if dtype is None else dtype)
        if dtype != _numpy.float64 and dtype != _numpy.float32:
            raise ValueError(f"BookState: dtype must be float32 or float64, not {dtype}")
        self.n_hidden, self.n_in = _numpy.shape(wih)
        self.n_out = _numpy.shape(who)[0]
        if _numpy.shape(who) != (self.n_out, self.n_hidden):
            raise ValueError("BookState: inconsistent shapes")
        self.dtype = dtype
        self.is64 = dtype == _numpy.float64
        self._wih = book_aligned_copy(wih, dtype)
        self._who = book_aligned_copy(who, dtype)
        self._work = book_aligned_zeros(book_work_size(self.n_hidden, self.n_out), dtype)
        self._xp = book_aligned_zeros(self.n_in, dtype)
        self._s = book_aligned_zeros(self.n_hidden, dtype)
        self._state = _numpy.zeros(2, _numpy.intp)
        backup = _numpy.empty(self.n_out * self.n_hidden, dtype)   # who, over a risky step
        if self.is64:
            self.wih_d, self.who_d, self.work_d = self._wih, self._who, self._work
            self.xp_d, self.s_d, self.backup_d = self._xp, self._s, backup
        else:
            self.wih_f, self.who_f, self.work_f = self._wih, self._who, self._work
            self.xp_f, self.s_f, self.backup_f = self._xp, self._s, backup
        self.state = self._state
        self.order1 = _numpy.zeros(1, _numpy.intp)
        self.n_threads = 1
        self.bounds.known = False
        self.block = 0

    def __reduce__(self):
        raise TypeError("BookState holds a network's arrays and cannot be pickled or copied; "
                        "pickle or copy the neuralNetwork that owns it.")

    # ------------------------------------------------------------ the weights and counters

    @property
    def wih(self):
        """wih, the pending update applied: the state's own array (whoever holds it may write
        it, so train_one's bounds are recomputed)."""
        self.flush()
        self.bounds.known = False
        return self._wih

    @property
    def who(self):
        """who: the state's own array (as wih)."""
        self.bounds.known = False
        return self._who

    def set_wih(self, array):
        """Copy `array` into wih; the pending update belonged to the weights replaced."""
        self.state[0] = 0
        _numpy.copyto(self._wih, array)
        self.bounds.known = False

    def set_who(self, array):
        _numpy.copyto(self._who, array)
        self.bounds.known = False

    def owns(self, array, name):
        """Whether `array` is this state's wih (name "wih") or who ("who"): n.wih += x assigns
        the array back to itself."""
        return array is (self._wih if name == "wih" else self._who)

    def weights(self):
        """Copies of (wih, who), the pending update applied (train_one's bounds kept)."""
        self.flush()
        return self._wih.copy(), self._who.copy()

    @property
    def pending(self):
        """Whether wih owes the update of the last training step."""
        return self.state[0] != 0

    @property
    def samples_trained(self):
        return self.state[1]

    @samples_trained.setter
    def samples_trained(self, Py_ssize_t n):
        self.state[1] = n

    def flush(self):
        """Apply the pending update, if any: wih += outer(s, xp)."""
        if self.state[0]:
            with nogil:
                if self.is64:
                    book_flush(self.wih_d, self.xp_d, self.s_d, self.state)
                else:
                    book_flush(self.wih_f, self.xp_f, self.s_f, self.state)

    def weights_finite(self):
        """Whether the weights, the pending update applied, are all finite."""
        cdef bint ok
        self.flush()
        with nogil:
            if self.is64:
                ok = (all_finite_ptr(&self.wih_d[0, 0], self.n_hidden * self.n_in)
                      and all_finite_ptr(&self.who_d[0, 0], self.n_out * self.n_hidden))
            else:
                ok = (all_finite_ptr(&self.wih_f[0, 0], self.n_hidden * self.n_in)
                      and all_finite_ptr(&self.who_f[0, 0], self.n_out * self.n_hidden))
        return ok

    def snapshot(self):
        """Copies of [wih, who, xp, s, state] (the pending update kept pending), for restore."""
        return [a.copy() for a in (self._wih, self._who, self._xp, self._s, self._state)]

    def restore(self, saved):
        """Write back what snapshot() returned (or arrays of those shapes)."""
        for target, value in zip((self._wih, self._who, self._xp, self._s, self._state), saved):
            _numpy.copyto(target, value)
        self.bounds.known = False

    def raw_arrays(self):
        """The arrays themselves, wih with its pending update still owed: for tests of their
        layout only."""
        return {"wih": self._wih, "who": self._who, "xp": self._xp, "s": self._s,
                "work": self._work, "state": self._state}

    # ------------------------------------------------------------ one sample

    def set_threads(self, int n_threads):
        """Train one sample on `n_threads` threads from now on."""
        if n_threads < 1:
            raise ValueError("BookState.set_threads: n_threads < 1")
        self.n_threads = n_threads

    def forget_bounds(self):
        """The weights were changed other than by train_one: recompute the bounds (one pass
        over the weights) at the next train_one."""
        self.bounds.known = False

    def train_one(self, x, t, double lr, int activation):
        """One training step on x (I,), t (O,), if they are contiguous 1-D arrays (any object
        with the buffer interface but masked arrays) of the network's dtype and finite: the fast
        path of neuralNetwork.train for one sample, which checks nothing else. Returns 1 when
        trained, 0 when the forward pass was not finite, 2 when the update would make weights
        non-finite (no step taken in either case: see book_train_guarded), -1 when x or t are
        not such arrays (nothing done: convert and check them, then call again)."""
        if self.is64:
            return book_train_one[double](self, x, t, lr, activation)
        return book_train_one[float](self, x, t, <float>lr, activation)

    def query_one(self, x, out, int activation):
        """out (O,) = the outputs for one sample x (I,), if x is a contiguous 1-D array (any
        object with the buffer interface) of the network's dtype and finite: the fast path of
        neuralNetwork.query. Returns 1 when done, 0 when a pre-activation was not finite, -1 when
        x is not such an array (nothing done). `out` must be a contiguous (O,) array."""
        if self.is64:
            return book_query_one[double](self, self.wih_d, self.who_d, self.work_d, self.xp_d,
                                  self.s_d, x, out, activation)
        return book_query_one[float](self, self.wih_f, self.who_f, self.work_f, self.xp_f, self.s_f,
                              x, out, activation)

    # ------------------------------------------------------------ many samples

    def train_rows(self, X, T, order, double lr, int activation, int n_threads=1):
        """Per-sample training on rows order[0], order[1], ... of X (N, I), T (N, O) (see
        book_train_loop): leaves the last sample's update pending. Returns -1, or the position
        in `order` of the first sample whose forward pass was not finite (training stops there,
        nothing pending)."""
        self.bounds.known = False
        if self.is64:
            return book_rows[double](self, self.wih_d, self.who_d, self.work_d, self.xp_d, self.s_d,
                             X, T, order, lr, activation, max(n_threads, 1), False)
        return book_rows[float](self, self.wih_f, self.who_f, self.work_f, self.xp_f, self.s_f,
                         X, T, order, <float>lr, activation, max(n_threads, 1), False)

    def fit_rows(self, X, T, order, double lr, int activation, int n_threads=1,
                 Py_ssize_t block=32):
        """train_rows' result, computed in blocks of `block` samples (1 to 256; see
        book_fit_loop): applies a pending update first, leaves none."""
        if not 1 <= block <= 256:
            raise ValueError("BookState.fit_rows: block must be 1 to 256")
        if block != self.block:
            self.scratch = [book_aligned_zeros(shape, self.dtype) for shape in (
                (2 * block, self.n_in), (block, self.n_hidden), (2 * block, block),
                (block, self.n_hidden))]
            self.block = block
        self.bounds.known = False
        if self.is64:
            return book_rows[double](self, self.wih_d, self.who_d, self.work_d, self.xp_d, self.s_d,
                             X, T, order, lr, activation, max(n_threads, 1), True)
        return book_rows[float](self, self.wih_f, self.who_f, self.work_f, self.xp_f, self.s_f,
                         X, T, order, <float>lr, activation, max(n_threads, 1), True)

    def train_batch(self, X, T, double lr, int activation):
        """One update summed over the N rows of X, T (BLAS; the pending update applied first).
        Returns 1 when done, 0 when a forward value was not finite (no weight changed), 2 when
        the update made weights non-finite (undone from a copy: this step costs N times a
        copy's work anyway)."""
        if X.shape[1] != self.n_in or T.shape[0] != X.shape[0] or T.shape[1] != self.n_out:
            raise ValueError("BookState.train_batch: inconsistent shapes")
        N, H, O = X.shape[0], self.n_hidden, self.n_out
        h, o, e, he = (_numpy.empty(shape, self.dtype) for shape in ((N, H), (N, O), (N, O), (N, H)))
        self.flush()
        saved = self._wih.copy(), self._who.copy()
        self.bounds.known = False
        if not (_book_train_batch[double](self.wih_d, self.who_d, X, T, lr, activation, h, o, e, he)
                if self.is64 else
                _book_train_batch[float](self.wih_f, self.who_f, X, T, <float>lr, activation, h, o, e, he)):
            return 0
        if not self.weights_finite():
            _numpy.copyto(self._wih, saved[0])
            _numpy.copyto(self._who, saved[1])
            return 2
        return 1

    def query_batch(self, X, int activation, Py_ssize_t chunk_rows=4096):
        """(out (N, O), finite?): the outputs for the N rows of X (BLAS, `chunk_rows` rows at a
        time; the pending update applied first)."""
        self.flush()
        N = X.shape[0]
        if X.shape[1] != self.n_in:
            raise ValueError("BookState.query_batch: inconsistent shapes")
        out = _numpy.empty((N, self.n_out), self.dtype)
        rows = max(1, min(N, chunk_rows))
        hidden = _numpy.empty((rows, self.n_hidden), self.dtype)
        ok = True
        for begin in range(0, N, rows):
            end = min(N, begin + rows)
            if self.is64:
                ok &= _book_query_batch[double](self.wih_d, self.who_d, X[begin:end], activation,
                                        hidden[:end - begin], out[begin:end])
            else:
                ok &= _book_query_batch[float](self.wih_f, self.who_f, X[begin:end], activation,
                                        hidden[:end - begin], out[begin:end])
        return out, ok

    def backquery(self, targets, int activation):
        """(out (I,), ok): the book's backquery from targets (O,) in (0, 1) (see book_backquery;
        the pending update applied first). ok is False when a signal is constant or not
        finite."""
        self.flush()
        if _numpy.shape(targets) != (self.n_out,):
            raise ValueError("BookState.backquery: inconsistent shapes")
        out = _numpy.empty(self.n_in, self.dtype)
        hidden = _numpy.empty(self.n_hidden, self.dtype)
        if self.is64:
            return out, _book_backquery[double](self.wih_d, self.who_d, targets, activation, hidden, out)
        return out, _book_backquery[float](self.wih_f, self.who_f, targets, activation, hidden, out)


# (the methods' bodies, once for both dtypes: the views passed select the specialization)
cdef Py_ssize_t book_train_one(BookState st, x, t, floating lr, int activation):
    """BookState.train_one in the dtype of lr (the state's)."""
    cdef const floating[::1] xv, tv
    cdef Py_ssize_t status
    if ((type(x) is not _ndarray and isinstance(x, _MaskedArray))
            or (type(t) is not _ndarray and isinstance(t, _MaskedArray))):
        return -1
    try:
        xv, tv = x, t
    except (TypeError, ValueError, BufferError):
        return -1
    if xv.shape[0] != st.n_in or tv.shape[0] != st.n_out:
        return -1
    with nogil:
        if not (all_finite_ptr(&xv[0], st.n_in) and all_finite_ptr(&tv[0], st.n_out)):
            status = -1
        else:
            if floating is double:
                status = book_train_guarded(st.wih_d, st.who_d, &xv[0], &tv[0], st.order1, lr,
                                            activation, st.work_d, st.xp_d, st.s_d, st.state,
                                            st.n_threads, &st.bounds, &st.backup_d[0])
            else:
                status = book_train_guarded(st.wih_f, st.who_f, &xv[0], &tv[0], st.order1, lr,
                                            activation, st.work_f, st.xp_f, st.s_f, st.state,
                                            st.n_threads, &st.bounds, &st.backup_f[0])
    return status


cdef inline int book_query_one(BookState st, floating[:, ::1] wih, floating[:, ::1] who,
                        floating[::1] work, floating[::1] xp, floating[::1] s, x, out,
                        int activation):
    """BookState.query_one for the views of its dtype."""
    cdef const floating[::1] xv
    cdef floating[::1] ov
    cdef int status
    if type(x) is not _ndarray and isinstance(x, _MaskedArray):
        return -1
    try:
        xv = x
    except (TypeError, ValueError, BufferError):
        return -1
    ov = out
    if xv.shape[0] != st.n_in or ov.shape[0] != st.n_out:
        return -1
    with nogil:
        if not all_finite_ptr(&xv[0], st.n_in):
            status = -1
        else:
            status = book_query_sample(wih, who, &xv[0], activation, work, xp, s, st.state,
                                       &ov[0])
    return status


cdef Py_ssize_t book_rows(BookState st, floating[:, ::1] wih, floating[:, ::1] who,
                          floating[::1] work, floating[::1] xp, floating[::1] s,
                          const floating[:, ::1] X, const floating[:, ::1] T,
                          const Py_ssize_t[::1] order, floating lr, int activation,
                          int n_threads, bint blocked) except -2:
    """BookState.train_rows (blocked False) and fit_rows (True) for the views of its dtype."""
    cdef Py_ssize_t n, status
    cdef floating[:, ::1] Xb, A, G, S
    if X.shape[1] != st.n_in or T.shape[1] != st.n_out or T.shape[0] != X.shape[0]:
        raise ValueError("BookState: inconsistent shapes")
    for n in range(order.shape[0]):
        if not 0 <= order[n] < X.shape[0]:
            raise ValueError("BookState: order out of range")
    if blocked:
        Xb, A, G, S = st.scratch
    elif order.shape[0] == 0:
        return -1
    with nogil:
        if not blocked:
            status = book_train_loop(wih, who, &X[0, 0], &T[0, 0], order, lr, activation,
                                     work, xp, s, st.state, n_threads)
        else:
            book_flush(wih, xp, s, st.state)
            status = book_fit_loop(wih, who, X, T, order, lr, activation, work, Xb, A, G, S,
                                   n_threads)
            st.state[1] += order.shape[0] if status < 0 else status
    return status


# (the GIL-holding entries of the BLAS kernels: they convert the caller's arrays)
cdef bint _book_train_batch(floating[:, ::1] wih, floating[:, ::1] who, const floating[:, ::1] X,
                            const floating[:, ::1] T, floating lr, int activation,
                            floating[:, ::1] hidden, floating[:, ::1] out, floating[:, ::1] err,
                            floating[:, ::1] hidden_err) except -1:
    cdef bint ok
    with nogil:
        ok = book_train_batch(wih, who, X, T, lr, activation, hidden, out, err, hidden_err)
    return ok


cdef bint _book_query_batch(floating[:, ::1] wih, floating[:, ::1] who, const floating[:, ::1] X,
                            int activation, floating[:, ::1] hidden,
                            floating[:, ::1] out) except -1:
    cdef bint ok
    with nogil:
        ok = book_query_batch(wih, who, X, activation, hidden, out)
    return ok


cdef bint _book_backquery(floating[:, ::1] wih, floating[:, ::1] who,
                          const floating[::1] targets, int activation, floating[::1] hidden,
                          floating[::1] out) except -1:
    cdef bint ok
    with nogil:
        ok = book_backquery(wih, who, targets, activation, hidden, out)
    return ok
