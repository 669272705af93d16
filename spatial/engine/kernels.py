"""Numba kernels of the convolution engine: small pure functions on arrays.

Every kernel here has a plain numpy twin of the same name and signature in the
tests' ``tests/naive.py``; the tests compare the two. Planning (block
sizes, partitions, FFTs) lives in :mod:`spatial.engine.convolver`.
"""
from __future__ import annotations

import numba
import numpy as np

from spatial.engine.constants import FRACTIONAL_TAPS, KAISER_BETA

# Compiler flags of every kernel, in one place. fastmath stays off: the tests
# ask for bit-for-bit determinism and 1e-12 agreement with the numpy twins.
JIT = dict(cache=True, nogil=True, fastmath=False)


@numba.njit(**JIT)
def accumulate_partitions(fdl, head, H, acc):
    """Frequency-domain multiply-accumulate of uniformly partitioned overlap-save. In place.

    fdl:  (R, K) complex128 ring buffer of input spectra, the newest at row `head`
          (row (head - p) % R holds the spectrum of p blocks ago);
    H:    (P, C, K) complex128 filter partition spectra, P <= R;
    acc:  (C, K) complex128, accumulated in place:
          acc[c, k] += sum_p fdl[(head - p) % R, k] * H[p, c, k].
    With R == P this is the textbook UPOLS accumulation; R > P lets an input
    keep a longer history than its current filter needs (filter changes).
    """
    n_ring, n_bins = fdl.shape
    n_part, n_ch, _ = H.shape
    for p in range(n_part):
        row = (head - p) % n_ring
        for c in range(n_ch):
            for k in range(n_bins):  # contiguous in fdl, H and acc
                acc[c, k] += fdl[row, k] * H[p, c, k]


@numba.njit(**JIT)
def accumulate_routes(fdl, heads, rows_at, rows, route_input, H, h_at, parts, offset, width,
                      use, acc, c0, c1):
    """Every used route's partitions, multiplied and summed into acc[c0:c1] (overwritten).

    Packed inputs: input s owns fdl rows rows_at[s] .. + rows[s] (its ring; the newest
    spectrum at rows_at[s] + heads[s]). A route r takes input route_input[r] through
    its own filter into output channels offset[r] .. offset[r] + width[r] (an output
    group: a format, or one bus of a format); its partition p, channel j is the row
    H[h_at[r] + p * width[r] + j] (the (P, width, K) spectra, flattened). For
    c0 <= c < c1 (the other channels of acc are not touched):
    acc[c, k] = sum_r use[r] * sum_p fdl[rows_at[s] + (heads[s] - p) % rows[s], k]
                                    * H[h_at[r] + p * width[r] + c - offset[r], k],
    over the routes r whose channels hold c (s = route_input[r]). An input's transform
    is shared by all its routes. A channel's sum runs over the routes in their order
    whatever c0, c1 and whatever other groups exist, so the engine's threads (one channel
    range each, nogil) give the 1-thread result bit for bit, and a group's channels are
    the same as in an engine that has that group alone. No prange: OpenMP's spinning
    threads were 10x slower on the shared 2-core machine. The bin loop starts at 0 on
    purpose: LLVM vectorises it only when it can prove the index non-negative (a loop
    over k0..k1, or the bins in chunks, ran 2x slower).
    """
    n_bins = acc.shape[1]
    for c in range(c0, c1):
        for k in range(n_bins):
            acc[c, k] = 0.0
        for r in range(use.shape[0]):
            if not use[r]:
                continue
            j = c - offset[r]
            if j < 0 or j >= width[r]:
                continue
            s = route_input[r]
            for p in range(parts[r]):
                row = rows_at[s] + (heads[s] - p) % rows[s]
                hp = h_at[r] + p * width[r] + j
                for k in range(n_bins):  # contiguous in fdl, H and acc
                    acc[c, k] += fdl[row, k] * H[hp, k]


@numba.njit(**JIT)
def _bessel_i0(x):
    """Modified Bessel function of the first kind, order 0, by its power series.

    I0(x) = sum_m ((x/2)^m / m!)^2; every term is positive, so summing until the
    term no longer changes the sum is accurate to rounding for the |x| <= ~30
    used here (KAISER_BETA = 8).
    """
    q = 0.25 * x * x
    term = 1.0
    total = 1.0
    m = 0
    while True:
        m += 1
        term *= q / (m * m)
        new = total + term
        if new == total:
            return total
        total = new


