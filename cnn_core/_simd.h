/* The innermost loops of cnn_core that are written in C (their callers are in _kernels.pyx):
 *  - cnn_rows_update_dot: one pass over the rows of a weight matrix that applies a pending
 *    rank-1 update and takes the dot product of each updated row with the next input;
 *  - cnn_dot_block: dot products of a block of rows with a block of vectors (a small "A @ B.T");
 *  - cnn_rank_update: W += S.T @ X for a block of k samples (a rank-k update);
 *  - cnn_sigmoid: the sigmoid on whole vectors;
 *  - cnn_book_*: the loops of one training step of the book network after its forward product.
 *
 * They are C, not Cython, because the compiler must know that rows never alias (`restrict`) and
 * may keep several sums in vector registers (`omp simd reduction`, or GCC vector extensions with
 * explicit register blocks); without that, GCC leaves these loops scalar or spills. Compiled once
 * per instruction set with the flags of its _kernels_<isa> module.
 */
#ifndef CNN_CORE_SIMD_H
#define CNN_CORE_SIMD_H

#include <stddef.h>

#include <sched.h>

/* A barrier for the threads of one `with parallel():` block of the per-sample kernels, which
 * meet twice per sample (train) or per block (fit): tens of thousands of times a second. It spins
 * briefly, then yields the core: when the machine is busy, a waiting thread must not burn the
 * time slice of the thread it waits for (libgomp's barrier spins for a long time first, which
 * made two threads ten times slower than one on a loaded machine). `cnn_sync` is zeroed before
 * the block and shared. `n_threads` must be the size of the team that runs the block, read
 * inside it (omp_get_num_threads()), not the number of threads asked for: OpenMP may give fewer
 * (after fork(), OMP_THREAD_LIMIT, OMP_DYNAMIC, nesting), and waiting for arrivals of threads
 * that do not exist spins forever. */
typedef struct { int waiting; int phase; } cnn_sync;

static inline void cnn_sync_wait(cnn_sync *b, int n_threads) {
    int phase, spin;
    if (n_threads <= 1) return;
    phase = __atomic_load_n(&b->phase, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->waiting, 1, __ATOMIC_ACQ_REL) == n_threads) {
        __atomic_store_n(&b->waiting, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->phase, phase + 1, __ATOMIC_RELEASE);
        return;
    }
    for (spin = 0; __atomic_load_n(&b->phase, __ATOMIC_ACQUIRE) == phase; spin++) {
        if (spin < 2000) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield();
        }
    }
}

/* fork() and OpenMP. libgomp keeps, per thread that starts parallel regions, a pool of worker
 * threads; fork() copies the pool's bookkeeping into the child but not its threads, so the
 * child's next region with two or more threads waits inside GOMP_parallel forever for workers
 * that do not exist (what os.fork() after a two-thread fit did). So before every fork() of the
 * process (pthread_atfork, which also covers os.fork() and multiprocessing), the forking thread
 * hands its pool back (omp_pause_resource_all(omp_pause_hard)): the child starts with no pool
 * and creates its threads as needed; the parent recreates its own at its next region (tens of
 * microseconds). If that cannot be done (a fork() from inside a parallel region, or an OpenMP
 * older than 5.0), the child's regions run on one thread (cnn_openmp_fork_serial()), which a
 * copied pool still allows. Registered once per module, at its import. */
#ifdef _OPENMP
#include <omp.h>
#endif
#include <pthread.h>

static int cnn_fork_release_failed = 0;      /* set in the parent just before a fork() */
static int cnn_fork_serial = 0;              /* in a child whose pool could not be released */

/* omp_pause_resource_all is OpenMP 5.0: libgomp has it since GCC 10, which still reports
 * _OPENMP 201511 (4.5) */
#if defined(_OPENMP) && (_OPENMP >= 201811 || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10))
#define CNN_OMP_PAUSE 1
#endif

static void cnn_before_fork(void) {
#ifdef CNN_OMP_PAUSE
    cnn_fork_release_failed = omp_in_parallel() || omp_pause_resource_all(omp_pause_hard) != 0;
#else
    cnn_fork_release_failed = 1;
#endif
}

static void cnn_after_fork_in_child(void) {
    if (cnn_fork_release_failed) cnn_fork_serial = 1;
}

static inline int cnn_openmp_fork_serial(void) { return cnn_fork_serial; }

static int cnn_openmp_fork_handlers(void) {
    static int registered = 0;
    if (registered) return 0;
    registered = 1;
    return pthread_atfork(cnn_before_fork, NULL, cnn_after_fork_in_child);
}

/* Bytes per vector register of the instruction set this module is compiled for. The block
 * kernels use GCC's vector extensions with this width, so one source gives SSE2, AVX2 and
 * AVX-512 code. */
#if defined(__AVX512F__)
#define CNN_VBYTES 64
#elif defined(__AVX__)
#define CNN_VBYTES 32
#else
#define CNN_VBYTES 16
#endif

#define CNN_REAL double
#define CNN_IS_DOUBLE 1
#define CNN_NAME(name) name##_double
#define CNN_VEC cnn_vec_double
#include "_simd_rows.h"
#undef CNN_REAL
#undef CNN_IS_DOUBLE
#undef CNN_NAME
#undef CNN_VEC

#define CNN_REAL float
#define CNN_IS_DOUBLE 0
#define CNN_NAME(name) name##_float
#define CNN_VEC cnn_vec_float
#include "_simd_rows.h"
#undef CNN_REAL
#undef CNN_IS_DOUBLE
#undef CNN_NAME
#undef CNN_VEC

#endif
