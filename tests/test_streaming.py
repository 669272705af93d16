"""The streaming render: block readers against whole-file reading, the streamed
render against the in-memory one and against an independent whole-signal
convolution of the plan's filters, and memory that does not grow with length."""
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy.signal import fftconvolve

from helpers import noise_file, planned_signal

import spatial
from spatial.loop import RenderLoop
from spatial.plan import plan
from spatial.readers import BlockReader, probe
from spatial.renderer import _spatialiser, run_plan
from spatial.scene.model import Scene
from spatial.scene.parts import Listener, Output, Room, Source

FS = 48000


# -- readers -------------------------------------------------------------------------

@pytest.mark.parametrize("fs_in, channels, mono, block", [
    (48000, 1, True, 1000), (44100, 2, True, 4096), (44100, 2, False, 777),
    (96000, 3, False, 5000), (22050, 1, True, 64)])
def test_block_reader_equals_whole_file(tmp_path, fs_in, channels, mono, block):
    path = noise_file(tmp_path / "x.wav", 1.3, fs_in, channels)
    data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    if mono:
        data = data.mean(axis=1, keepdims=True)
    want = soxr.resample(data, fs_in, FS, quality="VHQ") if fs_in != FS else data
    want = 0.5 * np.asarray(want)
    info = probe(path)
    assert info.length_at(FS) == want.shape[0]
    got = np.zeros((want.shape[0] + 3 * block, want.shape[1]))
    with BlockReader(info, FS, mono=mono, gain=0.5) as reader:
        for lo in range(0, got.shape[0], block):
            reader.read_into(got[lo:lo + block])
    assert np.array_equal(got[:want.shape[0]], want)  # chunking does not change soxr's output
    assert not np.any(got[want.shape[0]:])  # zeros after the end


def test_reader_reports_missing_and_nan_files(tmp_path):
    with pytest.raises(spatial.SceneError, match="not found"):
        probe(tmp_path / "missing.wav", key="sources[0].file")
    bad = tmp_path / "nan.wav"
    x = np.zeros(20000)
    x[15000] = np.nan
    sf.write(str(bad), x, FS, subtype="FLOAT")
    with BlockReader(probe(bad), FS, mono=True) as reader:
        with pytest.raises(spatial.SceneError, match="NaN"):
            reader.read_into(np.zeros(20000))


# -- the loop against an independent whole-signal convolution ----------------------

def _scene(tmp_path: Path, room=True, duration=2.0) -> Scene:
    """Four sources: one resampled from 44.1 kHz stereo (downmixed), one starting late,
    one longer than the scene, a stereo bed; a room with a tail."""
    a = noise_file(tmp_path / "a.wav", 1.0, 44100, channels=2, seed=1)
    b = noise_file(tmp_path / "b.wav", 0.4, seed=2)
    c = noise_file(tmp_path / "c.flac", 5.0, seed=3, subtype="PCM_24")
    bed = noise_file(tmp_path / "bed.wav", 0.7, channels=2, seed=4)
    sources = (Source("a", a, (3.0, 1.0, 1.5), gain_db=-3.0),
               Source("b", b, (1.0, 3.5, 1.2), start=1.13, role="dialogue"),
               Source("c", c, (4.5, 3.0, 1.7)),
               Source("bed", bed, None, role="music", start=0.2, diegetic=False))
    return Scene(listener=Listener((2.5, 2.0, 1.6), 30.0), sources=sources,
                 output=Output(format="binaural"), sample_rate=FS, duration=duration,
                 room=Room((6.0, 5.0, 3.0), rt60=0.3) if room else None)


def _reference(p, scene: Scene) -> np.ndarray:
    """sum_i x_i * filt_i + (sum_i g_i x_i(t - d_i)) * tail, from whole signals."""
    out = np.zeros((p.n_channels, p.length))
    send = np.zeros(p.length)
    for inp in p.inputs:
        x = planned_signal(p, inp, FS)
        y = fftconvolve(x[None, :], inp.filt, axes=1)[:, :p.length]
        out[:, :y.shape[1]] += y
        if inp.send_gain:
            send[inp.send_delay:] += inp.send_gain * x[:p.length - inp.send_delay]
    if p.tail is not None:
        out += fftconvolve(send[None, :], p.tail, axes=1)[:, :p.length]
    return out.T


@pytest.mark.parametrize("room", [True, False])
def test_loop_matches_whole_signal_convolution(tmp_path, room):
    scene = _scene(tmp_path, room)
    p = plan(scene, _spatialiser(scene))
    assert len(p.inputs) == 5 and p.length == 2 * FS
    want = _reference(p, scene)
    got = run_plan(p, block_size=1024)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5 * np.abs(want).max()
    # the late source really starts late, and is in the output
    assert np.abs(want[:int(1.13 * FS)]).max() > 0


