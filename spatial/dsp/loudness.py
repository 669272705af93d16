"""Loudness (ITU-R BS.1770-4), loudness range (EBU Tech 3342) and true peak, block by block.

A :class:`Meter` takes (n, C) blocks of any size and keeps one number per
100 ms: the channel-weighted mean square of the K-weighted signal. That is all
the measures need, so a programme of any length is measured in bounded memory
(36 000 floats an hour):

- integrated loudness: 400 ms gating blocks with 75 % overlap (four 100 ms
  steps), absolute gate -70 LUFS, relative gate -10 LU (BS.1770-4 eq. 4-7);
- loudness range: 3 s short-term blocks every 100 ms, absolute gate -70 LUFS,
  relative gate -20 LU, the 10th to 95th percentile (EBU Tech 3342);
- true peak: the largest magnitude of the signal 4x oversampled
  (:class:`TruePeak`, BS.1770-4 annex 2), in dBTP.

K-weighting is the two biquads of BS.1770 (the high shelf of the head and the
RLB high-pass) designed for any rate as in libebur128 (exact at 48 kHz); the
filters keep their state between blocks (:func:`spatial.dsp.biquads.sosfilt`, a numba
kernel: scipy.signal is not imported on a render's path, it costs ~0.6 s of start-up).

Channel weights (BS.1770-4 table 4): the LFE does not count; loudspeakers at
60..120 degrees of azimuth (either side) and below 30 degrees of elevation
weigh 1.41 (+1.5 dB); every other channel 1. Ambisonic output is measured on
W alone (the omnidirectional signal, SN3D: a source's own level); binaural as
two-channel stereo.
"""
from __future__ import annotations

import numpy as np

from spatial.dsp.biquads import FLUSH_BELOW, sosfilt

STEP_S = 0.1  # the meter's resolution: 100 ms steps
GATE_BLOCKS = 4  # 400 ms gating block = 4 steps (75 % overlap)
SHORT_TERM_BLOCKS = 30  # 3 s short-term loudness
ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU, integrated loudness
LRA_RELATIVE_GATE = -20.0  # LU, loudness range
LRA_PERCENTILES = (10.0, 95.0)
OVERSAMPLE = 4
TRUE_PEAK_TAPS = 32  # per phase (BS.1770-4 annex 2 has 12): within 0.01 dB up to 20 kHz on
# the 4x grid, which itself under-reads a tone by at most cos(pi f / 4 fs): 0.22 dB at 16 kHz


def k_weighting(fs: int) -> np.ndarray:
    """The BS.1770 K-weighting filter at rate fs as second-order sections (2, 6)."""
    # stage 1: high shelf (+4 dB above ~1.7 kHz); stage 2: RLB high-pass at ~38 Hz
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / fs)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0,
             (vh - vb * k / q + k * k) / a0, 1.0, 2.0 * (k * k - 1.0) / a0,
             (1.0 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / fs)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def channel_weights(channels) -> np.ndarray:
    """BS.1770-4 weights of the output channels (spatial.filters.base.Channel)."""
    names = [c.name for c in channels]
    if names and names[0] == "ACN0":
        return np.array([1.0] + [0.0] * (len(names) - 1))
    out = []
    for c in channels:
        az, el = c.azimuth_deg, c.elevation_deg
        if c.name == "LFE":
            out.append(0.0)
        elif az is not None and 60.0 <= abs(((az + 180.0) % 360.0) - 180.0) <= 120.0 \
                and abs(el or 0.0) < 30.0:
            out.append(1.41)
        else:
            out.append(1.0)
    return np.array(out)


def to_lufs(mean_square) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(np.asarray(mean_square, float))


class Meter:
    """K-weighted, channel-weighted mean square per 100 ms of (n, C) blocks.

    weights: (C,) channel weights (:func:`channel_weights`). ``steps`` (after
    :meth:`finish`) is the array the measures are computed from.
    """

    def __init__(self, fs: int, weights):
        self.fs = int(fs)
        self.weights = np.asarray(weights, float)
        self.sos = k_weighting(self.fs)
        self.zi = np.zeros((2, 2, self.weights.size))  # (sections, 2, channels)
        self.step = int(round(STEP_S * self.fs))
        self.acc, self.filled = 0.0, 0  # the step being filled
        self._steps: list[float] = []

    def add(self, block: np.ndarray) -> None:
        x = np.asarray(block, np.float64).reshape(block.shape[0], -1)
        if not x.shape[0]:
            return
        y, self.zi = sosfilt(self.sos, x, self.zi, FLUSH_BELOW)
        power = (y * y) @ self.weights  # (n,) weighted sum over channels
        i = 0
        while i < power.size:
            take = min(self.step - self.filled, power.size - i)
            self.acc += float(power[i:i + take].sum())
            self.filled += take
            i += take
            if self.filled == self.step:
                self._steps.append(self.acc / self.step)
                self.acc, self.filled = 0.0, 0

    @property
    def steps(self) -> np.ndarray:
        """Mean square per complete 100 ms step (a final partial step is left out)."""
        return np.asarray(self._steps)

    def integrated(self) -> float:
        return integrated(self.steps)

    def loudness_range(self) -> float:
        return loudness_range(self.steps)


