"""The NumPy twins of the deep networks' kernels (``cnn_core/_dense.pxi``).

``cnn_core.Network(..., backend="numpy")`` runs on these functions instead of the compiled
kernels. Each has the name, the signature and the outputs of its kernel: the arrays it is given
are written in place, and it returns what the kernel returns. They are written the plain NumPy
way, as the study notes do, and are the yardstick of the kernels (tests compare the two). Like
``cnn_core.reference`` (the book network's NumPy version), this module needs nothing compiled.
"""
import numpy
import scipy.special

from . import activations as _activations   # the one activation table

__all__ = ["dense_forward", "dense_backward", "squared_error", "softmax_cross_entropy",
           "sigmoid_cross_entropy", "sgd_update", "adagrad_update", "rmsprop_update",
           "adam_update", "all_finite", "sgd_train_samples"]


def all_finite(x):
    """True when every value of the 1-D array `x` is finite."""
    return bool(numpy.isfinite(x).all())


def dense_forward(X, W, b, activation, slope, Z, Y):
    """Z = X @ W + b and Y = f(Z) (row-wise softmax for the softmax code); returns whether Z is
    finite. b of length 0 means no bias; Y may be the same array as Z."""
    f = _activations.by_code(activation)
    numpy.matmul(X, W, out=Z)
    if len(b):
        Z += b
    finite = all_finite(Z)
    Y[...] = f.apply(Z, slope)
    return finite


def dense_backward(X, W, Y, dY, activation, slope, dZ, dW, db, dX):
    """dZ = dY * f'(Y) (softmax: Y * (dY - sum(dY * Y))), dW = X.T @ dZ, db = dZ summed over
    the rows (when db has length), dX = dZ @ W.T (when dX has rows). dZ may be dY."""
    f = _activations.by_code(activation)
    if f.output_only:
        dZ[...] = Y * (dY - numpy.sum(dY * Y, axis=1, keepdims=True))
    else:
        dZ[...] = dY * f.derivative_from_output(Y, slope)
    numpy.matmul(X.T, dZ, out=dW)
    if len(db):
        numpy.sum(dZ, axis=0, out=db)
    if len(dX):
        numpy.matmul(dZ, W.T, out=dX)


def _row_weights(weights, n):
    """The rows' loss factors as a column (n, 1), or None for none."""
    if weights is None or len(weights) == 0:
        return None
    if len(weights) != n:
        raise ValueError("weights must have one value per row")
    return numpy.asarray(weights).reshape(n, 1)


def squared_error(Y, T, dY, scale, weights=None):
    """(sum over rows of w_n 1/2 sum_k (t_k - y_k)^2, rows whose argmax of Y is the argmax of
    T); writes dY = scale * w_n * (Y - T) (w_n = weights[n], or 1)."""
    w = _row_weights(weights, len(Y))
    E = Y.astype(numpy.float64) - T.astype(numpy.float64)
    rows = 0.5 * numpy.sum(E * E, axis=1, keepdims=True)
    loss = float(numpy.sum(rows if w is None else w * rows))
    correct = int(numpy.count_nonzero(numpy.argmax(Y, axis=1) == numpy.argmax(T, axis=1))) if len(Y) else 0
    dY[...] = scale * (Y - T) if w is None else (scale * w) * (Y - T)
    return loss, correct


def softmax_cross_entropy(Z, T, Y, dZ, scale, weights=None):
    """Y = softmax(Z) (max-shifted), dZ = scale * w_n * (Y * sum_k t_k - T); returns (sum over
    rows of -w_n sum_k t_k log y_k with log y_k = z_k - logsumexp(z), rows whose argmax of Z is
    the argmax of T)."""
    if len(Z) == 0:
        return 0.0, 0
    w = _row_weights(weights, len(Z))
    m = numpy.max(Z, axis=1, keepdims=True)
    e = numpy.exp(Z - m)
    s = numpy.sum(e, axis=1, keepdims=True)
    lse = m + numpy.log(s)
    rows = numpy.sum(T.astype(numpy.float64) * (lse - Z).astype(numpy.float64), axis=1, keepdims=True)
    loss = float(numpy.sum(rows if w is None else w * rows))
    correct = int(numpy.count_nonzero(numpy.argmax(Z, axis=1) == numpy.argmax(T, axis=1)))
    Y[...] = e / s
    G = Y * numpy.sum(T, axis=1, keepdims=True) - T
    dZ[...] = scale * G if w is None else (scale * w) * G
    return loss, correct


def sigmoid_cross_entropy(Z, T, Y, dZ, scale, weights=None):
    """Y = sigmoid(Z), dZ = scale * w_n * (Y - T); returns (sum over rows of -w_n sum_k [t_k log
    y_k + (1 - t_k) log(1 - y_k)], computed as softplus(z_k) - t_k z_k, rows whose every logit
    is on the side of 0 where its target is of 0.5)."""
    if len(Z) == 0:
        return 0.0, 0
    w = _row_weights(weights, len(Z))
    Z64 = Z.astype(numpy.float64)
    softplus = numpy.maximum(Z, 0).astype(numpy.float64) + numpy.log1p(numpy.exp(-numpy.abs(Z))).astype(numpy.float64)
    rows = numpy.sum(softplus - T.astype(numpy.float64) * Z64, axis=1, keepdims=True)
    loss = float(numpy.sum(rows if w is None else w * rows))
    correct = int(numpy.count_nonzero(numpy.all((Z > 0) == (T > 0.5), axis=1)))
    Y[...] = scipy.special.expit(Z)
    dZ[...] = scale * (Y - T) if w is None else (scale * w) * (Y - T)
    return loss, correct


