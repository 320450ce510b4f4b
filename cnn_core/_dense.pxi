# Kernels of the deep networks (cnn_core/layers.py, network.py, optimizers.py): Dense layers,
# losses and optimizer updates. Included by _kernels.pyx.
#
# Every `def` here has a NumPy twin with the same name, signature and outputs in
# cnn_core/reference.py (the `backend="numpy"` of Network); keep the two in step.
#
# Shapes: a batch X (N, I) goes through W (I, O) and b (O,) to the pre-activation Z = X @ W + b
# (N, O) and the output Y = f(Z). An array of zero length stands for "absent" (a layer without
# bias passes b of shape (0,); a backward that needs no input gradient passes dX of shape (0, I)).
# For N == 1 (per-sample training) the products are plain loops: at that size a BLAS call costs
# more than the arithmetic.


# --------------------------------------------------------------------------------------------
# Dense layer: forward and backward
# --------------------------------------------------------------------------------------------

cdef bint dense_forward_kernel(const floating *X, const floating *W, const floating *b,
                               Py_ssize_t N, Py_ssize_t I, Py_ssize_t O, int activation,
                               floating slope, floating *Z, floating *Y) noexcept nogil:
    """Z = X @ W + b, then Y = f(Z) in one pass over the rows (Y may be Z). Returns whether every
    value of Z is finite. `b` may be NULL (no bias)."""
    cdef Py_ssize_t n, i, j
    cdef floating *z
    cdef floating *y
    cdef floating xi, m, s
    cdef int bad = 0
    if N == 0:
        return True
    if N == 1:
        for j in range(O):
            Z[j] = 0
        for i in range(I):
            xi = X[i]
            for j in range(O):
                Z[j] += xi * W[i * O + j]
    else:
        gemm(False, False, <int>N, <int>O, <int>I, <floating>1, X, <int>I, W, <int>O,
             <floating>0, Z, <int>O)
    for n in range(N):
        z = Z + n * O
        y = Y + n * O
        if b != NULL:
            for j in range(O):
                z[j] += b[j]
        for j in range(O):
            bad = bad | (z[j] - z[j] != 0)      # x - x is 0 for finite x, NaN otherwise
        if activation == Activation.SOFTMAX:
            m = z[0]
            for j in range(1, O):
                if z[j] > m:
                    m = z[j]
            s = 0
            for j in range(O):
                y[j] = _exp(z[j] - m)
                s += y[j]
            for j in range(O):
                y[j] = y[j] / s
        else:
            for j in range(O):
                y[j] = activate(z[j], activation, slope)
    return not bad


cdef void dense_backward_kernel(const floating *X, const floating *W, const floating *Y,
                                const floating *dY, Py_ssize_t N, Py_ssize_t I, Py_ssize_t O,
                                int activation, floating slope, floating *dZ, floating *dW,
                                floating *db, floating *dX) noexcept nogil:
    """dZ = dY * f'(Y) (softmax: the Jacobian product Y * (dY - sum(dY * Y))), dW = X.T @ dZ,
    db = the column sums of dZ (when db is not NULL), dX = dZ @ W.T (when dX is not NULL).
    dZ may be dY (in place)."""
    cdef Py_ssize_t n, i, j
    cdef const floating *y
    cdef const floating *g
    cdef floating *d
    cdef floating xi, s
    if N == 0:
        for i in range(I * O):
            dW[i] = 0
        if db != NULL:
            for j in range(O):
                db[j] = 0
        return
    for n in range(N):
        y = Y + n * O
        g = dY + n * O
        d = dZ + n * O
        if activation == Activation.SOFTMAX:
            s = 0
            for j in range(O):
                s += g[j] * y[j]
            for j in range(O):
                d[j] = y[j] * (g[j] - s)
        else:
            for j in range(O):
                d[j] = g[j] * derivative_from_output(y[j], activation, slope)
    if N == 1:
        for i in range(I):
            xi = X[i]
            for j in range(O):
                dW[i * O + j] = xi * dZ[j]
        if dX != NULL:
            rows_update_dot(<floating *>W, O, 0, I, <floating *>NULL, <floating *>NULL, dZ, dX)
    else:
        gemm(True, False, <int>I, <int>O, <int>N, <floating>1, X, <int>I, dZ, <int>O,
             <floating>0, dW, <int>O)
        if dX != NULL:
            gemm(False, True, <int>N, <int>I, <int>O, <floating>1, dZ, <int>O, W, <int>O,
                 <floating>0, dX, <int>I)
    if db != NULL:
        for j in range(O):
            db[j] = dZ[j]
        for n in range(1, N):
            d = dZ + n * O
            for j in range(O):
                db[j] += d[j]


