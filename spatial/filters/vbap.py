"""3D vector base amplitude panning (Pulkki 1997) over a loudspeaker layout.

The (non-LFE) speaker directions are triangulated with their convex hull
(scipy.spatial.ConvexHull, kept in the disk cache: :func:`_hull`). Wherever the
real speakers leave a gap, virtual speakers fill it, and the gain a virtual
speaker receives is folded down onto real speakers (amplitudes added, then the
gains of each direction are normalised to unit energy), as the EBU ADM Renderer
does (ear.core.point_source):

1. Horizontal gaps (azimuth gaps of 179 degrees or more, e.g. stereo): the layout
   is mirrored front-to-back; a mirror image feeds its real speaker. Stereo gets
   virtual speakers at +-150 folded to L / R, so a source at +90 plays from L
   only and one at 180 from L and R equally, at constant energy (EAR's stereo
   instead pans over 0+5+0 and downmixes, 0 dB at the front to -3 dB at the
   back). Any gap still open gets a virtual speaker in its middle, fed equally
   (1/sqrt 2) to the speakers at its two edges.
2. Layers: with no speaker below -10 degrees elevation (all built-in layouts), a
   copy of every horizontal speaker at -30 degrees feeds its original; with none
   above +10 degrees (stereo, 5.1, 7.1), the same at +30. A source between the
   horizontal ring and a copy ring stays between the same two horizontal speakers,
   at the same horizontal panning, instead of smearing towards the whole ring.
3. Poles: a virtual speaker at the nadir (and at the zenith, unless a real speaker
   is within 20 degrees of it) feeds each of its k hull neighbours with 1/sqrt(k)
   (energy-preserving, EAR's VirtualNgon).
4. Coplanar speakers: a hull facet with more than 3 corners (e.g. the 4 rear
   speakers of 5.1.4, which a triangulation would split asymmetrically) gets a
   virtual speaker at its centre and is triangulated as a fan around it. For a
   quadrilateral the fan only locates the facet: the gains there come from
   EAR's bilinear QuadRegion panning (velocity vector exact, symmetric). Larger
   polygons (custom layouts) use the fan, the centre fed equally to the corners
   with weight 1/|sum of the corner vectors| so its velocity vector is its
   direction.

Sources in the horizontal plane of a horizontal layout lie on hull edges
between adjacent horizontal speakers, so they pan pairwise exactly as 2D VBAP.
Wherever a direction falls between real speakers (a triangle, a quadrilateral or
a centred polygon), the velocity vector sum_i g_i u_i points exactly at the
source. For 5.1, 7.1, 5.1.4 and 7.1.4 these are the virtual speakers EAR builds,
and the gains equal EAR's point-source panner to rounding (tests/test_panning.py).
"""
from __future__ import annotations

import hashlib
import importlib.util
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spatial.disk_cache import cache_dir, save_npz
from spatial.errors import SceneError
from spatial.filters.layouts import Layout
from spatial.geometry import unit_vectors

GAP_LIMIT_DEG = 179.0  # horizontal azimuth gaps this wide are filled (180 cannot be panned)
RING_BAND_DEG = 10.0  # |elevation| up to this is the horizontal layer
COPY_ELEVATION_DEG = 30.0  # elevation of the virtual copy rings
POLE_CAP_DEG = 20.0  # a real speaker this close to a pole makes its virtual speaker unneeded
SAME_DEG = 1.0  # virtual speakers closer than this to an existing one are not added
CHUNK = 4096  # directions per vectorised block (memory: CHUNK * triangles * 3 floats)


