"""Binaural decoding of AmbiX signals: magnitude least squares (MagLS).

Schörkhuber, Zaunschirm, Höldrich (2018), "Binaural rendering of Ambisonic
signals via magnitude least squares", DAGA. The decoder is a (2, C) matrix of
filters D(f) (C = (order+1)^2 AmbiX channels, ears left, right): a plane wave
from direction u, encoded as spatial encodes it (b = y(u) s, y the SN3D
spherical harmonics of :mod:`spatial.filters.ambisonics`), decodes to the ear
spectra D(f) y(u) s, which should be the HRTF pair H(u, f) s.

With the M directions of the HRTF set (the measured ones and the virtual bottom
cap of :mod:`spatial.filters.hrtf_cap`), their SH matrix Y (M, C), their
quadrature weights W = diag(w) (the spherical Voronoi cell areas the set
carries: a grid is rarely uniform, and plain sums over-weight its dense parts;
with them Y^T W Y is the SN3D diag(1 / (2n + 1)) within 1e-3 on KEMAR. KEMAR's
cells differ by less than 2x, and equal weights there change the order-3
figures by only 1 us and 0.01 dB) and the responses as rendered
(``HrtfSet.hrirs``: minimum phase plus the interaural and mean delays):

- below the cutoff f_c: weighted least squares per ear and frequency,
  D = (Y^T W Y)^-1 Y^T W H. There a low order still resolves the head
  (k r < order), so the interaural phase, hence the ITD, is reproduced;
- above f_c: the phase of the HRTFs cannot be matched by a low order, and
  fitting it (as LS does) costs the magnitudes. MagLS fits the magnitudes
  only: at each bin the target is |H| with the phase the previous bin's decoder
  gives each direction, exp(i arg(Y D_{k-1})), solved as LS (one iteration per
  bin: the phase continuation of the paper), so the phase stays smooth across
  frequency and the ILD and the timbre survive.

f_c = order * c / (2 pi r) with r = 8.75 cm (head radius): 624, 1248 and
1872 Hz for orders 1, 2 and 3 (the paper's k r = N); the changeover is a linear
cross-fade (in frequency) of the two targets over CROSSFADE_OCTAVES centred
on f_c. Above it each bin's phase is the previous bin's, advanced by the
mean phase step of the W decoder over the last PREDICT_BINS bins below the
changeover (its group delay: Hold, Meyer-Kahlen, Pulkki 2023, as spaudiopy's
``magls_bin(hf_cont='avg')``). With the filters' lead kept (below) this
advance changes the order-3 figures by < 1 us and 0.02 dB; it mattered while
the filters were cut causal (worst order-3 ITD error over 14 directions:
44 us without it, 34 us with it).

Optional (``covariance=True``; off by default, see below): the diffuse-field
covariance constraint (Zaunschirm, Schörkhuber, Höldrich 2018, JASA 143(6)): per bin a
2x2 matrix A applied to the ears, D -> A D, makes the decoded 2x2 covariance of
a diffuse field, D^H (Y^T W Y) D, equal the HRTF set's, H^H W H (ear powers and
interaural coherence), with the A closest to the identity (Vilkamo, Bäckström,
Kuntz 2013: A = Xt V U^H X^-1, Xt Xt^H = target, X X^H = decoded, U S V^H
the SVD of X^H Xt). A low order decodes a diffuse field too coherent between the
ears above f_c (mean interaural coherence in 1 - 4 kHz: 0.67, 0.36, 0.11 for
orders 1, 2, 3 against the KEMAR set's 0.02); the constraint decorrelates it.
It is off by default because it costs the direct sound's ILD: over 26
directions the order-3 broadband ILD error grows from 1.35 to 2.8 dB at worst
(FOA 4.2 -> 6.4 dB), the ITD error is unchanged (29 us).

Filters: the set's responses are sampled on an FFT grid of at least twice
their length (2048 points at 48 kHz); the decoder's impulse responses are its
inverse FFT. The LS part is a fixed combination of the causal responses, but
the magnitude-only part is not minimum phase: it rings before the HRIRs'
onsets (1.7 % of the energy for order 3, most of it within 0.3 ms, nearly all
within 5 ms). So the circle is read from -LEAD_S (5 ms) to half its length,
with half-Hann fades of FADE_S at both ends, and the decoder drops the first
LEAD_S of its output: the decoded file stays aligned with its input. (Cutting
that part instead, as a causal filter must, moved the order-3 ITD by up to
21 us and the ILD by up to 0.3 dB over 26 directions: worst ITD error 46 us
instead of 29.)
"""
from __future__ import annotations

import numpy as np

from spatial.filters.ambisonics import n_channels, sh_matrix

SPEED_OF_SOUND = 343.0
HEAD_RADIUS_M = 0.0875
CROSSFADE_OCTAVES = 0.5  # width of the LS -> MagLS changeover around f_c
FADE_S = 1.0e-3  # half-Hann fades at both ends of the filters
LEAD_S = 5.0e-3  # response kept before t = 0 (non-causal part of the MagLS filters)
PREDICT_BINS = 5  # bins below the changeover whose phase slope is continued
_REG = 1e-9  # relative Tikhonov term of the weighted normal equations (well conditioned anyway)


def cutoff_hz(order: int) -> float:
    """The LS / MagLS changeover: k r = order, r = HEAD_RADIUS_M."""
    return order * SPEED_OF_SOUND / (2 * np.pi * HEAD_RADIUS_M)


def _spectra(hrirs: np.ndarray) -> tuple[np.ndarray, int]:
    """(M, 2, L) responses -> (their rfft (M, 2, K) on n >= 2 L points, n)."""
    n = 1 << int(np.ceil(np.log2(2 * hrirs.shape[-1])))
    return np.fft.rfft(hrirs, n, axis=-1), n