def dense_forward(const floating[:, ::1] X, const floating[:, ::1] W, const floating[::1] b,
                  int activation, double slope, floating[:, ::1] Z, floating[:, ::1] Y):
    """Z = X @ W + b and Y = f(Z) (row-wise softmax for the softmax code); returns whether Z is
    finite. Shapes: X (N, I), W (I, O), b (O,) or (0,) for no bias, Z and Y (N, O); Y may be
    the same array as Z (then it ends holding f(Z))."""
    cdef Py_ssize_t N = X.shape[0], I = X.shape[1], O = W.shape[1]
    cdef bint ok
    if (W.shape[0] != I or not (b.shape[0] == O or b.shape[0] == 0) or Z.shape[0] != N
            or Z.shape[1] != O or Y.shape[0] != N or Y.shape[1] != O):
        raise ValueError("dense_forward: inconsistent shapes")
    if not 0 <= activation <= Activation.SOFTMAX:
        raise ValueError("dense_forward: unknown activation code")
    if I == 0 or O == 0:
        raise ValueError("dense_forward: W must have at least one row and one column")
    if N == 0:
        return True
    with nogil:
        ok = dense_forward_kernel(&X[0, 0], &W[0, 0],
                                  &b[0] if b.shape[0] else <const floating *>NULL, N, I, O,
                                  activation, <floating>slope, &Z[0, 0], &Y[0, 0])
    return ok


def dense_backward(const floating[:, ::1] X, const floating[:, ::1] W, const floating[:, ::1] Y,
                   const floating[:, ::1] dY, int activation, double slope, floating[:, ::1] dZ,
                   floating[:, ::1] dW, floating[::1] db, floating[:, ::1] dX):
    """From dY, the gradient with respect to Y = f(X @ W + b): dZ = dY * f'(Y), dW = X.T @ dZ,
    db = dZ summed over the rows, dX = dZ @ W.T. Shapes: X (N, I), W (I, O), Y, dY, dZ (N, O),
    dW (I, O), db (O,) or (0,) for no bias, dX (N, I) or (0, I) when not wanted. dZ may be
    the same array as dY (in place); otherwise dY is not modified."""
    cdef Py_ssize_t N = X.shape[0], I = X.shape[1], O = W.shape[1]
    if (W.shape[0] != I or Y.shape[0] != N or Y.shape[1] != O or dY.shape[0] != N
            or dY.shape[1] != O or dZ.shape[0] != N or dZ.shape[1] != O or dW.shape[0] != I
            or dW.shape[1] != O or not (db.shape[0] == O or db.shape[0] == 0)
            or not (dX.shape[0] == N or dX.shape[0] == 0) or dX.shape[1] != I):
        raise ValueError("dense_backward: inconsistent shapes")
    if not 0 <= activation <= Activation.SOFTMAX:
        raise ValueError("dense_backward: unknown activation code")
    if I == 0 or O == 0:
        raise ValueError("dense_backward: W must have at least one row and one column")
    with nogil:
        dense_backward_kernel(&X[0, 0] if N else <const floating *>NULL, &W[0, 0],
                              &Y[0, 0] if N else <const floating *>NULL,
                              &dY[0, 0] if N else <const floating *>NULL, N, I, O, activation,
                              <floating>slope, &dZ[0, 0] if N else <floating *>NULL, &dW[0, 0],
                              &db[0] if db.shape[0] else <floating *>NULL,
                              &dX[0, 0] if (dX.shape[0] and N) else <floating *>NULL)


# --------------------------------------------------------------------------------------------
# Losses: value, gradient and correct answers of a batch in one pass
# --------------------------------------------------------------------------------------------

