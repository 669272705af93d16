"""The decoding figures of issue 16 (scenes/README.md, "Decoding ambisonics").

Run from the repository root:
  python docs/measure_decode.py binaural allrad

binaural: a 0.5 s white noise at 2 m, free field, 48 kHz, rendered by spatial in
binaural (the direct render) and in foa / hoa2 / hoa3, then decoded with
spatial.decode and with spaudiopy's MagLS filters (tests/data/spaudiopy_magls.npz);
per direction the decoded low-frequency ITD (phase-transform cross-correlation
below 1.5 kHz) and broadband ILD (50 Hz - 16 kHz) minus the direct render's, as a
markdown table, then the octave-band ILD differences. allrad: for a plane wave
from each speaker of each layout (spatial's SN3D encoding), how many decode
loudest in their own speaker per order, the HOA3 margin over the next loudest,
the HOA3 energy-vector direction error and the decoder's mean energy.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import spatial  # noqa: E402
from helpers import FS, fibonacci_sphere, noise_file, polar, scene  # noqa: E402

DIRECTIONS = [(a, 0) for a in (0, 30, 60, 90, 120, 150, 180, -30, -60, -90, -120, -150)] + [
    (0, 30), (90, 30), (-135, 30), (45, -30), (180, -30), (90, 60), (0, -60)]
OCTAVES = (250, 500, 1000, 2000, 4000, 8000)
ORDERS = {"foa": 1, "hoa2": 2, "hoa3": 3}


def _spec(x):
    n = 1 << int(np.ceil(np.log2(len(x))))
    return np.fft.rfft(x, n, axis=0), np.fft.rfftfreq(n, 1 / FS)


def itd_us(x):
    spec, f = _spec(x)
    sel = (f > 0) & (f <= 1500)
    c = spec[sel, 1] * np.conj(spec[sel, 0])
    c = c / np.maximum(np.abs(c), 1e-300)
    taus = np.arange(-1.2e-3, 1.2e-3 + 1e-9, 1e-6)
    arg = 2 * np.pi * np.outer(taus, f[sel])
    return 1e6 * taus[np.argmax(np.cos(arg) @ c.real - np.sin(arg) @ c.imag)]


def ilds_db(x):
    spec, f = _spec(x)
    p = np.abs(spec) ** 2

    def one(lo, hi):
        q = p[(f >= lo) & (f < hi)].sum(axis=0)
        return 10 * np.log10(q[0] / q[1])

    return one(50, 16000), np.array([one(c / np.sqrt(2), c * np.sqrt(2)) for c in OCTAVES])


def _signed(v: float, digits: int) -> str:
    """+3, -1.2, and 0 / 0.0 without a sign."""
    text = f"{v:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def binaural() -> None:
    ref = np.load(ROOT / "tests" / "data" / "spaudiopy_magls.npz")
    names = ["foa", "hoa2", "hoa3", "spaudiopy hoa3"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = noise_file(Path(tmp) / "n.wav", seconds=0.5)
        for az, el in DIRECTIONS:
            pos = polar(az, 2.0, el)
            direct = spatial.render(scene(src, pos, fmt="binaural")).audio.astype(float)
            bb, bo = ilds_db(direct)
            row = {"dir": (az, el), "itd": itd_us(direct)}
            for fmt, order in ORDERS.items():
                amb = spatial.render(scene(src, pos, fmt=fmt)).audio.astype(float)
                outs = {fmt: spatial.decode(amb, FS, fmt, "binaural").audio.astype(float)}
                if fmt == "hoa3":
                    f = ref["filters_3"].astype(float)
                    outs["spaudiopy hoa3"] = sum(fftconvolve(amb[:, c:c + 1], f[c].T, axes=0)
                                                 for c in range(len(f)))
                for name, y in outs.items():
                    yb, yo = ilds_db(y)
                    row[name] = (itd_us(y) - row["itd"], yb - bb, yo - bo)
            rows.append(row)
    print("| source (az / el) | direct ITD | " + " | ".join(f"{n} dITD / dILD" for n in names)
          + " |")
    print("|---" * (2 + len(names)) + "|")
    for r in rows:
        cells = [f"{r['dir'][0]} / {r['dir'][1]}", f"{round(r['itd'])} us"]
        cells += [f"{_signed(r[n][0], 0)} us / {_signed(r[n][1], 1)} dB" for n in names]
        print("| " + " | ".join(cells) + " |")
    for n in names:
        it = np.array([abs(r[n][0]) for r in rows])
        il = np.array([abs(r[n][1]) for r in rows])
        oc = np.abs(np.array([r[n][2] for r in rows]))
        worst = np.unravel_index(np.argmax(oc), oc.shape)
        print(f"{n}: |dITD| max {it.max():.0f} mean {it.mean():.0f} us; |dILD| max "
              f"{il.max():.1f} mean {il.mean():.1f} dB; octave-band |dILD| mean "
              f"{' / '.join(f'{v:.1f}' for v in oc.mean(axis=0))} dB ({OCTAVES[0]} .. "
              f"{OCTAVES[-1]} Hz), worst {oc.max():.1f} dB at {rows[worst[0]]['dir']}, "
              f"{OCTAVES[worst[1]]} Hz")


def allrad() -> None:
    from spatial.decoding.allrad import allrad_matrix
    from spatial.filters.ambisonics import sh_matrix
    from spatial.filters.layouts import get_layout
    from spatial.scene.parts import Output

    for fmt in ("stereo", "5.1", "7.1", "5.1.4", "7.1.4"):
        layout = get_layout(Output(format=fmt))
        idx, u = layout.speaker_indices, layout.directions()
        line = [fmt]
        for order in (1, 2, 3):
            d = allrad_matrix(layout, order)
            e = (sh_matrix(order, u) @ d.T) ** 2
            own = np.argmax(e, axis=1) == idx
            line.append(f"order {order}: {own.sum()}/{len(idx)}")
            if order == 3:
                margin = [10 * np.log10(e[i, idx[i]] / np.delete(e[i], idx[i]).max())
                          for i in range(len(idx))]
                re = e[:, idx] @ u
                re /= np.linalg.norm(re, axis=1, keepdims=True)
                err = np.degrees(np.arccos(np.clip(np.sum(re * u, axis=1), -1, 1)))
                g = sh_matrix(3, fibonacci_sphere(4000)) @ d.T
                line.append(f"margin >= {min(margin):.1f} dB "
                            f"({layout.names[idx[int(np.argmin(margin))]]}), energy-vector "
                            f"error <= {err.max():.0f} deg, mean energy "
                            f"{np.mean(np.sum(g ** 2, axis=1)):.3f}")
        print(", ".join(line))


if __name__ == "__main__":
    for what in sys.argv[1:] or ["binaural", "allrad"]:
        {"binaural": binaural, "allrad": allrad}[what]()
