"""The statistical late tail: band-wise exponentially decaying noise, calibrated.

Model (statistical room acoustics, diffuse field): after the crossover the
reflections arriving at an omnidirectional receiver are dense and random. In a
room of volume V, reflections arrive at a rate 4 pi c^3 t^2 / V (per second, t
after emission), each with the energy 1 / (c t)^2 of a path of length c t
relative to a direct sound at 1 m. Their product, the expected energy density
of the impulse response, is independent of t before absorption::

    E[h^2](t) dt = 4 pi c / V * exp(-13.8 t / T60_b) dt      (per second)

so per sample E[h^2] = 4 pi c / (V fs) * exp(-13.8 t / T60_b) in band b, on a
scale where the direct sound from 1 m has unit energy (as in the early
filters: amplitude 1/r). Integrated from t = 0 this gives the classic
reverberant-to-direct(1 m) energy ratio 16 pi / A (A: Sabine absorption area).
Random reflections with a flat spectrum are white noise, so each tail is white
Gaussian noise of that variance, split into the seven octave bands
(:func:`spatial.bands.split`, perfect reconstruction), each band multiplied by
its own envelope, and summed; each band's short-term energy is flattened first
(:func:`_flatten`) so the decay curve follows the target closely. The bank's bands overlap their
neighbours by half an octave, so the decay is interpolated smoothly across
frequency and a band much shorter than its neighbours measures a little longer
than its own T60 (e.g. 0.4 s between 0.6 s and 0.2 s measures ~0.48 s in an
octave-band T30); with realistic, smooth T60 spectra the error is a few per cent.

Time 0 is the emission time. The tail is 0 before crossover - fade_s, fades
in with sin(pi/2 u) over [crossover - fade_s, crossover] (the early images
fade out with the complementary cos, so the crossover is power-preserving),
and lasts until the slowest band is 70 dB below its level at the crossover,
then a 10 ms cosine fade-out (nothing audible is truncated).
"""
from __future__ import annotations

import numpy as np

from spatial.bands import BANDS_HZ, N_BANDS, split
from spatial.geometry import SPEED_OF_SOUND

DECAY_DB = 70.0  # tail length: the slowest band decays this far after the crossover
FADE_OUT_S = 0.01
LN_1E6 = 6.0 * np.log(10.0)  # 13.8155..., 60 dB of energy in nepers


def diffuse_energy_per_sample(volume_m3: float, fs: int) -> float:
    """E[h^2] per sample at t = 0 of the decay, relative to a direct sound at 1 m."""
    return 4.0 * np.pi * SPEED_OF_SOUND / (float(volume_m3) * float(fs))


def tail_length(rt60_bands, fs: int, crossover: float) -> int:
    """Samples from emission to the end of the tail (70 dB after the crossover + fade)."""
    t_end = crossover + DECAY_DB / 60.0 * float(np.max(rt60_bands)) + FADE_OUT_S
    return int(np.ceil(t_end * fs)) + 1


def crossover_fade(t_s: np.ndarray, crossover: float, fade_s: float) -> np.ndarray:
    """Amplitude of the tail's fade-in at times t_s (s): 0, sin ramp, 1. Same shape as t_s.

    The early images use the complement sqrt(1 - fade^2) = cos of the same ramp.
    """
    t_s = np.asarray(t_s, float)
    if fade_s <= 0:
        return (t_s >= crossover).astype(float)
    u = np.clip((t_s - (crossover - fade_s)) / fade_s, 0.0, 1.0)
    return np.sin(0.5 * np.pi * u)


def envelopes(rt60_bands, volume_m3: float, fs: int, crossover: float, fade_s: float,
              length: int, gain_db: float = 0.0) -> np.ndarray:
    """Amplitude envelopes (7, length) of the tail: sqrt(E[h^2]) x crossover fade x fade-out."""
    rt60 = np.asarray(rt60_bands, float).reshape(N_BANDS)
    t = np.arange(length) / fs
    level = np.sqrt(diffuse_energy_per_sample(volume_m3, fs)) * 10.0 ** (gain_db / 20.0)
    # amplitude decays at half the energy rate: exp(-6.91 t / T60)
    env = level * np.exp(-0.5 * LN_1E6 * t[None, :] / rt60[:, None])
    shape = crossover_fade(t, crossover, fade_s)
    n_out = min(int(round(FADE_OUT_S * fs)), length)
    if n_out > 0:
        shape[length - n_out:] *= 0.5 * (1.0 + np.cos(np.pi * (np.arange(n_out) + 1) / n_out))
    return env * shape[None, :]


