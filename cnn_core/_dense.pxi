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


cdef double squared_error_row(const floating *y, const floating *t, floating *dy, Py_ssize_t O,
                              floating scale) noexcept nogil:
    """sum_k (y_k - t_k)^2 of one row (summed in double), and dy = scale * (y - t)."""
    cdef Py_ssize_t j
    cdef double loss = 0, e
    for j in range(O):
        e = <double>y[j] - <double>t[j]
        loss += e * e
        dy[j] = scale * (y[j] - t[j])
    return loss


cdef double softmax_cross_entropy_row(const floating *z, const floating *t, floating *y,
                                      floating *dz, Py_ssize_t O, floating scale) noexcept nogil:
    """-sum_k t_k log softmax(z)_k of one row, with log softmax(z)_k = z_k - logsumexp(z) (no
    log(0)); writes y = softmax(z) (max-shifted) and dz = scale * (y * sum_k t_k - t)."""
    cdef Py_ssize_t j
    cdef double loss = 0
    cdef floating m = z[0], s = 0, lse, tsum = 0
    for j in range(1, O):
        if z[j] > m:
            m = z[j]
    for j in range(O):
        y[j] = _exp(z[j] - m)
        s += y[j]
        tsum += t[j]
    lse = m + _log(s)
    for j in range(O):
        loss += <double>t[j] * <double>(lse - z[j])
        y[j] = y[j] / s
        dz[j] = scale * (y[j] * tsum - t[j])
    return loss


from libc.math cimport log1p, log1pf


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef double sigmoid_cross_entropy_row(const floating *z, const floating *t, floating *y,
                                      floating *dz, Py_ssize_t O, floating scale) noexcept nogil:
    """-sum_k [t_k log s_k + (1 - t_k) log(1 - s_k)] of one row, s = sigmoid(z), computed as
    sum_k softplus(z_k) - t_k z_k with softplus(z) = max(z, 0) + log1p(exp(-|z|)) (no log(0));
    writes y = s and dz = scale * (s - t)."""
    cdef Py_ssize_t j
    cdef double loss = 0
    cdef floating a
    for j in range(O):
        a = z[j] if z[j] >= 0 else -z[j]
        loss += <double>(z[j] if z[j] > 0 else 0) + <double>_log1p(_exp(-a)) - <double>t[j] * <double>z[j]
        y[j] = sigmoid(z[j])
        dz[j] = scale * (y[j] - t[j])
    return loss


cdef inline bint _same_signs(const floating *z, const floating *t, Py_ssize_t O) noexcept nogil:
    """Whether every output is on the side of 0 (logits) where its target is of 0.5 (a row of a
    binary or multi-label classifier predicted right)."""
    cdef Py_ssize_t j
    for j in range(O):
        if (z[j] > 0) != (t[j] > 0.5):
            return False
    return True


cdef inline floating _weight(const floating *weights, Py_ssize_t n) noexcept nogil:
    return weights[n] if weights != NULL else 1


def squared_error(const floating[:, ::1] Y, const floating[:, ::1] T, floating[:, ::1] dY,
                  double scale, const floating[::1] weights=None):
    """The squared error of N outputs Y against targets T, both (N, O).

    Returns (sum over the rows of 1/2 sum_k (t_k - y_k)^2, number of rows whose largest output
    is where the target is largest) and writes dY = scale * (Y - T), the gradient of scale times
    that sum (scale = 1/N for the batch mean). dY must be an array of its own. With `weights`
    (N,), row n's loss and gradient are multiplied by weights[n] (the count stays unweighted)."""
    cdef Py_ssize_t N = Y.shape[0], O = Y.shape[1], n
    cdef double loss = 0
    cdef Py_ssize_t correct = 0
    cdef floating w
    if T.shape[0] != N or T.shape[1] != O or dY.shape[0] != N or dY.shape[1] != O:
        raise ValueError("squared_error: inconsistent shapes")
    cdef const floating *wp = NULL
    if weights is not None and weights.shape[0] != 0:
        if weights.shape[0] != N:
            raise ValueError("squared_error: weights must have one value per row")
        wp = &weights[0]
    if N == 0 or O == 0:
        return 0.0, 0
    with nogil:
        for n in range(N):
            w = _weight(wp, n)
            correct += _same_argmax(&Y[n, 0], &T[n, 0], O)
            loss += 0.5 * w * squared_error_row(&Y[n, 0], &T[n, 0], &dY[n, 0], O, <floating>scale * w)
    return loss, correct


