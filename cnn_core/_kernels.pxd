# Declarations of the C-level kernels of cnn_core (implemented in _kernels.pyx).
# Every kernel takes memoryviews (or pointers into them) and scalars, writes into outputs it is
# given, allocates nothing, raises nothing and runs without the GIL. `floating` gives float32
# and float64 from one source.
from cython cimport floating

cdef extern from "_simd.h" nogil:
    void cnn_barrier()
    void cnn_rows_update_dot_double(double *W, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1,
                                    const double *xp, const double *s, const double *x, double *out)
    void cnn_rows_update_dot_float(float *W, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1,
                                   const float *xp, const float *s, const float *x, float *out)

# Activation codes, shared with Python through ACTIVATION_CODES.
cpdef enum Activation:
    IDENTITY = 0
    SIGMOID = 1
    RELU = 2
    TANH = 3
    SOFTMAX = 4

cdef floating sigmoid(floating x) noexcept nogil
cdef floating activate(floating x, int activation, floating slope) noexcept nogil
cdef floating derivative_from_output(floating y, int activation, floating slope) noexcept nogil
cdef void activate_inplace(floating *z, Py_ssize_t n, int activation, floating slope) noexcept nogil
cdef bint all_finite_ptr(const floating *x, Py_ssize_t n) noexcept nogil

cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating *A, int lda, const floating *B, int ldb,
               floating beta, floating *C, int ldc) noexcept nogil
cdef void rows_update_dot(floating *W, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1,
                          const floating *xp, const floating *s, const floating *x,
                          floating *out) noexcept nogil

cdef bint book_output_phase(floating[:, ::1] who, const floating *t, floating lr, int activation,
                            floating[::1] work, floating[::1] s) noexcept nogil
