"""The benchmark scenes: deterministic source signals, written once to a cache
folder as FLAC (block by block, so a 2-hour file never sits in memory), and the
scene YAML files that place them. Nothing here imports spatial.

Signal kinds:
- dense0 .. dense7: the reference scene's 8 full-length test signals (noises,
  tones, sweeps, transients at -20 dBFS RMS), as in the first version of
  bench_render.py; a source of kind denseK with seed s uses signal K % 8.
- dialogue: speech-band noise with a syllabic envelope, present exactly 40% of
  the time (two utterances in every 10 s, silence between them);
- effects: one-shots of 1-2 s (decaying noise bursts and chirps), about one in
  every 16 s, silence elsewhere;
- ambience: continuous low-passed noise (-30 dBFS); music: a chord with a slow
  tremolo (-30 dBFS), a seamless 10-s loop.
Dialogue draws its utterances from a bank of 16 per talker, and music loops, so
that 2 hours of 16 sources are written in minutes.
The sparse and continuous kinds are made in 10-s chunks from a generator seeded
by (seed, chunk), so a 10-minute file is exactly the start of the 2-hour one.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

FS = 48000
DIMS = (8.0, 6.0, 3.0)
RT60 = 0.5
LISTENER = (4.0, 3.0, 1.6)
YAW_DEG = 0.0
SEED = 2024
CHUNK = 10 * FS  # generation chunk of the sparse and continuous kinds
VERSION = "v2"  # bump when a generator changes, so cached files are remade
DEFAULT_CACHE = Path(os.environ.get("SPATIAL_BENCH_CACHE",
                                    Path.home() / ".cache" / "spatial-bench"))


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str  # dense0..7, dialogue, effects, ambience, music
    seed: int
    position: tuple[float, float, float]
    role: str = "effects"


@dataclass(frozen=True)
class SceneSpec:
    name: str  # also the cache sub-folder of its source files
    seconds: float
    fmt: str
    sources: tuple[SourceSpec, ...]
    subtype: str = "PCM_24"  # of the FLAC source files

    @property
    def frames(self) -> int:
        return int(round(self.seconds * FS))


# ---------------------------------------------------------------- positions

def circle_positions(n: int, radius: float = 2.0) -> list[tuple[float, float, float]]:
    """n sources around the listener (22.5 degrees off the front so none sits on the
    median plane), heights 1.2 .. 2.2 m; beyond 8 sources, rings of radius 1.2 .. 2.6 m."""
    heights = (1.6, 1.2, 2.0, 1.4, 2.2, 1.6, 1.3, 1.9)
    out = []
    for i in range(n):
        ring = i // 8
        r = radius if n <= 8 else 1.2 + 0.2 * (ring % 8)
        az = math.radians(22.5 + 45.0 * i + 11.25 * ring + YAW_DEG)
        out.append((round(LISTENER[0] + r * math.cos(az), 4),
                    round(LISTENER[1] + r * math.sin(az), 4), heights[(i + ring) % 8]))
    return out


# ---------------------------------------------------------------- the dense signals

def _shaped(rng, n, slope_db_per_octave):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / FS)
    f[0] = f[1]
    spec *= (f / 1000.0) ** (slope_db_per_octave / (20.0 * np.log10(2.0)))
    spec *= 1.0 / np.sqrt(1.0 + (20.0 / f) ** 4)
    return np.fft.irfft(spec, n)


def dense_signal(kind: int, seed: int, n: int) -> np.ndarray:
    """Test signal `kind` (0..7) of n samples: noises, tones, sweeps and transients."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    if kind == 0:  # pink noise
        x = _shaped(rng, n, -3.0)
    elif kind == 1:  # speech-band noise
        from scipy import signal
        x = signal.sosfilt(signal.butter(4, [300, 3400], "bandpass", fs=FS, output="sos"),
                           rng.standard_normal(n))
    elif kind == 2:  # harmonic complex at 110 Hz with a slow vibrato
        phase = 2 * np.pi * 110.0 * t + 0.8 * np.sin(2 * np.pi * 5.0 * t)
        x = sum(np.sin(k * phase) / k for k in range(1, 30) if 110 * k < 20000)
    elif kind == 3:  # white noise, amplitude-modulated at 4 Hz
        x = rng.standard_normal(n) * (0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t))
    elif kind == 4:  # logarithmic sweeps 100 Hz .. 10 kHz, one every 2 s
        tau = np.mod(t, 2.0)
        k = np.log(100.0)
        x = np.sin(2 * np.pi * 100.0 * 2.0 / k * (np.exp(tau * k / 2.0) - 1.0))
        x *= np.minimum(1.0, np.minimum(tau, 2.0 - tau) / 0.01)
    elif kind == 5:  # brown noise
        x = _shaped(rng, n, -6.0)
    elif kind == 6:  # transients: decaying noise bursts at random times, ~6 per second
        x = np.zeros(n)
        burst = rng.standard_normal(2400) * np.exp(-np.arange(2400) / 300.0)
        for s in np.sort(rng.integers(0, max(n - 2400, 1), size=max(1, int(6 * n / FS)))):
            x[s:s + 2400] += burst[:n - s]
    else:  # FM tone, 220 Hz carrier, ratio 1.4, slowly varying index
        x = np.sin(2 * np.pi * 220.0 * t + (2.0 + 1.5 * np.sin(2 * np.pi * 0.2 * t))
                   * np.sin(2 * np.pi * 308.0 * t))
    x = np.asarray(x, dtype=np.float64)
    x *= 0.1 / (np.sqrt(np.mean(x ** 2)) + 1e-20)  # -20 dBFS RMS
    peak = np.max(np.abs(x))
    return x * (0.9 / peak) if peak > 0.9 else x


