# Kernels of the book network (neuralNetwork, cnn_core/book.py). Included by _kernels.pyx.

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
