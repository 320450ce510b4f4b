/* Included by _simd.h once per real type: CNN_REAL is the type, CNN_NAME(f) the suffixed name. */

/* One row: w += s * xp (when xp), then return w . x (when x, else 0). */
static inline CNN_REAL CNN_NAME(cnn_row)(CNN_REAL *restrict w, ptrdiff_t n,
                                        const CNN_REAL *restrict xp, CNN_REAL s,
                                        const CNN_REAL *restrict x) {
    CNN_REAL acc = 0;
    ptrdiff_t i;
    if (xp) {
#pragma omp simd
        for (i = 0; i < n; i++) w[i] += s * xp[i];
    }
    if (x) {
#pragma omp simd reduction(+:acc)
        for (i = 0; i < n; i++) acc += w[i] * x[i];
    }
    return acc;
}

/* Rows [r0, r1) of W (row stride n): W[j] += s[j] * xp when xp is given (the pending update of the
 * previous sample), then out[j] = W[j] . x when x is given (the next sample's pre-activation).
 * Each row is read and written once for both. */
static void CNN_NAME(cnn_rows_update_dot)(CNN_REAL *W, ptrdiff_t n, ptrdiff_t r0, ptrdiff_t r1,
                                          const CNN_REAL *restrict xp, const CNN_REAL *restrict s,
                                          const CNN_REAL *restrict x, CNN_REAL *restrict out) {
    ptrdiff_t j = r0, i;
    if (xp && x) {
        for (; j + 4 <= r1; j += 4) {
            CNN_REAL *restrict w0 = W + j * n;
            CNN_REAL *restrict w1 = w0 + n;
            CNN_REAL *restrict w2 = w1 + n;
            CNN_REAL *restrict w3 = w2 + n;
            const CNN_REAL s0 = s[j], s1 = s[j + 1], s2 = s[j + 2], s3 = s[j + 3];
            CNN_REAL a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+:a0, a1, a2, a3)
            for (i = 0; i < n; i++) {
                const CNN_REAL p = xp[i], q = x[i];
                const CNN_REAL v0 = w0[i] + s0 * p, v1 = w1[i] + s1 * p;
                const CNN_REAL v2 = w2[i] + s2 * p, v3 = w3[i] + s3 * p;
                w0[i] = v0; w1[i] = v1; w2[i] = v2; w3[i] = v3;
                a0 += v0 * q; a1 += v1 * q; a2 += v2 * q; a3 += v3 * q;
            }
            out[j] = a0; out[j + 1] = a1; out[j + 2] = a2; out[j + 3] = a3;
        }
    } else if (x) {
        for (; j + 4 <= r1; j += 4) {
            const CNN_REAL *restrict w0 = W + j * n;
            const CNN_REAL *restrict w1 = w0 + n;
            const CNN_REAL *restrict w2 = w1 + n;
            const CNN_REAL *restrict w3 = w2 + n;
            CNN_REAL a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+:a0, a1, a2, a3)
            for (i = 0; i < n; i++) {
                const CNN_REAL q = x[i];
                a0 += w0[i] * q; a1 += w1[i] * q; a2 += w2[i] * q; a3 += w3[i] * q;
            }
            out[j] = a0; out[j + 1] = a1; out[j + 2] = a2; out[j + 3] = a3;
        }
    }
    for (; j < r1; j++) {
        CNN_REAL a = CNN_NAME(cnn_row)(W + j * n, n, xp, xp ? s[j] : 0, x);
        if (x) out[j] = a;
    }
}

/* ---- Block kernels on GCC vector extensions: CNN_VEC holds CNN_VBYTES of CNN_REAL; loads and
 * stores through it may be unaligned and may alias CNN_REAL (attributes below). */
typedef CNN_REAL CNN_VEC __attribute__((vector_size(CNN_VBYTES), aligned(sizeof(CNN_REAL)), may_alias));
#define CNN_VL ((ptrdiff_t)(CNN_VBYTES / sizeof(CNN_REAL)))
#define CNN_LD(p) (*(const CNN_VEC *)(p))
#define CNN_ST(p, v) (*(CNN_VEC *)(p) = (v))

