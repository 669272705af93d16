"""Make the background assets of the rural and city settings in scenes/assets/ (mono FLAC,
16-bit, 24 kHz: the renderer resamples them to the scene's rate).

    python scenes/make_setting_assets.py [--out scenes/assets]

Synthesised, deterministic (numpy seeded), free to use; the helpers (shaped noise,
slow random curves, filters) are those of make_assets.py:
- farmyard.flac  outside a farmhouse window: a soft gusting wind (band-passed noise,
                 250 Hz - 2 kHz) and birds, a few short chirps and trills (2.5 - 6 kHz
                 frequency sweeps) every second or two, 11 s, about -30 dBFS RMS;
- traffic.flac   a city street: the hiss of tyres on asphalt (pink-ish noise, 150 Hz -
                 9 kHz) swelling as cars pass, over the low rumble of engines (brown
                 noise under 150 Hz), 11 s, about -32 dBFS RMS.
Both start and end with 50 ms raised-cosine fades; peaks at -1 dBFS or below. The
files are kept small (a few hundred kB) by the rate and the length.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_assets as ma  # noqa: E402  (the shared helpers, at their 48 kHz)

FS = 24000
SEED = 11
SECONDS = 11.0


def _at_fs(fn, *args, **kw):
    """Run a make_assets helper at this script's rate."""
    saved, ma.FS = ma.FS, FS
    try:
        return fn(*args, **kw)
    finally:
        ma.FS = saved


def chirp(rng: np.random.Generator) -> np.ndarray:
    """One bird call: 2-5 quick notes, each a sweep between 2.5 and 6 kHz, 30-90 ms."""
    notes = []
    for _ in range(rng.integers(2, 6)):
        dur = rng.uniform(0.03, 0.09)
        n = int(dur * FS)
        t = np.arange(n) / FS
        f0, f1 = rng.uniform(2500, 6000, 2)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * dur))
        env = np.sin(np.pi * t / dur) ** 2
        notes += [env * np.sin(phase), np.zeros(int(rng.uniform(0.02, 0.06) * FS))]
    return np.concatenate(notes)


def farmyard(rng: np.random.Generator) -> np.ndarray:
    n = int(SECONDS * FS)
    wind = _at_fs(ma.bandpass, _at_fs(ma.shaped_noise, rng, n, -3.0, 40, 10000), 250, 2000, 2)
    gust = 0.25 + 0.75 * _at_fs(ma.smooth_random, rng, n, 1.9)
    birds = np.zeros(n)
    at = rng.uniform(0.2, 0.8)
    while at < SECONDS - 0.6:
        call = chirp(rng) * rng.uniform(0.4, 1.0)
        s = int(at * FS)
        birds[s:s + len(call)] += call[:n - s]
        at += rng.uniform(0.9, 2.2)
    # heard through a window: the highest partials lose a little
    birds = signal.sosfilt(signal.butter(2, 7000, fs=FS, output="sos"), birds)
    out = 0.6 * gust * wind / np.std(wind) + 0.5 * birds / np.max(np.abs(birds))
    return _at_fs(ma.fade, ma.normalise(out, -30.0))


def traffic(rng: np.random.Generator) -> np.ndarray:
    n = int(SECONDS * FS)
    t = np.arange(n) / FS
    hiss = _at_fs(ma.bandpass, _at_fs(ma.shaped_noise, rng, n, -2.5, 100, 11000), 150, 9000, 2)
    rumble = _at_fs(ma.lowpass, _at_fs(ma.shaped_noise, rng, n, -6.0, 25, 400), 150, 2)
    swell = np.full(n, 0.35)  # the steady flow, and a car passing every 1.5-3 s
    at = rng.uniform(0.0, 1.0)
    while at < SECONDS + 1.0:
        width = rng.uniform(0.6, 1.2)
        swell += rng.uniform(0.4, 1.0) * np.exp(-0.5 * ((t - at) / width) ** 2)
        at += rng.uniform(1.5, 3.0)
    out = swell * hiss / np.std(hiss) + 0.8 * rumble / np.std(rumble)
    return _at_fs(ma.fade, ma.normalise(out, -32.0))


def make(out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    written = {}
    for name, x in (("farmyard", farmyard(rng)), ("traffic", traffic(rng))):
        path = out_dir / f"{name}.flac"
        assert np.max(np.abs(x)) <= 1.0
        sf.write(str(path), x, FS, subtype="PCM_16", format="FLAC")
        written[name] = path
        print(f"{path}  {len(x) / FS:5.2f} s  RMS {ma.rms_dbfs(x):6.1f} dBFS  "
              f"{path.stat().st_size / 1024:6.0f} KiB")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "assets")
    make(ap.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