# the loss kernels by the kinds the per-sample kernel takes (cnn_core/network.py: Loss.code)
_LOSS_KINDS = {0: squared_error, 1: softmax_cross_entropy, 2: sigmoid_cross_entropy}


def _decayed(p, g, weight_decay):
    return g + weight_decay * p if weight_decay != 0 else g


def sgd_update(p, g, v, lr, momentum, nesterov, weight_decay):
    """torch.optim.SGD's rule (dampening 0), in place; returns whether p is finite."""
    d = _decayed(p, g, weight_decay)
    if momentum != 0:
        v *= momentum
        v += d
        d = d + momentum * v if nesterov else v
    p -= lr * d
    return all_finite(p)


def adagrad_update(p, g, h, lr, eps, weight_decay):
    """h += d * d; p -= lr * d / (sqrt(h) + eps); returns whether p is finite."""
    d = _decayed(p, g, weight_decay)
    h += d * d
    p -= lr * d / (numpy.sqrt(h) + eps)
    return all_finite(p)


def rmsprop_update(p, g, v, lr, alpha, eps, weight_decay):
    """v = alpha * v + (1 - alpha) * d * d; p -= lr * d / (sqrt(v) + eps)."""
    d = _decayed(p, g, weight_decay)
    v *= alpha
    v += (1 - alpha) * (d * d)
    p -= lr * d / (numpy.sqrt(v) + eps)
    return all_finite(p)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Adam with bias correction (step t >= 1 counts this update)."""
    if step < 1:
        raise ValueError("adam_update: step counts from 1")
    d = _decayed(p, g, weight_decay)
    m *= beta1
    m += (1 - beta1) * d
    v *= beta2
    v += (1 - beta2) * (d * d)
    bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
    p -= lr * (m / bc1) / (numpy.sqrt(v / bc2) + eps)
    return all_finite(p)


def sgd_train_samples(X, T, order, params, grads, velocities, outputs, logits, deltas, input_grads,
                      sizes, codes, slopes, bias, loss_kind, rates, momentum, nesterov, weight_decay,
                      weights=None):
    """Per-sample SGD on rows order[0], order[1], ... of X, T through the layers described by
    the lists (see the kernel of the same name): forward, loss, backward and update for one
    sample at a time, with the functions above. Returns (summed loss, correct samples, failed
    position or -1, failure kind: 1 forward, 2 loss, 3 update)."""
    L = len(params)
    identity = _activations.ACTIVATIONS["identity"].code
    fused = loss_kind != 0
    loss_kernel = _LOSS_KINDS[int(loss_kind)]
    loss_sum, correct = 0.0, 0
    for s, j in enumerate(order):
        x, t = X[j:j + 1], T[j:j + 1]
        W = [params[l][:sizes[l] * sizes[l + 1]].reshape(sizes[l], sizes[l + 1]) for l in range(L)]
        b = [params[l][sizes[l] * sizes[l + 1]:] for l in range(L)]
        h, finite = x, True
        for l in range(L):
            Y, Z = outputs[l][:1], logits[l][:1]
            if fused and l == L - 1:
                finite &= dense_forward(h, W[l], b[l], identity, 1.0, Z, Z)
                h = Z
            else:
                finite &= dense_forward(h, W[l], b[l], codes[l], slopes[l], Z, Y)
                h = Y
        w = None if weights is None else weights[j:j + 1].astype(X.dtype)
        if fused:
            loss, right = loss_kernel(h, t, outputs[L - 1][:1], deltas[L - 1][:1], 1.0, w)
        else:
            loss, right = squared_error(h, t, deltas[L - 1][:1], 1.0, w)
        if not finite or not loss - loss == 0:
            return loss_sum, correct, s, 1 if not finite else 2
        loss_sum += loss
        correct += right
        g = deltas[L - 1][:1]
        for l in range(L - 1, -1, -1):
            n = sizes[l] * sizes[l + 1]
            last = fused and l == L - 1
            dense_backward(outputs[l - 1][:1] if l > 0 else x, W[l], outputs[l][:1], g,
                           identity if last else codes[l], 1.0 if last else slopes[l], deltas[l][:1],
                           grads[l][:n].reshape(sizes[l], sizes[l + 1]), grads[l][n:],
                           input_grads[l][:1] if l > 0 else input_grads[l][:0])
            g = input_grads[l][:1] if l > 0 else None
        for l in range(L):
            if not sgd_update(params[l], grads[l], velocities[l], rates[s], momentum, nesterov, weight_decay):
                return loss_sum, correct, s, 3
    return loss_sum, correct, -1, 0
