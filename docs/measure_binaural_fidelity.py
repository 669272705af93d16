"""Binaural fidelity figures of issue 7, through APIs that older commits have too, so
the same script measures before and after (e.g. PYTHONPATH=<old worktree>).

Run from the repository root (scenes/assets made by scenes/make_assets.py):
  python docs/measure_binaural_fidelity.py df mirror levels demo itd 16000,22050,44100,48000,96000,192000
  EQ=none python docs/measure_binaural_fidelity.py itd 48000     (the raw set)

df: diffuse field (4000 even directions) at the ears against an omni receiver, per
third octave; mirror: worst ILD / ITD sums of mirrored directions below -40 degrees;
levels: binaural and mono level of a 6 kHz band-limited source at each rate against
48 kHz; demo: dialogue against everything else (BS.1770, pyloudnorm) in binaural and
5.1; itd: worst low-frequency ITD error (phase-transform and plain cross-correlation
below 1.5 kHz) of the rendered pair against the raw measured pair, every direction.
"""
import sys
import numpy as np
from spatial.filters.hrtf import load_hrtf
from spatial.filters.binaural import BinauralSpatialiser
from spatial.geometry import unit_vectors
import sofar
from spatial.filters.hrtf import DEFAULT_HRTF

def load(fs):
    import os
    return load_hrtf("default", fs, **({"eq": os.environ["EQ"]} if "EQ" in os.environ else {}))

def fib(n):
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5 ** 0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)

CENTRES = 1000 * 2.0 ** (np.arange(-14, 12) / 3)  # 40 Hz .. 16 kHz

def thirds(p, f):
    out = []
    for c in CENTRES:
        b = (f >= c * 2 ** (-1/6)) & (f < c * 2 ** (1/6))
        out.append(p[..., b].mean(-1))
    return np.stack(out, -1)

