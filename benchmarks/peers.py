"""What spatial is measured against, in the same run:

- the pyroomacoustics binaural pipeline a user would write (ShoeBox,
  MeasuredDirectivityFile on the same KEMAR SOFA file for both ears, simulate()),
  run in a child process per run so its memory is its own;
- the same filters through scipy.signal.oaconvolve (float32), summed;
- the FFT floor: the time scipy.fft takes for only the transforms the engine's
  block plan needs (see fft_floor).

The only code here that reads spatial's internals is `engine_block` and
`planned_filters`; both fall back to public behaviour when the internals move.
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOFA = ROOT / "spatial" / "data" / "hrtf" / "MIT_KEMAR_normal_pinna.sofa"
ASSUMED_BLOCK = 8192


# ---------------------------------------------------------------- spatial's internals

def engine_block() -> tuple[int, str]:
    """The render loop's block size B (FFT size 2B), and where it came from."""
    try:
        from spatial.engine.convolver import STATIC_BLOCK
        return int(STATIC_BLOCK), "spatial.engine.convolver.STATIC_BLOCK, the render loop's block"
    except (ImportError, AttributeError, TypeError, ValueError):
        return ASSUMED_BLOCK, "assumed (spatial.engine.convolver.STATIC_BLOCK not found)"


def planned_filters(scene):
    """The filters the renderer plans: ([(early (C, L), send_gain, send_delay)] per source,
    shared tail (C, L) or None), or None when spatial's internals have moved."""
    try:
        from spatial.plan import plan
        from spatial.renderer import _spatialiser

        p = plan(scene, _spatialiser(scene))
        inputs = [(np.asarray(i.filt, np.float32), float(i.send_gain), int(i.send_delay))
                  for i in p.inputs]
        tail = None if p.tail is None else np.asarray(p.tail, np.float32)
        if len(inputs) != len(scene.sources):
            return None
        return inputs, tail
    except Exception:  # noqa: BLE001 - any change of the internals: use the public API
        return None


def source_filters(scene) -> tuple[list, np.ndarray | None, str]:
    """Per-source filters for the oaconvolve peer: from the plan when reachable, else
    spatial.impulse_response per source (early part and tail in one response)."""
    planned = planned_filters(scene)
    if planned is not None:
        return planned[0], planned[1], "the plan's early filters + one shared tail"
    import spatial

    filters = [(np.ascontiguousarray(spatial.impulse_response(scene, s.name).audio.T,
                                     dtype=np.float32), 0.0, 0) for s in scene.sources]
    return filters, None, "spatial.impulse_response per source (tail included in each)"


# ---------------------------------------------------------------- oaconvolve

def oaconvolve_mix(signals, filters, tail, length: int) -> tuple[float, np.ndarray]:
    """sum_i signal_i * filter_i (+ the send bus through the tail), float32; (seconds, (C, n))."""
    from scipy.signal import oaconvolve

    t0 = time.perf_counter()
    C = filters[0][0].shape[0]
    out = np.zeros((C, length), np.float32)
    send = np.zeros(length, np.float32) if tail is not None else None
    for sig, (filt, gain, delay) in zip(signals, filters):
        sig = sig[:length]
        y = oaconvolve(sig[None, :], filt, axes=1)
        m = min(length, y.shape[1])
        out[:, :m] += y[:, :m]
        if send is not None and gain != 0.0 and delay < length:
            send[delay:delay + sig.size] += gain * sig[:length - delay]
    if send is not None:
        y = oaconvolve(send[None, :], tail, axes=1)
        out += y[:, :length]
    return time.perf_counter() - t0, out


# ---------------------------------------------------------------- the FFT floor

def active_blocks(signals, B: int, n_blocks: int) -> np.ndarray:
    """(S, n_blocks) bool: block b of input s holds a nonzero sample."""
    act = np.zeros((len(signals), n_blocks), bool)
    for s, sig in enumerate(signals):
        n = min(sig.size, n_blocks * B)
        padded = np.zeros(n_blocks * B, np.float32)
        padded[:n] = sig[:n]
        act[s] = np.any(padded.reshape(n_blocks, B) != 0.0, axis=1)
    return act


def active_blocks_files(paths, B: int, n_blocks: int) -> np.ndarray:
    """active_blocks for long source files, read block by block."""
    import soundfile as sf

    act = np.zeros((len(paths), n_blocks), bool)
    per_read = 64  # blocks per read
    for s, path in enumerate(paths):
        for r, chunk in enumerate(sf.blocks(str(path), blocksize=per_read * B,
                                            dtype="float32", fill_value=0.0)):
            b0 = r * per_read
            if b0 >= n_blocks:
                break
            flags = np.any(chunk.reshape(-1, B) != 0.0, axis=1)[:n_blocks - b0]
            act[s, b0:b0 + flags.size] = flags
    return act


