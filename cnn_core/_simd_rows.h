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