def magls_spectra(order: int, directions: np.ndarray, weights: np.ndarray, hrtfs: np.ndarray,
                  freqs: np.ndarray, cutoff: float | None = None,
                  covariance: bool = False) -> np.ndarray:
    """The decoder on a frequency grid.

    order: 1..3; directions (M, 3), weights (M,) quadrature weights (any scale);
    hrtfs (M, 2, K) complex responses at freqs (K,) Hz, ascending from 0.
    Returns (K, 2, C) complex: ears = D[k] @ b for AmbiX (SN3D) signals b (C,).
    """
    y = sh_matrix(order, directions)  # (M, C)
    w = np.asarray(weights, float) / np.sum(weights)
    gram = y.T @ (w[:, None] * y)  # (C, C): the SN3D diffuse covariance, diag(1/(2n+1))
    gram_reg = gram + _REG * np.trace(gram) / len(gram) * np.eye(len(gram))
    proj = np.linalg.solve(gram_reg, (w[:, None] * y).T)  # (C, M): LS projection
    fc = cutoff_hz(order) if cutoff is None else float(cutoff)
    lo, hi = fc * 2.0 ** (-CROSSFADE_OCTAVES / 2), fc * 2.0 ** (CROSSFADE_OCTAVES / 2)
    k_mag = int(np.searchsorted(freqs, lo))  # first bin with any magnitude-only target
    h = np.transpose(hrtfs, (2, 1, 0))  # (K, 2, M)
    d = np.empty((len(freqs), 2, y.shape[1]), complex)
    d[:k_mag] = np.einsum("cm,kem->kec", proj, h[:k_mag])  # plain LS
    # the phase advance per bin of the omni (W) decoder just below the changeover: its
    # group delay, which the continuation keeps (Hold, Meyer-Kahlen, Pulkki 2023)
    k0 = max(k_mag, PREDICT_BINS + 2)
    if k0 > k_mag:
        d[k_mag:k0] = np.einsum("cm,kem->kec", proj, h[k_mag:k0])
    step = np.mean(np.diff(np.unwrap(np.angle(d[k0 - PREDICT_BINS - 1:k0, :, 0]), axis=0),
                           axis=0), axis=0)  # (2,)
    for k in range(k0, len(freqs)):
        # (2, M): previous bin's decoded phase, advanced by the group delay
        phase = np.exp(1j * (np.angle(d[k - 1] @ y.T) + step[:, None]))
        a = 1.0 if freqs[k] >= hi else (freqs[k] - lo) / (hi - lo) if hi > lo else 1.0
        target = (1 - a) * h[k] + a * np.abs(h[k]) * phase
        d[k] = target @ proj.T
    if covariance:
        d = _covariance_constraint(d, h, w, gram)
    return d


def _covariance_constraint(d: np.ndarray, h: np.ndarray, w: np.ndarray,
                           gram: np.ndarray) -> np.ndarray:
    """D (K, 2, C) -> A D per bin, A (2, 2), so that the decoded diffuse covariance
    A D Gram D^H A^H equals the set's, sum_m w_m H_m H_m^H."""
    target = np.einsum("kem,m,kfm->kef", h, w, np.conj(h))  # (K, 2, 2)
    decoded = np.einsum("kec,cd,kfd->kef", d, gram, np.conj(d))
    out = d.copy()
    for k in range(len(d)):
        try:
            xt = np.linalg.cholesky(target[k] + 1e-12 * np.trace(target[k]).real * np.eye(2))
            xd = np.linalg.cholesky(decoded[k] + 1e-12 * np.trace(decoded[k]).real * np.eye(2))
        except np.linalg.LinAlgError:
            continue  # a silent bin (0 Hz of a band-limited set): leave it
        # ears e = D b; mixed ears A e with A = Xt Q Xd^-1 (Q unitary) have covariance
        # Xt Xt^H; Q = V U^H, U S V^H = svd(Xd^H Xt), maximises Re tr(A C): A nearest I
        u, _, vh = np.linalg.svd(xd.conj().T @ xt)
        a = xt @ (vh.conj().T @ u.conj().T) @ np.linalg.inv(xd)
        out[k] = a @ d[k]
    return out


def decoder_filters(hrtf, order: int, cutoff: float | None = None,
                    covariance: bool = False) -> tuple[np.ndarray, int]:
    """The MagLS decoder of an :class:`~spatial.filters.hrtf.HrtfSet` for AmbiX of
    `order` -> (filters (C, 2, T) float64 at hrtf.fs, C = (order+1)^2, lead): ear e
    = sum_c conv(b_c, filters[c, e]), delayed by `lead` samples (LEAD_S: the
    decoder's response before the HRIRs' onsets, which its phase continuation puts
    there), which a caller drops from the front to align with the input."""
    spectra, n = _spectra(hrtf.hrirs)
    freqs = np.fft.rfftfreq(n, 1.0 / hrtf.fs)
    d = magls_spectra(order, hrtf.directions, hrtf.weights, spectra, freqs, cutoff, covariance)
    irs = np.fft.irfft(np.transpose(d, (2, 1, 0)), n, axis=-1)  # (C, 2, n), circular
    lead = int(round(LEAD_S * hrtf.fs))
    taps = n // 2 + lead
    irs = np.roll(irs, lead, axis=-1)[..., :taps].copy()
    fade = max(4, int(round(FADE_S * hrtf.fs)))
    ramp = 0.5 * (1 + np.cos(np.pi * (np.arange(fade) + 1) / (fade + 1)))
    irs[..., taps - fade:] *= ramp
    irs[..., :fade] *= ramp[::-1]
    assert irs.shape[0] == n_channels(order)
    return irs, lead
