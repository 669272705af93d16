"""A look-ahead true-peak limiter: no sample, and no point between samples (4x
oversampled, as :class:`spatial.dsp.loudness.TruePeak` measures), above the ceiling.

The gain is computed from the programme itself, read ahead, and is a smooth
curve (no clicks, no overshoot):

1. needed[k] = min(1, ceiling / peak[k]), peak[k] the largest magnitude near
   frame k (the frame's samples and the 4x-interpolated points around it, over
   all channels);
2. held[k] = min(needed[k - HOLD .. k + B]): every reduction starts B frames
   early and is held HOLD frames after the peak (so a sustained low tone is
   not modulated cycle by cycle);
3. gain = held averaged over the frames [p - B, p], then over [p, p + M]: two
   box filters make the attack and release S-shaped ramps of B + M frames.
   Every window that sets the gain at a peak's frame holds only values at or
   below that peak's need, so the gain there is at most the need: the ceiling
   holds by construction (a small margin covers the interpolation of a gain
   that changes across a few frames).

It is stateless by construction: each chunk of output is computed from the
chunk read with PAD frames of context on either side (zeros outside the
programme), so the result does not depend on how the programme is cut.
Latency is therefore free: the mastering passes of :mod:`spatial.master` read
their input (a file, an array) at any position.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from spatial.dsp.loudness import interpolator, oversampled_peak

ATTACK_S = 0.0015  # B and M: the two box filters (attack and release ramps of 3 ms)
HOLD_S = 0.04  # a reduction is held this long after the peak (longer than a 25 Hz cycle)
MARGIN_DB = 0.1  # the limiter aims this far below the ceiling
CHUNK = 1 << 16  # frames per output chunk


class Limiter:
    """limit(read, n) over a programme of n frames; read(a, b) -> (b - a, C) frames."""

    def __init__(self, fs: int, ceiling_db: float):
        self.ceiling = 10.0 ** ((ceiling_db - MARGIN_DB) / 20.0)
        self.b = max(1, int(round(ATTACK_S * fs)))
        self.hold = max(2, int(round(HOLD_S * fs)))
        if (self.hold - self.b) % 2:
            self.hold += 1  # the min filter is centred: its span must be odd
        self.phases = interpolator()
        self.taps = self.phases.shape[1]
        self.pad = self.hold + 2 * self.b + 2 * self.taps + 8
        self.reduced_frames = 0  # frames whose gain is below 1 (for the summary)
        self.min_gain = 1.0

    def peaks(self, x: np.ndarray) -> np.ndarray:
        """(n,) largest magnitude near each frame of x (n, C)."""
        taps = self.taps
        p = np.abs(x).max(axis=1)
        over = oversampled_peak(np.concatenate([np.zeros((taps - 1, x.shape[1])), x]),
                                self.phases, floor=self.ceiling)  # only what may pass it
        # phase outputs at frame j interpolate around frame j - taps / 2 (the filter's delay)
        shift = taps // 2
        aligned = np.zeros_like(p)
        aligned[:p.size - shift] = over[shift:]
        p = np.maximum(p, aligned)
        return ndimage.maximum_filter1d(p, size=5, mode="constant")  # +-2 frames of slack

    def gain_curve(self, peaks: np.ndarray) -> np.ndarray:
        """The gain for every frame of peaks (valid PAD frames from either end)."""
        needed = np.minimum(1.0, self.ceiling / np.maximum(peaks, 1e-30))
        b, hold = self.b, self.hold
        span = hold + b + 1  # window [k - hold, k + b], centred at k + (b - hold) / 2
        centred = ndimage.minimum_filter1d(needed, size=span, mode="nearest")
        held = np.roll(centred, (hold - b) // 2)  # held[k] = centred[k - (hold - b) / 2]
        c = np.concatenate([[0.0], np.cumsum(held)])
        n = held.size
        idx = np.arange(n)
        lo, hi = np.clip(idx - b, 0, n), np.clip(idx + 1, 0, n)
        first = (c[hi] - c[lo]) / (b + 1)  # mean over [p - b, p]
        c = np.concatenate([[0.0], np.cumsum(first)])
        lo, hi = np.clip(idx, 0, n), np.clip(idx + b + 1, 0, n)
        return (c[hi] - c[lo]) / (b + 1)  # mean over [p, p + b]

    def limit(self, read, n: int, chunk: int = CHUNK):
        """Yield the limited programme in chunks of (<= chunk, C) float64 frames."""
        pad = self.pad
        for a in range(0, n, chunk):
            e = min(n, a + chunk)
            x = read(a - pad, e + pad)
            g = self.gain_curve(self.peaks(x))[pad:pad + e - a]
            low = g < 1.0
            self.reduced_frames += int(np.count_nonzero(low))
            if low.any():
                self.min_gain = min(self.min_gain, float(g.min()))
            yield x[pad:pad + e - a] * g[:, None]
