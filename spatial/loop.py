"""The streaming render loop: a plan in, per block every format's mix and buses out.

One pass, one engine, one block at a time, memory independent of the scene's length:
1. every stream (a source file) is read for the block by its
   :class:`~spatial.readers.BlockReader` (in reader threads, one block ahead,
   so decoding overlaps the convolution: soundfile and soxr release the GIL);
2. the bus stage before the room (:mod:`spatial.routing`): bus gains and the
   ducking gains multiply the sources' dry blocks;
3. each bus's send to the tail is formed: each source times its send gain, delayed
   (a time-domain gain and delay line per source);
4. every input (a mono source, one channel of a bed, each bus's send with the late
   tail as its filter, the moving path's feeds) is transformed once, and reaches
   each output group (a format's bus) through that format's filter: the engine
   (:class:`~spatial.engine.convolver.BlockConvolver`) accumulates per group and
   channel in the frequency domain, one inverse FFT per output channel and block,
   the block's work split over the threads (the same samples on any number of
   threads). A stream outside its time span is not read at all and its inputs are
   marked silent, so the engine skips their transforms;
5. moving sources (:mod:`spatial.motion_render`) feed the same engine and add
   their direct paths to their groups;
6. each format's groups are summed into its mix (:class:`~spatial.sinks.base.BusView`);
   a format that taps the sources (``FormatPlan.taps``: an ADM master, spatial.adm)
   also gets their dry blocks after the bus stage (a view of the rows, no copy).

A passage (`start`, `end`) is rendered from a pre-roll before `start` as long as the
longest filter rings, so the reverberation of earlier sound is there; only the
passage is handed out.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np

from spatial import routing as routes
from spatial.engine.kernels import send_bus
from spatial.plan import RenderPlan
from spatial.sinks.base import BusView


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def preroll(p: RenderPlan) -> int:
    """Samples before a passage that still sound in it: the longest filter or tail."""
    ring = max((f.shape[1] for inp in p.inputs for f in inp.filters), default=1)
    for fp in p.rendered:
        if fp.tail is not None:
            ring = max([ring] + [inp.send_delay + fp.tail.shape[1] for inp in p.inputs
                                 if inp.send_gain])
        if fp.motion is not None:
            ring += max((int(np.ceil(m.max_delay_s * p.sample_rate))
                         for m in fp.motion.sources), default=0)
    return int(ring)


class RenderLoop:
    """Runs a RenderPlan block by block: `frames()` for every format's signals,
    `blocks()` for the first format's mix alone.

    block_size: engine block B (default the engine's). threads: worker threads
    (default numba's thread count, NUMBA_NUM_THREADS, at most the CPUs this process
    may run on): the reader threads and the engine's lanes. prefetch: decode the
    next block in reader threads while this one is convolved. Neither changes the
    output, bit for bit. routing: the buses (spatial.routing; default one bus, no
    gains). start, end: the passage to hand out, in samples (default the whole plan).
    """

    def __init__(self, p: RenderPlan, block_size: int | None = None, prefetch: bool = True,
                 threads: int | None = None, routing: routes.Routing | None = None,
                 start: int = 0, end: int | None = None):
        import numba

        from spatial.engine.convolver import STATIC_BLOCK, BlockConvolver

        self.plan = p
        self.routing = rt = routing or routes.plain(p)
        self.threads = max(1, int(threads or min(numba.get_num_threads(), _cpus())))
        moving = any(inp.moving for inp in p.inputs) and p.motion is not None
        self.block_size = B = int(block_size or STATIC_BLOCK)
        # single precision: the output is float32, and it halves the FFT and MAC cost;
        # the engine's error stays ~1e-7 of the peak (tests/test_engine.py bounds it)
        # moving sources: spatial.motion_render runs the engine in its own worker thread,
        # next to the direct paths in this one; engine lanes on top would only contend
        self.engine = eng = BlockConvolver(B, rt.n_channels, dtype=np.float32,
                                           threads=1 if moving else self.threads)
        n_formats, n_buses = len(p.rendered), len(rt.buses)
        live = [f for f in range(n_formats) if rt.live(f)]
        tap = rt.tap
        for i, inp in enumerate(p.inputs):
            s = eng.add_input()
            if inp.moving:
                continue  # spatial.motion_render renders it
            for f in live:
                if inp.filters[f].shape[0]:  # a format without channels gets no route
                    eng.add_route(s, inp.filters[f], rt.group(f, rt.input_bus[i]).offset)
            if tap is not None and rt.tapped[i]:
                eng.add_route(s, inp.filters[tap.format], tap.offset)
        # each bus's send to the tail: a gain and a delay line per input
        # (spatial.engine.kernels.send_bus); the send is one more input of the engine,
        # its filter each format's tail: it joins the others in the frequency domain
        self.sends = []  # (row, inputs, gains, delays, lines, idle) per bus with sends
        tails = any(fp.tail is not None for fp in p.rendered)
        targets = [(k, [(f, rt.group(f, k).offset) for f in live]) for k in range(n_buses)]
        if tap is not None:
            targets.append((-1, [(tap.format, tap.offset)]))  # the dialogue's own send
        for k, where in targets:
            idx = [i for i, inp in enumerate(p.inputs) if inp.send_gain != 0.0 and
                   (rt.input_bus[i] == k if k >= 0 else rt.tapped[i])]
            where = [(f, o) for f, o in where if p.rendered[f].tail is not None
                     and p.rendered[f].n_channels]
            if not tails or not idx or not where:
                continue
            row = eng.add_input()
            for f, o in where:
                eng.add_route(row, p.rendered[f].tail, o)
            delays = np.array([p.inputs[i].send_delay for i in idx], np.int64)
            self.sends.append((row, np.array(idx, np.int64),
                               np.array([p.inputs[i].send_gain for i in idx], np.float64),
                               delays, np.zeros((len(idx), int(delays.max()) + B)),
                               np.ones(len(idx), bool)))
        self.n_rows = eng.n_inputs
        self.gained = np.flatnonzero(rt.input_gain != 1.0)
        self.ducker = None
        if rt.ducking is not None:
            from spatial.dsp.ducking import Ducker

            self.ducker = Ducker(p.sample_rate, rt.ducking)
            self.ducked = np.flatnonzero(rt.ducked)
        self.motion = None
        if moving:
            from spatial.motion_render import MotionProcessor

            self.motion = MotionProcessor(p, B, eng, rt)
        self.prefetch = prefetch
        # the passage, and where rendering starts (its pre-roll)
        self.start = max(0, int(start))
        self.end = p.length if end is None else min(int(end), p.length)
        # on the whole render's block grid, so the passage is the same samples as there
        self.first = max(0, self.start - preroll(p)) // B * B
        self.n_blocks = max(0, -(-(self.end - self.first) // B))

    @property
    def length(self) -> int:
        """Frames handed out (of the longest format)."""
        return max(0, self.end - self.start)

    # -- reading -----------------------------------------------------------------------

    def _read(self, readers, b: int, rows: np.ndarray, active: np.ndarray) -> None:
        """Block b of the given streams into rows (S, B) float64; active[i]: input i was read.
        Touches only the rows and flags of these streams' inputs (threads share the arrays)."""
        B = self.block_size
        t0 = self.first + b * B
        for stream, reader, inputs in readers:
            pos = t0 - stream.start  # stream sample at the block's first sample
            if pos + B <= 0 or pos >= stream.length:
                rows[inputs] = 0.0  # outside the stream's span: nothing to read, inputs silent
                active[inputs] = False
                continue
            lo = max(0, -pos)  # leading zeros of a block in which the stream starts
            if reader.position < pos + lo:
                reader.skip(pos + lo - reader.position)  # a negative start, or a passage
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

    # -- the bus stage before the room --------------------------------------------------

    def _pre_room(self, rows: np.ndarray, active: np.ndarray) -> None:
        """Bus gains and ducking on the dry blocks, then each bus's send row."""
        rt = self.routing
        for i in self.gained:
            if active[i]:
                rows[i] *= rt.input_gain[i]
        if self.ducker is not None:
            side = np.zeros(self.block_size)
            for i, w in rt.side:
                if active[i]:
                    side += w * rows[i]
            g = self.ducker.process(side[:, None])
            if np.any(g != 1.0):
                for i in self.ducked:  # in place, row by row (no gathered copy)
                    rows[i] *= g
        for row, idx, gains, delays, lines, idle in self.sends:
            send_bus(rows, active, idx, gains, delays, lines, idle, rows[row])

    # -- the loop ----------------------------------------------------------------------

    def frames(self) -> Iterator[dict[str, BusView]]:
        """Per block, format name -> BusView of the passage's next frames (n <= B; a format
        whose filters ring shorter may end first: it is then missing from the later
        blocks). The arrays are buffers reused for the next block: copy or write them
        first."""
        p, B, rt = self.plan, self.block_size, self.routing
        S = self.n_rows
        n_buses = len(rt.buses)
        group_out = [np.zeros((B, g.width), np.float32) for g in rt.groups]
        mixes = [group_out[f * n_buses] if n_buses == 1 else
                 np.zeros((B, fp.n_channels), np.float32)
                 for f, fp in enumerate(p.rendered)]
        fm = rt.meter  # dialogue-to-background: the meter format's dialogue and the rest
        dlg = None if fm is None else (rt.bus_index("dialogue") if rt.tap is None else -1)
        if fm is not None:
            tap_out = np.zeros((B, p.rendered[fm].n_channels), np.float32)
            back = np.zeros_like(tap_out)
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
                t0 = self.first + b * B
                self._pre_room(rows[cur], active[cur])
                if self.motion is None:
                    out = self.engine.process(rows[cur])
                else:
                    out = self.motion.process(b, t0, rows[cur], active[cur])
                lo = max(self.start - t0, 0)  # the pre-roll is rendered, not handed out
                if lo < B:
                    parts, meter = [], None
                    dry = rows[cur][:len(p.inputs)]  # the sources' dry blocks, for taps
                    for f, fp in enumerate(p.rendered):
                        hi = min(B, min(fp.length, self.end) - t0)
                        n = max(hi - lo, 0)
                        if n == 0 or not rt.live(f):
                            continue  # ended (its filters ring shorter), or not rendered
                        bus_blocks = []
                        for k in range(n_buses):
                            g = rt.group(f, k)
                            buf = group_out[f * n_buses + k][:n]
                            buf[:] = out[g.offset:g.offset + g.width, lo:lo + n].T
                            bus_blocks.append(buf)
                        mix = mixes[f][:n]
                        if n_buses > 1:
                            mix[:] = bus_blocks[0]
                            for blk in bus_blocks[1:]:
                                mix += blk
                        if f == fm:
                            if dlg == -1:
                                dialogue = tap_out[:n]
                                dialogue[:] = out[rt.tap.offset:rt.tap.offset + rt.tap.width,
                                                  lo:lo + n].T
                            else:
                                dialogue = bus_blocks[dlg]
                            meter = (dialogue, np.subtract(mix, dialogue, out=back[:n]))
                        if f not in rt.hidden:  # else rendered for the meter only
                            buses = ({name: bus_blocks[k]
                                      for k, (name, _) in enumerate(rt.buses)}
                                     if rt.stems else {})
                            taps = dry[:, lo:lo + n] if fp.taps else None
                            parts.append((fp.format, mix, buses, taps))
                    views = {}
                    for name, mix, buses, taps in parts:
                        m = 0 if meter is None else min(mix.shape[0], meter[0].shape[0])
                        views[name] = (BusView(mix, buses, sources=taps) if meter is None else
                                       BusView(mix, buses, meter[0][:m], meter[1][:m], taps))
                    yield views
                if pool is None and b + 1 < self.n_blocks:
                    read(b + 1)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self.engine.close()
            for _, reader, _ in readers:
                reader.close()

    def blocks(self) -> Iterator[np.ndarray]:
        """(n, C) float32 blocks of the first format's mix; each is a buffer reused for the
        next block: copy it (or write it out) before asking for the next."""
        name = self.plan.outputs[0].format
        for views in self.frames():
            yield views[name].mix