/* The one way a dot product ends: the vector accumulator summed pairwise, then the tail.
 * Every kernel below finishes each dot product through this, so a value does not depend on
 * which register block computed it (the results are the same for any row split). */
static inline CNN_REAL CNN_NAME(cnn_dot_finish)(CNN_VEC acc, const CNN_REAL *w, const CNN_REAL *x,
                                                 ptrdiff_t i, ptrdiff_t K) {
    CNN_REAL t[CNN_VBYTES / sizeof(CNN_REAL)];
    ptrdiff_t width, l;
    __builtin_memcpy(t, &acc, sizeof t);
    for (width = CNN_VL / 2; width >= 1; width /= 2)
        for (l = 0; l < width; l++) t[l] += t[l + width];
    for (; i < K; i++) t[0] += w[i] * x[i];
    return t[0];
}

/* out[j * out_row + n * out_col] = W[j] . x[n] for rows j < rows of W (row stride ldw) and the
 * nx vectors x[n], all of length K. Register blocks of 4 rows by 4 (AVX-512) or 2 vectors. */
static void CNN_NAME(cnn_dot_block)(const CNN_REAL *W, ptrdiff_t ldw, ptrdiff_t rows,
                                    const CNN_REAL *const *x, ptrdiff_t nx, ptrdiff_t K,
                                    CNN_REAL *out, ptrdiff_t out_row, ptrdiff_t out_col) {
    const ptrdiff_t KV = K - K % CNN_VL;
    ptrdiff_t j = 0, n, i, r;
    for (; j + 4 <= rows; j += 4) {
        const CNN_REAL *w0 = W + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        CNN_REAL *o = out + j * out_row;
        n = 0;
#if CNN_VBYTES == 64
        for (; n + 4 <= nx; n += 4) {
            const CNN_REAL *x0 = x[n], *x1 = x[n + 1], *x2 = x[n + 2], *x3 = x[n + 3];
            CNN_VEC a00 = {0}, a01 = {0}, a02 = {0}, a03 = {0}, a10 = {0}, a11 = {0}, a12 = {0}, a13 = {0};
            CNN_VEC a20 = {0}, a21 = {0}, a22 = {0}, a23 = {0}, a30 = {0}, a31 = {0}, a32 = {0}, a33 = {0};
            for (i = 0; i < KV; i += CNN_VL) {
                const CNN_VEC p = CNN_LD(x0 + i), q = CNN_LD(x1 + i), u = CNN_LD(x2 + i), v = CNN_LD(x3 + i);
                CNN_VEC c = CNN_LD(w0 + i);
                a00 += c * p; a01 += c * q; a02 += c * u; a03 += c * v;
                c = CNN_LD(w1 + i);
                a10 += c * p; a11 += c * q; a12 += c * u; a13 += c * v;
                c = CNN_LD(w2 + i);
                a20 += c * p; a21 += c * q; a22 += c * u; a23 += c * v;
                c = CNN_LD(w3 + i);
                a30 += c * p; a31 += c * q; a32 += c * u; a33 += c * v;
            }
            CNN_REAL *on = o + n * out_col;
            on[0] = CNN_NAME(cnn_dot_finish)(a00, w0, x0, KV, K);
            on[out_col] = CNN_NAME(cnn_dot_finish)(a01, w0, x1, KV, K);
            on[2 * out_col] = CNN_NAME(cnn_dot_finish)(a02, w0, x2, KV, K);
            on[3 * out_col] = CNN_NAME(cnn_dot_finish)(a03, w0, x3, KV, K);
            on += out_row;
            on[0] = CNN_NAME(cnn_dot_finish)(a10, w1, x0, KV, K);
            on[out_col] = CNN_NAME(cnn_dot_finish)(a11, w1, x1, KV, K);
            on[2 * out_col] = CNN_NAME(cnn_dot_finish)(a12, w1, x2, KV, K);
            on[3 * out_col] = CNN_NAME(cnn_dot_finish)(a13, w1, x3, KV, K);
            on += out_row;
            on[0] = CNN_NAME(cnn_dot_finish)(a20, w2, x0, KV, K);
            on[out_col] = CNN_NAME(cnn_dot_finish)(a21, w2, x1, KV, K);
            on[2 * out_col] = CNN_NAME(cnn_dot_finish)(a22, w2, x2, KV, K);
            on[3 * out_col] = CNN_NAME(cnn_dot_finish)(a23, w2, x3, KV, K);
            on += out_row;
            on[0] = CNN_NAME(cnn_dot_finish)(a30, w3, x0, KV, K);
            on[out_col] = CNN_NAME(cnn_dot_finish)(a31, w3, x1, KV, K);
            on[2 * out_col] = CNN_NAME(cnn_dot_finish)(a32, w3, x2, KV, K);
            on[3 * out_col] = CNN_NAME(cnn_dot_finish)(a33, w3, x3, KV, K);
        }
#endif
        for (; n + 2 <= nx; n += 2) {
            const CNN_REAL *x0 = x[n], *x1 = x[n + 1];
            CNN_VEC a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
            for (i = 0; i < KV; i += CNN_VL) {
                const CNN_VEC p = CNN_LD(x0 + i), q = CNN_LD(x1 + i);
                CNN_VEC c = CNN_LD(w0 + i);
                a00 += c * p; a01 += c * q;
                c = CNN_LD(w1 + i);
                a10 += c * p; a11 += c * q;
                c = CNN_LD(w2 + i);
                a20 += c * p; a21 += c * q;
                c = CNN_LD(w3 + i);
                a30 += c * p; a31 += c * q;
            }
            CNN_REAL *on = o + n * out_col;
            on[0] = CNN_NAME(cnn_dot_finish)(a00, w0, x0, KV, K);
            on[out_col] = CNN_NAME(cnn_dot_finish)(a01, w0, x1, KV, K);
            on += out_row;
            on[0] = CNN_NAME(cnn_dot_finish)(a10, w1, x0, KV, K);
            on[out_col] = CNN_NAME(cnn_dot_finish)(a11, w1, x1, KV, K);
            on += out_row;
            on[0] = CNN_NAME(cnn_dot_finish)(a20, w2, x0, KV, K);
            on[out_col] = CNN_NAME(cnn_dot_finish)(a21, w2, x1, KV, K);
            on += out_row;
            on[0] = CNN_NAME(cnn_dot_finish)(a30, w3, x0, KV, K);
            on[out_col] = CNN_NAME(cnn_dot_finish)(a31, w3, x1, KV, K);
        }
        for (; n < nx; n++)
            for (r = 0; r < 4; r++) {
                const CNN_REAL *w = W + (j + r) * ldw;
                CNN_VEC a = {0};
                for (i = 0; i < KV; i += CNN_VL) a += CNN_LD(w + i) * CNN_LD(x[n] + i);
                o[r * out_row + n * out_col] = CNN_NAME(cnn_dot_finish)(a, w, x[n], KV, K);
            }
    }
    for (; j < rows; j++) {
        const CNN_REAL *w = W + j * ldw;
        for (n = 0; n < nx; n++) {
            CNN_VEC a = {0};
            for (i = 0; i < KV; i += CNN_VL) a += CNN_LD(w + i) * CNN_LD(x[n] + i);
            out[j * out_row + n * out_col] = CNN_NAME(cnn_dot_finish)(a, w, x[n], KV, K);
        }
    }
}

