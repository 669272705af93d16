"""Image sources of a shoebox room (Allen & Berkley), via pyroomacoustics.

The only module that runs pyroomacoustics' image-source model. pra's C++
engine enumerates every image in the L1 ball |nx| + |ny| + |nz| <= max_order
of the lattice of mirrored rooms and multiplies, per band, the amplitude
reflection factor sqrt(1 - alpha) of every face the path hits. Here that
becomes padded arrays over our seven bands, sorted by arrival, the direct
path first.

Approximations: specular reflections only (no scattering, no diffraction),
angle-independent absorption, point source and receiver; faces with
absorption 1 (open sides of an outdoor "room") produce no images.

Order: room.max_order when given, else the smallest order whose L1 ball holds
every image closer than c * max_delay_s: an image with lattice index n lies at
least sqrt(sum(((|n_d| - 1)+ L_d)^2)) from the listener, so every image closer
than D has sum |n_d| <= D * sqrt(sum 1 / L_d^2) + 3 (Cauchy-Schwarz), capped at
:data:`MAX_ORDER`.

Cost: building the pra room and running its ISM takes ~1-3 ms per source for
orders up to 15 and ~10 ms at order 30 (38 k images), so nothing is cached.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spatial.bands import BANDS_HZ, N_BANDS
from spatial.geometry import SPEED_OF_SOUND
from spatial.room.decay import room_absorption
from spatial.scene.model import FACES

MAX_ORDER = 30
ISM_FS = 48000  # pra's band layout depends on fs; at 48 kHz it covers our 7 bands (+16 kHz)


@dataclass(frozen=True)
class Reflections:
    """Image sources of one source, as heard at one listener position.

    positions_m: (N, 3) float64 world coordinates of the images; row 0 is the
        source itself (the direct path), the rest sorted by distance.
    band_gains: (N, 7) float64 amplitude reflection products per band (1 for
        the direct path), no distance or air attenuation.
    order: (N,) int reflection order (0 for the direct path).
    distances_m: (N,) float64 distance of each image to the listener.
    """

    positions_m: np.ndarray
    band_gains: np.ndarray
    order: np.ndarray
    distances_m: np.ndarray

    def __len__(self) -> int:
        return int(self.order.size)

    @property
    def delays_s(self) -> np.ndarray:
        """(N,) propagation delays, seconds after emission."""
        return self.distances_m / SPEED_OF_SOUND


def required_order(dimensions, max_delay_s: float) -> int:
    """Smallest image order covering every image closer than c * max_delay_s, capped."""
    dims = np.asarray(dimensions, float)
    reach = SPEED_OF_SOUND * max(float(max_delay_s), 0.0)
    order = int(np.ceil(reach * np.sqrt(np.sum(1.0 / dims ** 2)))) + 3
    return int(min(order, MAX_ORDER))


def _materials(room):
    import pyroomacoustics as pra

    absorption = room_absorption(room)
    return {f: pra.Material({"coeffs": [float(v) for v in absorption[f]],
                             "center_freqs": list(BANDS_HZ)})
            for f in FACES}


def image_sources(room, source_pos, listener_pos, fs: int | None = None,
                  max_delay_s: float | None = None, max_order: int | None = None
                  ) -> Reflections:
    """Image sources of `source_pos` heard at `listener_pos` in a shoebox `room`.

    room: :class:`spatial.scene.model.Room`; positions in metres inside it.
    fs: unused by the geometry (kept for the planners' uniform signatures).
    max_delay_s: keep images arriving before this (seconds after emission;
        default room.crossover); the direct path is kept whatever its delay.
    max_order: overrides room.max_order and the automatic order.
    Returns :class:`Reflections`.
    """
    import pyroomacoustics as pra

    if max_delay_s is None:
        max_delay_s = room.crossover
    dims = np.asarray(room.dimensions, float)
    src = np.asarray(source_pos, float)
    lis = np.asarray(listener_pos, float)
    if max_order is None:
        max_order = room.max_order if room.max_order is not None else required_order(
            dims, max_delay_s)
    max_order = int(max(max_order, 0))

    shoebox = pra.ShoeBox(dims, fs=ISM_FS, max_order=max_order, materials=_materials(room),
                          air_absorption=False)
    shoebox.add_source(src)
    shoebox.add_microphone(lis)
    shoebox.image_source_model()
    image = shoebox.sources[0]
    n_xyz = np.asarray(image.orders_xyz, dtype=np.int64).T  # (N, 3) lattice indices
    damping = np.asarray(image.damping, dtype=float)  # (bands, N), or (1, N) if flat
    if damping.shape[0] == 1:
        gains = np.repeat(damping.T, N_BANDS, axis=1)
    else:
        gains = damping[:N_BANDS].T.copy()

    # exact float64 image positions (pra keeps float32): n L + (L - s if n odd else s)
    odd = (n_xyz % 2) != 0
    positions = n_xyz * dims + np.where(odd, dims - src, src)
    orders = np.abs(n_xyz).sum(axis=1)
    dist = np.linalg.norm(positions - lis, axis=1)

    direct = int(np.flatnonzero(orders == 0)[0])
    keep = (dist < SPEED_OF_SOUND * max_delay_s) & np.any(gains > 0.0, axis=1)
    keep[direct] = False
    rest = np.flatnonzero(keep)
    rest = rest[np.argsort(dist[rest], kind="stable")]
    idx = np.concatenate([[direct], rest])
    g = gains[idx]
    g[0] = 1.0
    return Reflections(positions_m=positions[idx], band_gains=g,
                       order=orders[idx].astype(np.int64), distances_m=dist[idx])