def _angles(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    az = np.rad2deg(np.arctan2(points[:, 1], points[:, 0]))
    el = np.rad2deg(np.arcsin(np.clip(points[:, 2], -1.0, 1.0)))
    return az, el


class _Builder:
    """Points (real first, then virtual) and, per point, its fold onto the K real speakers."""

    def __init__(self, real: np.ndarray):
        self.points = [p for p in real]
        self.fold = [row for row in np.eye(len(real))]

    def add(self, point: np.ndarray, fold: np.ndarray, force: bool = False) -> bool:
        point = point / np.linalg.norm(point)
        near = np.cos(np.deg2rad(SAME_DEG))
        if not force and np.any(np.asarray(self.points) @ point > near):
            return False
        self.points.append(point)
        self.fold.append(np.asarray(fold, float))
        return True

    def array(self) -> np.ndarray:
        return np.asarray(self.points, float)


def _largest_gap(b: _Builder):
    """(gap_deg, start_index, end_index) of the widest azimuth gap of the points
    below |el| 89, going counter-clockwise from start to end; None if none."""
    az, el = _angles(b.array())
    idx = np.flatnonzero(np.abs(el) < 89.0)
    if idx.size == 0:
        return None
    order = idx[np.argsort(az[idx], kind="stable")]
    a = az[order]
    gaps = np.append(np.diff(a), a[0] + 360.0 - a[-1])
    k = int(np.argmax(gaps))
    start, end = order[k], order[(k + 1) % len(order)]

    def lowest(i):  # among points at (about) this azimuth, the one nearest the horizon
        same = idx[np.abs((az[idx] - az[i] + 180.0) % 360.0 - 180.0) < 1e-6]
        return int(same[np.argmin(np.abs(el[same]))])

    return float(gaps[k]), lowest(start), lowest(end)


def _fill_horizontal(b: _Builder) -> None:
    gap = _largest_gap(b)
    if gap is None or gap[0] < GAP_LIMIT_DEG:
        return
    az, el = _angles(b.array())
    for i in range(len(b.points)):  # step 1: front-back mirror images
        if abs(el[i]) < 89.0:
            b.add(unit_vectors(180.0 - az[i], el[i])[0], b.fold[i])
    for _ in range(8):  # step 1b: a virtual speaker in the middle of any gap still open
        gap = _largest_gap(b)
        if gap is None or gap[0] < GAP_LIMIT_DEG:
            return
        width, s, e = gap
        az, _ = _angles(b.array())
        fold = b.fold[s] if s == e else (b.fold[s] + b.fold[e]) / np.sqrt(2.0)
        b.add(unit_vectors(az[s] + width / 2.0, 0.0)[0], fold)


def _copy_rings(b: _Builder, n_real: int) -> None:
    az, el = _angles(b.array())
    mid = np.flatnonzero(np.abs(el) <= RING_BAND_DEG)
    real_el = el[:n_real]
    for sign in (-1.0, 1.0):
        if np.any(sign * real_el > RING_BAND_DEG):
            continue
        for i in mid:
            b.add(unit_vectors(az[i], sign * COPY_ELEVATION_DEG)[0], b.fold[i])


@dataclass(frozen=True)
class _Hull:
    """What the panner uses of a scipy.spatial.ConvexHull: simplices (F, 3), equations (F, 4)."""

    simplices: np.ndarray
    equations: np.ndarray


def _hull_file(points: np.ndarray) -> Path:
    digest = hashlib.sha256(np.ascontiguousarray(points, dtype=np.float64).tobytes())
    spec = importlib.util.find_spec("scipy")  # (not imported) its version: qhull's output
    if spec is not None and spec.submodule_search_locations:
        version = Path(list(spec.submodule_search_locations)[0]) / "version.py"
        digest.update(version.read_bytes() if version.exists() else b"")
    return cache_dir() / f"vbap-hull-{digest.hexdigest()[:24]}.npz"


def _hull(points: np.ndarray) -> _Hull:
    """The convex hull of the points, kept in the disk cache (qhull is deterministic: the
    same arrays): a speaker render then does not import scipy.spatial (~0.05 s CPU).
    The cache is an optimisation only: an unreadable entry is recomputed, an unwritable
    folder ignored."""
    try:
        file = _hull_file(points)
        with np.load(file, allow_pickle=False) as data:
            return _Hull(data["simplices"], data["equations"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass
    from scipy.spatial import ConvexHull

    try:
        qhull = ConvexHull(points)
    except Exception as err:  # QhullError: flat or degenerate layouts
        raise SceneError.at("cannot pan over this speaker layout: its speakers are all in "
                            f"one plane through the listener ({type(err).__name__})",
                            key="output.speakers") from None
    hull = _Hull(np.asarray(qhull.simplices), np.asarray(qhull.equations))
    save_npz(file, simplices=hull.simplices, equations=hull.equations)
    return hull


def _facets(hull: _Hull) -> list[set[int]]:
    """Hull triangles merged into facets where coplanar."""
    facets: list[tuple[np.ndarray, set[int]]] = []
    for tri, eq in zip(hull.simplices, hull.equations):
        for feq, verts in facets:
            if np.linalg.norm(feq - eq) < 1e-6:
                verts.update(int(v) for v in tri)
                break
        else:
            facets.append((eq, {int(v) for v in tri}))
    return [v for _, v in facets]


def _polygon_order(corners: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Order of a planar convex polygon's corners (P, 3) around ``normal``."""
    n = normal / np.linalg.norm(normal)
    rel = corners - corners.mean(axis=0)
    e1 = rel[0] - (rel[0] @ n) * n
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    return np.argsort(np.arctan2(rel @ e2, rel @ e1))


def _neighbours(hull: _Hull, vertex: int) -> set[int]:
    out: set[int] = set()
    for tri in hull.simplices:
        if vertex in tri:
            out.update(int(v) for v in tri)
    out.discard(vertex)
    return out


def _quad_axis(p: np.ndarray, a, b, c, d) -> np.ndarray:
    """(n,) x in [0, 1] with p in the plane through the origin, a + x (b - a) and
    d + x (c - d): det[p, a + x(b-a), d + x(c-d)] = A x^2 + B x + C = 0."""
    dot = lambda u, v: np.einsum("nj,nj->n", u, v)  # noqa: E731
    qa = dot(p, np.cross(b - a, c - d))
    qb = dot(p, np.cross(a, c - d) + np.cross(b - a, d))
    qc = dot(p, np.cross(a, d))
    sq = np.sqrt(np.clip(qb * qb - 4.0 * qa * qc, 0.0, None))
    q = -0.5 * (qb + np.where(qb >= 0, sq, -sq))  # stable roots: q / qa and qc / q
    safe = lambda num, den: np.divide(num, den, out=np.full_like(num, np.inf),  # noqa: E731
                                      where=np.abs(den) > 1e-12)
    roots = np.stack([safe(q, qa), safe(qc, q)], axis=1)
    miss = np.maximum(0.0, np.maximum(-roots, roots - 1.0))  # distance outside [0, 1]
    best = roots[np.arange(len(p)), np.argmin(miss, axis=1)]
    return np.clip(np.nan_to_num(best, posinf=0.5, neginf=0.5), 0.0, 1.0)


def _quad_gains(p: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(n, 3) directions, (n, 4, 3) corners in polygon order -> (n, 4) bilinear gains.

    As EAR's QuadRegion: x pans along edges a-b / d-c, y along b-c / a-d; the
    gains (1-x)(1-y), x(1-y), xy, (1-x)y weight the corners to a point on the
    bilinear patch that lies on both panning planes, i.e. along p: the velocity
    vector points exactly at the source.
    """
    a, b, c, d = (corners[:, i] for i in range(4))
    x = _quad_axis(p, a, b, c, d)
    y = _quad_axis(p, b, c, d, a)
    return np.stack([(1 - x) * (1 - y), x * (1 - y), x * y, (1 - x) * y], axis=1)


class VbapPanner:
    """VBAP gains for one :class:`~spatial.filters.layouts.Layout` of kind "speakers".

    Attributes: points (M, 3) real then virtual speaker directions; fold (M, K)
    how a unit gain at each point maps onto the K real speakers; triangles (T, 3)
    point indices.
    """

    def __init__(self, layout: Layout):
        self.n_channels = len(layout.channels)
        self.speaker_indices = layout.speaker_indices
        real = layout.directions()
        k = len(real)
        if k < 2:
            raise SceneError.at(f"cannot pan over {k} speaker(s); at least 2 are needed",
                                key="output.speakers")
        b = _Builder(real)
        _fill_horizontal(b)
        _copy_rings(b, k)
        _, real_el = _angles(real)
        poles = []
        for sign in (-1.0, 1.0):
            if sign < 0 or not np.any(real_el > 90.0 - POLE_CAP_DEG):
                if b.add(np.array([0.0, 0.0, sign]), np.zeros(k)):
                    poles.append(len(b.points) - 1)
        hull = _hull(b.array())
        for p in poles:  # energy-preserving fold to the pole's hull neighbours
            nb = [j for j in _neighbours(hull, p) if j not in poles]
            b.fold[p] = sum(b.fold[j] for j in nb) / np.sqrt(len(nb))
        triangles, quads, tri_quad = [], [], []
        for f in _facets(hull):  # non-triangular facets: a fan around a virtual centre
            corners = sorted(f)
            if len(corners) == 3:
                triangles.append(corners)
                tri_quad.append(-1)
                continue
            pts = b.array()
            s = pts[corners].sum(axis=0)
            b.add(s, sum(b.fold[j] for j in corners) / np.linalg.norm(s), force=True)
            c = len(b.points) - 1
            ring = _polygon_order(pts[corners], s)
            if len(ring) == 4:
                quads.append([corners[i] for i in ring])
            for i in range(len(ring)):
                triangles.append([c, corners[ring[i]], corners[ring[(i + 1) % len(ring)]]])
                tri_quad.append(len(quads) - 1 if len(ring) == 4 else -1)
        if not np.all(hull.equations[:, 3] < -1e-6):
            raise SceneError.at("cannot pan over this speaker layout: the speakers do not "
                                "surround the listener", key="output.speakers")
        self.points = b.array()
        self.fold = np.asarray(b.fold, float)
        self.triangles = np.asarray(triangles, int)
        self.quads = np.asarray(quads, int).reshape(-1, 4)
        self.tri_quad = np.asarray(tri_quad, int)
        # p = g @ P[tri]  =>  g = p @ inv(P[tri])
        self._inv = np.linalg.inv(self.points[self.triangles])

    def real_gains(self, directions: np.ndarray) -> np.ndarray:
        """(N, 3) directions -> (N, K) gains of the real speakers, sum of squares 1."""
        d = np.atleast_2d(np.asarray(directions, float))
        n = np.linalg.norm(d, axis=1, keepdims=True)
        d = np.where(n > 0, d / np.where(n > 0, n, 1.0), np.array([1.0, 0.0, 0.0]))
        out = np.empty((len(d), self.fold.shape[1]))
        rows = np.arange(min(len(d), CHUNK))
        for start in range(0, len(d), CHUNK):
            dc = d[start:start + CHUNK]
            r = rows[:len(dc)]
            g = np.einsum("nj,tjk->ntk", dc, self._inv)  # (n, T, 3)
            t = np.argmax(g.min(axis=2), axis=1)
            gt = np.clip(g[r, t], 0.0, None)  # (n, 3)
            full = np.zeros((len(dc), len(self.points)))
            np.add.at(full, (r[:, None], self.triangles[t]), gt)
            q = self.tri_quad[t]
            inq = np.flatnonzero(q >= 0)
            if inq.size:  # quadrilateral facets: bilinear panning instead of the fan
                full[inq] = 0.0
                corners = self.quads[q[inq]]
                np.add.at(full, (inq[:, None], corners),
                          _quad_gains(dc[inq], self.points[corners]))
            real = full @ self.fold
            out[start:start + len(dc)] = real / np.linalg.norm(real, axis=1, keepdims=True)
        return out

    def gains(self, directions: np.ndarray) -> np.ndarray:
        """(N, 3) directions -> (N, C) gains over all layout channels (LFE columns 0)."""
        real = self.real_gains(directions)
        out = np.zeros((real.shape[0], self.n_channels))
        out[:, self.speaker_indices] = real
        return out


_PANNERS: dict[Layout, VbapPanner] = {}
_PANNERS_LOCK = threading.Lock()  # renders side by side (spatial.batch) share them


def vbap_gains(layout: Layout, directions: np.ndarray) -> np.ndarray:
    """(N, 3) directions -> (N, C) energy-normalised VBAP gains for ``layout``
    (sum of squares 1 over the real speakers, LFE column 0). Panners are cached."""
    with _PANNERS_LOCK:
        panner = _PANNERS.get(layout)
    if panner is None:
        made = VbapPanner(layout)
        with _PANNERS_LOCK:
            panner = _PANNERS.setdefault(layout, made)
    return panner.gains(directions)