/* W[j] += sum over m < k of S[m * lds + j] * x[m], for rows j < rows of W (row stride ldw),
 * vectors of length K. Each weight gets the k terms added in order m = 0, 1, ..., exactly as k
 * successive rank-1 updates would. Register blocks of 4 rows by 2 vectors. */
static void CNN_NAME(cnn_rank_update)(CNN_REAL *W, ptrdiff_t ldw, ptrdiff_t rows,
                                      const CNN_REAL *S, ptrdiff_t lds,
                                      const CNN_REAL *const *x, ptrdiff_t k, ptrdiff_t K) {
    const ptrdiff_t K2 = K - K % (2 * CNN_VL), KV = K - K % CNN_VL;
    ptrdiff_t j = 0, i, m, r;
    for (; j + 4 <= rows; j += 4) {
        CNN_REAL *w0 = W + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        for (i = 0; i < K2; i += 2 * CNN_VL) {
            CNN_VEC a0 = CNN_LD(w0 + i), b0 = CNN_LD(w0 + i + CNN_VL);
            CNN_VEC a1 = CNN_LD(w1 + i), b1 = CNN_LD(w1 + i + CNN_VL);
            CNN_VEC a2 = CNN_LD(w2 + i), b2 = CNN_LD(w2 + i + CNN_VL);
            CNN_VEC a3 = CNN_LD(w3 + i), b3 = CNN_LD(w3 + i + CNN_VL);
            for (m = 0; m < k; m++) {
                const CNN_REAL *s = S + m * lds + j;
                const CNN_VEC p = CNN_LD(x[m] + i), q = CNN_LD(x[m] + i + CNN_VL);
                const CNN_REAL s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
                a0 += s0 * p; b0 += s0 * q; a1 += s1 * p; b1 += s1 * q;
                a2 += s2 * p; b2 += s2 * q; a3 += s3 * p; b3 += s3 * q;
            }
            CNN_ST(w0 + i, a0); CNN_ST(w0 + i + CNN_VL, b0);
            CNN_ST(w1 + i, a1); CNN_ST(w1 + i + CNN_VL, b1);
            CNN_ST(w2 + i, a2); CNN_ST(w2 + i + CNN_VL, b2);
            CNN_ST(w3 + i, a3); CNN_ST(w3 + i + CNN_VL, b3);
        }
        for (r = 0; r < 4; r++) {
            CNN_REAL *w = W + (j + r) * ldw;
            for (i = K2; i < KV; i += CNN_VL) {
                CNN_VEC a = CNN_LD(w + i);
                for (m = 0; m < k; m++) a += S[m * lds + j + r] * CNN_LD(x[m] + i);
                CNN_ST(w + i, a);
            }
            for (i = KV; i < K; i++) {
                CNN_REAL a = w[i];
                for (m = 0; m < k; m++) a += S[m * lds + j + r] * x[m][i];
                w[i] = a;
            }
        }
    }
    for (; j < rows; j++) {
        CNN_REAL *w = W + j * ldw;
        for (i = 0; i < KV; i += CNN_VL) {
            CNN_VEC a = CNN_LD(w + i);
            for (m = 0; m < k; m++) a += S[m * lds + j] * CNN_LD(x[m] + i);
            CNN_ST(w + i, a);
        }
        for (i = KV; i < K; i++) {
            CNN_REAL a = w[i];
            for (m = 0; m < k; m++) a += S[m * lds + j] * x[m][i];
            w[i] = a;
        }
    }
}

