"""Dynamic range and onset density.

- dynamic range (dB): the spread of the momentary loudness (BS.1770 400 ms
  blocks every 100 ms, from the meter's 100 ms mean squares), its 95th minus its
  10th percentile over the blocks above the absolute gate (-70 LUFS). Unlike the
  loudness range (EBU Tech 3342: 3 s blocks, and a relative gate 20 LU under the
  programme) it sees the quick moves (a line against the pause after it) and
  counts the quiet passages. Fewer than two blocks above the gate: None.
- onset density (onsets per second): librosa's spectral-flux onset detector
  (librosa.onset.onset_detect, default parameters) on the mix summed to one
  channel, onsets counted per second of programme.
"""
from __future__ import annotations

import numpy as np

from spatial.dsp.loudness import ABSOLUTE_GATE, GATE_BLOCKS, _blocks, to_lufs

PERCENTILES = (10.0, 95.0)


def momentary(steps: np.ndarray) -> np.ndarray:
    """Momentary loudness (LUFS) of every 400 ms block (hop 100 ms); -inf where silent."""
    return to_lufs(_blocks(np.asarray(steps, float), GATE_BLOCKS))


def dynamic_range(steps: np.ndarray) -> float | None:
    """95th - 10th percentile of the gated momentary loudness (dB), or None."""
    m = momentary(steps)
    m = m[m >= ABSOLUTE_GATE]
    if m.size < 2:
        return None
    lo, hi = np.percentile(m, PERCENTILES)
    return float(hi - lo)


def onset_times(mono: np.ndarray, fs: int) -> np.ndarray:
    """Onset times (s) in a mono signal (n,) by librosa's onset detector."""
    import librosa

    y = np.asarray(mono, np.float32)
    if y.size < 2048 or not np.any(y):
        return np.zeros(0)
    return np.asarray(librosa.onset.onset_detect(y=y, sr=int(fs), units="time"), float)