def test_streamed_equals_in_memory(tmp_path):
    """render_to_file and render give the same samples, bit for bit, at the same
    block size; other block sizes agree within 1e-6 of the peak (float32 rounding
    of differently partitioned sums)."""
    scene = _scene(tmp_path)
    mem = spatial.render(scene).audio
    seen = []
    stats = spatial.render_to_file(scene, tmp_path / "out.wav",
                                   progress=lambda done, total: seen.append((done, total)))
    disk, fs = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    assert fs == FS and stats["frames"] == mem.shape[0]
    assert np.array_equal(disk, mem)
    assert seen[-1] == (mem.shape[0], mem.shape[0]) and len(seen) > 1
    stream = spatial.render_stream(scene, block_size=1000)
    blocks = np.concatenate([b.copy() for b in stream])
    assert stream.length == blocks.shape[0] == mem.shape[0]
    assert np.abs(blocks - mem).max() < 1e-6 * np.abs(mem).max()


def test_reader_thread_changes_nothing(tmp_path):
    scene = _scene(tmp_path)
    p = plan(scene, _spatialiser(scene))
    a = np.concatenate([b.copy() for b in RenderLoop(p, 512, prefetch=True).blocks()])
    b = np.concatenate([b.copy() for b in RenderLoop(p, 512, prefetch=False).blocks()])
    assert np.array_equal(a, b)


def test_open_length_scene_rings_out(tmp_path):
    """Without a duration the render ends after the last source's end plus the ring."""
    scene = replace(_scene(tmp_path), duration=None)
    p = plan(scene, _spatialiser(scene))
    assert p.length > 5 * FS  # c is 5 s long
    out = run_plan(p)
    assert out.shape[0] == p.length
    assert np.abs(out[-FS // 100:]).max() < 1e-3 * np.abs(out).max()


# -- memory does not grow with the scene's length ----------------------------------

_CHILD = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    import spatial
    from spatial.scene.model import Scene
    from spatial.scene.parts import Listener, Output, Room, Source
    src, out = Path(sys.argv[1]), sys.argv[2]
    peaks = []
    for seconds in (5.0, 50.0):  # the first also warms every cache (HRTF set, numba)
        scene = Scene(listener=Listener((2.5, 2.0, 1.6), 0.0),
                      sources=(Source("a", src, (4.0, 3.0, 1.5)),
                               Source("b", src, (1.0, 1.0, 1.5))),
                      output=Output(format="binaural"), sample_rate=48000, duration=seconds,
                      room=Room((6.0, 5.0, 3.0), rt60=0.3))
        spatial.render_to_file(scene, out)
        peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(peaks))
""")


def test_peak_memory_does_not_grow_with_length(tmp_path):
    """Two sources of 50 s rendered to 5 s, then to 50 s, in one process: the peak
    resident size may not grow by more than 20 MiB; whole-signal rendering would hold
    2 x 19 MB of float64 sources and a 19 MB float32 output more for the long one."""
    src = noise_file(tmp_path / "long.flac", 50.0, subtype="PCM_16")
    out = tmp_path / "out.wav"
    # one thread: planning two sources at once has a higher (one-off) peak, whatever
    # the length, that would blur the comparison
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    short, long = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sf.info(str(out)).frames == 50 * FS
    assert long - short < 20.0, (short, long)  # MiB


def test_one_thread_equals_two(tmp_path):
    """Planning (sources over a thread pool), reading (reader threads) and the engine
    (its lanes) on 1 or 2 threads give the same samples, bit for bit."""
    import numba

    scene = _scene(tmp_path)
    outs = []
    old = numba.get_num_threads()
    try:
        for n in (1, 2):
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # the plan's pool
            p = plan(scene, _spatialiser(scene))
            loop = RenderLoop(p, 1024, threads=n)
            loop.engine.lanes.min_inputs = 0  # the engine's lanes on every block
            loop.engine.lanes.backoff_blocks = 0
            outs.append(np.concatenate([b.copy() for b in loop.blocks()]))
            assert loop.engine.lanes.threads == n
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(outs[0], outs[1])


def test_sink_thread_changes_nothing(tmp_path):
    """The command's writing and metering run inline on one thread and in a sink thread
    on two: the same file, byte for byte, and the same loudness and peak figures."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.fail("this test needs NUMBA_NUM_THREADS >= 2 to compare the two paths")
    scene = _scene(tmp_path)
    files, stats = [], []
    old = numba.get_num_threads()
    try:
        for n in (1, 2):
            numba.set_num_threads(n)
            path = tmp_path / f"sink{n}.wav"
            stats.append(spatial.render_to_file(scene, path))
            files.append(path.read_bytes())
    finally:
        numba.set_num_threads(old)
    assert files[0] == files[1]
    for key in ("loudness", "true_peak", "sample_peak"):
        assert stats[0]["mix"][key] == stats[1]["mix"][key], key