def floor_plan(active: np.ndarray, ring_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Per block: forward transforms and whether the output block can be nonzero
    (an input active within the last ring_blocks blocks): (forward, inverse).
    Overlap-save transforms a frame of the previous and the current block, so an
    input needs a forward transform when either holds sound; the tail's send bus
    (delayed by up to a block) when any input sounded in this block or the two before."""
    any_in = active.any(axis=0)
    n = any_in.size
    frames = active.copy()
    frames[:, 1:] |= active[:, :-1]
    send = any_in.copy()
    send[1:] |= any_in[:-1]
    send[2:] |= any_in[:-2]
    forward = frames.sum(axis=0) + send
    csum = np.concatenate([[0], np.cumsum(any_in)])
    lo = np.maximum(np.arange(n) - ring_blocks + 1, 0)
    inverse = (csum[np.arange(n) + 1] - csum[lo]) > 0
    return forward.astype(int), inverse


def fft_floor(forward: np.ndarray, inverse: np.ndarray, n_out: int, B: int, workers: int,
              repeats: int) -> float:
    """Median time of only the transforms: per block, one float32 rfft of 2B points per
    forward count and one irfft per output channel where the output can be nonzero."""
    import scipy.fft

    rng = np.random.default_rng(0)
    frames = rng.standard_normal((max(int(forward.max(initial=0)), 1), 2 * B)).astype(np.float32)
    acc = scipy.fft.rfft(rng.standard_normal((n_out, 2 * B)).astype(np.float32), axis=-1)
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        for k, inv in zip(forward.tolist(), inverse.tolist()):
            if k:
                scipy.fft.rfft(frames[:k], axis=-1, workers=workers)
            if inv:
                scipy.fft.irfft(acc, n=2 * B, axis=-1, workers=workers)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# ---------------------------------------------------------------- pyroomacoustics

def pra_available() -> str | None:
    """None when the peer can run, else why not."""
    try:
        import pyroomacoustics  # noqa: F401
        import sofa  # noqa: F401  (python-sofa: MeasuredDirectivityFile reads SOFA with it)
    except ImportError as err:
        return f"{err.name} is not installed (pip install '.[bench]')"
    return None


def pra_order(rt60: float, dims) -> int:
    """The 'full' order pyroomacoustics' own recipe gives: pra.inverse_sabine's max_order."""
    import pyroomacoustics as pra

    return int(pra.inverse_sabine(rt60, list(dims))[1])


def pra_pipeline(job: dict) -> dict:
    """The user's pyroomacoustics pipeline, in this process; job: fs, dims, rt60, listener,
    yaw, positions, files, max_order, seconds. Reading the files is not timed."""
    import resource

    import pyroomacoustics as pra
    import soundfile as sf
    from pyroomacoustics.directivities import MeasuredDirectivityFile, Rotation3D

    fs = job["fs"]
    signals = [sf.read(f, dtype="float64")[0] for f in job["files"]]
    t0 = time.perf_counter()
    hrtf = MeasuredDirectivityFile(path=str(SOFA), fs=fs)
    # SOFA/KEMAR: x front, y left, z up, as the scene: the yaw is a rotation about z
    orientation = Rotation3D([job["yaw"]], "z", degrees=True)
    left = hrtf.get_mic_directivity(0, orientation=orientation)
    right = hrtf.get_mic_directivity(1, orientation=orientation)
    absorption, _ = pra.inverse_sabine(job["rt60"], job["dims"])
    room = pra.ShoeBox(job["dims"], fs=fs, materials=pra.Material(absorption),
                       max_order=job["max_order"])
    for pos, sig in zip(job["positions"], signals):
        room.add_source(list(pos), signal=sig)
    room.add_microphone_array(np.array([job["listener"]] * 2, dtype=float).T,
                              directivity=[left, right])
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        room.compute_rir()
        t2 = time.perf_counter()
        room.simulate()
    t3 = time.perf_counter()
    return {"setup_s": t1 - t0, "compute_rir_s": t2 - t1, "simulate_s": t3 - t2,
            "total_s": t3 - t0, "max_order": job["max_order"],
            "rir_samples": int(max(len(r) for mic in room.rir for r in mic)),
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def run_pra(job: dict, rss_cap_mib: float) -> dict:
    """pra_pipeline in a child process on 2 cores, killed past rss_cap_mib (at
    inverse_sabine's order, 63 here, its image sources alone need tens of GB);
    returns its result, or {'failed': why}."""
    from harness import run_measured

    cmd = [sys.executable, str(Path(__file__).resolve()), "--pra-child", json.dumps(job)]
    res = run_measured(cmd, 2, rss_cap_mib=rss_cap_mib)
    if res["killed_at_cap"]:
        return {"failed": f"killed past the {rss_cap_mib:g} MiB cap (--pra-cap)"}
    if res["returncode"] != 0:
        raise RuntimeError(f"the pyroomacoustics pipeline failed:\n{res['stderr'][-3000:]}")
    return json.loads(res["stdout"].strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--pra-child":
        print(json.dumps(pra_pipeline(json.loads(sys.argv[2]))))
    else:
        sys.exit("usage: peers.py --pra-child JOB_JSON (used by the benchmarks)")
