"""Render the reference scene with spatial and with the pyroomacoustics binaural
pipeline a user would otherwise write for it; print both times and their ratio.

    python benchmarks/bench_render.py [--seconds 60] [--repeats 3] [--skip-peer]
                                      [--out benchmarks/out] [--write-audio]

The reference scene: --seconds (60) of audio at 48 kHz, 8 static mono sources
(deterministic synthesised noise and tones, written as FLAC into --out, reused
when already there), an 8 x 6 x 3 m shoebox with rt60 0.5 s, the listener at
[4, 3, 1.6] facing +x, binaural output with the default (MIT KEMAR) HRTF. The
scene file, reference.yaml, is written next to the sources.

spatial: `spatial.load_scene` + `spatial.render`, timed separately. The first
(cold) run in the process includes numba compilation (or loading numba's
on-disk cache), HRTF loading and anything else the renderer caches in the
process; the warm time is the best of --repeats runs after it. Peak memory: the process' peak resident size (ru_maxrss) before and
after rendering, and the peak of Python-tracked allocations (tracemalloc,
which numpy reports to) during one extra warm render.

The peer (pyroomacoustics 0.10): ShoeBox of the same size, one uniform material
with the absorption from pra.inverse_sabine(0.5, dims), max_order 12, fs 48000,
the 8 sources with their signals, a 2-microphone array at the listener whose
directivities are MeasuredDirectivityFile on the same KEMAR SOFA file (receiver
0 = left ear, 1 = right ear, rotated to the listener's yaw), then
room.simulate(). Timed: setup (SOFA file, directivities, room, sources, array),
compute_rir, and the convolution/mix in simulate. It runs in a child process so
its memory does not count against ours (its own peak RSS is reported too).
--skip-peer leaves it out; --seconds shortens both for quick runs.

Results are also written to <out>/results.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FS = 48000
DIMS = (8.0, 6.0, 3.0)
RT60 = 0.5
LISTENER = (4.0, 3.0, 1.6)
YAW_DEG = 0.0
N_SOURCES = 8
SEED = 2024
PEER_MAX_ORDER = 12
SOFA = ROOT / "spatial" / "data" / "hrtf" / "MIT_KEMAR_normal_pinna.sofa"
SIGNAL_RMS_DBFS = -20.0


# ---------------------------------------------------------------- the reference scene

def source_positions() -> list[tuple[float, float, float]]:
    """8 sources on a 2 m circle around the listener (every 45 degrees, starting
    22.5 degrees off the front so none sits exactly on the median plane), at
    heights from 1.2 to 2.2 m."""
    heights = (1.6, 1.2, 2.0, 1.4, 2.2, 1.6, 1.3, 1.9)
    out = []
    for i in range(N_SOURCES):
        az = math.radians(22.5 + 45.0 * i + YAW_DEG)
        out.append((round(LISTENER[0] + 2.0 * math.cos(az), 4),
                    round(LISTENER[1] + 2.0 * math.sin(az), 4), heights[i]))
    return out


def _shaped(rng, n, slope_db_per_octave):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / FS)
    f[0] = f[1]
    spec *= (f / 1000.0) ** (slope_db_per_octave / (20.0 * np.log10(2.0)))
    spec *= 1.0 / np.sqrt(1.0 + (20.0 / f) ** 4)
    return np.fft.irfft(spec, n)


def make_signal(i: int, n: int) -> np.ndarray:
    """Deterministic test signal i (of 8): noises, tones, sweeps and transients."""
    rng = np.random.default_rng(SEED + i)
    t = np.arange(n) / FS
    if i == 0:  # pink noise
        x = _shaped(rng, n, -3.0)
    elif i == 1:  # speech-band noise
        from scipy import signal
        x = signal.sosfilt(signal.butter(4, [300, 3400], "bandpass", fs=FS, output="sos"),
                           rng.standard_normal(n))
    elif i == 2:  # harmonic complex at 110 Hz with a slow vibrato
        phase = 2 * np.pi * 110.0 * t + 0.8 * np.sin(2 * np.pi * 5.0 * t)
        x = sum(np.sin(k * phase) / k for k in range(1, 30) if 110 * k < 20000)
    elif i == 3:  # white noise, amplitude-modulated at 4 Hz
        x = rng.standard_normal(n) * (0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t))
    elif i == 4:  # logarithmic sweeps 100 Hz .. 10 kHz, one every 2 s
        period = 2.0
        tau = np.mod(t, period)
        k = np.log(10000.0 / 100.0)
        x = np.sin(2 * np.pi * 100.0 * period / k * (np.exp(tau * k / period) - 1.0))
        x *= np.minimum(1.0, np.minimum(tau, period - tau) / 0.01)
    elif i == 5:  # brown noise
        x = _shaped(rng, n, -6.0)
    elif i == 6:  # transients: decaying noise bursts at random times, ~6 per second
        x = np.zeros(n)
        burst = rng.standard_normal(2400) * np.exp(-np.arange(2400) / 300.0)
        for s in np.sort(rng.integers(0, max(n - 2400, 1), size=max(1, int(6 * n / FS)))):
            x[s:s + 2400] += burst[:n - s]
    else:  # FM tone, 220 Hz carrier, ratio 1.4, slowly varying index
        x = np.sin(2 * np.pi * 220.0 * t + (2.0 + 1.5 * np.sin(2 * np.pi * 0.2 * t))
                   * np.sin(2 * np.pi * 308.0 * t))
    x = np.asarray(x, dtype=np.float64)
    x *= 10 ** (SIGNAL_RMS_DBFS / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-20)
    peak = np.max(np.abs(x))
    if peak > 0.9:
        x *= 0.9 / peak
    return x


def write_scene(out: Path, seconds: float) -> Path:
    """The source files (reused when already there with the right length) and reference.yaml."""
    out.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * FS))
    lines = []
    for i, pos in enumerate(source_positions()):
        path = out / f"src{i}.flac"
        ok = False
        if path.exists():
            try:
                info = sf.info(str(path))
                ok = info.frames == n and info.samplerate == FS and info.channels == 1
            except RuntimeError:
                ok = False
        if not ok:
            sf.write(str(path), make_signal(i, n), FS, subtype="PCM_24", format="FLAC")
        lines.append(f"  - {{name: src{i}, role: effects, file: {path.name}, "
                     f"position: [{pos[0]}, {pos[1]}, {pos[2]}], gain_db: 0, start: 0}}")
    scene = out / "reference.yaml"
    scene.write_text(
        "# The benchmark's reference scene, written by benchmarks/bench_render.py.\n"
        f"sample_rate: {FS}\n"
        f"duration: {seconds:g}\n"
        "seed: 1\n"
        f"room: {{dimensions: [{DIMS[0]:g}, {DIMS[1]:g}, {DIMS[2]:g}], rt60: {RT60:g}}}\n"
        f"listener: {{position: [{LISTENER[0]:g}, {LISTENER[1]:g}, {LISTENER[2]:g}], "
        f"yaw: {YAW_DEG:g}}}\n"
        "sources:\n" + "\n".join(lines) + "\n"
        "output: {format: binaural, hrtf: default}\n")
    return scene


# ---------------------------------------------------------------- spatial

def maxrss_mib(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def rms_db(x: np.ndarray) -> list[float]:
    return [round(20 * math.log10(math.sqrt(float(np.mean(np.square(c, dtype=np.float64))))
                                  + 1e-20), 2) for c in np.atleast_2d(x.T)]


def bench_spatial(scene_path: Path, repeats: int, write_to: Path | None) -> dict:
    import spatial

    spatial.load_scene, spatial.render  # import the modules (lazy in spatial) before measuring
    rss_before = maxrss_mib()
    runs = []
    result = None
    for k in range(1 + repeats):
        t0 = time.perf_counter()
        scene = spatial.load_scene(scene_path)
        t1 = time.perf_counter()
        result = spatial.render(scene)
        t2 = time.perf_counter()
        runs.append((t1 - t0, t2 - t1))
        label = "cold" if k == 0 else f"warm {k}"
        print(f"  spatial {label:7s} load_scene {runs[-1][0]:7.3f} s   render {runs[-1][1]:8.3f} s",
              flush=True)
    rss_after = maxrss_mib()

    # peak of tracked allocations during one more (warm) render; not timed
    scene = spatial.load_scene(scene_path)
    tracemalloc.start()
    spatial.render(scene)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    audio = np.asarray(result.audio)
    seconds = audio.shape[0] / result.sample_rate
    warm = runs[1:] or runs
    best = min(warm, key=lambda r: r[0] + r[1])
    if write_to is not None:
        sf.write(str(write_to), audio, result.sample_rate, subtype="FLOAT")
    return {
        "audio_seconds": seconds,
        "shape": list(audio.shape),
        "dtype": str(audio.dtype),
        "sample_rate": result.sample_rate,
        "channel_names": list(result.channel_names),
        "cold_load_s": runs[0][0],
        "cold_render_s": runs[0][1],
        "warm_load_s": best[0],
        "warm_render_s": best[1],
        "warm_runs": [list(r) for r in runs[1:]],
        "rtf_cold": seconds / (runs[0][0] + runs[0][1]),
        "rtf_warm": seconds / (best[0] + best[1]),
        "maxrss_before_render_mib": rss_before,
        "maxrss_after_render_mib": rss_after,
        "tracemalloc_peak_render_mib": traced_peak / 2 ** 20,
        "rms_dbfs": rms_db(audio),
    }


# ---------------------------------------------------------------- the peer

def run_peer(scene_dir: Path, seconds: float, write_to: Path | None) -> dict:
    """The pyroomacoustics pipeline, in this process. Returns its timings."""
    import warnings

    import pyroomacoustics as pra
    from pyroomacoustics.directivities import MeasuredDirectivityFile, Rotation3D

    signals = [sf.read(str(scene_dir / f"src{i}.flac"), dtype="float64")[0]
               for i in range(N_SOURCES)]

    t0 = time.perf_counter()
    hrtf = MeasuredDirectivityFile(path=str(SOFA), fs=FS)
    # SOFA/KEMAR coordinates: x front, y left, z up: the same as the scene's, so the
    # listener's yaw is a rotation about z (identity for yaw 0)
    orientation = Rotation3D([YAW_DEG], "z", degrees=True)
    left = hrtf.get_mic_directivity(0, orientation=orientation)
    right = hrtf.get_mic_directivity(1, orientation=orientation)
    absorption, _ = pra.inverse_sabine(RT60, DIMS)
    room = pra.ShoeBox(list(DIMS), fs=FS, materials=pra.Material(absorption),
                       max_order=PEER_MAX_ORDER)
    for pos, sig in zip(source_positions(), signals):
        room.add_source(list(pos), signal=sig)
    mics = np.array([LISTENER, LISTENER], dtype=float).T  # (3, 2)
    room.add_microphone_array(mics, directivity=[left, right])
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        room.compute_rir()
        t2 = time.perf_counter()
        room.simulate()
    t3 = time.perf_counter()

    audio = room.mic_array.signals.T  # (n, 2)
    if write_to is not None:
        sf.write(str(write_to), audio.astype(np.float32), FS, subtype="FLOAT")
    rir_len = max(len(r) for mic in room.rir for r in mic)
    return {
        "setup_s": t1 - t0,
        "compute_rir_s": t2 - t1,
        "convolve_s": t3 - t2,
        "total_s": t3 - t0,
        "audio_seconds": seconds,
        "output_samples": int(audio.shape[0]),
        "rir_samples": int(rir_len),
        "absorption": float(absorption),
        "n_image_sources": int(sum(s.images.shape[1] for s in room.sources)),
        "rtf": seconds / (t3 - t0),
        "maxrss_mib": maxrss_mib(),
        "rms_dbfs": rms_db(audio[: int(seconds * FS)]),
        "pyroomacoustics": pra.__version__,
    }


def bench_peer(scene_dir: Path, seconds: float, write_to: Path | None) -> dict:
    """run_peer in a child process (own memory; also kept out of ours)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_peer-child", str(scene_dir),
           "--seconds", repr(seconds)]
    if write_to is not None:
        cmd += ["--_peer-write", str(write_to)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the pyroomacoustics pipeline failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="audio length (default 60)")
    ap.add_argument("--repeats", type=int, default=3, help="warm runs of ours (default 3)")
    ap.add_argument("--skip-peer", action="store_true", help="do not run pyroomacoustics")
    ap.add_argument("--skip-ours", action="store_true", help="only run pyroomacoustics")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out",
                    help="folder for the sources, scene, results (default benchmarks/out)")
    ap.add_argument("--write-audio", action="store_true",
                    help="also write both renders (spatial.wav, pyroomacoustics.wav) to --out")
    ap.add_argument("--_peer-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_peer-write", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._peer_child is not None:
        print(json.dumps(run_peer(args._peer_child, args.seconds, args._peer_write)))
        return 0

    out = args.out.resolve()
    t0 = time.perf_counter()
    scene_path = write_scene(out, args.seconds)
    print(f"reference scene: {scene_path} ({args.seconds:g} s, {N_SOURCES} sources, "
          f"{DIMS[0]:g} x {DIMS[1]:g} x {DIMS[2]:g} m, rt60 {RT60:g} s, binaural) "
          f"[{time.perf_counter() - t0:.1f} s to prepare]", flush=True)
    results = {"seconds": args.seconds, "sources": N_SOURCES, "dims_m": DIMS, "rt60": RT60,
               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "platform": platform.platform(), "processor": platform.processor()}}

    ours = None
    if not args.skip_ours:
        try:
            ours = bench_spatial(scene_path, args.repeats,
                                 out / "spatial.wav" if args.write_audio else None)
        except (ImportError, AttributeError) as err:
            print(f"  spatial: not available yet ({type(err).__name__}: {err})", flush=True)
        results["spatial"] = ours
        if ours is not None:
            print(f"spatial:          cold {ours['cold_load_s'] + ours['cold_render_s']:8.2f} s "
                  f"(RTF {ours['rtf_cold']:6.1f}x)   warm {ours['warm_load_s']:.3f} s load + "
                  f"{ours['warm_render_s']:.3f} s render = RTF {ours['rtf_warm']:.1f}x real time\n"
                  f"                  output {tuple(ours['shape'])} {ours['dtype']} "
                  f"{ours['channel_names']}, RMS {ours['rms_dbfs']} dBFS\n"
                  f"                  peak RSS {ours['maxrss_before_render_mib']:.0f} MiB before "
                  f"-> {ours['maxrss_after_render_mib']:.0f} MiB after rendering; "
                  f"tracemalloc peak of one render {ours['tracemalloc_peak_render_mib']:.0f} MiB",
                  flush=True)

    peer = None
    if not args.skip_peer:
        print("pyroomacoustics: running (this can take minutes at 60 s) ...", flush=True)
        peer = bench_peer(out, args.seconds, out / "pyroomacoustics.wav" if args.write_audio
                          else None)
        results["pyroomacoustics"] = peer
        print(f"pyroomacoustics:  setup {peer['setup_s']:.2f} s + compute_rir "
              f"{peer['compute_rir_s']:.2f} s + simulate {peer['convolve_s']:.2f} s = "
              f"{peer['total_s']:.2f} s (RTF {peer['rtf']:.2f}x real time)\n"
              f"                  {peer['n_image_sources']} image sources, RIRs "
              f"{peer['rir_samples']} samples, peak RSS {peer['maxrss_mib']:.0f} MiB, "
              f"RMS {peer['rms_dbfs']} dBFS", flush=True)

    if ours is not None and peer is not None:
        ours_total = ours["warm_load_s"] + ours["warm_render_s"]
        results["ratio_peer_over_ours_warm"] = peer["total_s"] / ours_total
        results["ratio_peer_over_ours_cold"] = peer["total_s"] / (ours["cold_load_s"]
                                                                  + ours["cold_render_s"])
        print(f"ratio (pyroomacoustics / spatial): "
              f"{results['ratio_peer_over_ours_warm']:.1f}x warm, "
              f"{results['ratio_peer_over_ours_cold']:.1f}x against our cold run")

    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
