"""Reverberance: T30 and EDT (ISO 3382-1) from an impulse response, or an estimate
from the free decays of a programme.

From an impulse response (:func:`decay_times`; a scene's own, :func:`scene_reverberance`):
the response filtered into the 500 Hz and 1 kHz octave bands (4th-order
Butterworth, forwards and backwards), the Schroeder backward integral of each
(energy decay curve, dB), a least-squares line fitted to it from 0 to -10 dB
(EDT: 60 / its slope, i.e. 6 x the time to fall 10 dB) and from -5 to -35 dB
(T30: twice the time to fall 30 dB); each figure the mean of the two bands (ISO
3382-1's "mid-frequency" value). The rendered responses are noiseless, so no
truncation or noise compensation is needed.

From a programme (:class:`DecayTracker`, for a file): the mix, mean over its
channels, band-passed to 500 Hz - 2 kHz, its energy in 20 ms frames (three-frame
moving average) in dB. A free decay is a run from a local maximum over which the
level keeps falling (a rise of more than RISE_DB above the run's lowest point ends
it) by at least FIT_END_DB; a line fitted from -5 to -25 dB below its start gives
60 / slope (T20 scaled to 60 dB). The estimate is the median over every free
decay found. Limits: it needs the programme to stop or pause (offsets with 25 dB
of free decay above whatever continues); continuous music or noise has none and
gives None. A decay that an instrument or a fade-out makes (not the room) counts
too, so on music it reads long; dry speech in a quiet room reads the room's
reverberation, within ~20 %.
"""
from __future__ import annotations

import numpy as np

BANDS_HZ = (500.0, 1000.0)
FRAME_S = 0.02
RISE_DB = 2.0
FIT_START_DB, FIT_END_DB = -5.0, -25.0
MIN_DECAYS = 1


def schroeder_db(energy: np.ndarray) -> np.ndarray:
    """Energy decay curve (dB, 0 at the start) of an energy sequence (n,)."""
    edc = np.cumsum(np.asarray(energy, float)[::-1])[::-1]
    if not edc[0] > 0.0:
        return np.full(edc.shape, -np.inf)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(edc / edc[0])


def fit_decay(curve_db: np.ndarray, rate: float, top: float, bottom: float) -> float | None:
    """60 / (dB per second) of a least-squares line through the curve from `top` down to
    `bottom` dB (both <= 0), curve sampled at `rate` per second; None if it never gets
    that low or does not fall."""
    below_top = np.flatnonzero(curve_db <= top)
    below_bottom = np.flatnonzero(curve_db <= bottom)
    if not below_top.size or not below_bottom.size:
        return None
    a, b = int(below_top[0]), int(below_bottom[0])
    if b - a < 2:
        return None
    t = np.arange(a, b + 1) / rate
    slope = np.polyfit(t, curve_db[a:b + 1], 1)[0]
    return float(-60.0 / slope) if slope < 0.0 else None


def decay_times(ir: np.ndarray, fs: int) -> tuple[float | None, float | None]:
    """(T30, EDT) in seconds of an impulse response (n,) or (n, C) (module doc)."""
    from scipy import signal

    x = np.asarray(ir, float).reshape(np.shape(ir)[0], -1)
    t30s, edts = [], []
    for fc in BANDS_HZ:
        sos = signal.butter(4, [fc / np.sqrt(2), fc * np.sqrt(2)], "bandpass", fs=fs,
                            output="sos")
        y = signal.sosfiltfilt(sos, x, axis=0)
        curve = schroeder_db((y * y).sum(axis=1))
        t30s.append(fit_decay(curve, fs, -5.0, -35.0))
        edts.append(fit_decay(curve, fs, 0.0, -10.0))
    t30 = float(np.mean(t30s)) if all(v is not None for v in t30s) else None
    edt = float(np.mean(edts)) if all(v is not None for v in edts) else None
    return t30, edt