/* ---- The sigmoid on whole vectors: 1 / (1 + exp(-x)) for x >= 0, exp(x) / (1 + exp(x)) below,
 * with exp(-|x|) computed here (Cody-Waite reduction, Taylor polynomial, exponent bits) so that it
 * vectorizes. Within 4 ulp of scipy.special.expit; below x = -708 (float: -87), where the
 * exact value is subnormal or 0, it returns 0. */
#if CNN_IS_DOUBLE
typedef long long CNN_NAME(cnn_ivec) __attribute__((vector_size(CNN_VBYTES)));
#else
typedef int CNN_NAME(cnn_ivec) __attribute__((vector_size(CNN_VBYTES)));
#endif

/* where mask (all ones / all zeros per lane) then a else b */
static inline CNN_VEC CNN_NAME(cnn_select)(CNN_NAME(cnn_ivec) mask, CNN_VEC a, CNN_VEC b) {
    return (CNN_VEC)((mask & (CNN_NAME(cnn_ivec))a) | (~mask & (CNN_NAME(cnn_ivec))b));
}

static inline CNN_VEC CNN_NAME(cnn_sigmoid_vec)(CNN_VEC x) {
#if CNN_IS_DOUBLE
    const CNN_REAL lo = -708.0, ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
    const CNN_REAL magic = 0x1.8p52;
#else
    const CNN_REAL lo = -87.0f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f, magic = 0x1.8p23f;
#endif
    const CNN_REAL log2e = (CNN_REAL)1.4426950408889634;
    const CNN_VEC zero = {0};
    CNN_VEC y = CNN_NAME(cnn_select)(x < 0, x, -x);              /* -|x|; NaN stays NaN */
    CNN_NAME(cnn_ivec) underflow = y < lo;                        /* exp(y) is 0 or subnormal */
    y = CNN_NAME(cnn_select)(underflow, zero + lo, y);
    CNN_VEC t = y * log2e + magic;                               /* round(y log2 e) in low bits */
    CNN_VEC k = t - magic;
    CNN_VEC r = (y - k * ln2_hi) - k * ln2_lo;                   /* |r| <= ln2 / 2 */
    CNN_VEC p = zero;
#if CNN_IS_DOUBLE
    static const CNN_REAL c[14] = {1.0 / 6227020800, 1.0 / 479001600, 1.0 / 39916800,
        1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24,
        1.0 / 6, 0.5, 1.0, 1.0};
#else
    static const CNN_REAL c[8] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f,
        1.0f, 1.0f};