def _blocks(steps: np.ndarray, n: int) -> np.ndarray:
    """Mean square of every window of n consecutive steps (hop: one step)."""
    if steps.size < n:
        return np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(steps)])
    return (c[n:] - c[:-n]) / n


def integrated(steps: np.ndarray, blocks: np.ndarray | None = None) -> float:
    """BS.1770-4 gated integrated loudness (LUFS) from 100 ms mean squares; -inf if silent."""
    z = _blocks(np.asarray(steps, float), GATE_BLOCKS) if blocks is None else blocks
    gated = z[to_lufs(z) >= ABSOLUTE_GATE]
    if not gated.size:
        return float("-inf")
    relative = to_lufs(gated.mean()) + RELATIVE_GATE
    gated = gated[to_lufs(gated) > relative]
    return float(to_lufs(gated.mean())) if gated.size else float("-inf")


def loudness_range(steps: np.ndarray) -> float:
    """EBU Tech 3342 loudness range (LU) from 100 ms mean squares; 0 if too short."""
    st = to_lufs(_blocks(np.asarray(steps, float), SHORT_TERM_BLOCKS))
    st = st[st >= ABSOLUTE_GATE]
    if not st.size:
        return 0.0
    relative = to_lufs(np.mean(10.0 ** ((st + 0.691) / 10.0))) + LRA_RELATIVE_GATE
    st = st[st >= relative]
    lo, hi = np.percentile(st, LRA_PERCENTILES)
    return float(hi - lo)


def dialogue_to_background(dialogue: np.ndarray, background: np.ndarray) -> float | None:
    """Loudness of dialogue minus that of the rest (LU), over the passages where dialogue
    is present: the 400 ms blocks that pass the dialogue's own BS.1770 gates. None if
    there is no dialogue or no background in those passages."""
    zd = _blocks(np.asarray(dialogue, float), GATE_BLOCKS)
    zb = _blocks(np.asarray(background, float), GATE_BLOCKS)[:zd.size]
    zd = zd[:zb.size]
    live = to_lufs(zd) >= ABSOLUTE_GATE
    if not live.any():
        return None
    live &= to_lufs(zd) > to_lufs(zd[live].mean()) + RELATIVE_GATE
    if not live.any() or zb[live].mean() <= 0.0:
        return None
    return float(to_lufs(zd[live].mean()) - to_lufs(zb[live].mean()))


def interpolator() -> np.ndarray:
    """The 4x oversampling interpolator as its 4 phases, (4, TRUE_PEAK_TAPS + 1): a
    windowed sinc of odd length cut at the original Nyquist frequency, so phase 0
    is the samples themselves and the grid of interpolated points is the one of
    BS.1770-4 annex 2 (and of ffmpeg's ebur128): the samples and the points
    1/4, 1/2 and 3/4 of the way between them."""
    n = OVERSAMPLE * TRUE_PEAK_TAPS + 1
    # scipy.signal.firwin(n, 1 / OVERSAMPLE, window=("kaiser", 9.0)), written out: the
    # ideal low-pass (sinc) times the window, scaled to unit gain at DC
    m = np.arange(n) - 0.5 * (n - 1)
    h = np.sinc(m / OVERSAMPLE) / OVERSAMPLE * np.kaiser(n, 9.0)
    h = h / h.sum() * OVERSAMPLE
    h = np.concatenate([h, np.zeros(OVERSAMPLE - 1)])  # 4 (taps + 1) taps
    return h.reshape(-1, OVERSAMPLE).T


class TruePeak:
    """Largest magnitude of (n, C) blocks oversampled 4x (state kept between blocks)."""

    def __init__(self, n_channels: int):
        self.phases = interpolator()  # (4, taps)
        self.taps = self.phases.shape[1]
        self.history = np.zeros((self.taps - 1, n_channels), np.float32)  # (as interpolated)
        self.peak = 0.0  # linear
        self.sample_peak = 0.0
        self.clipped = 0  # samples above full scale

    def add(self, block: np.ndarray) -> None:
        x = np.asarray(block).reshape(block.shape[0], -1)
        if not x.shape[0]:
            return
        a = np.abs(x)
        self.sample_peak = max(self.sample_peak, float(a.max()))
        self.clipped += int(np.count_nonzero(a > 1.0))
        xh = np.concatenate([self.history, x.astype(np.float32, copy=False)])
        self.peak = peak_above(xh, self.phases, max(self.peak, self.sample_peak))
        self.history = xh[-(self.taps - 1):]

    @property
    def dbtp(self) -> float:
        return db(self.peak)


