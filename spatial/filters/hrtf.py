"""HRTF sets: reading SOFA files, equalisation, minimum-phase + delay split,
interpolation.

A SimpleFreeFieldHRIR SOFA file is read with sofar and analysed at its own
sample rate on a fine frequency grid (so nothing below depends on the render
rate), then built at the render rate:

1. delays (:mod:`spatial.filters.hrtf_phase`), per direction: a mean delay,
   the mean over the ears of the lag at which each measured response best
   matches its own minimum-phase version, and a target interaural delay, the
   lag of the measured pair's phase-transform cross-correlation below 1.5 kHz;
2. the unmeasured bottom cap is filled with virtual directions
   (:mod:`spatial.filters.hrtf_cap`) and every direction gets its solid-angle
   weight (area of its spherical Voronoi cell);
3. magnitudes are equalised (:mod:`spatial.filters.hrtf_eq`): ``diffuse-field``
   (default) or ``none``, and band-limited to the measured bandwidth;
4. at the render rate: the magnitudes, interpolated onto its frequency grid,
   become minimum-phase responses (real cepstrum), truncated to a common
   length that keeps >= 99.9 % of every response's energy, with a short
   fade-out; each ear's pure delay is the mean delay -+ half an interaural
   delay, chosen so that the minimum-phase pair so delayed has the target
   low-frequency interaural delay (it corrects for the interaural phase of the
   minimum-phase pair itself, measured with the same estimator at this rate).
   Delays are made relative by subtracting the smallest of the set; the
   renderer adds the propagation delay itself.

Levels: with ``diffuse-field`` a diffuse field gives each ear the power
spectrum of an omnidirectional receiver (0 dB) within the measured bandwidth;
with ``none`` the solid-angle-weighted mean energy over directions and ears
within that bandwidth is 1. Either way the scale is fixed at the measured rate,
so the same sound gives the same ear signals at every render rate, and direct
sound (:meth:`HrtfSet.interpolate`) and the room's diffuse tail
(:meth:`HrtfSet.diffuse_power`) are on the same scale.

Frame: x front, y left, z up; azimuth counter-clockwise from the front (+90 =
left), as in SOFA and :mod:`spatial.geometry`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spatial.disk_cache import cache_dir, save_npz
from spatial.errors import SceneError
from spatial.filters.hrtf_cap import fill_bottom_cap
from spatial.filters.hrtf_eq import EQ_MODES, equalise
from spatial.filters.hrtf_phase import excess_delay, lf_lag, minimum_phase, minimum_phase_spectrum
from spatial.filters.hrtf_sofa import fail as _fail
from spatial.filters.hrtf_sofa import read as _read

__all__ = ["DEFAULT_HRTF", "EQ_MODES", "HrtfSet", "load_hrtf", "minimum_phase"]

DEFAULT_HRTF = Path(__file__).resolve().parent.parent / "data" / "hrtf" / "MIT_KEMAR_normal_pinna.sofa"

ANALYSIS_HZ = 5.0  # frequency resolution (at most) of the analysis and of the built responses
MIN_PHASE_SPAN_S = 0.1  # FFT length (s) of the min-phase design: cepstral aliasing negligible
ENERGY_KEPT = 0.999  # fraction of each min-phase response's energy kept by the truncation
FADE_S = 0.5e-3  # half-Hann fade-out appended after the 99.9 % point
_CHUNK = 256  # directions per vectorised chunk (bounds memory)

_CACHE: dict[tuple, "HrtfSet"] = {}
_CACHE_LOCK = threading.Lock()  # renders side by side (spatial.batch) share the cache


@dataclass(frozen=True, eq=False)
class HrtfSet:
    """An HRTF set at sample rate `fs`, split into min-phase part and delay.

    Attributes (M directions: measured ones first, then the virtual directions
    of the bottom cap; L taps, N >= L taps):
      fs: sample rate (Hz) of every array below.
      directions: (M, 3) unit vectors in the listener frame.
      min_phase: (M, 2, L) float64 minimum-phase responses, ears (left, right).
      delays_s: (M, 2) float64 pure delays (s) that go with min_phase, >= 0.
      hrirs: (M, 2, N) float64 the responses as rendered: min_phase delayed by
        delays_s (exact fractional delay): used for the diffuse-field statistics.
      weights: (M,) solid-angle weights, summing to 1.
      source: the SOFA file it came from.
      eq: the equalisation applied, one of EQ_MODES.
      n_measured: how many of the directions were measured (the rest are virtual).
    """

    fs: int
    directions: np.ndarray
    min_phase: np.ndarray
    delays_s: np.ndarray
    hrirs: np.ndarray
    weights: np.ndarray
    source: str = ""
    eq: str = "diffuse-field"
    n_measured: int = 0
    _hull: tuple = field(default=(), repr=False)

    def __post_init__(self):
        if not self._hull:
            object.__setattr__(self, "_hull", _triangulate(self.directions))

    # -- direct sound --------------------------------------------------------
    def weights_for(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """directions (N, 3) -> (indices (N, 3) int, weights (N, 3)) of measured directions.

        Barycentric weights on the facet of the convex hull of the measured
        directions that the ray from the centre along each direction crosses;
        weights are >= 0 and sum to 1. They vary continuously with the direction
        (linear across each facet, shared edges agree). Directions outside the
        measured range (below -40 degrees for KEMAR) cross the large bottom
        facet and get a blend of the lowest measured ring: a plausible, smooth
        but not measured response.
        """
        simplices, normals, offsets, inverses = self._hull
        u = np.atleast_2d(np.asarray(directions, float))
        norm = np.linalg.norm(u, axis=1, keepdims=True)
        u = u / np.where(norm > 0, norm, 1.0)
        u[norm[:, 0] == 0] = (1.0, 0.0, 0.0)
        idx = np.empty((len(u), 3), dtype=np.intp)
        w = np.empty((len(u), 3))
        for lo in range(0, len(u), _CHUNK):
            uc = u[lo:lo + _CHUNK]
            # ray u crosses facet f at t = -offset_f / (n_f . u); the crossed facet
            # has the smallest t > 0, i.e. the largest (n_f . u) / (-offset_f).
            ratio = (uc @ normals.T) / (-offsets)[None, :]  # (n, F); offsets < 0
            f = np.argmax(ratio, axis=1)
            bary = np.einsum("nij,nj->ni", inverses[f], uc)
            # coplanar facets (a flat ring's cap) tie: take the one that contains the hit
            bad = np.flatnonzero(bary.min(axis=1) < -1e-9)
            if bad.size:
                f[bad], bary[bad] = _containing(ratio[bad], f[bad], uc[bad], inverses)
            bary = np.clip(bary, 0.0, None)
            bary /= bary.sum(axis=1, keepdims=True)
            idx[lo:lo + _CHUNK] = simplices[f]
            w[lo:lo + _CHUNK] = bary
        return idx, w

    def interpolate(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """directions (N, 3) unit vectors -> (irs (N, 2, L), delays_s (N, 2)).

        Minimum-phase responses and delays are both blended with the same
        barycentric weights (see :meth:`weights_for`); at a measured direction
        this returns that measurement.
        """
        idx, w = self.weights_for(directions)
        irs = np.einsum("nk,nkel->nel", w, self.min_phase[idx])
        delays = np.einsum("nk,nke->ne", w, self.delays_s[idx])
        return irs, delays

    # -- diffuse field -------------------------------------------------------
    def _cross_spectra(self, n_fft: int):
        """Weighted mean (S_LL, S_RR, S_LR), each (n_fft//2+1,), at bins k*fs/n_fft."""
        n_fft = int(n_fft)
        taps = self.hrirs.shape[-1]
        m = max(1, -(-taps // n_fft))  # evaluate on a finer grid, keep every m-th bin:
        n_big = n_fft * m  # exact samples of the spectrum even when taps > n_fft
        k = n_fft // 2 + 1
        sll, srr, slr = np.zeros(k), np.zeros(k), np.zeros(k, complex)
        for lo in range(0, len(self.weights), _CHUNK):
            h = np.fft.rfft(self.hrirs[lo:lo + _CHUNK], n_big, axis=-1)[..., ::m][..., :k]
            w = self.weights[lo:lo + _CHUNK, None]
            sll += np.sum(w * np.abs(h[:, 0]) ** 2, axis=0)
            srr += np.sum(w * np.abs(h[:, 1]) ** 2, axis=0)
            slr += np.sum(w * h[:, 0] * np.conj(h[:, 1]), axis=0)
        return sll, srr, slr

    def diffuse_power(self, n_fft: int) -> np.ndarray:
        """(2, n_fft//2+1) solid-angle-weighted mean power spectrum |H|^2 per ear.

        With the diffuse-field normalisation its mean over the full FFT circle,
        averaged over the ears, is 1 (Parseval).
        """
        sll, srr, _ = self._cross_spectra(n_fft)
        return np.stack([sll, srr])

    def diffuse_coherence(self, n_fft: int) -> np.ndarray:
        """(n_fft//2+1,) real part of the interaural coherence of a diffuse field.

        Re(sum_m w_m H_L H_R^*) / sqrt(sum w |H_L|^2 * sum w |H_R|^2), from the
        measured responses with their onsets (interaural delays) included.
        """
        sll, srr, slr = self._cross_spectra(n_fft)
        den = np.sqrt(sll * srr)
        tiny = 1e-30 * max(float(den.max()), 1e-300)
        rho = np.ones_like(sll)
        np.divide(slr.real, den, out=rho, where=den > tiny)
        return np.clip(rho, -1.0, 1.0)


# ---------------------------------------------------------------------------
def load_hrtf(spec: str | Path, fs: int, eq: str = "diffuse-field") -> HrtfSet:
    """'default' or a path to a SimpleFreeFieldHRIR SOFA file -> HrtfSet at `fs`,
    equalised as `eq` says (one of EQ_MODES, see :mod:`spatial.filters.hrtf_eq`).

    Cached in-process by (resolved path, file mtime, fs, eq), and on disk (see
    :func:`_load_cached`) so that a new process skips the processing. Every problem
    with the file raises ``SceneError("cannot read HRTF file: <reason>", file=<path>)``;
    an unknown `eq` raises SceneError for key output.hrtf_eq.
    """
    given, path, key = _key(spec, fs, eq)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        try:
            hit = _load_cached(path, int(fs), eq)
        except SceneError as err:  # named as the user gave it, not as a symlink resolves
            raise SceneError([dataclasses.replace(p, file=str(given)) if p.file == str(path)
                              else p for p in err.problems]) from None
        with _CACHE_LOCK:
            while len(_CACHE) >= 8:
                _CACHE.pop(next(iter(_CACHE)))
            hit = _CACHE.setdefault(key, hit)
    return hit


def _key(spec, fs: int, eq: str) -> tuple[Path, Path, tuple]:
    """(the path as given, resolved, the in-process cache key); SceneError as load_hrtf."""
    if eq not in EQ_MODES:
        raise SceneError.at(f"unknown HRTF equalisation {eq!r}; known: {', '.join(EQ_MODES)}",
                            key="output.hrtf_eq")
    given = DEFAULT_HRTF if str(spec) == "default" else Path(spec).expanduser()
    try:
        path = given.resolve()
        mtime = os.stat(path).st_mtime_ns
    except OSError as err:
        raise SceneError.at(f"cannot read HRTF file: {err.strerror or err}", file=given) from None
    return given, path, (str(path), mtime, int(fs), eq)


def is_prepared(spec: str | Path, fs: int, eq: str = "diffuse-field") -> bool:
    """Whether load_hrtf(spec, fs, eq) finds the processed set in this process or in
    the disk cache (else it builds it: seconds, once). SceneError as load_hrtf."""
    _, path, key = _key(spec, fs, eq)
    with _CACHE_LOCK:
        if key in _CACHE:
            return True
    try:
        return _cache_file(path, int(fs), eq).is_file()
    except OSError:
        return False


_ARRAYS = ("directions", "min_phase", "delays_s", "hrirs", "weights")
# the hull of the directions is cached too: triangulating needs scipy.spatial, whose
# import (~0.6 s, scipy.sparse with it) would otherwise be paid by every binaural render
_HULL = ("hull_simplices", "hull_normals", "hull_offsets", "hull_inverses")
_MODULES = ("hrtf.py", "hrtf_cap.py", "hrtf_eq.py", "hrtf_phase.py", "hrtf_sofa.py")


def _cache_file(path: Path, fs: int, eq: str) -> Path:
    """Named after everything the processed set depends on: the file (path, size,
    mtime), the rate, the equalisation, and the source of the modules that build
    it, so changed code never reads a stale entry."""
    st = os.stat(path)
    digest = hashlib.sha256()
    for name in _MODULES:
        digest.update((Path(__file__).parent / name).read_bytes())
    digest.update(f"{path}|{st.st_size}|{st.st_mtime_ns}|{fs}|{eq}".encode())
    return cache_dir() / f"hrtf-{digest.hexdigest()[:24]}.npz"


def _load_cached(path: Path, fs: int, eq: str) -> HrtfSet:
    """The processed set from the disk cache, or built and stored there. The cache is
    an optimisation only: an unreadable entry is rebuilt, an unwritable folder ignored."""
    try:
        file = _cache_file(path, fs, eq)
        with np.load(file, allow_pickle=False) as data:
            return HrtfSet(fs=fs, source=str(path), eq=eq, n_measured=int(data["n_measured"]),
                           _hull=tuple(data[k] for k in _HULL), **{k: data[k] for k in _ARRAYS})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass
    # one BLAS thread: a threaded BLAS sums in another order, and the set (hence every
    # render through it) would depend on which process happened to fill the cache
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        hrtf = _build(path, fs, eq)
    save_npz(file, n_measured=hrtf.n_measured, **dict(zip(_HULL, hrtf._hull)),
             **{k: getattr(hrtf, k) for k in _ARRAYS})
    return hrtf


def _containing(ratio: np.ndarray, f: np.ndarray, u: np.ndarray, inverses: np.ndarray):
    """Among the facets tied with facet f (n,) for the largest ratio (n, F), the one
    whose barycentric coordinates of u (n, 3) have the largest minimum (the first
    such facet on a tie): -> (facets (n,), barycentric (n, 3)). All rows at once:
    every (row, candidate) pair in one einsum, the best pair of each row by a sort."""
    rows = np.arange(len(f))
    ii, cc = np.nonzero(ratio >= (ratio[rows, f] * (1 - 1e-9) - 1e-12)[:, None])
    bc = np.einsum("nij,nj->ni", inverses[cc], u[ii])
    order = np.lexsort((np.arange(ii.size), -bc.min(axis=1), ii))
    first = order[np.flatnonzero(np.r_[True, ii[order][1:] != ii[order][:-1]])]
    return cc[first], bc[first]


def _energy_length(h: np.ndarray, kept: float) -> int:
    """Smallest length keeping >= `kept` of the energy of every response in h (..., n)."""
    c = np.cumsum(h.reshape(-1, h.shape[-1]) ** 2, axis=-1)
    total = c[:, -1:]
    ok = c >= kept * np.where(total > 0, total, 1.0)
    return int(np.max(np.argmax(ok, axis=-1))) + 1


def _solid_angle_weights(u: np.ndarray) -> np.ndarray:
    """(M, 3) unit vectors -> (M,) spherical Voronoi cell areas / 4 pi (duplicates share)."""
    from scipy.spatial import SphericalVoronoi

    key = np.round(u, 6)
    uniq, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    pts = uniq / np.linalg.norm(uniq, axis=1, keepdims=True)
    try:
        areas = SphericalVoronoi(pts, radius=1.0, threshold=1e-6).calculate_areas()
    except Exception:  # degenerate layouts (e.g. a single ring): fall back to equal weights
        areas = np.ones(len(pts))
    w = areas[inverse] / counts[inverse]
    return w / w.sum()


def _triangulate(directions: np.ndarray):
    """Convex hull of the measured directions -> (simplices, normals, offsets, inverses)."""
    from scipy.spatial import ConvexHull

    try:
        hull = ConvexHull(directions)
    except Exception as err:
        raise SceneError(f"cannot read HRTF file: directions cannot be triangulated ({err})") from None
    simplices = hull.simplices
    # contiguous, as when read back from the disk cache: the numba kernel that takes
    # them (motion_kernels.hull_weights) then has one signature, not one per cache state
    normals = np.ascontiguousarray(hull.equations[:, :3])
    offsets = np.ascontiguousarray(hull.equations[:, 3])
    if np.max(offsets) > -1e-6:
        raise SceneError("cannot read HRTF file: the measured directions do not surround the "
                         "listener (they must span both sides of every plane through the head)")
    verts = directions[simplices]  # (F, 3 vertices, 3 coords)
    # u = V^T w  ->  w = inv(V^T) u
    inverses = np.linalg.inv(np.transpose(verts, (0, 2, 1)))
    return simplices, normals, offsets, inverses


def _analyse(path: Path):
    """SOFA file -> (directions (M, 3), magnitudes (M, 2, K) dB on the analysis grid,
    its frequencies (K,), fft length, measured rate, mean delays (M,) s, target
    interaural delays (M,) s), all at the measured rate."""
    ir, fs_in, directions, extra_delay = _read(path)
    n = max(2 * ir.shape[-1], 2 ** int(np.ceil(np.log2(fs_in / ANALYSIS_HZ))))
    freqs = np.fft.rfftfreq(n, 1.0 / fs_in)
    spectra = np.fft.rfft(ir, n, axis=-1)
    ear_delay = excess_delay(spectra, fs_in, n, ir.shape[-1] / fs_in) + extra_delay
    itd = lf_lag(spectra[:, 1] * np.conj(spectra[:, 0]), freqs) + extra_delay[:, 1] - extra_delay[:, 0]
    mag = np.abs(spectra)
    mag_db = 20 * np.log10(np.maximum(mag, 1e-6 * mag.max(axis=-1, keepdims=True) + 1e-300))
    return directions, mag_db, freqs, n, fs_in, ear_delay.mean(axis=1), itd


def _build(path: Path, fs: int, eq: str) -> HrtfSet:
    directions, mag_db, freqs, n_in, fs_in, mean_delay, itd = _analyse(path)
    n_measured = len(directions)
    directions, mag_db, mean_delay, itd = fill_bottom_cap(directions, mag_db, mean_delay, itd)
    weights = _solid_angle_weights(directions)
    mag_db, _ = equalise(mag_db, weights, freqs, fs_in, n_in, eq)
    if not np.all(np.isfinite(mag_db)):
        raise _fail("responses have no energy", path)

    # minimum phase at the render rate, from the magnitudes on its own grid
    n = 2 ** int(np.ceil(np.log2(MIN_PHASE_SPAN_S * fs)))
    # position of each render-rate bin on the analysis grid; above the measured
    # Nyquist frequency the top bin (already at the band limit's floor) holds
    pos = np.interp(np.fft.rfftfreq(n, 1.0 / fs), freqs, np.arange(freqs.size))
    i0 = np.minimum(np.floor(pos).astype(int), freqs.size - 2)
    frac = pos - i0
    mp_full = np.empty((len(directions), 2, n // 2))  # the rest is the cepstral margin
    for lo in range(0, len(directions), 64):  # 64: bounds the FFT memory
        db = mag_db[lo:lo + 64, :, i0] * (1 - frac) + mag_db[lo:lo + 64, :, i0 + 1] * frac
        mp_spec = minimum_phase_spectrum(10 ** (db / 20), n)
        mp_full[lo:lo + 64] = np.fft.irfft(mp_spec, n, axis=-1)[..., :n // 2]
    keep = _energy_length(mp_full, ENERGY_KEPT)
    fade = max(4, int(round(FADE_S * fs)))
    length = min(keep + fade, mp_full.shape[-1])
    mp = mp_full[..., :length].copy()
    del mp_full
    n_fade = length - keep
    if n_fade > 0:
        mp[..., keep:] *= 0.5 * (1 + np.cos(np.pi * (np.arange(n_fade) + 1) / (n_fade + 1)))

    # delays: the min-phase pair's own low-frequency interaural lag is corrected for
    n_lf = 2 ** int(np.ceil(np.log2(max(2 * length, fs / ANALYSIS_HZ))))
    f_lf = np.fft.rfftfreq(n_lf, 1.0 / fs)
    band = f_lf <= 2000.0
    itd_mp = np.empty(len(mp))
    for lo in range(0, len(mp), 64):
        spec = np.fft.rfft(mp[lo:lo + 64], n_lf, axis=-1)[..., band]
        itd_mp[lo:lo + 64] = lf_lag(spec[:, 1] * np.conj(spec[:, 0]), f_lf[band])
    half = 0.5 * (itd - itd_mp)
    delays = np.stack([mean_delay - half, mean_delay + half], axis=1)
    delays -= delays.min()
    try:
        return HrtfSet(fs=fs, directions=directions, min_phase=mp, delays_s=delays,
                       hrirs=_delayed(mp, delays, fs), weights=weights, source=str(path),
                       eq=eq, n_measured=n_measured)
    except SceneError as err:
        raise _fail(err.problems[0].message.removeprefix("cannot read HRTF file: "), path) from None


def _delayed(mp: np.ndarray, delays: np.ndarray, fs: int) -> np.ndarray:
    """(M, 2, L) responses delayed by (M, 2) seconds (exact, in the frequency domain)."""
    from scipy import fft

    length = mp.shape[-1] + int(np.ceil(delays.max() * fs)) + 1
    n = fft.next_fast_len(2 * length, real=True)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    out = np.empty(mp.shape[:2] + (length,))
    for lo in range(0, len(mp), 64):
        spec = fft.rfft(mp[lo:lo + 64], n, axis=-1)
        shift = np.exp(-2j * np.pi * f * delays[lo:lo + 64, :, None])
        out[lo:lo + 64] = fft.irfft(spec * shift, n, axis=-1)[..., :length]
    return out