def softmax_cross_entropy(const floating[:, ::1] Z, const floating[:, ::1] T, floating[:, ::1] Y,
                          floating[:, ::1] dZ, double scale, const floating[::1] weights=None):
    """Softmax and cross-entropy fused, from the logits Z (N, O) and targets T (N, O).

    Writes Y = softmax(Z) (row-wise, max-shifted) and dZ = scale * (Y * sum_k t_k - T), the
    gradient with respect to Z of scale times the summed loss (Y - T when the targets sum to 1).
    Returns (sum over the rows of -sum_k t_k log y_k, rows whose largest logit is where the
    target is largest). log y_k is computed as z_k - logsumexp(z), never as log(0). `weights`
    as for squared_error."""
    cdef Py_ssize_t N = Z.shape[0], O = Z.shape[1], n
    cdef double loss = 0
    cdef Py_ssize_t correct = 0
    cdef floating w
    if (T.shape[0] != N or T.shape[1] != O or Y.shape[0] != N or Y.shape[1] != O
            or dZ.shape[0] != N or dZ.shape[1] != O):
        raise ValueError("softmax_cross_entropy: inconsistent shapes")
    cdef const floating *wp = NULL
    if weights is not None and weights.shape[0] != 0:
        if weights.shape[0] != N:
            raise ValueError("softmax_cross_entropy: weights must have one value per row")
        wp = &weights[0]
    if N == 0 or O == 0:
        return 0.0, 0
    with nogil:
        for n in range(N):
            w = _weight(wp, n)
            correct += _same_argmax(&Z[n, 0], &T[n, 0], O)
            loss += w * softmax_cross_entropy_row(&Z[n, 0], &T[n, 0], &Y[n, 0], &dZ[n, 0], O,
                                                  <floating>scale * w)
    return loss, correct


def sigmoid_cross_entropy(const floating[:, ::1] Z, const floating[:, ::1] T, floating[:, ::1] Y,
                          floating[:, ::1] dZ, double scale, const floating[::1] weights=None):
    """Sigmoid and binary cross-entropy fused (binary and multi-label outputs), from the logits
    Z (N, O) and targets T (N, O) in [0, 1].

    Writes Y = sigmoid(Z) and dZ = scale * (Y - T), the gradient with respect to Z of scale
    times the summed loss. Returns (sum over the rows of -sum_k [t_k log y_k + (1 - t_k)
    log(1 - y_k)], rows whose every logit is on the side of 0 where its target is of 0.5).
    The logs are computed from the logits (softplus), never as log(0). `weights` as for
    squared_error."""
    cdef Py_ssize_t N = Z.shape[0], O = Z.shape[1], n
    cdef double loss = 0
    cdef Py_ssize_t correct = 0
    cdef floating w
    if (T.shape[0] != N or T.shape[1] != O or Y.shape[0] != N or Y.shape[1] != O
            or dZ.shape[0] != N or dZ.shape[1] != O):
        raise ValueError("sigmoid_cross_entropy: inconsistent shapes")
    cdef const floating *wp = NULL
    if weights is not None and weights.shape[0] != 0:
        if weights.shape[0] != N:
            raise ValueError("sigmoid_cross_entropy: weights must have one value per row")
        wp = &weights[0]
    if N == 0 or O == 0:
        return 0.0, 0
    with nogil:
        for n in range(N):
            w = _weight(wp, n)
            correct += _same_signs(&Z[n, 0], &T[n, 0], O)
            loss += w * sigmoid_cross_entropy_row(&Z[n, 0], &T[n, 0], &Y[n, 0], &dZ[n, 0], O,
                                                  <floating>scale * w)
    return loss, correct


# --------------------------------------------------------------------------------------------
# Optimizer updates: one pass over a parameter array, in place; each returns whether every
# updated parameter is finite. g is the gradient; weight_decay adds weight_decay * p to it.
# --------------------------------------------------------------------------------------------

