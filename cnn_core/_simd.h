/* The one loop of cnn_core that is written in C: the pass over the rows of a weight matrix that
 * applies a pending rank-1 update and takes the dot product of each updated row with the next
 * input (see `rows_update_dot` in _kernels.pyx, which is the only caller).
 *
 * It is C, not Cython, because the compiler must know the four rows never alias (`restrict`) and
 * may reorder the four dot-product sums into vector lanes (`omp simd reduction`); without those,
 * GCC leaves this loop scalar. Rows are taken four at a time so that x and xp are loaded once
 * for four rows. Compiled once per instruction set with the flags of its _kernels_<isa> module.
 */
#ifndef CNN_CORE_SIMD_H
#define CNN_CORE_SIMD_H

#include <stddef.h>

/* An OpenMP barrier callable from Cython's `with parallel():` blocks. */
static inline void cnn_barrier(void) {
#ifdef _OPENMP
    _Pragma("omp barrier")
#endif
}

#define CNN_REAL double
#define CNN_NAME(name) name##_double
#include "_simd_rows.h"
#undef CNN_REAL
#undef CNN_NAME

#define CNN_REAL float
#define CNN_NAME(name) name##_float
#include "_simd_rows.h"
#undef CNN_REAL
#undef CNN_NAME

#endif
