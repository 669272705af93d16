"""Uniformly partitioned overlap-save (UPOLS) block convolution.

Planning only: partitions, spectra and FFTs are plain numpy/scipy here; the
per-block hot loops are the numba kernels of :mod:`spatial.engine.kernels`.

Every input s has its own multichannel FIR (C, L_s), cut into P_s = ceil(L_s / B)
partitions of B taps (trailing all-zero partitions dropped), and its own
frequency-domain delay line (FDL) of R_s >= P_s input spectra: inputs are NOT
padded to the longest filter, so a short dialogue filter next to a 1.5 s tail
costs its own few partitions only. The contributions of all inputs are summed
per output channel in the frequency domain, so one block costs S forward FFTs
and C inverse FFTs (2C more in a block where filters change), of size 2B.

Silent inputs cost nothing: an input whose frame (previous and current block)
is all zero gets no forward FFT, and its multiply-accumulates are skipped
once every spectrum its filter still reaches is zero (its history has rung
out), so a sparse source (dialogue pauses, a one-shot effect) costs only while
it sounds. The spectra of all inputs live in one packed array, so the
multiply-accumulate of every input is one kernel call.

Threads (`threads` > 1): a block's work is split into jobs that the lanes of
:mod:`spatial.engine.lanes` take in turn. The forward FFTs are dealt out by
input, then the multiply-accumulate and inverse FFTs by output channel (numba
kernels with nogil, scipy.fft: both release the GIL).
Each input's spectrum and each channel's sum are computed by the same
operations in the same order whatever the lanes, so the output is the same
bit for bit on any number of threads.
"""
from __future__ import annotations

import numpy as np
import scipy.fft

try:  # scipy.fft.rfft's own kernel, which can write into a given array (rfft cannot)
    from scipy.fft._pocketfft.pypocketfft import r2c as _r2c
except ImportError:  # another scipy: scipy.fft.rfft and a copy
    _r2c = None

from spatial.engine.kernels import (accumulate_partitions, accumulate_routes, crossfade_add,
                                    load_blocks)
from spatial.engine.lanes import Lanes

DEFAULT_BLOCK = 4096  # fastest offline on 2 cores for early filters of ~50-100 ms (see RESULTS.md)
# For static scenes the render loop uses longer blocks: engine alone, CPU s per 60 s of
# audio, scene A (9 inputs) / C (65 inputs): B=4096 0.285 / 2.05, 8192 0.231 / 1.67,
# 16384 0.281 / 1.61. Longer blocks have fewer partitions to multiply and less fixed
# work per sample, but dearer FFTs per sample once the frames leave the cache.
STATIC_BLOCK = 8192
MAX_DIRECT_RUNS = 8  # _rfft_rows: calls of the transform per block before one call + a copy pays

_NEVER = -(1 << 62)  # "last nonzero block" of an input that has been silent so far


def _rfft_rows(frames, idx, fdl, dst, workers) -> None:
    """fdl[dst] = rfft(frames[idx]) (idx ascending). Where both idx and dst run in steps
    of 1 (inputs of one-partition rings, side by side in the packed array) the
    transforms are written straight into fdl: no temporary and no scatter copy."""
    global _r2c
    if _r2c is not None and idx.size:
        cut = np.flatnonzero((np.diff(idx) != 1) | (np.diff(dst) != 1)) + 1
        if cut.size < MAX_DIRECT_RUNS:
            try:
                for a, b in zip(np.concatenate([[0], cut]), np.concatenate([cut, [idx.size]])):
                    i, d = int(idx[a]), int(dst[a])
                    _r2c(frames[i:i + b - a], (1,), True, 0, fdl[d:d + b - a], workers or 1)
                return
            except TypeError:  # a scipy whose private kernel has another signature
                _r2c = None
    x = frames[idx[0]:idx[-1] + 1] if idx[-1] - idx[0] + 1 == idx.size else frames[idx]
    fdl[dst] = scipy.fft.rfft(x, axis=-1, workers=workers)