cdef bint sgd_step(floating *p, const floating *g, floating *v, Py_ssize_t n, floating lr,
                   floating momentum, bint nesterov, floating weight_decay) noexcept nogil:
    """The SGD update of n parameters in place (v: the velocity, used only with momentum);
    returns whether every updated parameter is finite."""
    cdef Py_ssize_t i
    cdef floating d
    cdef int bad = 0
    if momentum == 0:
        for i in range(n):
            d = g[i] + weight_decay * p[i] if weight_decay != 0 else g[i]
            p[i] = p[i] - lr * d
            bad = bad | (p[i] - p[i] != 0)
    else:
        for i in range(n):
            d = g[i] + weight_decay * p[i] if weight_decay != 0 else g[i]
            v[i] = momentum * v[i] + d
            d = d + momentum * v[i] if nesterov else v[i]
            p[i] = p[i] - lr * d
            bad = bad | (p[i] - p[i] != 0)
    return not bad


def sgd_update(floating[::1] p, const floating[::1] g, floating[::1] v, double lr,
               double momentum, bint nesterov, double weight_decay):
    """SGD as torch.optim.SGD (dampening 0): d = g + weight_decay * p; with momentum,
    v = momentum * v + d and d = d + momentum * v (nesterov) or d = v; then p -= lr * d.
    v (the velocity) is only used with momentum; it may have length 0 otherwise."""
    cdef Py_ssize_t n = p.shape[0]
    cdef bint ok
    if g.shape[0] != n or (momentum != 0 and v.shape[0] != n):
        raise ValueError("sgd_update: inconsistent shapes")
    if n == 0:
        return True
    with nogil:
        ok = sgd_step(&p[0], &g[0], &v[0] if momentum != 0 else <floating *>NULL, n,
                      <floating>lr, <floating>momentum, nesterov, <floating>weight_decay)
    return ok


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


# --------------------------------------------------------------------------------------------
# Per-sample SGD through a stack of Dense layers, many samples per call
# --------------------------------------------------------------------------------------------
# The documents' way of training (one sample, one update) spends most of its time in the
# Python around the kernels when the network is small. This runs the same steps (the same
# kernels, in the same order, so the same numbers) for many samples in one call.

cdef enum LossKind:          # keep in step with cnn_core/network.py (Loss.code)
    SQUARED_ERROR = 0
    SOFTMAX_CROSS_ENTROPY = 1
    SIGMOID_CROSS_ENTROPY = 2


cdef enum StepFailure:
    STEP_OK = 0
    STEP_FORWARD = 1        # a pre-activation was not finite
    STEP_LOSS = 2           # the loss was not finite
    STEP_UPDATE = 3         # the update made a parameter not finite


