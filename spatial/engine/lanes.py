"""The engine's lanes: a block's work split into jobs that the calling thread and a
persistent pool take in turn (:class:`~spatial.engine.convolver.BlockConvolver`).

Pool threads sleep while idle (no spinning), and the calling thread never waits for
a helper the OS has not run yet: it takes whatever jobs are left and cancels a helper
that has not started, so a block on a busy shared machine costs what it costs on one
thread. A block whose lanes did not run side by side sends the next `backoff_blocks`
blocks to one lane. What a job computes does not depend on which lane runs it, so the
output is the same bit for bit on any number of lanes.
"""
from __future__ import annotations

import itertools
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

# Lanes only for this many inputs or more. Measured on the shared 2-core machine (loop
# CPU and wall, interleaved): scene C (65 inputs) 1.6 -> 1.1 s wall when the second
# core is free, about even when it is busy; scene A (9 inputs) 1.4-2x the CPU for no
# gain; A in 7.1.4 (9 inputs, 12 channels) 1.1 -> 1.6 s wall under load and no gain
# when idle. The reader threads are the parallelism of narrow scenes.
PARALLEL_MIN_INPUTS = 32
# A block whose lanes did not run side by side (their CPU time under PARALLEL_GAIN x the
# wall time: the other core was busy) sends the next BACKOFF_BLOCKS blocks to one lane;
# on a shared machine two threads time-sliced on one core only thrash the caches
# (scene C: +10-15% CPU). The output does not depend on it.
PARALLEL_GAIN = 1.3
BACKOFF_BLOCKS = 16
CHUNKS_PER_LANE = 2  # jobs per lane and phase: the lanes take them in turn (see run)


class Lanes:
    """Up to `threads` lanes (this thread and threads - 1 pool threads, made on first
    use; `close()` ends them, and they end with the object)."""

    def __init__(self, threads: int = 1):
        self.threads = max(1, int(threads))
        self.min_inputs = PARALLEL_MIN_INPUTS
        self.backoff_blocks = BACKOFF_BLOCKS
        self.serial_until = 0  # blocks before this one use one lane
        self.pool = None

    def for_block(self, block: int, n_inputs: int, n_outputs: int) -> int:
        """Lanes for block number `block` of an engine with these many inputs, outputs."""
        if n_inputs >= self.min_inputs and block >= self.serial_until:
            return min(self.threads, max(n_inputs, n_outputs))
        return 1

    def split(self, work, n: int, lanes: int, block: int) -> None:
        """work(i0, i1) over 0..n: whole on one lane, else in CHUNKS_PER_LANE pieces a lane."""
        if lanes == 1:
            work(0, n)
            return
        k = min(n, CHUNKS_PER_LANE * lanes)
        cuts = [n * j // k for j in range(k + 1)]
        self.run(lambda j: work(cuts[j], cuts[j + 1]), k, lanes, block)

    def run(self, job, n_jobs: int, lanes: int, block: int) -> None:
        """job(j) for j in 0..n_jobs-1, taken in turn by this thread and lanes - 1 pool
        threads; returns when every one is done (and raises the first error)."""
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="spatial-engine")
            weakref.finalize(self, self.pool.shutdown, wait=False)
        taken = itertools.count()  # next() is atomic under the GIL
        busy = []  # CPU seconds of each thread's share

        def take():
            c0 = time.thread_time()
            for j in taken:  # each thread draws the next job number
                if j >= n_jobs:
                    break
                job(j)
            busy.append(time.thread_time() - c0)

        t0 = time.perf_counter()
        helpers = [self.pool.submit(take) for _ in range(min(lanes, n_jobs) - 1)]
        try:
            take()
        finally:
            for f in helpers:
                if not f.cancel():
                    f.result()
        if sum(busy) < PARALLEL_GAIN * (time.perf_counter() - t0):
            self.serial_until = block + 1 + self.backoff_blocks

    def close(self) -> None:
        """End the pool's threads (a later split makes new ones)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
