"""Spatialisers for loudspeaker (VBAP) and ambisonic output, and the factory
:func:`make_spatialiser` for every output format.

Gain conventions (see :class:`spatial.filters.base.Spatialiser`):

- Loudspeakers: a plane wave of unit amplitude gives speaker gains with a sum of
  squares of 1 (energy-preserving VBAP, :mod:`spatial.filters.vbap`); the diffuse
  tail gives each of the K real speakers its own independent noise at
  1/sqrt(K), so its total power equals the omnidirectional receiver's, as a
  plane wave's does. LFE channels get nothing here (the renderer feeds them).
- Ambisonics (AmbiX, SN3D): a unit plane wave gives W = 1 and the SN3D
  spherical harmonics (:mod:`spatial.filters.ambisonics`); the diffuse tail gives
  each ACN channel of order n an independent noise at sqrt(1 / (2n + 1)), the
  diffuse-field expectation of SN3D (W keeps the omni power).
"""
from __future__ import annotations

import numpy as np

from spatial.errors import SceneError
from spatial.filters.ambisonics import diffuse_weights, sh_matrix
from spatial.filters.base import Channel, OmniSpatialiser, SpectraFromResponses
from spatial.filters.formats import AMBISONIC_FORMATS, FORMATS
from spatial.filters.layouts import Layout, get_layout
from spatial.filters.vbap import VbapPanner


def _noises(noises: np.ndarray, n: int) -> np.ndarray:
    noises = np.atleast_2d(np.asarray(noises, float))
    if noises.shape[0] < n:
        raise ValueError(f"diffuse() needs {n} independent noises, got {noises.shape[0]}")
    return noises[:n]


class PannerSpatialiser(SpectraFromResponses):
    """Loudspeaker output through VBAP over ``layout`` (kind "speakers")."""

    def __init__(self, layout: Layout):
        if layout.kind != "speakers":
            raise ValueError(f"PannerSpatialiser needs a loudspeaker layout, got {layout.kind}")
        self.layout = layout
        self.channels: tuple[Channel, ...] = layout.channels
        self.panner = VbapPanner(layout)
        self.speaker_indices = layout.speaker_indices
        self.n_diffuse = int(self.speaker_indices.size)

    def gains(self, directions: np.ndarray) -> np.ndarray:
        """(N, 3) directions -> (N, C) gains (sum of squares 1, LFE 0)."""
        return self.panner.gains(directions)

    def responses(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) directions -> (irs (N, C, 1) VBAP gains, delays_s (N, C) zeros)."""
        g = self.gains(directions)
        return g[:, :, None], np.zeros(g.shape)

    def diffuse(self, noises: np.ndarray) -> np.ndarray:
        """(n_diffuse, L) noises -> (C, L): speaker k gets noise k / sqrt(n_diffuse)."""
        x = _noises(noises, self.n_diffuse)
        out = np.zeros((len(self.channels), x.shape[1]))
        out[self.speaker_indices] = x / np.sqrt(self.n_diffuse)
        return out


class AmbisonicSpatialiser(SpectraFromResponses):
    """AmbiX (ACN, SN3D) output of order 1..3; channels ACN0 .. ACN{(order+1)^2 - 1}."""

    def __init__(self, order: int):
        order = int(order)
        if not 1 <= order <= 3:
            raise ValueError(f"ambisonic order must be 1, 2 or 3, got {order}")
        self.order = order
        self.n_diffuse = (order + 1) ** 2
        self.channels: tuple[Channel, ...] = tuple(Channel(f"ACN{i}")
                                                   for i in range(self.n_diffuse))
        self._weights = diffuse_weights(order)

    def responses(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) directions -> (irs (N, (order+1)^2, 1) SN3D gains, delays_s zeros)."""
        y = sh_matrix(self.order, directions)
        return y[:, :, None], np.zeros(y.shape)

    def diffuse(self, noises: np.ndarray) -> np.ndarray:
        """(n_diffuse, L) noises -> (C, L): ACN channel of order n gets its own noise
        at sqrt(1 / (2n + 1))."""
        x = _noises(noises, self.n_diffuse)
        return x * self._weights[:, None]


def make_spatialiser(output, fs: int, hrtf_loader=None):
    """The Spatialiser for ``output`` (a :class:`spatial.scene.parts.Output`).

    "mono" -> OmniSpatialiser; "binaural" -> BinauralSpatialiser over
    ``hrtf_loader(output.hrtf, fs)`` (default :func:`spatial.filters.hrtf.load_hrtf`
    with ``eq=output.hrtf_eq``);
    stereo .. 7.1.4 and custom -> PannerSpatialiser; foa / hoa2 / hoa3 ->
    AmbisonicSpatialiser. Raises SceneError for an unknown format or a bad
    custom layout (key "output.format" / "output.speakers...") and whatever the
    HRTF loader raises.
    """
    fmt = output.format
    if fmt == "adm":  # an ADM master's room bed (spatial.adm): hoa3 unless 7.1.4
        room = "7.1.4" if getattr(output, "adm_room", "hoa3") == "7.1.4" else "hoa3"
        return make_spatialiser(output.single(room), fs, hrtf_loader)
    if fmt == "mono":
        return OmniSpatialiser()
    if fmt == "binaural":
        from spatial.filters.binaural import BinauralSpatialiser

        if hrtf_loader is None:
            from functools import partial

            from spatial.filters.hrtf import load_hrtf

            hrtf_loader = partial(load_hrtf, eq=getattr(output, "hrtf_eq", "diffuse-field"))
        return BinauralSpatialiser(hrtf_loader(output.hrtf, fs))
    if fmt not in FORMATS:
        raise SceneError.at(f"unknown output format {fmt!r}; known formats: "
                            + ", ".join(FORMATS), key="output.format")
    layout = get_layout(output)
    if fmt in AMBISONIC_FORMATS:
        return AmbisonicSpatialiser(layout.order)
    return PannerSpatialiser(layout)