@numba.njit(**JIT)
def fractional_delay_taps(frac):
    """Numba twin of naive.fractional_delay_taps (tests/naive.py): (FRACTIONAL_TAPS,) float64 taps.

    Delay (FRACTIONAL_TAPS//2 - 1 + frac) samples, 0 <= frac < 1; tap k sits at
    offset k - (FRACTIONAL_TAPS//2 - 1) from the integer delay.
    """
    half = FRACTIONAL_TAPS // 2
    norm = 1.0 / _bessel_i0(KAISER_BETA)
    taps = np.empty(FRACTIONAL_TAPS)
    for i in range(FRACTIONAL_TAPS):
        t = (i - (half - 1)) - frac
        u = t / half
        v = 1.0 - u * u
        if v < 0.0:
            v = 0.0
        elif v > 1.0:
            v = 1.0
        w = _bessel_i0(KAISER_BETA * np.sqrt(v)) * norm
        if t == 0.0:
            s = 1.0
        else:
            y = np.pi * t
            s = np.sin(y) / y
        taps[i] = s * w
    return taps


@numba.njit(**JIT)
def _add_scaled(out_row, start, src, scale):
    """out_row[start + j] += scale * src[j] for the j that land inside out_row."""
    length = out_row.shape[0]
    j0 = 0
    if start < 0:
        j0 = -start
    j1 = src.shape[0]
    if start + j1 > length:
        j1 = length - start
    for j in range(j0, j1):
        out_row[start + j] += scale * src[j]


@numba.njit(**JIT)
def _silent(ir):
    """True when every sample of ir is 0 (its delayed copy would add nothing)."""
    for j in range(ir.shape[0]):
        if ir[j] != 0.0:
            return False
    return True