def crossfade_window(block_size: int) -> np.ndarray:
    """(B,) raised-cosine fade-in used for filter changes: 0.5 - 0.5 cos(pi (n + 0.5) / B).

    Symmetric (fade[n] + fade[B-1-n] == 1), rises from ~0 to ~1 over the block.
    """
    n = np.arange(block_size, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(np.pi * (n + 0.5) / block_size)


class BlockConvolver:
    """Multi-input, multichannel UPOLS convolver: S inputs -> C outputs, block size B.

    Usage: `add_input(filt)` once per input, then `process(blocks)` with one (S, B)
    block of every input per call; the returned (C, B) block is the sum over inputs
    of each input convolved with its filter, for the same B samples
    (`latency` = 0: output block b corresponds to input block b).

    Routes (several outputs from one pass): the C output channels may be cut into
    groups (a format, or one bus of a format). An input's filter into one group is a
    *route*: `add_input()` without a filter, then `add_route(input, filt, offset)` for
    each group it reaches, its (width, L) filter landing in channels offset ..
    offset + width. The input's forward transform is computed once and shared by all
    its routes; a group's channels are summed over its routes in the order they were
    added, exactly as an engine holding that group alone would sum them (bit for bit).
    `add_input(filt)` is `add_input()` plus a route at offset 0 over every channel.
    """

    latency = 0

    def __init__(self, block_size: int, n_outputs: int, dtype=np.float64,
                 workers: int | None = None, skip_silent: bool = True, threads: int = 1,
                 fft_size: int | None = None):
        """dtype: float64 (default) or float32 for the input frames, spectra and
        accumulation. float32 halves the FFT time and memory traffic; its error is
        ~1e-7 of the peak (the renderer's output is float32 anyway). Filter spectra
        are computed in float64 and then rounded. workers: threads of each scipy FFT
        call (default 1). skip_silent: skip the transforms and multiply-accumulates of
        silent inputs (the output is the same; False is for the tests). threads: lanes
        a block's work is split into (see the module docstring; the same output bit for
        bit), used with at least `lanes.min_inputs` inputs; `close()` stops
        the pool's threads (they also end with the convolver). fft_size: N of the
        transforms (default 2B, partitions of B taps). A smaller N >= B + 1 suits short
        filters: each must then fit one partition of N - B + 1 taps (overlap-save frames
        of N - B samples of history and the block), and a block's transforms cost about
        N / 2B of the default's (26 head-related filters of ~800 taps at B = 8192:
        N = 9000, 0.6x the time)."""
        block_size, n_outputs = int(block_size), int(n_outputs)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError("dtype must be float32 or float64")
        self._complex = np.complex64 if self.dtype == np.float32 else np.complex128
        if block_size < 1 or n_outputs < 1:
            raise ValueError("block_size and n_outputs must be >= 1")
        self.block_size = block_size
        self.n_outputs = n_outputs
        self.fft_size = N = 2 * block_size if fft_size is None else int(fft_size)
        if N < block_size + 1:
            raise ValueError(f"fft_size must be at least block_size + 1, got {N}")
        self.n_bins = N // 2 + 1  # rfft bins of the N-point FFT
        self._frames = np.zeros((0, N), self.dtype)  # (S, N) [history | current block]
        self._fdl: list[np.ndarray] = []  # per input (R_s, K), row m % R_s = block m
        self._last = np.zeros(0, np.int64)  # per input: last block whose frame was nonzero
        self._H: list[np.ndarray] = []  # per route (P_r, W_r, K) partition spectra
        self._route_input: list[int] = []  # per route: its input
        self._offset: list[int] = []  # per route: its first output channel
        self._pending: dict[int, np.ndarray] = {}  # route -> new (P, W, K), applied next block
        self._acc = np.zeros((3, n_outputs, self.n_bins), dtype=self._complex)  # main/old/new
        self._fade = crossfade_window(block_size).astype(self.dtype)
        self._count = 0  # blocks processed so far
        self.workers = workers
        self.skip_silent = bool(skip_silent)
        self._packed = None  # see _pack
        self.lanes = Lanes(threads)

    @property
    def n_inputs(self) -> int:
        return len(self._fdl)

    @property
    def n_routes(self) -> int:
        return len(self._H)

    def partitions(self, index: int) -> int:
        """Number of B-tap partitions of route `index`'s current filter."""
        return self._H[index].shape[0]

    def _pack(self):
        """Copy every input's ring and every route's partitions into two packed arrays,
        and make the per-input and per-route arrays views of them (so a later change to
        one repacks)."""
        if self._packed is not None:
            return self._packed
        rows = np.array([f.shape[0] for f in self._fdl], dtype=np.int64)
        rows_at = np.cumsum(rows) - rows
        parts = np.array([h.shape[0] for h in self._H], dtype=np.int64)
        width = np.array([h.shape[1] for h in self._H], dtype=np.int64)
        size = parts * width
        h_at = np.cumsum(size) - size
        fdl = np.zeros((int(rows.sum()), self.n_bins), self._complex)
        H = np.zeros((int(size.sum()), self.n_bins), self._complex)
        for s in range(len(self._fdl)):
            fdl[rows_at[s]:rows_at[s] + rows[s]] = self._fdl[s]
            self._fdl[s] = fdl[rows_at[s]:rows_at[s] + rows[s]]
        for r, h in enumerate(self._H):
            view = H[h_at[r]:h_at[r] + size[r]]
            view[:] = h.reshape(size[r], self.n_bins)
            self._H[r] = view.reshape(h.shape)
        route_input = np.array(self._route_input, dtype=np.int64)
        offset = np.array(self._offset, dtype=np.int64)
        self._packed = (fdl, rows_at, rows, H, h_at, parts, route_input, offset, width)
        return self._packed

    # -- planning -----------------------------------------------------------------

    def _spectra(self, filt, width: int | None = None) -> np.ndarray:
        """(W, L) filter -> (P, W, K) partition spectra (trailing zero partitions dropped)."""
        width = self.n_outputs if width is None else width
        filt = np.asarray(filt, dtype=np.float64)
        if filt.ndim != 2 or filt.shape[0] != width or filt.shape[1] < 1:
            raise ValueError(f"filter must be (C={width}, L>=1), got shape {filt.shape}")
        if not np.all(np.isfinite(filt)):
            raise ValueError("filter has non-finite taps")
        B, C, L, N = self.block_size, width, filt.shape[1], self.fft_size
        if N != 2 * B:  # one partition of up to N - B + 1 taps
            if L > N - B + 1:
                raise ValueError(f"a filter of {L} taps does not fit the transforms of "
                                 f"{N} points at block {B} (at most {N - B + 1} taps)")
            frames = np.zeros((1, C, N))
            frames[0, :, :L] = filt
            return np.ascontiguousarray(scipy.fft.rfft(frames, axis=-1), dtype=self._complex)
        n_part = -(-L // B)
        padded = np.zeros((C, n_part * B))
        padded[:, :L] = filt
        parts = padded.reshape(C, n_part, B).transpose(1, 0, 2)  # (P, C, B)
        nonzero = np.flatnonzero(np.any(parts != 0.0, axis=(1, 2)))
        n_part = int(nonzero[-1]) + 1 if nonzero.size else 1
        frames = np.zeros((n_part, C, 2 * B))
        frames[:, :, :B] = parts[:n_part]
        return np.ascontiguousarray(scipy.fft.rfft(frames, axis=-1), dtype=self._complex)

    def _ensure_history(self, index: int, n_rows: int) -> None:
        """Grow input `index`'s FDL ring to at least n_rows, keeping the spectra it holds."""
        old = self._fdl[index]
        r_old = old.shape[0]
        if n_rows <= r_old:
            return
        new = np.zeros((n_rows, self.n_bins), dtype=self._complex)
        n = self._count  # rows of blocks n-1, n-2, ..., n-r_old are valid in `old`
        for p in range(1, r_old + 1):
            m = n - p
            new[m % n_rows] = old[m % r_old]
        self._fdl[index] = new
        self._packed = None

    def add_input(self, filt=None, max_length: int | None = None) -> int:
        """Register an input; returns its index (0, 1, ...). With its (C, L) FIR
        (L >= 1) it also gets a route over every output channel (route index = input
        index while every input is added this way); without, give it routes with
        `add_route`.

        max_length: longest filter (taps) a later `set_filter` may give this input with
        exact results. The delay line keeps max(L, max_length) taps of history; a later
        filter longer than the history held sees the older input as silence.
        Inputs may be added between blocks; a new input's history is silence.
        """
        B = self.block_size
        self._fdl.append(np.zeros((max(1, -(-int(max_length or 0) // B)), self.n_bins),
                                  dtype=self._complex))
        self._last = np.append(self._last, np.int64(_NEVER))
        self._packed = None
        frames = np.zeros((len(self._fdl), self.fft_size), self.dtype)
        frames[:-1] = self._frames
        self._frames = frames
        index = len(self._fdl) - 1
        if filt is not None:
            self.add_route(index, filt, 0)
        return index

    def add_route(self, index: int, filt, offset: int = 0) -> int:
        """Input `index` through its (W, L) filter into output channels offset ..
        offset + W; returns the route's index. Routes of one input share its history."""
        if not 0 <= index < len(self._fdl):
            raise IndexError(f"no input {index}")
        width = np.shape(filt)[0] if np.ndim(filt) == 2 else -1
        if not (0 <= offset and width >= 1 and offset + width <= self.n_outputs):
            raise ValueError(f"a route's channels must lie within the {self.n_outputs} "
                             f"outputs, got offset {offset} and filter shape {np.shape(filt)}")
        H = self._spectra(filt, width)
        self._ensure_history(index, H.shape[0])
        self._H.append(H)
        self._route_input.append(int(index))
        self._offset.append(int(offset))
        self._packed = None
        return len(self._H) - 1

    def set_filter(self, index: int, filt) -> None:
        """Replace route `index`'s (W, L) filter; takes effect on the next `process` call.

        That block is the raised-cosine crossfade (`crossfade_window`) from the output of
        the old filter to the output of the new one (both full convolutions of the
        input's history); later blocks use the new filter alone. Calling it again before
        `process` replaces the pending filter (the fade still starts from the current one).
        """
        if not 0 <= index < len(self._H):
            raise IndexError(f"no route {index}")
        H = self._spectra(filt, self._H[index].shape[1])
        self._ensure_history(self._route_input[index], H.shape[0])
        self._pending[index] = H

    # -- the block loop -------------------------------------------------------------

    def process(self, blocks) -> np.ndarray:
        """One (S, B) block of every input (in `add_input` order) -> one (C, B) output block.
        blocks may be float64 or float32 (rounded to the engine's dtype as they are loaded)."""
        blocks = np.asarray(blocks)
        if blocks.dtype not in (np.float32, np.float64):
            blocks = blocks.astype(self.dtype)
        S, B, C, N = len(self._fdl), self.block_size, self.n_outputs, self.fft_size
        if blocks.shape != (S, B):
            raise ValueError(f"expected blocks of shape ({S}, {B}), got {blocks.shape}")
        fdl, rows_at, rows, H, h_at, parts, route_input, offset, width = self._pack()
        frames = self._frames
        n = self._count
        heads = n % rows
        lanes = self.lanes.for_block(n, S, C)
        fft_workers = self.workers if lanes == 1 else None
        active = np.empty(S, np.bool_)

        def forward(lo, hi):
            """Inputs lo..hi: load the frames; the spectra of those holding sound into
            their ring rows (a silent frame's spectrum is zero: no FFT)."""
            if lo == hi:
                return
            act = active[lo:hi]
            act[:] = load_blocks(frames[lo:hi], blocks[lo:hi])
            if not self.skip_silent:
                act[:] = True
            idx = lo + np.flatnonzero(act)
            if idx.size == 0:
                return
            _rfft_rows(frames, idx, fdl, rows_at[idx] + heads[idx], fft_workers)

        self.lanes.split(forward, S, lanes, n)
        live = np.flatnonzero(active)
        last = self._last
        last[live] = n
        idle = n - last  # ring rows newer than this lag are all zero
        # a silent input's ring row is cleared unless it holds zeros already (the block
        # it held, n - R, was after the last active one)
        clear = np.flatnonzero(~active & (idle <= rows))
        if clear.size:
            fdl[rows_at[clear] + heads[clear]] = 0.0
        use = idle[route_input] < parts  # per route
        fading = False
        if self._pending:
            fading = self._crossfade_routes(heads, idle, use)
        self._count = n + 1
        n_acc = 3 if fading else 1
        out = np.empty((C, B), self.dtype)
        acc = self._acc

        def backward(c0, c1):
            """Channels c0..c1: multiply-accumulate, inverse FFTs, crossfade."""
            if c0 == c1:
                return
            accumulate_routes(fdl, heads, rows_at, rows, route_input, H, h_at, parts, offset,
                              width, use, acc[0], c0, c1)
            y = scipy.fft.irfft(acc[:n_acc, c0:c1], n=N, axis=-1, workers=fft_workers)
            out[c0:c1] = y[0, :, N - B:]
            if fading:
                crossfade_add(out[c0:c1], y[1, :, N - B:], y[2, :, N - B:], self._fade)

        self.lanes.split(backward, C, lanes, n)
        return out

    def close(self) -> None:
        """End the worker threads (a later `process` makes new ones)."""
        self.lanes.close()

    def _crossfade_routes(self, heads, idle, use) -> bool:
        """Routes with a pending filter: old and new filter into acc[1], acc[2] (and not
        into acc[0]); the new filter becomes current. Returns whether any was summed."""
        acc = self._acc
        fading = False
        for r, new in self._pending.items():
            use[r] = False
            old = self._H[r]
            self._H[r] = new
            s = self._route_input[r]
            if idle[s] < max(old.shape[0], new.shape[0]):
                if not fading:
                    acc[1:].fill(0.0)
                    fading = True
                c0, c1 = self._offset[r], self._offset[r] + old.shape[1]
                accumulate_partitions(self._fdl[s], int(heads[s]), old, acc[1, c0:c1])
                accumulate_partitions(self._fdl[s], int(heads[s]), new, acc[2, c0:c1])
        self._pending.clear()
        self._packed = None  # the new filters are packed before the next block
        return fading


def convolve(signals, filters, block_size: int = DEFAULT_BLOCK, length: int | None = None,
             dtype=np.float64) -> np.ndarray:
    """Offline: sum_i signals[i] * filters[i] per output channel, through the block loop.

    signals: list of 1-D arrays; filters: list of (C, L_i) arrays (same C).
    Returns (C, n) float64, n = max_i(len(signals[i]) + L_i - 1) unless `length` is given.
    """
    if len(signals) != len(filters) or not filters:
        raise ValueError("need one (C, L) filter per signal, and at least one")
    signals = [np.asarray(s, dtype=np.float64).ravel() for s in signals]
    filters = [np.atleast_2d(np.asarray(f, dtype=np.float64)) for f in filters]
    B = int(block_size)
    conv = BlockConvolver(B, filters[0].shape[0], dtype=dtype)
    for f in filters:
        conv.add_input(f)
    if length is None:
        length = max(s.size + f.shape[1] - 1 for s, f in zip(signals, filters))
    n = max(int(length), 0)
    n_blocks = -(-n // B)
    out = np.empty((conv.n_outputs, n_blocks * B))
    blocks = np.zeros((len(signals), B))
    for b in range(n_blocks):
        t0 = b * B
        for i, sig in enumerate(signals):
            chunk = sig[t0:t0 + B]
            blocks[i, :chunk.size] = chunk
            blocks[i, chunk.size:] = 0.0
        out[:, t0:t0 + B] = conv.process(blocks)
    return out[:, :n]