cdef inline bint _same_argmax(const floating *a, const floating *t, Py_ssize_t O) noexcept nogil:
    """argmax(a) == argmax(t), the first maximum counting (numpy.argmax's rule)."""
    cdef Py_ssize_t j, ja = 0, jt = 0
    for j in range(1, O):
        if a[j] > a[ja]:
            ja = j
        if t[j] > t[jt]:
            jt = j
    return ja == jt


def squared_error(const floating[:, ::1] Y, const floating[:, ::1] T, floating[:, ::1] dY,
                  double scale):
    """The squared error of N outputs Y against targets T, both (N, O).

    Returns (sum over the rows of 1/2 sum_k (t_k - y_k)^2, number of rows whose largest output
    is where the target is largest) and writes dY = scale * (Y - T), the gradient of scale times
    that sum (scale = 1/N for the batch mean). dY must be an array of its own."""
    cdef Py_ssize_t N = Y.shape[0], O = Y.shape[1], n, j
    cdef double loss = 0, e
    cdef Py_ssize_t correct = 0
    cdef floating c = <floating>scale
    if T.shape[0] != N or T.shape[1] != O or dY.shape[0] != N or dY.shape[1] != O:
        raise ValueError("squared_error: inconsistent shapes")
    if N == 0 or O == 0:
        return 0.0, 0
    with nogil:
        for n in range(N):
            if _same_argmax(&Y[n, 0], &T[n, 0], O):
                correct += 1
            for j in range(O):
                e = <double>Y[n, j] - <double>T[n, j]
                loss += e * e
                dY[n, j] = c * (Y[n, j] - T[n, j])
    return 0.5 * loss, correct


def softmax_cross_entropy(const floating[:, ::1] Z, const floating[:, ::1] T, floating[:, ::1] Y,
                          floating[:, ::1] dZ, double scale):
    """Softmax and cross-entropy fused, from the logits Z (N, O) and targets T (N, O).

    Writes Y = softmax(Z) (row-wise, max-shifted) and dZ = scale * (Y * sum_k t_k - T), the
    gradient with respect to Z of scale times the summed loss (Y - T when the targets sum to 1).
    Returns (sum over the rows of -sum_k t_k log y_k, rows whose largest logit is where the
    target is largest). log y_k is computed as z_k - logsumexp(z), never as log(0)."""
    cdef Py_ssize_t N = Z.shape[0], O = Z.shape[1], n, j
    cdef double loss = 0
    cdef Py_ssize_t correct = 0
    cdef floating c = <floating>scale
    cdef floating m, s, lse, tsum
    if (T.shape[0] != N or T.shape[1] != O or Y.shape[0] != N or Y.shape[1] != O
            or dZ.shape[0] != N or dZ.shape[1] != O):
        raise ValueError("softmax_cross_entropy: inconsistent shapes")
    if N == 0 or O == 0:
        return 0.0, 0
    with nogil:
        for n in range(N):
            if _same_argmax(&Z[n, 0], &T[n, 0], O):
                correct += 1
            m = Z[n, 0]
            for j in range(1, O):
                if Z[n, j] > m:
                    m = Z[n, j]
            s = 0
            tsum = 0
            for j in range(O):
                Y[n, j] = _exp(Z[n, j] - m)
                s += Y[n, j]
                tsum += T[n, j]
            lse = m + _log(s)
            for j in range(O):
                loss += <double>T[n, j] * <double>(lse - Z[n, j])
                Y[n, j] = Y[n, j] / s
                dZ[n, j] = c * (Y[n, j] * tsum - T[n, j])
    return loss, correct


# --------------------------------------------------------------------------------------------
# Optimizer updates: one pass over a parameter array, in place; each returns whether every
# updated parameter is finite. g is the gradient; weight_decay adds weight_decay * p to it.
# --------------------------------------------------------------------------------------------