@numba.njit(**JIT)
def _delayed(ir, d, scale, y, length, cache):
    """ir delayed by d samples (>= 0), to be added into a row of `length` samples at the
    returned start: (ir, start, True) for an integer delay (an exact shift: the caller
    scales it); else (y, start, False), y = the FRACTIONAL_TAPS-tap windowed-sinc delay
    of ir with `scale` folded into the taps (y: lh + FRACTIONAL_TAPS - 1 scratch). start
    is `length` when nothing would land inside the row (y is then not computed).
    cache: (1 + FRACTIONAL_TAPS,) scratch, [frac, taps...] of the last fractional delay
    (frac -1 at first): channels of one image share their delay, and its taps."""
    lh = ir.shape[0]
    fl = np.floor(d)
    frac = d - fl
    di = int(fl)
    if frac == 0.0:
        return ir, di if di < length and di + lh > 0 else length, True
    first = di - (FRACTIONAL_TAPS // 2 - 1)
    if first >= length or first + y.shape[0] <= 0:
        return y, length, False
    if cache[0] != frac:
        cache[1:] = fractional_delay_taps(frac)
        cache[0] = frac
    y[:] = 0.0
    for t in range(FRACTIONAL_TAPS):
        s = scale * cache[1 + t]
        for j in range(lh):
            y[t + j] += s * ir[j]
    return y, first, False


@numba.njit(**JIT)
def scatter_images(out, irs, delays, gains):
    """Add every image's response into `out`, fractionally delayed. In place.

    out: (C, L) float64; irs: (N, C, Lh); delays: (N, C) in samples (float, >= 0);
    gains: (N,). For each n, c: out[c] += gains[n] * (irs[n, c] delayed by delays[n, c]).
    An integer delay is an exact shift; otherwise the FRACTIONAL_TAPS-tap
    windowed-sinc of fractional_delay_taps is applied, its first tap
    at floor(delay) - (FRACTIONAL_TAPS//2 - 1). Samples outside [0, L) are dropped.
    """
    n_img, n_ch, lh = irs.shape
    length = out.shape[1]
    y = np.empty(lh + FRACTIONAL_TAPS - 1)  # one image's delayed response (private)
    cache = np.full(1 + FRACTIONAL_TAPS, -1.0)
    for n in range(n_img):
        g = gains[n]
        for c in range(n_ch):
            if _silent(irs[n, c]):  # a loudspeaker the image does not reach
                continue
            src, start, exact = _delayed(irs[n, c], delays[n, c], g, y, length, cache)
            if start < length:
                _add_scaled(out[c], start, src, g if exact else 1.0)


@numba.njit(**JIT)
def scatter_images_many(outs, irs, delays, gains):
    """scatter_images into R filters at once, one gain per image and filter. In place.

    outs: (R, C, L) float64; irs: (N, C, Lh); delays: (N, C) samples; gains: (N, R).
    outs[r] gets what scatter_images(outs[r], irs, delays, gains[:, r]) adds (to
    rounding: the gain scales the delayed response instead of the taps), but each
    image's fractionally delayed response is computed once for all R filters.
    """
    n_img, n_ch, lh = irs.shape
    n_out = outs.shape[0]
    length = outs.shape[2]
    y = np.empty(lh + FRACTIONAL_TAPS - 1)
    cache = np.full(1 + FRACTIONAL_TAPS, -1.0)
    for n in range(n_img):
        for c in range(n_ch):
            if _silent(irs[n, c]):  # a loudspeaker the image does not reach
                continue
            src, start, _ = _delayed(irs[n, c], delays[n, c], 1.0, y, length, cache)
            if start < length:
                for r in range(n_out):
                    _add_scaled(outs[r, c], start, src, gains[n, r])


@numba.njit(**JIT)
def load_blocks(frames, blocks):
    """Shift the overlap-save input frames by one block and load the new blocks. In place.

    frames: (S, N) float64 or float32, [history | current block] per input: the last
    H = N - B samples before the block (N = 2B: the previous block), then the block;
    blocks: (S, B) new input blocks, float64 or float32 (rounded to frames' dtype).
    After the call frames[s] = [old frames[s, B:] | blocks[s]].
    Returns (S,) bool: whether frames[s] holds any nonzero sample.
    """
    n_in, n = frames.shape
    b = blocks.shape[1]
    h = n - b
    active = np.zeros(n_in, dtype=np.bool_)
    for s in range(n_in):
        nz = False
        for j in range(h):  # forward: reads b + j before it is written (if ever)
            v = frames[s, b + j]
            frames[s, j] = v
            if v != 0.0:
                nz = True
        for j in range(b):
            frames[s, h + j] = blocks[s, j]
            if frames[s, h + j] != 0.0:
                nz = True
        active[s] = nz
    return active


@numba.njit(**JIT)
def send_bus(rows, active, inputs, gains, delays, bufs, idle, out):
    """One block of the tail's send bus: out = sum_i gains[i] * rows[inputs[i]] delayed by
    delays[i] samples (out is overwritten). In place on the delay lines.

    rows: (S, B) input blocks; active: (S,) bool, False for a silent (all-zero) row;
    bufs: (N, >= max(delays)) float64, bufs[i, :delays[i]] the last delays[i] samples
    of input inputs[i] (its delay line); idle: (N,) bool, bufs[i] holds only zeros.
    A send whose line is idle and whose input is silent costs nothing. The loops run
    over views from index 0, so that LLVM vectorises them.
    """
    b = out.shape[0]
    out[:] = 0.0
    for i in range(inputs.shape[0]):
        r = inputs[i]
        act = active[r]
        if not act and idle[i]:
            continue
        d = delays[i]
        g = gains[i]
        line = bufs[i]
        m = min(d, b)
        for j in range(m):  # the first d samples come from the line
            out[j] += g * line[j]
        if act and d < b:  # the rest from this block's row
            o = out[d:]
            x = rows[r]
            for j in range(b - d):
                o[j] += g * x[j]
        if d == 0:
            idle[i] = not act
            continue
        for j in range(d - m):  # the line keeps the last d samples
            line[j] = line[b + j]
        tail = line[d - m:d]
        if act:
            x = rows[r, b - m:]
            for j in range(m):
                tail[j] = x[j]
            idle[i] = False
        else:
            tail[:] = 0.0
            nz = False
            for j in range(d):
                if line[j] != 0.0:
                    nz = True
                    break
            idle[i] = not nz


@numba.njit(**JIT)
def crossfade_add(out, old, new, fade):
    """out += old + fade * (new - old), per channel. In place.

    out, old, new: (C, B) float64; fade: (B,) rising from 0 (all old) to 1 (all new).
    """
    n_ch, b = out.shape
    for c in range(n_ch):
        for j in range(b):
            o = old[c, j]
            out[c, j] += o + fade[j] * (new[c, j] - o)