def oversampled_peak(x: np.ndarray, phases: np.ndarray, floor: float = 0.0,
                     chunk: int = 4096) -> np.ndarray:
    """Per-frame peak of x (n, C) oversampled 4x by `phases` (4, taps); the first
    taps - 1 frames are history: returns (n - taps + 1,) peaks over the channels.

    Exact where it matters, cheap elsewhere: an interpolated point is at most
    sum |h| (the phase's L1 norm) times the largest sample in its window, so a
    frame whose bound is at or below `floor` cannot peak above it and is not
    interpolated (its value is then its window's largest sample, <= floor). The
    rest are each frame's window of taps samples times the (taps, 4) phase
    matrix, in single precision (stacked matrix products)."""
    from numpy.lib.stride_tricks import sliding_window_view

    taps = phases.shape[1]
    n = x.shape[0] - taps + 1
    if n <= 0:
        return np.zeros(0)
    xs = np.asarray(x, np.float32)
    m = np.abs(xs).max(axis=1)
    # window of output frame j: samples j .. j + taps - 1
    wmax = window_max(m, taps)
    out = wmax.astype(np.float64)
    l1 = float(np.abs(phases).sum(axis=1).max())
    todo = np.flatnonzero(wmax * l1 > floor)
    if not todo.size:
        return out
    kernel = np.ascontiguousarray(phases[:, ::-1].T, dtype=np.float32)  # (taps, 4)
    windows = sliding_window_view(xs, taps, axis=0)  # (n, C, taps), a view
    for a in range(0, todo.size, chunk):
        rows = todo[a:a + chunk]
        out[rows] = np.abs(windows[rows] @ kernel).max(axis=(1, 2))
    return out


def window_max(m: np.ndarray, taps: int) -> np.ndarray:
    """out[j] = max(m[j:j + taps]) for j = 0 .. len(m) - taps: (len(m) - taps + 1,), exact
    (scipy.ndimage.maximum_filter1d(m, taps, origin=-(taps // 2))[:len(m) - taps + 1]
    without importing scipy.ndimage), by doubling spans: log2(taps) maxima of arrays."""
    out, span = m, 1
    while span * 2 <= taps:
        out = np.maximum(out[:-span], out[span:])  # max over span * 2 samples
        span *= 2
    rest = taps - span  # < span: two overlapping spans cover the window
    return np.maximum(out[:-rest], out[rest:]) if rest else out


NEAR_TAPS = 4  # taps around each phase's centre the bound weighs sample by sample
# relative error of a frame's single-precision products (taps + 1 roundings of 2**-24
# each, relative to sum |h| |x| <= the frame's bound), doubled
PEAK_TOLERANCE = 2.0 * (TRUE_PEAK_TAPS + 2) * 2.0 ** -24


def peak_above(x: np.ndarray, phases: np.ndarray, floor: float) -> float:
    """max(floor, the largest interpolated magnitude of x (n, C) by `phases` (4, taps)),
    the first taps - 1 frames being history: the same number as
    max(floor, oversampled_peak(x, phases).max()), found with far fewer products.

    Each frame gets an upper bound (spatial.dsp.peak_kernels.peak_bounds): its
    phase's NEAR_TAPS central coefficients times the samples under them, plus the
    other coefficients' L1 norm times the window's largest sample (channels folded
    by their largest magnitude). Frames whose bound passes the largest value found
    so far are interpolated in double precision (peak_candidates), each with the
    error bound of single-precision products; only the few that can then be the
    largest are interpolated as oversampled_peak does (the same single-precision
    products), so the maximum is the same to the bit."""
    from numpy.lib.stride_tricks import sliding_window_view

    from spatial.dsp.peak_kernels import peak_bounds, peak_candidates

    taps = phases.shape[1]
    n = x.shape[0] - taps + 1
    if n <= 0:
        return float(floor)
    xs = np.ascontiguousarray(x, np.float32).reshape(x.shape[0], -1)
    best = float(floor)
    centre = taps // 2
    bound = np.empty(n)
    peak_bounds(xs, np.ascontiguousarray(np.abs(phases), np.float64),
                centre - NEAR_TAPS // 2, centre + NEAR_TAPS // 2, bound)
    bound *= 1.0 + 1e-4  # over the rounding of the single-precision products
    kernel = np.ascontiguousarray(phases[:, ::-1].T, dtype=np.float32)  # (taps, 4)
    value, tol = np.empty(n), np.empty(n)
    lower = peak_candidates(xs, kernel, bound, best, PEAK_TOLERANCE, value, tol)
    rows = np.flatnonzero(value + tol >= lower)
    if not rows.size:
        return best
    windows = sliding_window_view(xs, taps, axis=0)  # (n, C, taps), a view
    return max(best, float(np.abs(windows[rows] @ kernel).max()))


def db(x: float) -> float:
    return float(20.0 * np.log10(x)) if x > 0 else float("-inf")