#endif
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) p = p * r + c[i];   /* Taylor, Horner */
    /* times 2^k, built from the bits of t: bits(t) - bits(magic) = k */
    CNN_NAME(cnn_ivec) bits = (CNN_NAME(cnn_ivec))t - (CNN_NAME(cnn_ivec))(zero + magic);
#if CNN_IS_DOUBLE
    CNN_VEC z = p * (CNN_VEC)((bits + 1023) << 52);
#else
    CNN_VEC z = p * (CNN_VEC)((bits + 127) << 23);
#endif
    z = CNN_NAME(cnn_select)(underflow, zero, z);
    CNN_VEC q = 1 / (1 + z);                                      /* z = exp(-|x|) in [0, 1] */
    return CNN_NAME(cnn_select)(x >= 0, q, z * q);
}

/* z[i] = sigmoid(z[i]) for i < n; the same bits for an element wherever it lies in z. */
static void CNN_NAME(cnn_sigmoid)(CNN_REAL *z, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + CNN_VL <= n; i += CNN_VL) CNN_ST(z + i, CNN_NAME(cnn_sigmoid_vec)(CNN_LD(z + i)));
    if (i < n) {        /* lane by lane: a copy through memory costs a failed store forwarding */
        CNN_VEC v = {0};
        ptrdiff_t k;
        for (k = 0; k < n - i; k++) v[k] = z[i + k];
        v = CNN_NAME(cnn_sigmoid_vec)(v);
        for (k = 0; k < n - i; k++) z[i + k] = v[k];
    }
}

/* ---- The loops of one training step of the book network after its forward product (callers:
 * book_step and book_fit_loop in _book.pxi, on one thread). H hidden units, O outputs. */

/* hin[j] = a[j] + sum over m < n, in order, of S[m * lds + j] * g[m * ldg], for j < rows: the
 * pre-activations of sample n of a block, from W_0 @ x_n and the block's earlier updates.
 * Blocks of 4 vectors keep 4 independent sums in flight. */