def sgd_update(floating[::1] p, const floating[::1] g, floating[::1] v, double lr,
               double momentum, bint nesterov, double weight_decay):
    """SGD as torch.optim.SGD (dampening 0): d = g + weight_decay * p; with momentum,
    v = momentum * v + d and d = d + momentum * v (nesterov) or d = v; then p -= lr * d.
    v (the velocity) is only used with momentum; it may have length 0 otherwise."""
    cdef Py_ssize_t n = p.shape[0], i
    cdef floating a = <floating>lr, mu = <floating>momentum, wd = <floating>weight_decay
    cdef floating d
    cdef int bad = 0
    if g.shape[0] != n or (momentum != 0 and v.shape[0] != n):
        raise ValueError("sgd_update: inconsistent shapes")
    with nogil:
        if momentum == 0:
            for i in range(n):
                d = g[i] + wd * p[i] if weight_decay != 0 else g[i]
                p[i] = p[i] - a * d
                bad = bad | (p[i] - p[i] != 0)
        else:
            for i in range(n):
                d = g[i] + wd * p[i] if weight_decay != 0 else g[i]
                v[i] = mu * v[i] + d
                d = d + mu * v[i] if nesterov else v[i]
                p[i] = p[i] - a * d
                bad = bad | (p[i] - p[i] != 0)
    return not bad


def adagrad_update(floating[::1] p, const floating[::1] g, floating[::1] h, double lr,
                   double eps, double weight_decay):
    """AdaGrad as torch.optim.Adagrad: d = g + weight_decay * p, h += d * d,
    p -= lr * d / (sqrt(h) + eps)."""
    cdef Py_ssize_t n = p.shape[0], i
    cdef floating a = <floating>lr, e = <floating>eps, wd = <floating>weight_decay
    cdef floating d
    cdef int bad = 0
    if g.shape[0] != n or h.shape[0] != n:
        raise ValueError("adagrad_update: inconsistent shapes")
    with nogil:
        for i in range(n):
            d = g[i] + wd * p[i] if weight_decay != 0 else g[i]
            h[i] = h[i] + d * d
            p[i] = p[i] - a * d / (_sqrt(h[i]) + e)
            bad = bad | (p[i] - p[i] != 0)
    return not bad


def rmsprop_update(floating[::1] p, const floating[::1] g, floating[::1] v, double lr,
                   double alpha, double eps, double weight_decay):
    """RMSprop as torch.optim.RMSprop: d = g + weight_decay * p,
    v = alpha * v + (1 - alpha) * d * d, p -= lr * d / (sqrt(v) + eps)."""
    cdef Py_ssize_t n = p.shape[0], i
    cdef floating a = <floating>lr, rho = <floating>alpha, e = <floating>eps
    cdef floating wd = <floating>weight_decay, one_minus = <floating>(1 - alpha)
    cdef floating d
    cdef int bad = 0
    if g.shape[0] != n or v.shape[0] != n:
        raise ValueError("rmsprop_update: inconsistent shapes")
    with nogil:
        for i in range(n):
            d = g[i] + wd * p[i] if weight_decay != 0 else g[i]
            v[i] = rho * v[i] + one_minus * (d * d)
            p[i] = p[i] - a * d / (_sqrt(v[i]) + e)
            bad = bad | (p[i] - p[i] != 0)
    return not bad


def adam_update(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
                double lr, double beta1, double beta2, double eps, double weight_decay,
                Py_ssize_t step):
    """Adam (step t >= 1 counts this update): d = g + weight_decay * p,
    m = beta1 * m + (1 - beta1) * d, v = beta2 * v + (1 - beta2) * d * d,
    p -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)."""
    cdef Py_ssize_t n = p.shape[0], i
    cdef floating a = <floating>lr, b1 = <floating>beta1, b2 = <floating>beta2, e = <floating>eps
    cdef floating wd = <floating>weight_decay
    cdef floating c1 = <floating>(1 - beta1), c2 = <floating>(1 - beta2)
    cdef floating bc1, bc2
    cdef floating d
    cdef int bad = 0
    if g.shape[0] != n or m.shape[0] != n or v.shape[0] != n:
        raise ValueError("adam_update: inconsistent shapes")
    if step < 1:
        raise ValueError("adam_update: step counts from 1")
    bc1 = <floating>(1 - beta1 ** step)
    bc2 = <floating>(1 - beta2 ** step)
    with nogil:
        for i in range(n):
            d = g[i] + wd * p[i] if weight_decay != 0 else g[i]
            m[i] = b1 * m[i] + c1 * d
            v[i] = b2 * v[i] + c2 * (d * d)
            p[i] = p[i] - a * (m[i] / bc1) / (_sqrt(v[i] / bc2) + e)
            bad = bad | (p[i] - p[i] != 0)
    return not bad
