"""Re-make the example assets in scenes/assets/ (mono FLAC, 48 kHz, 16-bit).

    python scenes/make_assets.py [--out scenes/assets]

Everything is synthesised here, deterministically (numpy seeded; espeak-ng
output is deterministic for a given espeak-ng version), so the files can be
re-made and anyone may use them:

- line1.flac    dialogue, espeak-ng voice en-gb (male), ~4.4 s
- line2.flac    dialogue, espeak-ng voice en-us with the +f3 variant (female), ~3.5 s
- leitmotif.flac  4 bars of a D minor theme (FM "electric piano" over an
                additive pad), 96 bpm, 10 s
- surf.flac     surf and wind: shaped noise, waves as slow swells, 12 s
- roomtone.flac   low-level pink-ish noise, 12 s
- knock.flac    three knocks on a wooden door (noise bursts through body modes), 1.5 s

Dialogue and music are normalised to about -20 dBFS RMS, surf to -22, the
room tone sits at -40 dBFS RMS; every file keeps its peak at or below -1 dBFS.
Long files start and end with 50 ms raised-cosine fades, so nothing clicks.
Needs: numpy, scipy, soundfile, and the espeak-ng program.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal
from scipy.interpolate import CubicSpline

FS = 48000
SEED = 7
PEAK_DBFS = -1.0
FADE_S = 0.05

LINES = {
    # name: (espeak-ng voice, words per minute, pitch 0..99, text)
    "line1": ("en-gb", 150, 45, "The tide turns at midnight. We leave before the lamps are lit."),
    "line2": ("en-us+f3", 145, 60, "Then we go quietly, and nobody looks back."),
}


# ---------------------------------------------------------------- helpers

def db(x: float) -> float:
    return 10.0 ** (x / 20.0)


def rms_dbfs(x: np.ndarray) -> float:
    return 20.0 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-20)


def normalise(x: np.ndarray, rms_target_dbfs: float, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale to an RMS target, but never let the peak exceed peak_dbfs."""
    x = x * db(rms_target_dbfs - rms_dbfs(x))
    peak = np.max(np.abs(x))
    if peak > db(peak_dbfs):
        x = x * (db(peak_dbfs) / peak)
    return x


def fade(x: np.ndarray, seconds: float = FADE_S) -> np.ndarray:
    """Raised-cosine fade in and out."""
    n = int(seconds * FS)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))
    x = x.copy()
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


