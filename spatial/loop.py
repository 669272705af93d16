"""The streaming render loop: a plan in, (n, C) float32 output blocks out.

One-way, one block at a time, memory independent of the scene's length:
1. every stream (a source file) is read for the block by its
   :class:`~spatial.readers.BlockReader` (in reader threads, one block ahead,
   so decoding overlaps the convolution: soundfile and soxr release the GIL);
2. the send bus is formed: each source times its send gain, delayed (a
   time-domain gain and delay line per source);
3. every input (a mono source, one channel of a bed, and the send bus with the
   shared late tail as its filter) goes through its own filter, all
   accumulated per output channel in the frequency domain: one inverse FFT per
   output channel and block, the block's work split over the threads (the
   engine's lanes: forward FFTs by input, multiply-accumulate and inverse FFTs
   by channel; the same samples on any number of threads). A stream outside its
   time span is not read at all and its inputs are marked silent, so the engine
   skips their transforms.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np

from spatial.engine.kernels import send_bus
from spatial.plan import RenderPlan


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class RenderLoop:
    """Runs a RenderPlan block by block; iterate `blocks()` for the output.

    block_size: engine block B (default the engine's). threads: worker threads
    (default numba's thread count, NUMBA_NUM_THREADS, at most the CPUs this process
    may run on): the reader threads and the engine's lanes. prefetch: decode the
    next block in reader threads while this one is convolved. Neither changes the
    output, bit for bit.
    """

    def __init__(self, p: RenderPlan, block_size: int | None = None, prefetch: bool = True,
                 threads: int | None = None):
        import numba

        from spatial.engine.convolver import STATIC_BLOCK, BlockConvolver

        self.plan = p
        self.threads = max(1, int(threads or min(numba.get_num_threads(), _cpus())))
        # moving sources too: spatial.motion_render crossfades their filters every control
        # block (~10 ms) whatever the engine's block (B1 60 s CPU 3.5 -> 2.6-2.9 s)
        moving = getattr(p, "motion", None) is not None
        self.block_size = B = int(block_size or STATIC_BLOCK)
        C = p.n_channels
        # single precision: the output is float32, and it halves the FFT and MAC cost;
        # the engine's error stays ~1e-7 of the peak (tests/test_engine.py bounds it)
        # moving sources: spatial.motion_render runs stage 1 in its own worker thread, next
        # to the direct paths in this one; engine lanes on top would only contend with them
        self.stage1 = BlockConvolver(B, C, dtype=np.float32,
                                     threads=1 if moving else self.threads)
        for inp in p.inputs:
            self.stage1.add_input(inp.filt)
        # the tail's feeds: a gain and a delay line per input (spatial.engine.kernels.send_bus)
        sends = [i for i, inp in enumerate(p.inputs) if inp.send_gain != 0.0]
        self.sends = np.array(sends, np.int64)
        self._send_gains = np.array([p.inputs[i].send_gain for i in sends], np.float64)
        self._send_delays = np.array([p.inputs[i].send_delay for i in sends], np.int64)
        self._send_lines = np.zeros((len(sends), int(self._send_delays.max(initial=0)) + B))
        self._send_idle = np.ones(len(sends), bool)  # the line holds only zeros
        # the send bus is one more input of the same engine, its filter the shared tail:
        # its contribution joins the others' in the frequency domain (no inverse FFTs of
        # its own); its row (index len(p.inputs)) is formed from the others' rows
        self.send_row = None
        if p.tail is not None and len(sends):
            self.send_row = self.stage1.add_input(p.tail)
        self.motion = None
        if getattr(p, "motion", None) is not None and any(i.moving for i in p.inputs):
            # moving sources: spatial.motion_render
            from spatial.motion_render import MotionProcessor

            self.motion = MotionProcessor(p, B, self.stage1)
        self.prefetch = prefetch
        self.n_blocks = -(-p.length // B)

    # -- reading -----------------------------------------------------------------------

    def _read(self, readers, b: int, rows: np.ndarray, active: np.ndarray) -> None:
        """Block b of the given streams into rows (S, B) float64; active[i]: input i was read.
        Touches only the rows and flags of these streams' inputs (threads share the arrays)."""
        B = self.block_size
        t0 = b * B
        for stream, reader, inputs in readers:
            pos = t0 - stream.start  # stream sample at the block's first sample
            if pos + B <= 0 or pos >= stream.length:
                rows[inputs] = 0.0  # outside the stream's span: nothing to read, inputs silent
                active[inputs] = False
                continue
            lo = max(0, -pos)  # leading zeros of a block in which the stream starts
            if reader.position < pos + lo:
                reader.skip(pos + lo - reader.position)  # a negative start
            if len(inputs) == 1:
                i = inputs[0]
                rows[i, :lo] = 0.0
                reader.read_into(rows[i, lo:])
            else:
                chunk = np.zeros((B, len(inputs)))
                reader.read_into(chunk[lo:])
                rows[inputs] = chunk.T
            active[inputs] = True

    def _open(self):
        p = self.plan
        by_stream: dict[int, list[int]] = {}
        for i, inp in enumerate(p.inputs):
            by_stream.setdefault(inp.stream, []).append(i)
        opened = []
        try:
            for k, stream in enumerate(p.streams):
                inputs = sorted(by_stream.get(k, []), key=lambda i: p.inputs[i].channel)
                if inputs:
                    opened.append((stream, stream.open(p.sample_rate), inputs))
        except BaseException:
            for _, reader, _ in opened:
                reader.close()
            raise
        return opened

    # -- the loop ----------------------------------------------------------------------

    def blocks(self) -> Iterator[np.ndarray]:
        """(n, C) float32 output blocks, n = B except for the last; each is a buffer
        reused for the next block: copy it (or write it out) before asking for the next."""
        p, B = self.plan, self.block_size
        S = len(p.inputs) + (self.send_row is not None)
        out = np.zeros((B, p.n_channels), np.float32)
        # two sets of row buffers: the reader threads fill one while the engine uses the other
        rows = [np.zeros((S, B)), np.zeros((S, B))]
        active = [np.zeros(S, bool), np.zeros(S, bool)]
        readers = self._open()
        # streams dealt to the reader threads by decreasing cost (channels, resampling)
        n_groups = min(self.threads, len(readers)) if self.prefetch else 0
        groups = [[] for _ in range(n_groups)]
        cost = [0.0] * n_groups
        for r in sorted(readers, key=lambda r: -r[1].cost) if n_groups else ():
            g = int(np.argmin(cost))
            groups[g].append(r)
            cost[g] += r[1].cost
        pool = ThreadPoolExecutor(n_groups, thread_name_prefix="spatial-read") if n_groups else None

        def read(b):
            i = b % 2
            if pool is None:
                self._read(readers, b, rows[i], active[i])
                return []
            return [pool.submit(self._read, g, b, rows[i], active[i]) for g in groups]

        try:
            pending = read(0) if self.n_blocks else []
            for b in range(self.n_blocks):
                cur = b % 2
                for job in pending:
                    job.result()
                pending = read(b + 1) if pool is not None and b + 1 < self.n_blocks else []
                if self.send_row is not None:
                    send_bus(rows[cur], active[cur], self.sends, self._send_gains,
                             self._send_delays, self._send_lines, self._send_idle,
                             rows[cur][self.send_row])
                if self.motion is None:
                    out[:] = self.stage1.process(rows[cur]).T
                else:
                    out[:] = self.motion.process(b, rows[cur], active[cur]).T
                n = min(B, p.length - b * B)
                yield out[:n]
                if pool is None and b + 1 < self.n_blocks:
                    read(b + 1)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self.stage1.close()
            for _, reader, _ in readers:
                reader.close()
