"""What the benches share: TensorFlow's thread count and the machine's GEMM rate at it.

A bench calls :func:`set_threads` before its first TensorFlow op, then
:func:`gemm_rate` measures float32 matrix multiplies on the same thread pools
its workload uses, so "fraction of the GEMM rate" compares like with like.
"""

from __future__ import annotations

import time


def set_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads and one inter-op thread (0: TensorFlow's defaults)."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def gemm_rate(size: int = 1024, seconds: float = 2.0) -> float:
    """GFLOP/s of float32 ``size`` x ``size`` matrix products in TensorFlow, the best of 5 timed bursts.

    Each burst runs enough products back to back (inside one ``tf.function``) for
    about ``seconds`` / 5; the best burst is the rate the machine sustains when
    nothing else is running on it.
    """
    import tensorflow as tf

    a = tf.random.stateless_normal((size, size), seed=(1, 2))
    b = tf.random.stateless_normal((size, size), seed=(3, 4))

    @tf.function
    def products(count):
        total = tf.zeros((size, size))
        for _ in tf.range(count):
            total += tf.linalg.matmul(a, b)
        return total

    products(tf.constant(2)).numpy()  # trace and warm up
    count = 4
    while True:  # grow the burst until it lasts at least a tenth of a second
        start = time.perf_counter()
        products(tf.constant(count)).numpy()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.1:
            break
        count *= 2
    count = max(1, int(count * seconds / 5 / elapsed))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        products(tf.constant(count)).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * count / best / 1e9