cdef Py_ssize_t sgd_samples_kernel(const floating *X, const floating *T, Py_ssize_t I0,
                                   Py_ssize_t OL, const Py_ssize_t *order, Py_ssize_t M,
                                   Py_ssize_t L, const Py_ssize_t *sizes, floating **P,
                                   floating **G, floating **V, floating **Y, floating **Z,
                                   floating **dZ, floating **dX, const int *codes,
                                   const double *slopes, const Py_ssize_t *bias, int loss_kind,
                                   const double *rates, const double *weights, floating momentum,
                                   bint nesterov, floating weight_decay, double *loss_sum,
                                   Py_ssize_t *correct, int *failure) noexcept nogil:
    """Per-sample SGD on rows order[0..M) of X (N, I0), T (N, OL) through L layers.

    Layer l maps sizes[l] inputs to sizes[l + 1] outputs; its parameters P[l] are W (row-major)
    then b (when bias[l]); G[l] its gradients, V[l] its velocity (NULL without momentum);
    Y[l], Z[l], dZ[l] its output, pre-activation and delta (one row each; Z[l] may be Y[l]),
    dX[l] the gradient for its input (l >= 1). The loss is `loss_kind` (LossKind): for the two
    fused ones the last layer is a softmax or sigmoid whose Z holds the logits. Sample s uses the
    learning rate rates[s], and (when `weights` is not NULL) its loss and gradient are multiplied
    by weights[order[s]]. Adds each sample's loss to loss_sum and counts the correct ones. Returns -1, or the position s of the first sample whose forward pass or loss
    was not finite (nothing of it applied) or whose update made a parameter not finite (that
    update applied); `failure` says which (StepFailure)."""
    cdef Py_ssize_t s, l, I, O
    cdef const floating *x
    cdef const floating *t
    cdef const floating *h
    cdef floating *g
    cdef double loss
    cdef bint finite, right
    cdef bint fused = loss_kind != LossKind.SQUARED_ERROR
    cdef int code
    cdef floating slope, w
    for s in range(M):
        x = X + order[s] * I0
        t = T + order[s] * OL
        h = x
        finite = True
        for l in range(L):
            I = sizes[l]
            O = sizes[l + 1]
            if fused and l == L - 1:
                finite &= dense_forward_kernel(h, P[l], P[l] + I * O if bias[l] else NULL, 1, I, O,
                                               Activation.IDENTITY, 1, Z[l], Z[l])
                h = Z[l]
            else:
                finite &= dense_forward_kernel(h, P[l], P[l] + I * O if bias[l] else NULL, 1, I, O,
                                               codes[l], <floating>slopes[l], Z[l], Y[l])
                h = Y[l]
        w = <floating>weights[order[s]] if weights != NULL else 1
        if loss_kind == LossKind.SIGMOID_CROSS_ENTROPY:
            right = _same_signs(h, t, OL)
            loss = w * sigmoid_cross_entropy_row(h, t, Y[L - 1], dZ[L - 1], OL, w)
        elif loss_kind == LossKind.SOFTMAX_CROSS_ENTROPY:
            right = _same_argmax(h, t, OL)   # the logits' argmax is the softmax's
            loss = w * softmax_cross_entropy_row(h, t, Y[L - 1], dZ[L - 1], OL, w)
        else:
            right = _same_argmax(h, t, OL)
            loss = 0.5 * w * squared_error_row(h, t, dZ[L - 1], OL, w)
        if not finite or not loss - loss == 0:
            failure[0] = STEP_FORWARD if not finite else STEP_LOSS
            return s
        loss_sum[0] += loss
        correct[0] += right
        g = dZ[L - 1]                           # the loss's gradient, then dX of the layer above
        for l in range(L - 1, -1, -1):
            I = sizes[l]
            O = sizes[l + 1]
            if fused and l == L - 1:            # dZ[l] holds the gradient for the logits already
                code, slope = Activation.IDENTITY, 1
            else:
                code, slope = codes[l], <floating>slopes[l]
            dense_backward_kernel(Y[l - 1] if l > 0 else x, P[l], Y[l], g, 1, I, O, code, slope,
                                  dZ[l], G[l], G[l] + I * O if bias[l] else NULL,
                                  dX[l] if l > 0 else NULL)
            g = dX[l]
        for l in range(L):
            I = sizes[l]
            O = sizes[l + 1]
            if not sgd_step(P[l], G[l], V[l], I * O + (O if bias[l] else 0), <floating>rates[s],
                            momentum, nesterov, weight_decay):
                failure[0] = STEP_UPDATE
                return s
    return -1


