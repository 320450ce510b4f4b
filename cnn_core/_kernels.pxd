# Declarations of the C-level kernels of cnn_core (implemented in _kernels.pyx).
# Every kernel takes memoryviews (or pointers into them) and scalars, writes into outputs it is
# given, allocates nothing, raises nothing and runs without the GIL. `floating` gives float32
# and float64 from one source.
from cython cimport floating

cdef extern from "_simd.h" nogil:
    ctypedef struct cnn_sync:
        int waiting
        int phase
    void cnn_sync_wait(cnn_sync *b, int n_threads)
    int cnn_openmp_fork_serial()
    int cnn_openmp_fork_handlers()
    void cnn_rows_update_dot_double(double *W, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1,
                                    const double *xp, const double *s, const double *x, double *out)
    void cnn_rows_update_dot_float(float *W, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1,
                                   const float *xp, const float *s, const float *x, float *out)
    void cnn_dot_block_double(const double *W, Py_ssize_t ldw, Py_ssize_t rows,
                              const double *const *x, Py_ssize_t nx, Py_ssize_t K,
                              double *out, Py_ssize_t out_row, Py_ssize_t out_col)
    void cnn_dot_block_float(const float *W, Py_ssize_t ldw, Py_ssize_t rows,
                             const float *const *x, Py_ssize_t nx, Py_ssize_t K,
                             float *out, Py_ssize_t out_row, Py_ssize_t out_col)
    void cnn_sigmoid_double(double *z, Py_ssize_t n)
    void cnn_sigmoid_float(float *z, Py_ssize_t n)
    void cnn_book_hidden_in_double(const double *a, const double *S, Py_ssize_t lds,
                                   const double *g, Py_ssize_t ldg, Py_ssize_t n, Py_ssize_t rows,
                                   double *hin)
    void cnn_book_hidden_in_float(const float *a, const float *S, Py_ssize_t lds,
                                  const float *g, Py_ssize_t ldg, Py_ssize_t n, Py_ssize_t rows,
                                  float *hin)
    void cnn_book_backward_double(double *who, Py_ssize_t H, Py_ssize_t O, const double *h,
                                  const double *e, const double *g, double lr, double *s)
    void cnn_book_backward_float(float *who, Py_ssize_t H, Py_ssize_t O, const float *h,
                                 const float *e, const float *g, float lr, float *s)
    void cnn_rank_update_double(double *W, Py_ssize_t ldw, Py_ssize_t rows, const double *S,
                                Py_ssize_t lds, const double *const *x, Py_ssize_t k, Py_ssize_t K)
    void cnn_rank_update_float(float *W, Py_ssize_t ldw, Py_ssize_t rows, const float *S,
                               Py_ssize_t lds, const float *const *x, Py_ssize_t k, Py_ssize_t K)

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
cdef void dot_block(const floating *W, Py_ssize_t ldw, Py_ssize_t rows,
                    const floating *const *x, Py_ssize_t nx, Py_ssize_t K,
                    floating *out, Py_ssize_t out_row, Py_ssize_t out_col) noexcept nogil
cdef void rank_update(floating *W, Py_ssize_t ldw, Py_ssize_t rows, const floating *S,
                      Py_ssize_t lds, const floating *const *x, Py_ssize_t k,
                      Py_ssize_t K) noexcept nogil
cdef void rows_update_dot(floating *W, Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1,
                          const floating *xp, const floating *s, const floating *x,
                          floating *out) noexcept nogil