# ---------------------------------------------------------------- chunked kinds

def _fade(n: int, ramp: int = 480) -> np.ndarray:
    ramp = max(1, min(ramp, n // 2))
    w = np.ones(n)
    w[:ramp] = w[-ramp:][::-1] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    return w


@functools.lru_cache(maxsize=None)
def _utterances(seed: int) -> np.ndarray:
    """(16, 2.5 s) utterances of one talker: speech-band noise with a syllabic envelope
    at -20 dBFS RMS, faded in; chunks cut them to length (made once: generation speed)."""
    from scipy import signal

    rng = np.random.default_rng([seed, 0xD1A])
    m = int(2.5 * FS)
    t = np.arange(m) / FS
    sos = signal.butter(4, [300, 3400], "bandpass", fs=FS, output="sos")
    bank = signal.sosfilt(sos, rng.standard_normal((16, m)), axis=1)
    bank *= np.abs(np.sin(np.pi * rng.uniform(3.5, 5.0, (16, 1)) * t)) ** 0.6
    bank *= 0.1 / np.sqrt(np.mean(bank ** 2, axis=1, keepdims=True))
    bank[:, :480] *= _fade(960)[:480]
    return bank.astype(np.float32)


def _dialogue(rng, n: int, t0: float, seed: int) -> np.ndarray:
    """A 10-s chunk with two utterances, 4 s of speech in all (40%)."""
    x = np.zeros(n, np.float32)
    first = rng.uniform(1.5, 2.5)
    lengths = [int(first * FS), int(4.0 * FS) - int(first * FS)]
    gaps = rng.dirichlet([1.0, 1.0, 1.0]) * (CHUNK - sum(lengths))
    starts = [int(0.1 * gaps[0])]  # speech starts early, so a 2-s quick run has some
    starts.append(starts[0] + lengths[0] + int(gaps[1]))
    bank = _utterances(seed)
    for s, m, k in zip(starts, lengths, rng.integers(0, len(bank), 2)):
        u = bank[k, :m].copy()
        u[-480:] *= _fade(960)[480:]
        a, z = min(s, n), min(s + m, n)
        x[a:z] = u[:z - a]
    return x


def _effects(rng, n: int, t0: float, seed: int) -> np.ndarray:
    """A 10-s chunk with, 60% of the time, one one-shot of 1-2 s."""
    x = np.zeros(n)
    if rng.uniform() < 0.6:
        m = int(rng.uniform(1.0, 2.0) * FS)
        s = int(rng.uniform(0, CHUNK - m))
        t = np.arange(m) / FS
        if rng.uniform() < 0.5:  # a decaying noise burst
            u = rng.standard_normal(m) * np.exp(-t / rng.uniform(0.1, 0.4))
        else:  # a falling chirp
            f0, f1 = rng.uniform(1500, 4000), rng.uniform(100, 400)
            u = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * t[-1])))
        u *= _fade(m) * 0.2 / (np.max(np.abs(u)) + 1e-20)
        a, z = min(s, n), min(s + m, n)
        x[a:z] = u[:z - a]
    return x


@functools.lru_cache(maxsize=None)
def _chord() -> np.ndarray:
    """10 s of a chord with a tremolo, exactly periodic in 10 s (frequencies on a 0.1 Hz
    grid, tremolo 0.3 Hz), so every chunk is the same loop (-30 dBFS)."""
    t = np.arange(CHUNK) / FS
    x = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    return (0.028 * x * (0.75 + 0.25 * np.sin(2 * np.pi * 0.3 * t))).astype(np.float32)


def _music(rng, n: int, t0: float, seed: int) -> np.ndarray:
    return _chord()[:n]


CHUNKED = {"dialogue": _dialogue, "effects": _effects, "music": _music}


