"""Sinks (spatial.sinks) and the one mastering routine (spatial.master): every
deliverable behind one interface, committed together or not at all; render() and
render_to_file() through the same sinks and master, with the same summary."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import spatial
from spatial.scene.loader import load_scene_text
from spatial.sinks import ArraySink, BusView, FileSink, MeterSink, Sink, deliver

FS = 48000
ROLES = ("dialogue", "music", "effects")

SCENE = """\
    duration: 3
    room: {dimensions: [6, 5, 3], rt60: 0.3}
    listener: {position: [3, 2.5, 1.6]}
    sources:
      - {name: talk, role: dialogue, file: talk.wav, position: [4.5, 3, 1.6], start: 0.3}
      - {name: tune, role: music, file: tune.wav, position: [1, 4, 2]}
      - {name: bang, role: effects, file: bang.wav, position: [3, 0.5, 1], start: 1}
"""
HOT = """\
    duration: 2
    listener: {position: [4, 3, 1.6]}
    sources:
      - {name: n, role: effects, file: n.wav, position: [4.15, 3, 1.6]}
"""


def _scene(tmp_path: Path, text: str, extra: str = ""):
    rng = np.random.default_rng(7)
    for name, level in (("talk", 0.1), ("tune", 0.05), ("bang", 0.02), ("n", 0.3)):
        x = level * rng.standard_normal(2 * FS)
        if name == "bang":  # loud 3 ms clicks: transients for the limiter
            for i in (FS // 4, FS, 7 * FS // 4):
                x[i:i + 144] = 0.9 * np.sign(rng.standard_normal(144))
        sf.write(str(tmp_path / f"{name}.wav"), x, FS, subtype="FLOAT")
    path = tmp_path / "scene.yaml"
    path.write_text(textwrap.dedent(text + extra))
    return load_scene_text(path.read_text(), path)


def _frames(scene, stems: bool):
    """The render's per-block frames, as the render loop hands them to the sinks."""
    from spatial.filters.layouts import get_layout
    from spatial.mix.deliver import render_loop
    from spatial.renderer import _plan

    p = _plan(scene)
    loop = render_loop(p, scene, 1000, stems)
    return p, get_layout(scene.output), loop.frames()


class Recorder:
    """A sink of the test's own: keeps (a copy of) every block it is given."""

    def __init__(self):
        self.calls, self.blocks, self.buses = [], [], []

    def open(self, layout, sample_rate, frames):
        self.calls.append(("open", layout, sample_rate, frames))

    def write(self, view):
        self.calls.append("write")
        self.blocks.append(view.mix.copy())
        self.buses.append({b: x.copy() for b, x in view.buses.items()})

    def commit(self):
        self.calls.append("commit")
        return "recorded"

    def abort(self):
        self.calls.append("abort")


class Failing(Recorder):
    def __init__(self, after: int):
        super().__init__()
        self.after = after

    def write(self, view):
        if len(self.blocks) == self.after:
            raise OSError("disk full (the test's)")
        super().write(view)


def _leftovers(folder: Path) -> list[str]:
    return sorted(f.name for f in folder.iterdir())


@pytest.mark.parametrize("threads", [1, 2])
def test_a_custom_sink_gets_every_block_in_order_with_the_layout(tmp_path, threads):
    scene = _scene(tmp_path, SCENE, "    mix: {buses: {music: -6}}\n")
    p, layout, blocks = _frames(scene, stems=True)
    rec = Recorder()
    assert isinstance(rec, Sink)  # the protocol is all the driver knows
    out = deliver(blocks, {"binaural": [rec]}, {"binaural": layout}, FS, p.length,
                  threads=threads)
    assert out == {"binaural": ["recorded"]}
    assert rec.calls[0] == ("open", layout, FS, p.length) and rec.calls[-1] == "commit"
    assert rec.calls[1:-1] == ["write"] * len(rec.blocks)
    assert layout.names == ("L", "R")
    whole = spatial.render(scene, stems=True, block_size=1000)
    got = np.concatenate(rec.blocks)
    assert np.array_equal(got, whole.audio)  # every block, in order, nothing else
    assert sorted(rec.buses[0]) == sorted(ROLES)
    for role in ROLES:
        assert np.array_equal(np.concatenate([b[role] for b in rec.buses]),
                              whole.stems[role])


@pytest.mark.parametrize("threads", [1, 2])
def test_a_sink_failing_in_write_aborts_every_file(tmp_path, threads):
    scene = _scene(tmp_path, SCENE)
    p, layout, blocks = _frames(scene, stems=True)
    out = tmp_path / "out"
    out.mkdir()
    files = [FileSink(out / "mix.wav"), FileSink(out / "d.flac", bus="dialogue")]
    bad, meter = Failing(after=3), MeterSink()
    with pytest.raises(OSError, match="disk full"):
        deliver(blocks, {"binaural": [*files, meter, bad]}, {"binaural": layout}, FS,
                p.length, threads=threads)
    assert bad.calls[-1] == "abort" and "commit" not in bad.calls
    assert _leftovers(out) == []  # no output, no temporary file
    for s in files:
        s.abort()  # twice is harmless
    FileSink(out / "never.wav").abort()  # and so is before open