static void CNN_NAME(cnn_book_hidden_in)(const CNN_REAL *a, const CNN_REAL *S, ptrdiff_t lds,
                                         const CNN_REAL *g, ptrdiff_t ldg, ptrdiff_t n,
                                         ptrdiff_t rows, CNN_REAL *restrict hin) {
    ptrdiff_t j = 0, m;
    for (; j + 4 * CNN_VL <= rows; j += 4 * CNN_VL) {
        CNN_VEC u0 = CNN_LD(a + j), u1 = CNN_LD(a + j + CNN_VL);
        CNN_VEC u2 = CNN_LD(a + j + 2 * CNN_VL), u3 = CNN_LD(a + j + 3 * CNN_VL);
        for (m = 0; m < n; m++) {
            const CNN_REAL gm = g[m * ldg], *sm = S + m * lds + j;
            u0 += CNN_LD(sm) * gm;
            u1 += CNN_LD(sm + CNN_VL) * gm;
            u2 += CNN_LD(sm + 2 * CNN_VL) * gm;
            u3 += CNN_LD(sm + 3 * CNN_VL) * gm;
        }
        CNN_ST(hin + j, u0); CNN_ST(hin + j + CNN_VL, u1);
        CNN_ST(hin + j + 2 * CNN_VL, u2); CNN_ST(hin + j + 3 * CNN_VL, u3);
    }
    for (; j + CNN_VL <= rows; j += CNN_VL) {
        CNN_VEC u = CNN_LD(a + j);
        for (m = 0; m < n; m++) u += CNN_LD(S + m * lds + j) * g[m * ldg];
        CNN_ST(hin + j, u);
    }
    for (; j < rows; j++) {
        CNN_REAL u = a[j];
        for (m = 0; m < n; m++) u += S[m * lds + j] * g[m * ldg];
        hin[j] = u;
    }
}

/* For the H columns j of who (O, H): s[j] = sum over k, in order, of who[k, j] * e[k] with who
 * before its update, and who[k, j] += lr * (g[k] * h[j]). One pass over the columns, 4 vectors
 * of columns at a time (4 independent sums in flight). */
static void CNN_NAME(cnn_book_backward)(CNN_REAL *who, ptrdiff_t H, ptrdiff_t O,
                                        const CNN_REAL *h, const CNN_REAL *e, const CNN_REAL *g,
                                        CNN_REAL lr, CNN_REAL *restrict s) {
    ptrdiff_t j = 0, k;
    for (; j + 4 * CNN_VL <= H; j += 4 * CNN_VL) {
        const CNN_VEC h0 = CNN_LD(h + j), h1 = CNN_LD(h + j + CNN_VL);
        const CNN_VEC h2 = CNN_LD(h + j + 2 * CNN_VL), h3 = CNN_LD(h + j + 3 * CNN_VL);
        CNN_VEC a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (k = 0; k < O; k++) {
            CNN_REAL *w = who + k * H + j;
            const CNN_REAL ek = e[k], gk = g[k];
            const CNN_VEC w0 = CNN_LD(w), w1 = CNN_LD(w + CNN_VL);
            const CNN_VEC w2 = CNN_LD(w + 2 * CNN_VL), w3 = CNN_LD(w + 3 * CNN_VL);
            a0 += w0 * ek; a1 += w1 * ek; a2 += w2 * ek; a3 += w3 * ek;
            CNN_ST(w, w0 + lr * (gk * h0));
            CNN_ST(w + CNN_VL, w1 + lr * (gk * h1));
            CNN_ST(w + 2 * CNN_VL, w2 + lr * (gk * h2));
            CNN_ST(w + 3 * CNN_VL, w3 + lr * (gk * h3));
        }
        CNN_ST(s + j, a0); CNN_ST(s + j + CNN_VL, a1);
        CNN_ST(s + j + 2 * CNN_VL, a2); CNN_ST(s + j + 3 * CNN_VL, a3);
    }
    for (; j + CNN_VL <= H; j += CNN_VL) {
        const CNN_VEC hv = CNN_LD(h + j);
        CNN_VEC acc = {0};
        for (k = 0; k < O; k++) {
            CNN_REAL *w = who + k * H + j;
            const CNN_VEC wv = CNN_LD(w);
            acc += wv * e[k];
            CNN_ST(w, wv + lr * (g[k] * hv));
        }
        CNN_ST(s + j, acc);
    }
    for (; j < H; j++) {
        CNN_REAL acc = 0;
        for (k = 0; k < O; k++) {
            CNN_REAL *w = who + k * H + j;
            acc += *w * e[k];
            *w += lr * (g[k] * h[j]);
        }
        s[j] = acc;
    }
}

#undef CNN_VL
#undef CNN_LD
#undef CNN_ST
