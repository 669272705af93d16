"""Make the assets of the moving-source examples in scenes/assets/ (mono FLAC, 16-bit).

    python scenes/make_motion_assets.py [--out scenes/assets]

Synthesised, deterministic (numpy seeded), free to use:
- footsteps.flac  eight steps on a hard floor, one every 0.55 s (a heel and a toe
                  click each: noise bursts through a few floor modes), 48 kHz, 5 s;
- car.flac        a passing car's engine and tyres, heard at constant distance: a
                  firing-order harmonic series at 45 Hz with a little jitter, plus
                  band-passed tyre noise, 32 kHz, 8 s (the Doppler shift and the pass
                  itself come from the renderer).
Both start and end with 50 ms raised-cosine fades; peaks at -1 dBFS or below.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

SEED = 9


def _fade(x: np.ndarray, fs: int, seconds: float = 0.05) -> np.ndarray:
    n = int(seconds * fs)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


def _normalise(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    x = x * 10 ** (rms_dbfs / 20) / np.sqrt(np.mean(x ** 2))
    peak = np.max(np.abs(x))
    return x * (10 ** (-1 / 20) / peak) if peak > 10 ** (-1 / 20) else x


def footsteps(fs: int = 48000) -> np.ndarray:
    rng = np.random.default_rng([SEED, 1])
    x = np.zeros(5 * fs)
    modes = [(180.0, 0.03), (420.0, 0.02), (1100.0, 0.012), (2600.0, 0.006)]
    for k in range(8):
        for part, (delay, level) in enumerate(((0.0, 1.0), (0.09, 0.6))):  # heel, toe
            n = int(0.12 * fs)
            burst = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.004 * fs))
            click = sum(signal.lfilter(*_resonator(f, tau, fs), burst) for f, tau in modes)
            at = int((0.3 + 0.55 * k + delay) * fs)
            x[at:at + n] += level * (0.6 + 0.4 * rng.uniform()) * click
    return _fade(_normalise(x, -24.0), fs)


def _resonator(freq: float, tau: float, fs: int):
    r = np.exp(-1.0 / (tau * fs))
    return [1.0 - r], [1.0, -2 * r * np.cos(2 * np.pi * freq / fs), r * r]


def car(fs: int = 32000) -> np.ndarray:
    rng = np.random.default_rng([SEED, 2])
    n = 8 * fs
    t = np.arange(n) / fs
    f0 = 45.0 * (1 + 0.01 * np.cumsum(rng.standard_normal(n)) / np.sqrt(fs))
    phase = 2 * np.pi * np.cumsum(f0) / fs
    engine = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** 0.8 for k in range(1, 40))
    tyres = signal.sosfilt(signal.butter(2, [300, 3000], "bandpass", fs=fs, output="sos"),
                           rng.standard_normal(n))
    x = 0.5 * engine / np.std(engine) + 0.8 * tyres / np.std(tyres)
    x *= 1 + 0.05 * np.sin(2 * np.pi * 0.7 * t)
    return _fade(_normalise(x, -18.0), fs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "assets")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sf.write(str(args.out / "footsteps.flac"), footsteps(), 48000, subtype="PCM_16")
    sf.write(str(args.out / "car.flac"), car(), 32000, subtype="PCM_16")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