def scene_reverberance(scene, sources: int = 3) -> tuple[dict, str | None]:
    """{t30_s, edt_s, method} of a scene's room from its own impulse responses (mono
    receiver at the listener, spatial.renderer.impulse_response), the median over
    its first `sources` diegetic sources; and a reason when they are None."""
    from spatial.renderer import impulse_response

    if scene.room is None:
        return {"t30_s": None, "edt_s": None, "method": None}, "free field: no room"
    names = [s.name for s in scene.sources if s.diegetic][:sources]
    if not names:
        return ({"t30_s": None, "edt_s": None, "method": None},
                "no diegetic source: nothing sounds in the room")
    from spatial.errors import SceneError

    try:
        mono = scene.with_output(format="mono", lfe=(), speakers=None)
    except SceneError as err:  # said, not raised: the render itself was fine
        return ({"t30_s": None, "edt_s": None, "method": None},
                f"no mono impulse response of this scene ({err.problems[0].message})")
    t30s, edts = [], []
    for name in names:
        ir = impulse_response(mono, name)
        t30, edt = decay_times(ir.audio, ir.sample_rate)
        if t30 is not None:
            t30s.append(t30)
        if edt is not None:
            edts.append(edt)
    method = (f"ISO 3382-1 Schroeder integration of the room's impulse response "
              f"(mono, 500 Hz + 1 kHz octaves, median of {len(names)} source"
              f"{'s' if len(names) > 1 else ''})")
    out = {"t30_s": float(np.median(t30s)) if t30s else None,
           "edt_s": float(np.median(edts)) if edts else None, "method": method}
    return out, None if t30s else "the impulse response does not decay by 35 dB"


class DecayTracker:
    """The band-passed energy of a programme in 20 ms frames, for :meth:`estimate`
    (module doc). Memory: one float per 20 ms (180 000 floats for an hour)."""

    def __init__(self, fs: int):
        from scipy import signal

        self.fs = int(fs)
        hi = min(2000.0, 0.45 * fs)
        self.sos = signal.butter(4, [500.0, hi], "bandpass", fs=fs, output="sos")
        self.zi = np.zeros((self.sos.shape[0], 2))
        self.frame = max(1, int(round(FRAME_S * fs)))
        self.acc, self.filled = 0.0, 0
        self.energy: list[float] = []

    def add(self, x: np.ndarray) -> None:
        """x: (n, C) of the channels to count (mean over them)."""
        from spatial.dsp.biquads import FLUSH_BELOW, sosfilt

        x = np.asarray(x, np.float64).reshape(x.shape[0], -1)
        if not x.shape[0]:
            return
        # scipy.signal.sosfilt's arithmetic, with the state flushed below FLUSH_BELOW: a
        # pause otherwise leaves it subnormal (a 2-minute file with a pause: 4.1 s here)
        y, self.zi = sosfilt(self.sos, x.mean(axis=1), self.zi, FLUSH_BELOW)
        e = y * y
        i = 0
        while i < e.size:
            take = min(self.frame - self.filled, e.size - i)
            self.acc += float(e[i:i + take].sum())
            self.filled += take
            i += take
            if self.filled == self.frame:
                self.energy.append(self.acc)
                self.acc, self.filled = 0.0, 0

    def estimate(self) -> tuple[dict, str | None]:
        """({t30_s, edt_s: None, method}, reason if None)."""
        rts = free_decays(np.asarray(self.energy), 1.0 / FRAME_S)
        method = ("free decays of the programme, 500 Hz - 2 kHz (-5 to -25 dB fits scaled "
                  f"to 60 dB, median of {len(rts)})")
        if len(rts) < MIN_DECAYS:
            return ({"t30_s": None, "edt_s": None, "method": method},
                    "no free decay of 25 dB found (the programme never stops or pauses)")
        return {"t30_s": float(np.median(rts)), "edt_s": None, "method": method}, None


def free_decays(energy: np.ndarray, rate: float) -> list[float]:
    """Decay times (s) of the free decays in a frame-energy sequence (module doc)."""
    if energy.size < 5 or not energy.max() > 0.0:
        return []
    smooth = np.convolve(energy, np.ones(3) / 3.0, mode="same")
    floor = smooth.max() * 1e-20
    level = 10.0 * np.log10(np.maximum(smooth, floor))
    out = []
    i, n = 1, level.size
    while i < n - 1:
        if not (level[i] >= level[i - 1] and level[i] > level[i + 1]):
            i += 1
            continue
        start, low, j = i, level[i], i + 1
        while j < n and level[j] <= low + RISE_DB:
            low = min(low, level[j])
            j += 1
        drop = level[start] - low
        if drop >= -FIT_END_DB and level[start] > 10.0 * np.log10(floor) - FIT_END_DB:
            rt = fit_decay(level[start:j] - level[start], rate, FIT_START_DB, FIT_END_DB)
            if rt is not None:
                out.append(rt)
        i = max(j, i + 1)
    return out