def chunks(src: SourceSpec, n: int):
    """The source's first n samples, as float32 arrays of at most CHUNK samples."""
    from scipy import signal

    zi = np.zeros(1)
    for c in range(-(-n // CHUNK)):
        m = min(CHUNK, n - c * CHUNK)
        rng = np.random.default_rng([src.seed, c])
        if src.kind == "ambience":  # one-pole low-pass, state carried across chunks
            y, zi = signal.lfilter([0.02], [1.0, -0.98], rng.standard_normal(m), zi=zi)
            x = 0.32 * y  # about -30 dBFS
        else:
            x = CHUNKED[src.kind](rng, m, c * CHUNK / FS, src.seed)
        yield x.astype(np.float32)


# ---------------------------------------------------------------- files and scenes

def _file_ok(path: Path, frames: int) -> bool:
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return False
    return info.frames == frames and info.samplerate == FS and info.channels == 1


def _write_one(src: SourceSpec, n: int, subtype: str, path: Path) -> None:
    part = path.with_suffix(f".{os.getpid()}.part")  # two benchmarks may write at once
    with sf.SoundFile(str(part), "w", FS, 1, subtype=subtype, format="FLAC") as f:
        if src.kind.startswith("dense"):
            f.write(dense_signal(int(src.kind[5:]) % 8, src.seed, n))
        else:
            for block in chunks(src, n):
                f.write(block)
    part.replace(path)


def write_sources(spec: SceneSpec, folder: Path, log=print) -> list[Path]:
    """The scene's source files in `folder` (reused when complete), written block by block;
    files over 10 minutes two at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    n = spec.frames
    paths = [folder / f"{src.kind}-{src.seed}-{n}.flac" for src in spec.sources]
    todo = [(src, path) for src, path in zip(spec.sources, paths) if not _file_ok(path, n)]
    if n > 600 * FS and len(todo) > 1:
        from concurrent.futures import ProcessPoolExecutor

        log(f"  writing {len(todo)} source files of {n / FS / 60:.0f} min into {folder} ...",
            flush=True)
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_write_one, *zip(*[(s, n, spec.subtype, p) for s, p in todo])))
    else:
        for src, path in todo:
            _write_one(src, n, spec.subtype, path)
    return paths


def write_scene(spec: SceneSpec, cache: Path, log=print) -> Path:
    """Source files (in cache/<version>/<spec.name>/) and the scene file next to them."""
    folder = cache / VERSION / spec.name
    paths = write_sources(spec, folder, log)
    lines = [f"  - {{name: {s.name}, role: {s.role}, file: {p.name}, "
             f"position: [{s.position[0]}, {s.position[1]}, {s.position[2]}]}}"
             for s, p in zip(spec.sources, paths)]
    scene = folder / f"{spec.name}-{spec.fmt.replace('.', '')}-{spec.seconds:g}s.yaml"
    scene.write_text(
        f"# Benchmark scene {spec.name}, written by benchmarks/scenes.py.\n"
        f"sample_rate: {FS}\nduration: {spec.seconds:g}\nseed: 1\n"
        f"room: {{dimensions: [{DIMS[0]:g}, {DIMS[1]:g}, {DIMS[2]:g}], rt60: {RT60:g}}}\n"
        f"listener: {{position: [{LISTENER[0]:g}, {LISTENER[1]:g}, {LISTENER[2]:g}], "
        f"yaw: {YAW_DEG:g}}}\n"
        "sources:\n" + "\n".join(lines) + "\n"
        f"output: {{format: '{spec.fmt}'}}\n")
    return scene


def source_paths(spec: SceneSpec, cache: Path) -> list[Path]:
    folder = cache / VERSION / spec.name
    return [folder / f"{s.kind}-{s.seed}-{spec.frames}.flac" for s in spec.sources]


def read_signals(spec: SceneSpec, cache: Path) -> list[np.ndarray]:
    """The scene's source signals as float32 (short scenes only)."""
    return [sf.read(str(p), dtype="float32")[0] for p in source_paths(spec, cache)]


# ---------------------------------------------------------------- the scenes

def dense_scene(name: str, seconds: float, n_sources: int = 8, fmt: str = "binaural"
                ) -> SceneSpec:
    """Scene A (8 sources) and C (64): full-length dense signals on circles."""
    pos = circle_positions(n_sources)
    return SceneSpec(name, seconds, fmt, tuple(
        SourceSpec(f"src{i}", f"dense{i % 8}", SEED + i, pos[i]) for i in range(n_sources)))


def sparse_scene(name: str, seconds: float, fmt: str = "binaural") -> SceneSpec:
    """A sparse: 4 dialogue sources (40% present) and 4 effects one-shots."""
    pos = circle_positions(8)
    kinds = ["dialogue", "effects"] * 4
    return SceneSpec(name, seconds, fmt, tuple(
        SourceSpec(f"{k}{i}", k, SEED + 100 + i, pos[i],
                   "dialogue" if k == "dialogue" else "effects")
        for i, k in enumerate(kinds)))


def episode_scene(name: str, seconds: float, fmt: str = "binaural") -> SceneSpec:
    """E: 16 sources, 6 dialogue, 6 effects, 2 ambience, 2 music; 16-bit FLAC."""
    pos = circle_positions(16)
    kinds = ["dialogue", "effects"] * 6 + ["ambience", "music"] * 2
    roles = {"dialogue": "dialogue", "effects": "effects", "ambience": "ambience",
             "music": "music"}
    return SceneSpec(name, seconds, fmt, tuple(
        SourceSpec(f"{k}{i}", k, SEED + 200 + i, pos[i], roles[k])
        for i, k in enumerate(kinds)), subtype="PCM_16")
