"""What every output format provides to the renderer: a Spatialiser.

A spatialiser turns directions (in the listener frame, see
:mod:`spatial.geometry`) into per-channel responses, and shapes independent
decaying noises into that format's diffuse late tail.

- Binaural: responses are interpolated minimum-phase HRIRs plus per-ear delays.
- Loudspeakers (VBAP) and ambisonics: responses are gains (Lh == 1), delays 0.
- Mono: an omnidirectional receiver, gain 1 from every direction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Channel:
    name: str
    azimuth_deg: float | None = None  # None where a channel has no direction (LFE, W, ears)
    elevation_deg: float | None = None


class Spatialiser(Protocol):
    channels: tuple[Channel, ...]
    n_diffuse: int  # how many independent noises diffuse() takes

    def responses(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """directions (N, 3) unit vectors -> (irs (N, C, Lh) float64, delays_s (N, C) float64).

        The response of channel c to a plane wave from direction n is irs[n, c]
        delayed by delays_s[n, c] seconds (delays_s >= 0). Energy convention: a
        diffuse field of unit power gives unit mean power summed over... see each
        implementation; the free-field response from the front at 1 m is ~unity.
        """

    def direction_spectra(self, directions: np.ndarray, n_fft: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The responses of directions (N, 3) as blends of stored spectra, for a moving
        path that filters in the frequency domain: (S (Q, C, n_fft // 2 + 1) complex64,
        rows (N, J) intp, weights (N, J) float64, delays (N, C) seconds); direction n's
        response is sum_j weights[n, j] S[rows[n, j]], delayed by delays[n].

        Binaural blends the HRTF set's measured spectra (:class:`SpectraFromResponses`
        gives every other format its responses' own spectra, weight 1).
        """

    def diffuse(self, noises: np.ndarray) -> np.ndarray:
        """(n_diffuse, L) independent, equally calibrated noises -> (C, L) diffuse tail.

        Each input noise is an omnidirectional diffuse-field pressure signal
        (its level already set by the room). The output has the inter-channel
        coherence of a diffuse field for this format and the same total energy
        as an omnidirectional receiver would get (per the format's own gain
        convention).
        """


class SpectraFromResponses:
    """Spatialiser.direction_spectra for formats without stored spectra to blend: each
    direction's own response, its spectrum zero-padded to n_fft, weight 1."""

    def direction_spectra(self, directions, n_fft: int):
        from scipy import fft

        irs, delays = self.responses(directions)
        S = fft.rfft(np.asarray(irs, np.float64), n=n_fft, axis=-1).astype(np.complex64)
        n = S.shape[0]
        return S, np.arange(n).reshape(n, 1), np.ones((n, 1)), delays


class OmniSpatialiser(SpectraFromResponses):
    """Mono output: an omnidirectional receiver at the listener position."""

    channels = (Channel("M"),)
    n_diffuse = 1

    def responses(self, directions):
        n = np.atleast_2d(directions).shape[0]
        return np.ones((n, 1, 1)), np.zeros((n, 1))

    def diffuse(self, noises):
        return np.asarray(noises, float)[:1].copy()