def df_deviation(fs=48000):
    sp = BinauralSpatialiser(load(fs))
    irs, _ = sp.responses(fib(4000))
    n = 2 ** 16
    f = np.fft.rfftfreq(n, 1 / fs)
    p = np.zeros(n // 2 + 1)
    for lo in range(0, len(irs), 500):
        p += (np.abs(np.fft.rfft(irs[lo:lo+500], n, axis=-1)) ** 2).sum((0, 1))
    p /= 2 * len(irs)
    return 10 * np.log10(thirds(p, f))

def pair(sp, u, fs, n):
    irs, d = sp.responses(u)
    f = np.fft.rfftfreq(n, 1 / fs)
    H = np.fft.rfft(irs, n, axis=-1) * np.exp(-2j * np.pi * f * d[..., None])
    return H, f

def lag(X, f, phat, lo=0.0, hi=1500.0):
    sel = (f > lo) & (f <= hi)
    x = X[..., sel]
    if phat:
        x = x / np.maximum(np.abs(x), 1e-300)
    taus = np.arange(-1.2e-3, 1.2e-3, 1e-6)
    arg = 2 * np.pi * np.outer(f[sel], taus)
    xc = x.real @ np.cos(arg) - x.imag @ np.sin(arg)
    return taus[np.argmax(xc, -1)]

def raw_itd(phat):
    s = sofar.read_sofa(str(DEFAULT_HRTF), verbose=False)
    fs = float(np.ravel(s.Data_SamplingRate)[0]); n = 8192
    H = np.fft.rfft(s.Data_IR, n, axis=-1); f = np.fft.rfftfreq(n, 1 / fs)
    from spatial.geometry import unit_vectors
    u = unit_vectors(s.SourcePosition[:, 0], s.SourcePosition[:, 1])
    return u, lag(H[:, 1] * np.conj(H[:, 0]), f, phat)

def itd_errors(fs, phat):
    u, ref = raw_itd(phat)
    sp = BinauralSpatialiser(load(fs))
    n = 2 ** int(np.ceil(np.log2(fs / 5)))
    out = np.empty(len(u))
    for lo in range(0, len(u), 64):
        H, f = pair(sp, u[lo:lo+64], fs, n)
        out[lo:lo+64] = lag(H[:, 1] * np.conj(H[:, 0]), f, phat)
    return out - ref, out, ref

def mirror(fs=48000):
    sp = BinauralSpatialiser(load(fs))
    az = np.arange(0, 180.1, 5.0)
    worst_ild = worst_itd = 0
    n = 16384
    for el in (-45, -50, -60, -70, -80, -89.9):
        uL = unit_vectors(az, np.full_like(az, el)); uR = unit_vectors(-az, np.full_like(az, el))
        HL, f = pair(sp, uL, fs, n); HR, _ = pair(sp, uR, fs, n)
        ild = lambda H: 10 * np.log10((np.abs(H[:, 0]) ** 2).sum(-1) / (np.abs(H[:, 1]) ** 2).sum(-1))
        itd = lambda H: lag(H[:, 1] * np.conj(H[:, 0]), f, False)
        worst_ild = max(worst_ild, np.abs(ild(HL) + ild(HR)).max())
        worst_itd = max(worst_itd, np.abs(itd(HL) + itd(HR)).max())
    Hb, f = pair(sp, unit_vectors(0, -90), fs, n)
    below = 10 * np.log10((np.abs(Hb[:, 0]) ** 2).sum() / (np.abs(Hb[:, 1]) ** 2).sum())
    H90, _ = pair(sp, unit_vectors([90, -90], [-50, -50]), fs, n)
    ild90 = 10 * np.log10((np.abs(H90[:, 0]) ** 2).sum(-1) / (np.abs(H90[:, 1]) ** 2).sum(-1))
    return worst_ild, worst_itd * 1e6, below, ild90

def levels():
    import spatial, soundfile as sf
    from dataclasses import replace
    from scipy import signal
    from spatial.scene.model import Scene
    from spatial.scene.parts import Listener, Output, Source
    from pathlib import Path
    rng = np.random.default_rng(5)
    x = signal.sosfiltfilt(signal.butter(8, 6000, fs=48000, output="sos"), rng.standard_normal(72000))
    import tempfile
    p = Path(tempfile.mkdtemp()) / "noise6k.wav"; sf.write(str(p), 0.1 * x, 48000, subtype="FLOAT")
    res = {}
    for fmt in ("binaural", "mono"):
        for fs in (16000, 22050, 44100, 48000, 96000, 192000):
            sc = Scene(listener=Listener((0.0, 0.0, 0.0), 0.0),
                       sources=(Source("s", p, (1.0, 1.7320508, 0.0)),),
                       output=Output(format=fmt), sample_rate=fs)
            a = spatial.render(sc).audio.astype(float)
            res[(fmt, fs)] = 10 * np.log10(np.mean(a ** 2))
        print(fmt, " ".join(f"{fs}: {res[(fmt, fs)] - res[(fmt, 48000)]:+.2f}" for fs in (16000, 22050, 44100, 48000, 96000, 192000)))

def demo():
    import spatial, pyloudnorm as pyln
    from dataclasses import replace
    sc = spatial.load_scene("scenes/demo.yaml")
    dia = tuple(s for s in sc.sources if s.role == "dialogue")
    rest = tuple(s for s in sc.sources if s.role != "dialogue")
    print("sources", [(s.name, s.role) for s in sc.sources])
    for fmt in ("binaural", "5.1"):
        out = {}
        for name, srcs in (("dialogue", dia), ("rest", rest)):
            s2 = replace(sc.with_output(format=fmt), sources=srcs)
            r = spatial.render(s2)
            a = r.audio.astype(float)
            meter = pyln.Meter(r.sample_rate)
            if fmt == "5.1":
                a = np.delete(a, 3, axis=1)  # LFE is excluded by BS.1770
            out[name] = meter.integrated_loudness(a)
        print(fmt, {k: round(v, 2) for k, v in out.items()}, "dialogue - rest = %.1f LU" % (out["dialogue"] - out["rest"]))


if __name__ == "__main__":
    what = sys.argv[1:]
    if "df" in what:
        d = df_deviation()
        for c, v in zip(CENTRES, d): print(f"{c:8.0f} Hz {v:+6.1f} dB")
    if "itd" in what:
        for fs in map(int, sys.argv[sys.argv.index("itd") + 1].split(",")):
            for phat in (True, False):
                e, out, ref = itd_errors(fs, phat)
                k = np.argmax(np.abs(e))
                print(f"fs {fs} {'phat' if phat else 'plain'}: worst {abs(e[k])*1e6:.1f} us (dir {k}, {out[k]*1e6:.0f} vs {ref[k]*1e6:.0f}), mean |err| {np.abs(e).mean()*1e6:.1f} us")
    if "mirror" in what:
        print("mirror: worst ILD sum %.2f dB, worst ITD sum %.1f us, below ILD %.2f dB, ILD at +-90/-50 %s" % mirror())
    if "levels" in what:
        levels()
    if "demo" in what:
        demo()