def shaped_noise(rng: np.random.Generator, n: int, slope_db_per_octave: float,
                 lo: float = 20.0, hi: float = 20000.0) -> np.ndarray:
    """White noise shaped in the frequency domain: power slope in dB/octave
    (-3 pink, -6 brown), band-limited to [lo, hi] with soft 2nd-order edges."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / FS)
    f[0] = f[1]
    gain = (f / 1000.0) ** (slope_db_per_octave / (20.0 * np.log10(2.0)))
    gain *= 1.0 / np.sqrt(1.0 + (lo / f) ** 4) / np.sqrt(1.0 + (f / hi) ** 4)
    out = np.fft.irfft(spec * gain, n)
    return out / np.std(out)


def smooth_random(rng: np.random.Generator, n: int, period_s: float) -> np.ndarray:
    """A slow random curve in [0, 1]: random points every period_s, cubic-interpolated."""
    k = int(np.ceil(n / (period_s * FS))) + 3
    pts = rng.uniform(0.0, 1.0, k)
    t = np.arange(k) * period_s * FS
    return np.clip(CubicSpline(t, pts)(np.arange(n)), 0.0, 1.0)


def bandpass(x: np.ndarray, lo: float, hi: float, order: int = 4) -> np.ndarray:
    sos = signal.butter(order, [lo, hi], btype="bandpass", fs=FS, output="sos")
    return signal.sosfiltfilt(sos, x)


def highpass(x: np.ndarray, fc: float, order: int = 2) -> np.ndarray:
    return signal.sosfiltfilt(signal.butter(order, fc, btype="highpass", fs=FS, output="sos"), x)


def lowpass(x: np.ndarray, fc: float, order: int = 2) -> np.ndarray:
    return signal.sosfiltfilt(signal.butter(order, fc, btype="lowpass", fs=FS, output="sos"), x)


# ---------------------------------------------------------------- dialogue

def dialogue(voice: str, wpm: int, pitch: int, text: str) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("make_assets: espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        subprocess.run([exe, "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(wav), text],
                       check=True)
        x, fs = sf.read(str(wav), dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    # espeak-ng writes 22050 Hz: 22050 * 320 / 147 = 48000 (polyphase, Kaiser window)
    g = gcd(FS, fs)
    x = signal.resample_poly(x, FS // g, fs // g, window=("kaiser", 8.0))
    x = highpass(x, 70.0)  # take off DC and rumble
    # trim silence (below -50 dB of the peak) but keep 60 ms of air on each side
    env = np.abs(x) > np.max(np.abs(x)) * db(-50)
    idx = np.flatnonzero(env)
    pad = int(0.06 * FS)
    x = x[max(idx[0] - pad, 0):min(idx[-1] + pad, len(x))]
    return fade(normalise(x, -20.0), 0.02)


# ---------------------------------------------------------------- leitmotif

def midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69) / 12.0)


def adsr(n: int, a: float, d: float, s: float, r: float, held: int) -> np.ndarray:
    """Attack/decay/sustain/release envelope (seconds; s is a level); note held `held`
    samples, then released; the last 20 ms go smoothly to zero so no note ends in a click."""
    t = np.arange(n) / FS
    held_s = held / FS
    env = np.where(t < a, t / a, s + (1 - s) * np.exp(-(t - a) / max(d, 1e-3)))
    rel = np.where(t > held_s, np.exp(-(t - held_s) / max(r, 1e-3)), 1.0)
    end = int(0.02 * FS)
    rel[-end:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, end))
    return env * rel


def fm_note(f: float, dur: float, vel: float) -> np.ndarray:
    """Two-operator FM (ratio 1:1 plus a bell partial at 1:3.5), decaying index:
    a soft electric-piano tone."""
    tail = 1.0
    n = int((dur + tail) * FS)
    t = np.arange(n) / FS
    index = 2.2 * np.exp(-t / 0.25) + 0.4
    mod = np.sin(2 * np.pi * f * t)
    tone = np.sin(2 * np.pi * f * t + index * mod)
    bell = 0.12 * np.exp(-t / 0.15) * np.sin(2 * np.pi * 3.5 * f * t)
    env = adsr(n, 0.01, 0.6, 0.35, 0.18, int(dur * FS))
    return vel * env * (tone + bell)


def pad_chord(notes: list[int], dur: float, vel: float) -> np.ndarray:
    """Additive pad: six harmonics per note, two voices detuned by +-4 cents, slow attack."""
    tail = 1.5
    n = int((dur + tail) * FS)
    t = np.arange(n) / FS
    out = np.zeros(n)
    for m in notes:
        for cents in (-4.0, 4.0):
            f = midi_hz(m) * 2 ** (cents / 1200)
            for k in range(1, 7):
                if k * f < 16000:
                    out += (1.0 / k ** 1.6) * np.sin(2 * np.pi * k * f * t + 0.7 * k)
    env = adsr(n, 0.35, 1.0, 0.8, 0.35, int(dur * FS))
    return vel * env * out / (2 * len(notes))


def leitmotif() -> np.ndarray:
    beat = 60.0 / 96.0  # 96 bpm, 4 bars of 4/4 = 10 s
    n = int(16 * beat * FS)
    out = np.zeros(n + 2 * FS)
    # melody (midi, beats): D minor, rises to the C and falls back home
    melody = [(62, 1), (69, 1), (67, .5), (65, .5), (64, 1),
              (65, 1.5), (64, .5), (62, 1), (60, 1),
              (62, 1), (69, 1), (72, .5), (70, .5), (69, 1),
              (67, 1), (64, 1), (62, 1.75)]
    pos = 0.0
    for i, (m, beats) in enumerate(melody):
        vel = 0.9 if pos % 4 == 0 else 0.7
        note = fm_note(midi_hz(m), beats * beat * 0.92, vel)
        s = int(pos * beat * FS)
        out[s:s + len(note)] += note
        pos += beats
    # pad: Dm | Bb | Gm | A  Dm
    chords = [([50, 53, 57], 0, 4), ([46, 50, 53], 4, 4), ([43, 46, 50], 8, 4),
              ([45, 49, 52], 12, 2), ([38, 50, 53, 57], 14, 1.6)]
    for notes, at, beats in chords:
        c = pad_chord(notes, beats * beat, 0.55)
        s = int(at * beat * FS)
        out[s:s + len(c)] += c
    out = out[:n]
    out = fade(out, 0.01)
    # a gentle release over the last 0.4 s so the file ends on silence
    r = int(0.4 * FS)
    out[-r:] *= np.linspace(1.0, 0.0, r) ** 2
    return normalise(out, -20.0)


# ---------------------------------------------------------------- ambience

def surf(rng: np.random.Generator, seconds: float = 12.0) -> np.ndarray:
    """Waves: low rumbling noise swelling in over ~1.5 s, a bright wash that
    breaks and drains away over ~3 s; under it, a steady sea and a gusting wind."""
    n = int(seconds * FS)
    t = np.arange(n) / FS
    body = bandpass(shaped_noise(rng, n, -4.5, 40, 6000), 60, 2500, 2)
    wash = highpass(shaped_noise(rng, n, -1.5, 500, 14000), 1500, 2)
    wind = bandpass(shaped_noise(rng, n, -3.0), 250, 1100, 2)
    swell = np.full(n, 0.2)
    washenv = np.zeros(n)
    at = 0.4
    while at < seconds:
        rise = rng.uniform(1.2, 1.8)
        fall = rng.uniform(2.5, 3.5)
        peak = rng.uniform(0.7, 1.0)
        x = t - at
        up = (1 - np.cos(np.pi * np.clip(x, 0, rise) / rise)) / 2
        shape = np.where(x < 0, 0.0, np.where(x < rise, up, np.exp(-(x - rise) / fall)))
        swell += peak * shape
        xw = x - rise + 0.2
        brk = (1 - np.exp(-xw / 0.25)) * np.exp(-xw / (0.4 * fall))
        washenv += peak * np.where(xw < 0, 0.0, brk)
        at += rise + rng.uniform(2.8, 4.2)
    gust = 0.3 + 0.7 * smooth_random(rng, n, 1.7)
    out = 0.9 * swell * body + 0.3 * washenv * wash + 0.12 * gust * wind
    return fade(normalise(out, -22.0))


def roomtone(rng: np.random.Generator, seconds: float = 12.0) -> np.ndarray:
    """Pink-ish noise with the low-mid weight of a quiet interior (ventilation
    and distant traffic), very slightly breathing."""
    n = int(seconds * FS)
    x = shaped_noise(rng, n, -3.5, 35.0, 7000.0)
    x *= 1.0 + 0.08 * (smooth_random(rng, n, 2.5) - 0.5)
    return fade(normalise(x, -40.0))


# ---------------------------------------------------------------- effect

def knock(rng: np.random.Generator) -> np.ndarray:
    """Three knocks (knock-knock ... knock) on a wooden door: a 2 ms noise
    strike exciting a few damped body modes, plus a bit of filtered click."""
    n = int(1.5 * FS)
    out = np.zeros(n)
    modes = [(105, 0.09, 1.0), (190, 0.07, 0.8), (320, 0.05, 0.6), (480, 0.035, 0.45),
             (760, 0.02, 0.3), (1250, 0.012, 0.15)]  # Hz, decay s, level
    for at, vel in ((0.08, 1.0), (0.30, 0.85), (0.78, 1.0)):
        m = int(0.35 * FS)
        t = np.arange(m) / FS
        strike = rng.standard_normal(m) * np.exp(-t / 0.002)
        hit = np.zeros(m)
        for f, tau, lvl in modes:
            f *= rng.uniform(0.98, 1.02)
            b, a = signal.iirpeak(f, f * tau * np.pi, fs=FS)  # Q so the ring decays in ~tau
            ring = signal.lfilter(b, a, strike)
            hit += lvl * ring * np.exp(-t / tau)
        hit += 0.15 * bandpass(strike, 1500, 5000, 2)
        s = int(at * FS)
        out[s:s + m] += vel * hit / np.max(np.abs(hit))
    out = fade(out, 0.005)
    return normalise(out, -22.0, peak_dbfs=-3.0)


# ---------------------------------------------------------------- main

def make(out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    assets = {name: dialogue(*spec) for name, spec in LINES.items()}
    assets["leitmotif"] = leitmotif()
    assets["surf"] = surf(rng)
    assets["roomtone"] = roomtone(rng)
    assets["knock"] = knock(rng)
    written = {}
    for name, x in assets.items():
        path = out_dir / f"{name}.flac"
        assert np.max(np.abs(x)) <= 1.0
        sf.write(str(path), x.astype(np.float64), FS, subtype="PCM_16", format="FLAC")
        written[name] = path
        peak = 20 * np.log10(np.max(np.abs(x)))
        print(f"{path}  {len(x) / FS:5.2f} s  RMS {rms_dbfs(x):6.1f} dBFS  "
              f"peak {peak:5.1f} dBFS  {path.stat().st_size / 1024:6.0f} KiB")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "assets")
    args = ap.parse_args(argv)
    make(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
