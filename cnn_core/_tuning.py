"""The tuning constants of cnn_core: every size chosen for speed or responsiveness, in one place.

None of them changes a result (to the bit); they set how work is cut into kernel calls and
threads. Modules read them at call time (``_tuning.FIT_CHUNK_WORK``), so a test or a benchmark
can set one for a while. The figures behind them are in BENCHMARKS.md.
"""

# fit() hands a kernel about this many multiply-adds per call (a few milliseconds of work), so
# that Ctrl-C and progress reports are seen between calls (book fit, per-sample SGD of Network).
FIT_CHUNK_WORK = 1 << 25

# predict, query of many rows, loss and accuracy go through the layers this many rows at a time
EVAL_CHUNK_ROWS = 4096

# The book network's fit trains in blocks of FIT_BLOCK samples (see _book.pxi) when wih has at
# least FIT_BLOCK_MIN_WEIGHTS weights; smaller networks train one sample at a time, which is
# faster for them.
FIT_BLOCK = 32
FIT_BLOCK_MIN_WEIGHTS = 4096

# Book networks with fewer weights in wih than this train on one thread when the thread count is
# not given: below it, waking a second thread for every sample costs more than it saves.
AUTO_THREADS_MIN_WEIGHTS = 50_000
# one-sample train() calls take their thread count in windows of this many calls (_threads)
THREAD_WINDOW_CALLS = 64
# the automatic choice tries the other thread count again after 2, 4, 8, ... chunks, then
# every THREAD_PROBE_EVERY chunks (_threads.AdaptiveThreads)
THREAD_PROBE_EVERY = 32