@pytest.mark.parametrize("when", ["pass 1", "pass 2"])
def test_a_failure_in_either_pass_leaves_no_file(tmp_path, monkeypatch, when):
    """render_to_file with stems and a loudness target (two passes): a sink error in
    the render pass or in the master's pass leaves neither outputs nor temporaries."""
    scene = _scene(tmp_path, SCENE, "    output: {loudness: -20, true_peak: -1}\n")
    writes = []
    fail_at = 2 if when == "pass 1" else None
    real = MeterSink.write

    def write(self, view):
        writes.append(view.frames)
        if fail_at is not None and len(writes) == fail_at:
            raise OSError("disk full (the test's)")
        if fail_at is None and sum(writes) > 3 * FS:  # the master's meter: pass 2
            raise OSError("disk full (the test's)")
        real(self, view)

    monkeypatch.setattr(MeterSink, "write", write)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OSError, match="disk full"):
        spatial.render_to_file(scene, out / "out.wav", stems=True)
    assert _leftovers(out) == []
    assert sum(writes) > (3 * FS if when == "pass 2" else 0)  # it failed where meant


def _hot(tmp_path):
    return _scene(tmp_path, HOT)


@pytest.mark.parametrize("extra", ["", "    output: {loudness: 0}\n",
                                   "    output: {loudness: -23, true_peak: -1}\n"])
def test_render_and_render_to_file_give_the_same_summary(tmp_path, extra):
    """The same sinks and master: the same samples, keys, figures and warnings; a
    clipping render warns in memory as in a file."""
    scene = _scene(tmp_path, HOT, extra)
    mem = spatial.render(scene)
    disk = spatial.render_to_file(scene, tmp_path / "hot.wav")
    a, b = mem.stats["mix"], disk["mix"]
    assert sorted(a) == sorted(b)
    for key in a:
        if key != "stems":
            assert a[key] == b[key], key
    x, _ = sf.read(str(tmp_path / "hot.wav"), dtype="float32", always_2d=True)
    assert np.array_equal(x, mem.audio)
    if "true_peak" not in extra:  # no ceiling: the noise 15 cm away clips, at 0 LUFS too
        assert a["clipped"] > 1000 and "above full scale" in a["warning"]
    else:  # brought down to the target, under the ceiling: nothing to warn about
        assert a["clipped"] == 0 and a["warning"] is None and a["rendered"]["clipped"] > 0


@pytest.mark.parametrize("output", ["{loudness: -20}", "{loudness: -16, true_peak: -3}"])
def test_render_returns_stems_that_sum_to_the_mix_before_the_limiter(tmp_path, output):
    scene = _scene(tmp_path, SCENE, f"    output: {output}\n")
    res = spatial.render(scene, stems=True)
    mix = res.stats["mix"]
    assert sorted(res.stems) == sorted(ROLES) and sorted(mix["stems"]) == sorted(ROLES)
    total = sum(res.stems[r].astype(np.float64) for r in ROLES)
    # before the limiter: the unmastered mix times the master's gain
    plain = spatial.render(scene.with_output(loudness=None, true_peak=None)).audio
    before = plain.astype(np.float64) * 10.0 ** (mix["gain_db"] / 20.0)
    peak = np.abs(before).max()
    # float32 rounding of three stems and of the mix: ~1e-7 of the peak; -120 dB allowed
    assert np.abs(total - before).max() < 1e-6 * peak
    if "true_peak" in output:  # the limiter worked on the mix, not on the stems
        assert mix["limited_frames"] > 0 and np.abs(res.audio - before).max() > 1e-3 * peak
    else:
        assert np.abs(total - res.audio).max() < 1e-6 * peak


def test_output_stems_in_the_scene_gives_stems_in_memory(tmp_path):
    scene = _scene(tmp_path, SCENE, "    output: {stems: true}\n")
    res = spatial.render(scene)
    assert sorted(res.stems) == sorted(ROLES)
    assert all(s.shape == res.audio.shape and s.dtype == np.float32
               for s in res.stems.values())
    assert spatial.render(scene.with_output(stems=False)).stems == {}


def test_array_sink_copies_what_it_keeps():
    from spatial.filters.layouts import get_layout
    from spatial.scene.parts import Output

    layout = get_layout(Output(format="binaural"))
    sink, buf = ArraySink(["music"]), np.ones((4, 2), np.float32)
    sink.open(layout, FS, 8)
    for k in range(2):
        buf[:] = k
        sink.write(BusView(buf, {"music": buf * 2}))
    sink.commit()
    assert np.array_equal(sink.audio[:, 0], [0] * 4 + [1] * 4)
    assert np.array_equal(sink.stems["music"][:, 0], [0] * 4 + [2] * 4)
