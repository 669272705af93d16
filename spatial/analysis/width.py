"""Spatial width and the front/back/height shares of the energy, per output kind.

Each measure is built from sums that add over time (:class:`WidthStats`), so a
window's figures and the whole piece's come from the same code (the piece's
sums are its windows' sums).

- **binaural**: IACC, the largest magnitude of the normalised interaural
  cross-correlation over lags of +-1 ms (ISO 3382-1 annex B, broadband, on the
  programme itself rather than an impulse response): width = 1 - IACC. One
  source straight ahead gives ~0 (both ears alike); independent noise in the
  two ears gives ~1. Front/back/height cannot be read off two ear signals
  without a head model: they are None, with that reason.
- **loudspeakers** (stereo ... 7.1.4, custom): the energy share p_i of each
  directional speaker (the LFE left out); width = the normalised entropy
  -sum p_i ln p_i / ln K of the K speakers' shares: 0 when one speaker plays
  everything, 1 when all play equal energy. Energy only: a phantom centre (the
  same signal in L and R) and two independent signals in L and R both read 1 in
  stereo. front_share: the energy of the speakers ahead (|azimuth| < 90
  degrees) over the total, back_share behind (> 90), a speaker at exactly 90
  degrees counting half to each (so front + back = 1); height_share: the energy
  of the elevated speakers (elevation >= 20 degrees).
- **ambisonics** (AmbiX, ACN/SN3D; only the first-order channels W, Y, Z, X
  are used): the energy vector rE = (<W X>, <W Y>, <W Z>) / <W^2>, the
  pseudo-intensity direction, whose length is 1 for a single plane wave and 0
  for an isotropic diffuse field; width = 1 - |rE|. front_share = E_front /
  (E_front + E_back) with E_front = <(W + X)^2> and E_back = <(W - X)^2>, the
  energies of a forward and a backward first-order cardioid (back_share = 1 -
  front_share); height_share = <Z^2> / (<X^2> + <Y^2> + <Z^2>), the share of
  the directional energy on the vertical axis (0 for a horizontal scene, 1/3 for
  a diffuse field, 1 straight overhead).
- **mono**: no width and no direction: all None, with the reason.

Silence gives None with the reason "silent".
"""
from __future__ import annotations

import numpy as np

MAX_LAG_S = 0.001  # IACC lag range, +-1 ms
SIDE_DEG = 90.0
HEIGHT_MIN_DEG = 20.0
KEYS = ("width", "front_share", "back_share", "height_share")


