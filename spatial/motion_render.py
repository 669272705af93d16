"""Runs the moving sources of a plan block by block, inside the render loop.

The geometry and what each path goes through are described in :mod:`spatial.motion`.
Per engine block of B samples and moving source:
1. the block of the source's dry signal enters its delay line (a history of the
   longest delay it may need);
2. on the grid (every GRID samples for the direct path, IMAGE_GRID for the images, and
   at the block's end) the listener's position and yaw, and the emission-time delay,
   position, gain and direction of the direct path and of every moving image are
   computed (numba kernels of spatial.engine.emission; the images in the worker thread);
3. :func:`spatial.engine.delay.tap_delay_sum_coef` reads the delay line: the direct path's
   dry signal (with 1 / r) and its unit-gain copy (the feed of the later reflections'
   static filter), and every image panned onto the virtual directions (the feeds of
   their static head-locked filters, shared by all moving sources);
4. the direct path's spatial filter is taken at the control points (every control
   block, at its start and end) and applied by FFT to overlapping frames; outputs of
   successive filters are crossfaded linearly across each control block. Binaural
   filters are blended in the frequency domain from the HRTF set's measured spectra
   (each computed once), their delays applied as a linear phase, all sources summed
   before one inverse FFT per frame (:func:`spatial.engine.motion_kernels.direct_spectra`).
The feeds are convolved beside the engine's stage 1 (on transforms sized to their short
filters: spatial.engine.sized) and added to its output, as is the direct output.
"""
from __future__ import annotations

import math
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft

from spatial.engine.delay import (LAGRANGE_AFTER, LAGRANGE_BEFORE, lagrange4_coefficients,
                                  tap_delay_sum_coef)
from spatial.engine.emission import emission_solve, image_weights
from spatial.engine.motion_kernels import direct_geometry, direct_spectra
from spatial.engine.sized import SizedEngines
from spatial.geometry import MIN_DISTANCE_M, SPEED_OF_SOUND
from spatial.motion import IMAGE_GRID, PAN_CUTOFF_DEG, VIRTUAL_DIRECTIONS, MotionPlan

PAN_C0 = float(np.cos(np.deg2rad(PAN_CUTOFF_DEG)))
MAIN_SHARE = 4  # sources 3, 7, 11 ...: their images are read in the render thread (it
# waits for stage 1 otherwise), the others' in the worker before stage 1


class _State:
    """One moving source's buffers: its dry input history and its direct path's."""

    def __init__(self, hist: int, block: int, direct: np.ndarray):
        self.hist = hist
        self.buf = np.zeros(hist + block)  # dry input, [history | this block]
        self.coef = np.zeros((4, hist + block))  # its cubics (spatial.engine.delay)
        self.direct = direct  # [frame history | block | zeros], single precision
        self.last_active = -(1 << 40)


