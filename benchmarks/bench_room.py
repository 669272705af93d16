"""Cost of the shared late reverberation: 16 sources vs 2 sources in a room with
a 1.5 s tail (binaural, 48 kHz). Because every source feeds one shared tail,
adding sources adds only their short early filters, not another long tail.

    python benchmarks/bench_room.py [--seconds 30] [--repeats 3]

Prints the wall time of each render (best of --repeats, after a warm-up that
compiles the numba kernels) and their ratio. The issue's target: ratio < 4.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import spatial  # noqa: E402
from spatial.scene.model import Scene  # noqa: E402
from spatial.scene.parts import Listener, Output, Room, Source  # noqa: E402

FS = 48000
DIMS = (20.0, 14.0, 8.0)
LISTENER = (10.0, 7.0, 1.7)


def make_scene(n_sources: int, seconds: float, folder: Path) -> Scene:
    rng = np.random.default_rng(n_sources)
    sources = []
    for i in range(n_sources):
        path = folder / f"src{n_sources}_{i}.flac"
        if not path.exists():
            sf.write(str(path), 0.05 * rng.standard_normal(int(seconds * FS)), FS)
        az = 2 * np.pi * i / n_sources
        pos = (LISTENER[0] + 4 * np.cos(az), LISTENER[1] + 4 * np.sin(az), 1.5 + 0.1 * (i % 3))
        sources.append(Source(f"s{i}", path, pos))
    return Scene(listener=Listener(LISTENER), sources=tuple(sources), output=Output("binaural"),
                 room=Room(DIMS, rt60=1.5), sample_rate=FS, duration=seconds)


def best_time(scene: Scene, repeats: int) -> tuple[float, dict]:
    times, stats = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = spatial.render(scene)
        times.append(time.perf_counter() - t0)
        stats = result.stats
    return min(times), stats


def per_source_tails_time(scene: Scene) -> float:
    """Counterfactual: every source convolved with its own early filter + tail (no shared
    stage), through the same engine. Shows what sharing the tail saves."""
    from spatial.plan import plan
    from spatial.renderer import _spatialiser, run_plan

    t0 = time.perf_counter()
    p = plan(scene, _spatialiser(scene))
    for inp in p.inputs:
        n = max(inp.filt.shape[1], inp.send_delay + p.tail.shape[1])
        filt = np.zeros((inp.filt.shape[0], n))
        filt[:, :inp.filt.shape[1]] += inp.filt
        filt[:, inp.send_delay:inp.send_delay + p.tail.shape[1]] += inp.send_gain * p.tail
        inp.filt, inp.send_gain = filt, 0.0
    p.tail = None
    run_plan(p)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spatial.render(make_scene(2, 1.0, folder))  # warm-up: numba compile, HRTF cache
        results = {}
        for n in (2, 16):
            t, stats = best_time(make_scene(n, args.seconds, folder), args.repeats)
            results[n] = t
            print(f"{n:2d} sources, {args.seconds:g} s, rt60 1.5 s: {t:.2f} s "
                  f"({args.seconds / t:.1f}x real time; plan {stats['plan_s']:.2f} s, "
                  f"convolution {stats['convolve_s']:.2f} s)")
        own = {n: per_source_tails_time(make_scene(n, args.seconds, folder)) for n in (2, 16)}
    print(f"cost ratio 16 / 2 sources: {results[16] / results[2]:.2f} (target < 4)")
    print(f"for comparison, a tail per source: 2 sources {own[2]:.2f} s, 16 sources "
          f"{own[16]:.2f} s, ratio {own[16] / own[2]:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