class WidthStats:
    """Additive sums for the measures of a layout; add (n, C) blocks, then results()."""

    def __init__(self, layout, fs: int):
        self.kind, self.fs = layout.kind, int(fs)
        self.lag = int(round(MAX_LAG_S * self.fs))
        if self.kind == "binaural":
            self.sums = np.zeros(2 + 2 * self.lag + 1)  # E_L, E_R, r(-lag .. lag)
        elif self.kind == "speakers":
            self.index = layout.speaker_indices
            self.az = np.array([layout.channels[i].azimuth_deg for i in self.index])
            self.el = np.array([layout.channels[i].elevation_deg or 0.0 for i in self.index])
            self.sums = np.zeros(self.index.size)
        elif self.kind == "ambisonics":
            self.sums = np.zeros(7)  # WW, WX, WY, WZ, XX, YY, ZZ
        else:
            self.sums = np.zeros(0)

    def measure(self) -> str | None:
        return {"binaural": "1 - IACC (+-1 ms)", "speakers": "normalised speaker energy "
                "entropy", "ambisonics": "1 - |rE| (first order)"}.get(self.kind)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64).reshape(x.shape[0], -1)
        if not x.shape[0]:
            return
        if self.kind == "binaural":
            left, right = x[:, 0], x[:, 1]
            self.sums[0] += left @ left
            self.sums[1] += right @ right
            self.sums[2:] += cross_correlation(left, right, self.lag)
        elif self.kind == "speakers":
            s = x[:, self.index]
            self.sums += np.einsum("ij,ij->j", s, s)
        elif self.kind == "ambisonics":
            w, y, z, xx = x[:, 0], x[:, 1], x[:, 2], x[:, 3]  # ACN 0..3 = W Y Z X
            self.sums += [w @ w, w @ xx, w @ y, w @ z, xx @ xx, y @ y, z @ z]

    def merge(self, other: "WidthStats") -> None:
        self.sums += other.sums

    def results(self) -> tuple[dict, dict]:
        """({width, front_share, back_share, height_share}, {key: reason for a None})."""
        none = dict.fromkeys(KEYS)
        if self.kind == "mono":
            return none, dict.fromkeys(KEYS, "mono: one channel has no width or direction")
        if self.kind not in ("binaural", "speakers", "ambisonics"):
            return none, dict.fromkeys(KEYS, f"no width measure for {self.kind} output")
        if self.kind == "binaural":
            el, er = self.sums[0], self.sums[1]
            reason = ("binaural: direction is not recoverable from two ear signals "
                      "without a head model")
            notes = dict.fromkeys(KEYS[1:], reason)
            if not (el > 0.0 and er > 0.0):
                return none, notes | {"width": "silent (in at least one ear)"}
            iacc = float(np.max(np.abs(self.sums[2:])) / np.sqrt(el * er))
            return none | {"width": _unit(1.0 - iacc)}, notes
        if self.kind == "speakers":
            e = self.sums
            total = float(e.sum())
            if not total > 0.0 or e.size == 0:
                return none, dict.fromkeys(KEYS, "silent")
            p = e / total
            nz = p[p > 0.0]
            width = float(-(nz * np.log(nz)).sum() / np.log(p.size)) if p.size > 1 else 0.0
            a = np.abs(((self.az + 180.0) % 360.0) - 180.0)
            front = np.where(a < SIDE_DEG, 1.0, np.where(a > SIDE_DEG, 0.0, 0.5))
            return {"width": _unit(width), "front_share": _unit(float(p @ front)),
                    "back_share": _unit(float(p @ (1.0 - front))),
                    "height_share": _unit(float(p[self.el >= HEIGHT_MIN_DEG].sum()))}, {}
        ww, wx, wy, wz, xx, yy, zz = self.sums
        if not ww > 0.0:
            return none, dict.fromkeys(KEYS, "silent")
        re = np.sqrt(wx * wx + wy * wy + wz * wz) / ww
        front, back = ww + 2 * wx + xx, ww - 2 * wx + xx
        out = {"width": _unit(1.0 - float(re))}
        notes = {}
        if front + back > 0.0:
            out["front_share"] = _unit(float(front / (front + back)))
            out["back_share"] = _unit(1.0 - out["front_share"])
        else:
            out["front_share"] = out["back_share"] = None
            notes["front_share"] = notes["back_share"] = "no directional energy"
        if xx + yy + zz > 0.0:
            out["height_share"] = _unit(float(zz / (xx + yy + zz)))
        else:
            out["height_share"] = None
            notes["height_share"] = "no directional energy"
        return out, notes


def cross_correlation(a: np.ndarray, b: np.ndarray, lag: int) -> np.ndarray:
    """r[k] = sum_n a[n] b[n + k - lag] for k = 0 .. 2 lag (lags -lag .. +lag), by FFT."""
    n = a.size
    m = 1 << int(np.ceil(np.log2(max(2, n + lag + 1))))
    fa, fb = np.fft.rfft(a, m), np.fft.rfft(b, m)
    r = np.fft.irfft(np.conj(fa) * fb, m)  # r[k] = sum a[n] b[n + k], circular
    return np.concatenate([r[m - lag:], r[:lag + 1]])


def _unit(v: float) -> float:
    return float(min(1.0, max(0.0, v)))