class MotionProcessor:
    """The moving path of a RenderPlan (p.motion; with several formats, each format's
    p.rendered[f].motion), feeding the loop's engine.

    Holds the inputs it feeds beside `engine` (per bus with moving sources: the virtual
    directions, routed through each format's head-locked filters; per source: its
    later reflections), on transforms sized to those short filters
    (spatial.engine.sized); `process(b, t0, rows, active)` then runs the engine on the
    static inputs, adds those feeds' outputs and the moving direct paths to their
    buses' groups in every format, and returns the (channels, B) block.
    """

    def __init__(self, p, block: int, engine, routing):
        outputs = p.rendered
        mp: MotionPlan = outputs[0].motion
        self.mp, self.B, self.stage1 = mp, int(block), engine
        self.motions = [fp.motion for fp in outputs]
        self.fs = fs = mp.fs
        self.control = math.gcd(self.B, mp.control_block)
        self.grid = math.gcd(self.control, mp.grid)
        self.image_grid = math.gcd(self.control, IMAGE_GRID)
        for m in self.motions:
            m.control_block = self.control  # what the loop really uses (reported in stats)
        self.sources = mp.sources
        rt = routing
        self.bus = [rt.input_bus[s.input] for s in self.sources]  # each source's bus
        n_f = len(outputs)
        # the formats rendered, and per format its groups' offsets by bus; the dialogue's
        # tap (spatial.routing: without stems, one bus) is bus T of its format alone
        self.live = [f for f in range(n_f) if rt.live(f)]
        T = self.T = len(rt.buses)
        self.offsets = [{k: rt.group(f, k).offset for k in range(T)} for f in range(n_f)]
        self.tapped = set()
        if rt.tap is not None:
            self.offsets[rt.tap.format][T] = rt.tap.offset
            self.tapped = {j for j, s in enumerate(self.sources) if rt.tapped[s.input]}
        self.C = [fp.n_channels for fp in outputs]

        def formats_of(k):  # where bus k is rendered (a format without channels: nowhere)
            return [f for f in self.live if k in self.offsets[f] and self.C[f]]

        # the virtual directions: 26 inputs per bus with moving sources, each routed
        # through every format's filter for that direction into that bus's group (the
        # tap's feeds hold the dialogue's images, added into its bus's before the engine),
        # and per source its later reflections' feed through each format's remainder:
        # short filters, on transforms sized to them (spatial.engine.sized), per format
        self.n_dirs = len(mp.direction_filters)
        feed_bus = set(self.bus) | ({T} if self.tapped else set())
        self.feed_bus = sorted(feed_bus) if self.n_dirs else []
        n_out = engine.n_outputs
        self.dir_engines = SizedEngines(self.B, len(self.feed_bus) * self.n_dirs, n_out)
        for i, k in enumerate(self.feed_bus):
            for d in range(self.n_dirs):
                for f in formats_of(k):
                    self.dir_engines.add_route(i * self.n_dirs + d,
                                               self.motions[f].direction_filters[d],
                                               self.offsets[f][k], key=f)
        self.rem_row = {}
        for j, src in enumerate(self.sources):
            if any(m.sources[j].remainder is not None for m in self.motions):
                self.rem_row[j] = len(self.rem_row)
        self.rem_engines = SizedEngines(self.B, len(self.rem_row), n_out)
        for j, s in self.rem_row.items():
            rems = [m.sources[j].remainder for m in self.motions]
            for k in [self.bus[j]] + ([T] if j in self.tapped else []):
                for f in formats_of(k):
                    if rems[f] is not None:
                        self.rem_engines.add_route(s, rems[f], self.offsets[f][k], key=f)
        self.rows = np.zeros((engine.n_inputs, self.B))
        self.rem_rows = np.zeros((len(self.rem_row), self.B), np.float32)
        # the virtual directions' feeds in single precision (as the engine takes them):
        # the worker's, and those of the images read by this thread, per bus
        self.feeds = np.zeros((len(self.feed_bus), self.n_dirs, self.B), np.float32)
        self.own_feeds = np.zeros_like(self.feeds)
        self.feed_of = {k: i for i, k in enumerate(self.feed_bus)}
        # the direct path's frames: long enough for 2 control blocks + the spatial filter
        self.lh = max(m.spatialiser.responses(np.array([[1.0, 0.0, 0.0]]))[0].shape[2]
                      for m in self.motions)
        self.max_spat = 0.005 * fs  # spatialisers' own delays stay below ~1 ms; margin
        need = 2 * self.control + self.lh + int(self.max_spat) + 2
        self.nf = 1 << int(math.ceil(math.log2(need)))
        self.states = []
        # the direct paths' dry signals, one row per source (its frames are views of it)
        self.direct = np.zeros((len(self.sources), self.nf + self.B + self.control),
                               np.float32)
        for j, s in enumerate(self.sources):
            hist = int(math.ceil(s.max_delay_s * fs)) + mp.pre_delay + 8
            st = _State(hist, self.B, self.direct[j])
            st.x, st.c = s.trajectory.pieces()
            st.moving = bool(s.trajectory.moving)
            lat = s.lattice
            if lat.size and mp.room is not None:
                odd = (lat % 2) != 0
                dims = np.asarray(mp.room.dimensions, float)
                st.base = np.ascontiguousarray(lat * dims + np.where(odd, dims, 0.0))
                st.sign = np.ascontiguousarray(np.where(odd, -1.0, 1.0))
            self.states.append(st)
        self.idle_blocks = [int(math.ceil((st.hist + self.nf) / self.B)) + 2
                            for st in self.states]
        dims = mp.room.dimensions if mp.room is not None else None
        self.dims = None if dims is None else np.asarray(dims, float)
        if mp.room is not None:
            from spatial.room.decay import air_absorption_coeffs
            from spatial.room.rir import fade_length

            self.air = air_absorption_coeffs() if mp.room.air_absorption else None
            self.fade = fade_length(mp.room)
            self.air_k = np.zeros(7) if self.air is None else np.asarray(self.air, float)
        self._one, self._unit_sign = np.zeros((1, 3)), np.ones((1, 3))
        # one worker thread: the reflections' kernels and the engine run there, in order
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="spatial-motion")
        self._jobs = []
        weakref.finalize(self, self._pool.shutdown, wait=False)
        n = np.arange(self.control)
        self.ramp = (n + 0.5) / self.control  # linear crossfade across a control block

    # -- per block -----------------------------------------------------------------------

    def process(self, b: int, t0: int, rows: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Block b (its first sample t0 on the scene's timeline) of the static inputs'
        rows -> the engine's (channels, B) output with the moving direct paths added."""
        B, grid = self.B, self.grid
        x = self.rows
        x[:] = rows
        self.rem_rows[:] = 0.0
        t = (t0 + np.arange(0, B + 1, grid)) / self.fs  # the grid, block end included
        lis = self.mp.listener
        lis_pos, yaw = lis.position(t), lis.yaw(t)
        feeds = self.feeds
        feeds[:] = 0.0
        live, directs, own = [], [], []
        for k, (src, st) in enumerate(zip(self.sources, self.states)):
            row = rows[src.input]
            x[src.input] = 0.0  # the moving path replaces its static filter
            if active[src.input]:
                st.last_active = b
            elif b - st.last_active > self.idle_blocks[k]:
                continue  # rung out: every buffer is zero
            st.buf[:st.hist] = st.buf[B:]
            st.buf[st.hist:] = row
            for c in st.coef:  # those whose 4 samples were all held (row by row: a 2-D
                c[:st.hist] = c[B:]  # copy within one array went through a temporary)
            lagrange4_coefficients(st.buf, st.hist - 2, st.buf.size - 2, st.coef)
            direct_dir, images = self._taps(k, src, st, t, lis_pos, yaw)
            live.append(k)
            directs.append(direct_dir)
            if images is None:
                continue
            fb = self.feed_of[self.T if k in self.tapped else self.bus[k]]
            if k % MAIN_SHARE == MAIN_SHARE - 1:
                own.append((images, fb))
            else:  # the worker runs these image kernels, in source order
                self._jobs.append(self._pool.submit(self._images, *images, feeds[fb]))
        # one source in MAIN_SHARE has its images read here (into feeds of its own, added
        # after the worker's: the same sums every run); then the worker runs the engine
        # and this thread spatialises the direct paths (numba kernels and scipy's FFTs
        # release the GIL: 2 cores)
        mine = None
        if own:
            mine = self.own_feeds
            mine[:] = 0.0
            for images, fb in own:
                self._images(*images, mine[fb])
        static = self._pool.submit(self._stage1, x, feeds, mine, self.rem_rows)
        direct = self._direct(live, directs) if live else None
        out = static.result()
        for job in self._jobs:
            job.result()  # done before the engine (FIFO); raises a kernel's error, if any
        self._jobs.clear()
        if direct is not None:
            for f, k, y in direct:
                o = self.offsets[f][k]
                out[o:o + y.shape[0]] += y
        return out

    def _stage1(self, x, feeds, mine, rem_rows) -> np.ndarray:
        """The static inputs' engine, then the feeds' and the remainders' (in this order)."""
        if mine is not None:
            feeds += mine
        if self.tapped and self.n_dirs:  # the dialogue's images: its bus's too, not only the tap's
            feeds[self.feed_of[0]] += feeds[self.feed_of[self.T]]
        out = self.stage1.process(x)
        self.dir_engines.process(feeds.reshape(-1, self.B), out)
        self.rem_engines.process(rem_rows, out)
        return out

    def _delays(self, tau: np.ndarray, frozen, first: int, n: int) -> np.ndarray:
        """Delays in samples of taps first..first+n, frozen where Doppler is off."""
        if frozen is not None:
            tau = np.broadcast_to(frozen[first:first + n, None], tau.shape)
        return tau * self.fs

    def _taps(self, k, src, st, t, lis_pos, yaw):
        """Read the delay line for the direct path; returns its listener-frame directions
        on the grid, (M, 3), and the arguments of _images for the source's reflections
        (or None)."""
        limit = st.hist - LAGRANGE_AFTER - 1
        tau, pos = self._solve(st, t, lis_pos, self._one, self._unit_sign, 1e-10)
        M = t.size
        delays, gains = np.empty((1, M)), np.empty((1, M, 2))
        direct_dir = np.empty((M, 3))
        frozen = -1.0 if src.frozen is None else float(src.frozen[0])
        direct_geometry(tau[0], pos[0], lis_pos, yaw, frozen, float(self.fs), float(limit),
                        MIN_DISTANCE_M, SPEED_OF_SOUND, delays, gains, direct_dir)
        dry = np.zeros((2, self.B))
        tap_delay_sum_coef(st.coef, st.hist, delays, gains, self.grid, dry)
        st.direct[:self.nf] = st.direct[self.B:self.B + self.nf]
        st.direct[self.nf:self.nf + self.B] = dry[0]
        if k in self.rem_row:
            self.rem_rows[self.rem_row[k]] = dry[1]
        images = None
        if src.lattice.shape[0] and self.n_dirs:
            # reflections on a coarser grid (their delays and directions change slowly)
            sub = slice(None, None, self.image_grid // self.grid)
            images = (src, st, np.ascontiguousarray(t[sub]),
                      np.ascontiguousarray(lis_pos[sub]), np.ascontiguousarray(yaw[sub]))
        return direct_dir, images

    def _images(self, src, st, t, lis_pos, yaw, feeds) -> None:
        """One source's images: emission-time delays, gains and pan weights on the coarse
        grid, then their taps read from its delay line into the virtual directions' feeds."""
        limit = st.hist - LAGRANGE_AFTER - 1
        tau_i, pos_i = self._solve(st, t, lis_pos, st.base, st.sign, 1e-8)
        w = np.empty(tau_i.shape + (self.n_dirs,))
        image_weights(tau_i, pos_i, lis_pos, yaw, src.band_gains, self.air_k,
                      self.mp.room.crossover, self.fade, VIRTUAL_DIRECTIONS, PAN_C0,
                      MIN_DISTANCE_M, SPEED_OF_SOUND, w)
        d_i = self._delays(tau_i, src.frozen, 1, tau_i.shape[0]) - self.mp.pre_delay
        d_i = np.clip(d_i, LAGRANGE_BEFORE + 1, limit)
        tap_delay_sum_coef(st.coef, st.hist, np.ascontiguousarray(d_i), w.astype(np.float32),
                           self.image_grid, feeds)

    @staticmethod
    def _solve(st, t, lis_pos, base, sign, tol):
        """Emission-time delays (N, M) and positions (N, M, 3) of the paths base + sign x
        (spatial.engine.emission, the numba twin of spatial.motion.emission_delay)."""
        tau = np.empty((base.shape[0], t.size))
        pos = np.empty(tau.shape + (3,))
        emission_solve(st.x, st.c, np.ascontiguousarray(t), np.ascontiguousarray(lis_pos),
                       base, sign, SPEED_OF_SOUND, st.moving, tol, 20, tau, pos)
        return tau, pos

    def _direct(self, live: list, directs: list) -> list:
        """The moving direct paths, spatialised with crossfaded filters: (format, bus,
        (C, B) block) for every format and every bus with a live source."""
        B, cb, nf = self.B, self.control, self.nf
        K = B // cb
        idx = np.arange(K + 1) * (cb // self.grid)  # control points on the grid
        frames = np.lib.stride_tricks.sliding_window_view(self.direct, nf, axis=-1)
        frames = frames[:, cb::cb][:, :K + 1]  # (sources, K + 1, nf) views
        spectra = scipy.fft.rfft(frames if len(live) == len(self.sources) else frames[live],
                                 axis=-1)
        buses = {}
        for j, k in enumerate(live):
            buses.setdefault(self.bus[k], []).append(j)
            if k in self.tapped:
                buses.setdefault(self.T, []).append(j)
        out = []
        for f in self.live:
            C = self.C[f]
            if not C or not self.motions[f].direct:
                continue  # no channels, or no direct paths (an ADM master's room bed)
            for bus, js in buses.items():
                if bus not in self.offsets[f]:
                    continue  # the tap: its format only
                L = len(js)
                dirs = np.concatenate([directs[j][idx] for j in js])  # (L (K+1), 3)
                S, rows, w, delays = self._filters(dirs, f)
                # single precision, as the engine; the sources' spectra are summed before
                # the inverse FFT (the crossfade is the same for all): one per frame and
                # channel (spatial.engine.motion_kernels.direct_spectra)
                total = np.zeros((K + 1, C, nf // 2 + 1), np.complex64)
                sub = spectra if L == len(live) else spectra[js]
                direct_spectra(sub, S, rows.reshape(L, K + 1, -1), w.reshape(L, K + 1, -1),
                               delays.reshape(L, K + 1, C) * self.fs, nf, total)
                y = scipy.fft.irfft(total, n=nf, axis=-1)  # (K+1, C, nf)
                fall = y[:K, :, nf - cb:]  # filter j over control block j
                rise = y[1:, :, nf - 2 * cb:nf - cb]  # filter j+1 over control block j
                seg = fall + (rise - fall) * self.ramp.astype(np.float32)  # (K, C, cb)
                out.append((f, bus, seg.transpose(1, 0, 2).reshape(C, B)))
        return out

    def _filters(self, dirs: np.ndarray, f: int = 0):
        """Spatial filters of the directions (N, 3) in format f as blends of stored spectra:
        (S (Q, C, F) complex64, rows (N, J), weights (N, J), delays (N, C) s), from that
        format's spatialiser (:meth:`spatial.filters.base.Spatialiser.direction_spectra`)."""
        return self.motions[f].spatialiser.direction_spectra(dirs, self.nf)
