"""The LFE feed: a source's direct sound low-passed at 120 Hz for the LFE channel,
used by the static plan (:mod:`spatial.plan`) and the moving one (:mod:`spatial.motion`)."""
from __future__ import annotations

import numpy as np

LFE_CUTOFF_HZ = 120.0


def lfe_feed(fs: int, gain: float, delay_s: float) -> np.ndarray:
    """A 4th-order 120 Hz low-pass impulse response (100 ms), delayed and scaled. (n,)"""
    from spatial.dsp.biquads import butter_lowpass, sosfilt  # (not scipy.signal: start-up)

    sos = butter_lowpass(4, LFE_CUTOFF_HZ, fs)
    impulse = np.zeros(int(0.1 * fs))
    impulse[0] = 1.0
    d = int(round(delay_s * fs))
    lowpassed, _ = sosfilt(sos, impulse, np.zeros((sos.shape[0], 2)))
    return np.concatenate([np.zeros(d), gain * lowpassed])
