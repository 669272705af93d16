"""Speech Intelligibility Index after ANSI S3.5-1997, octave-band procedure.

Per octave band i (centres 250 Hz ... 8 kHz, edges fc / sqrt 2 .. fc sqrt 2):
the band level of the speech (the dialogue) E_i and of the noise (everything
else) N_i, both in dB of the same digital scale; the band audibility

    A_i = clip((E_i - N_i + 15) / 30, 0, 1)

and SII = sum_i I_i A_i with the octave-band importance function I_i of the
standard's table 4 (IMPORTANCE, summing to 1).

Left out, because the signals are digital and not calibrated to sound pressure
at the eardrum: the hearing threshold (internal noise) and the level distortion
factor (both need absolute levels), and the upward spread of masking (the
one-third-octave and critical-band procedures have it; with octave bands it is
not computed here). The figure is therefore the SII of a listener with normal
hearing at a comfortable level, limited only by the mix's own masking.

A band where the noise has no power counts as fully audible (A_i = 1) if the
speech has power there; a band without speech power counts 0; a band above the
Nyquist frequency has neither and counts 0.
"""
from __future__ import annotations

import numpy as np

CENTRES_HZ = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
IMPORTANCE = (0.0617, 0.1671, 0.2373, 0.2648, 0.2142, 0.0549)  # ANSI S3.5-1997 table 4
# the standard speech spectrum level at normal vocal effort, dB SPL per Hz (table 4),
# for building speech-shaped test signals
SPEECH_SPECTRUM_NORMAL_DB = (34.75, 34.27, 25.01, 17.32, 9.33, 1.13)
DEFAULT_THRESHOLD = 0.45  # windows below it are listed as hard to follow


def band_edges() -> np.ndarray:
    """(6, 2) lower and upper edges (Hz) of the octave bands."""
    c = np.array(CENTRES_HZ)
    return np.stack([c / np.sqrt(2.0), c * np.sqrt(2.0)], axis=1)


def band_powers(x: np.ndarray, fs: int) -> np.ndarray:
    """Power of x (n, C) in each octave band, mean over the channels: (6,), from one
    Hann-windowed FFT scaled so that the bands' sum is the signal's mean square (for
    a stationary signal). The window keeps a loud low band's leakage out of the
    quiet high bands (a rectangular window's sidelobes would swamp them)."""
    x = np.asarray(x, np.float64).reshape(x.shape[0], -1)
    n = x.shape[0]
    if n == 0:
        return np.zeros(len(CENTRES_HZ))
    w = np.hanning(n + 2)[1:-1]
    x = x * (w / np.sqrt(np.mean(w * w)))[:, None]
    spec = np.fft.rfft(x, axis=0)
    p = (spec.real ** 2 + spec.imag ** 2).mean(axis=1)
    p[1:(n + 1) // 2] *= 2.0  # one-sided
    f = np.fft.rfftfreq(n, 1.0 / fs)
    return np.array([p[(f >= lo) & (f < hi)].sum() for lo, hi in band_edges()]) / (n * n)


def audibility(speech: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """A_i of the bands (module doc) from band powers of speech and noise."""
    speech, noise = np.asarray(speech, float), np.asarray(noise, float)
    a = np.zeros(speech.size)
    both = (speech > 0.0) & (noise > 0.0)
    snr = 10.0 * np.log10(speech[both] / noise[both])
    a[both] = np.clip((snr + 15.0) / 30.0, 0.0, 1.0)
    a[(speech > 0.0) & ~(noise > 0.0)] = 1.0
    return a


def sii(speech: np.ndarray, noise: np.ndarray) -> float:
    """Speech Intelligibility Index (0..1) of speech against noise, band powers (6,)."""
    return float(np.dot(IMPORTANCE, audibility(speech, noise)))
