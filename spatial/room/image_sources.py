"""Image sources of a shoebox room (Allen & Berkley), as pyroomacoustics computes them.

pyroomacoustics' shoebox image-source model (``ShoeBox.image_source_model()``,
its C++ ``image_source_shoebox``), rewritten in numpy so a render does not
import pyroomacoustics (~0.8 s of the command's start-up, scipy.signal and
scipy.stats included); pyroomacoustics stays the tests' reference
(tests/test_image_sources.py: same images, same order, same positions, same
damping, on several rooms, orders and positions). Every image of the L1 ball
|nx| + |ny| + |nz| <= max_order of the lattice of mirrored rooms is enumerated
(z outermost, x innermost, as pra), and its per-band amplitude factor is the
product of the reflection factors sqrt(1 - alpha) of the faces the path hits:
lattice index n > 0 on an axis hits the far ("east") face ceil(n / 2) times and
the near ("west") face floor(n / 2) times, n < 0 the other way round. The
factors and their products are computed in float32, in pra's order, so the
damping is pra's to the bit; the absorption is first resampled onto pra's octave
bands as pra does (its interp1d, linear in log2 f: the same seven values). Here
that becomes padded arrays over our seven bands, sorted by arrival, the direct
path first.

Approximations: specular reflections only (no scattering, no diffraction),
angle-independent absorption, point source and receiver; faces with
absorption 1 (open sides of an outdoor "room") produce no images.

Order: room.max_order when given, else the smallest order whose L1 ball holds
every image closer than c * max_delay_s: an image with lattice index n lies at
least sqrt(sum(((|n_d| - 1)+ L_d)^2)) from the listener, so every image closer
than D has sum |n_d| <= D * sqrt(sum 1 / L_d^2) + 3 (Cauchy-Schwarz), capped at
:data:`MAX_ORDER`.

Cost: ~1 ms per source up to order 15, a few ms at order 30 (38 k images), so
nothing is cached.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spatial.bands import BANDS_HZ, N_BANDS
from spatial.geometry import SPEED_OF_SOUND
from spatial.room.decay import room_absorption
from spatial.scene.parts import FACES

MAX_ORDER = 30


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


def _band_absorption(room) -> np.ndarray:
    """(6, 7) float32 energy absorption of the faces (FACES order) per band, as pra's
    engine holds it: Material.resample's interp1d (linear in log2 f, at the band
    centres themselves) then a cast to float32."""
    absorption = room_absorption(room)
    x = np.log2(np.asarray(BANDS_HZ, float))
    x_new = np.log2(BANDS_HZ[0] * 2.0 ** np.arange(N_BANDS))  # pra's octave centres
    hi = np.searchsorted(x, x_new).clip(1, N_BANDS - 1)
    lo = hi - 1
    out = np.empty((len(FACES), N_BANDS))
    for i, f in enumerate(FACES):
        y = np.array([float(v) for v in absorption[f]])
        slope = (y[hi] - y[lo]) / (x[hi] - x[lo])
        out[i] = np.clip(slope * (x_new - x[lo]) + y[lo], 0.0, 1.0)
    return out.astype(np.float32)


def lattice(max_order: int) -> np.ndarray:
    """(N, 3) int64 lattice indices of the L1 ball of radius max_order, in pra's order
    (z outermost, then y, then x, each ascending)."""
    m = int(max_order)
    r = np.arange(-m, m + 1)
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    keep = (np.abs(x) + np.abs(y) + np.abs(z)) <= m
    return np.stack([x[keep], y[keep], z[keep]], axis=1).astype(np.int64)


def shoebox_damping(n_xyz: np.ndarray, absorption32: np.ndarray) -> np.ndarray:
    """(N, B) float32 amplitude factor of each image (lattice indices n_xyz (N, 3)),
    from the faces' float32 energy absorption (6, B) (west, east, south, north,
    floor, ceiling): pra's products, in its order, to the bit."""
    n_xyz = np.asarray(n_xyz, np.int64)
    top = int(np.abs(n_xyz).max(initial=0))
    one = np.float32(1.0)
    powers = np.empty((top + 1,) + absorption32.shape, np.float32)  # (p, 6, B)
    powers[0] = one
    if top > 0:
        powers[1] = np.sqrt(one - absorption32)
    for p in range(2, top + 1):
        powers[p] = powers[p - 1] * powers[1]
    att = np.ones((n_xyz.shape[0], absorption32.shape[1]), np.float32)
    for d in range(3):
        n = n_xyz[:, d]
        a = np.abs(n)
        near = np.where(n > 0, a // 2, (a + 1) // 2)  # hits of the face at 0
        far = np.where(n > 0, (a + 1) // 2, a // 2)  # hits of the face at L_d
        att = att * powers[near, 2 * d]
        att = att * powers[far, 2 * d + 1]
    return att


def image_sources(room, source_pos, listener_pos, fs: int | None = None,
                  max_delay_s: float | None = None, max_order: int | None = None
                  ) -> Reflections:
    """Image sources of `source_pos` heard at `listener_pos` in a shoebox `room`.

    room: :class:`spatial.scene.parts.Room`; positions in metres inside it.
    fs: unused by the geometry (kept for the planners' uniform signatures).
    max_delay_s: keep images arriving before this (seconds after emission;
        default room.crossover); the direct path is kept whatever its delay.
    max_order: overrides room.max_order and the automatic order.
    Returns :class:`Reflections`.
    """
    if max_delay_s is None:
        max_delay_s = room.crossover
    dims = np.asarray(room.dimensions, float)
    src = np.asarray(source_pos, float)
    lis = np.asarray(listener_pos, float)
    if max_order is None:
        max_order = room.max_order if room.max_order is not None else required_order(
            dims, max_delay_s)
    max_order = int(max(max_order, 0))

    n_xyz = lattice(max_order)
    gains = shoebox_damping(n_xyz, _band_absorption(room)).astype(float)

    # image positions in float64 (pra keeps float32): n L + (L - s if n odd else s)
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