def _flatten(bands: np.ndarray, fs: int) -> np.ndarray:
    """Make each band's short-term energy constant: (7, n, L) -> (7, n, L).

    Gaussian noise has a randomly fluctuating short-term energy; under an
    exponential envelope that fluctuation makes the decay curve (and so the
    measured T30 of a short tail) vary by several per cent from seed to seed. Each
    band is divided by its RMS over a window of 8 periods (at least 5 ms) and
    scaled back to its long-term RMS, so the energy decay follows the target
    while the fine structure stays random and the spectrum stays white.
    """
    out = np.empty_like(bands)
    for b, fc in enumerate(BANDS_HZ):
        width = max(int(max(0.005, 8.0 / fc) * fs), 1)
        power = moving_mean(bands[b] ** 2, width)
        overall = np.sqrt(np.mean(bands[b] ** 2, axis=-1, keepdims=True))
        out[b] = bands[b] * overall / np.sqrt(np.maximum(power, 1e-30))
    return out


def moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Mean of `width` samples centred on each sample along the last axis, the signal
    mirrored at both ends: scipy.ndimage.uniform_filter1d(x, width, axis=-1,
    mode="reflect") to the bit (the same running sum, divided at the end), without
    importing scipy.ndimage (start-up). x (..., n) float64."""
    x = np.asarray(x, float)
    n = x.shape[-1]
    left = width // 2
    right = width - left - 1
    if left > n or right > n:  # wider than the signal: mirrored more than once
        from scipy.ndimage import uniform_filter1d

        return uniform_filter1d(x, width, axis=-1, mode="reflect")
    parts = [x[..., :left][..., ::-1], x, x[..., n - right:][..., ::-1]]
    ext = np.concatenate(parts, axis=-1)  # d c b a | a b c d | d c b a
    first = np.cumsum(ext[..., :width], axis=-1)[..., -1:]  # summed in order, as scipy
    steps = ext[..., width:] - ext[..., :-width]
    return np.cumsum(np.concatenate([first, steps], axis=-1), axis=-1) / width


def decay(signals: np.ndarray, rt60_bands, volume_m3: float, fs: int, crossover: float,
          fade_s: float, gain_db: float = 0.0) -> np.ndarray:
    """Give stationary noise the room's decay: (n, L) -> (n, L), time 0 = emission.

    signals: stationary noise per channel, already shaped by the output format
    (its long-term spectrum and inter-channel coherence are kept). Each channel
    is split into the octave bands, each band's short-term energy is flattened
    (:func:`_flatten`) and multiplied by its envelope (:func:`envelopes`), and the
    bands are summed. Applying the decay last, per output channel, makes every
    channel's energy decay follow the target, whatever mixing made the channels.
    """
    signals = np.atleast_2d(np.asarray(signals, float))
    rt60 = np.asarray(rt60_bands, float).reshape(N_BANDS)
    length = signals.shape[1]
    env = envelopes(rt60, volume_m3, fs, crossover, fade_s, length, gain_db)
    first = max(int(np.floor((crossover - fade_s) * fs)) - 1024, 0)  # filters' reach
    out = np.zeros_like(signals)
    bands = _flatten(split(signals[:, first:], fs), fs)  # (7, n, L - first)
    out[:, first:] = np.einsum("bnl,bl->nl", bands, env[:, first:])
    return out


def late_noises(n: int, rt60_bands, volume_m3: float, fs: int, crossover: float,
                fade_s: float, rng: np.random.Generator, gain_db: float = 0.0) -> np.ndarray:
    """n independent calibrated tails, (n, L) float64, time 0 = emission.

    rt60_bands: (7,) T60 per band, seconds. volume_m3: room volume. fs: Hz.
    crossover, fade_s: the tail is 0 before crossover - fade_s and fully on
    from crossover. rng: numpy Generator (the only source of randomness).
    gain_db: level trim (room.tail_gain_db). L = :func:`tail_length`.
    """
    length = tail_length(np.asarray(rt60_bands, float).reshape(N_BANDS), fs, crossover)
    noise = rng.standard_normal((int(n), length))
    return decay(noise, rt60_bands, volume_m3, fs, crossover, fade_s, gain_db)