def sgd_train_samples(const floating[:, ::1] X, const floating[:, ::1] T,
                      const Py_ssize_t[::1] order, list params, list grads, list velocities,
                      list outputs, list logits, list deltas, list input_grads,
                      const Py_ssize_t[::1] sizes, const int[::1] codes,
                      const double[::1] slopes, const Py_ssize_t[::1] bias, int loss_kind,
                      const double[::1] rates, double momentum, bint nesterov,
                      double weight_decay, const double[::1] weights=None):
    """Per-sample SGD (the steps of sgd_samples_kernel) on rows order[0], order[1], ... of X, T.

    L layers; per layer l (lists of arrays): params[l] and grads[l] of length
    sizes[l] * sizes[l + 1] (+ sizes[l + 1] with bias), velocities[l] of that length (length 0
    without momentum), outputs[l], logits[l], deltas[l] with >= 1 row of sizes[l + 1] columns
    (logits[l] may be outputs[l]), input_grads[l] with >= 1 row of sizes[l] columns (unused for
    l = 0). loss_kind: 0 squared error, 1 softmax + cross-entropy, 2 sigmoid + binary
    cross-entropy. rates: one learning rate per position of `order`. weights: None, or one
    factor per row of X for its loss.
    Returns (summed loss, correct samples, failed position or -1, failure kind 0-3)."""
    cdef Py_ssize_t L = len(params), M = order.shape[0], N = X.shape[0], l, k, n
    cdef Py_ssize_t I, O, failed = -1, correct = 0
    cdef double loss = 0
    cdef int failure = 0
    cdef floating[::1] flat
    cdef floating[:, ::1] rows
    cdef floating **P = NULL
    cdef bint ok = True
    if L < 1 or sizes.shape[0] != L + 1 or codes.shape[0] != L or slopes.shape[0] != L or bias.shape[0] != L:
        raise ValueError("sgd_train_samples: inconsistent layer descriptions")
    if not (len(grads) == len(velocities) == len(outputs) == len(logits) == len(deltas) == len(input_grads) == L):
        raise ValueError("sgd_train_samples: one array per layer in every list")
    if (X.shape[1] != sizes[0] or T.shape[1] != sizes[L] or T.shape[0] != N or rates.shape[0] != M):
        raise ValueError("sgd_train_samples: inconsistent shapes")
    if weights is not None and weights.shape[0] != N:
        raise ValueError("sgd_train_samples: weights must have one value per row of X")
    if not 0 <= loss_kind <= LossKind.SIGMOID_CROSS_ENTROPY:
        raise ValueError("sgd_train_samples: unknown loss kind")
    for k in range(M):
        if not 0 <= order[k] < N:
            raise ValueError("sgd_train_samples: order out of range")
    for l in range(L):
        if sizes[l] < 1 or sizes[l + 1] < 1 or not 0 <= codes[l] <= Activation.SOFTMAX:
            raise ValueError("sgd_train_samples: inconsistent layer descriptions")
    if M == 0:
        return 0.0, 0, -1, 0
    P = <floating **>malloc(7 * L * sizeof(floating *))
    if P == NULL:
        raise MemoryError()
    try:
        for l in range(L):
            I, O = sizes[l], sizes[l + 1]
            n = I * O + (O if bias[l] else 0)
            flat = params[l]
            ok &= flat.shape[0] == n
            P[l] = &flat[0]
            flat = grads[l]
            ok &= flat.shape[0] == n
            P[L + l] = &flat[0]
            P[2 * L + l] = NULL
            if momentum != 0:
                flat = velocities[l]
                ok &= flat.shape[0] == n
                P[2 * L + l] = &flat[0]
            rows = outputs[l]
            ok &= rows.shape[0] >= 1 and rows.shape[1] == O
            P[3 * L + l] = &rows[0, 0]
            rows = logits[l]
            ok &= rows.shape[0] >= 1 and rows.shape[1] == O
            P[4 * L + l] = &rows[0, 0]
            rows = deltas[l]
            ok &= rows.shape[0] >= 1 and rows.shape[1] == O
            P[5 * L + l] = &rows[0, 0]
            if l > 0:
                rows = input_grads[l]
                ok &= rows.shape[0] >= 1 and rows.shape[1] == I
                P[6 * L + l] = &rows[0, 0]
            else:
                P[6 * L] = NULL
            if not ok:
                raise ValueError(f"sgd_train_samples: inconsistent shapes in layer {l}")
        with nogil:
            failed = sgd_samples_kernel(&X[0, 0], &T[0, 0], X.shape[1], T.shape[1], &order[0], M, L,
                                        &sizes[0], P, P + L, P + 2 * L, P + 3 * L, P + 4 * L,
                                        P + 5 * L, P + 6 * L, &codes[0], &slopes[0], &bias[0],
                                        loss_kind, &rates[0],
                                        &weights[0] if weights is not None else <const double *>NULL,
                                        <floating>momentum, nesterov,
                                        <floating>weight_decay, &loss, &correct, &failure)
    finally:
        free(P)
    return loss, correct, failed, failure
