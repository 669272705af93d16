"""One render pass, many outputs: buses and formats inside one engine pass.

The per-bus engine against an independent whole-signal convolution per bus and
format (static sources), moving sources' buses against renders of that bus alone
(the moving path is linear in each source), stems summing to the mix, several
formats in one pass equal to each format alone, bit for bit, and passages."""
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import fftconvolve

from helpers import noise_file, planned_signal

import spatial
from spatial import routing
from spatial.loop import RenderLoop
from spatial.renderer import _plan
from spatial.scene.model import Scene
from spatial.scene.parts import Keyframe, Listener, Mix, Output, Room, Source

FS = 48000


def _scene(tmp_path, fmt="binaural", room=True, moving=False, mix=None) -> Scene:
    """Static sources on three buses (one resampled stereo file downmixed, one late, a
    stereo bed), and optionally a moving effect."""
    a = noise_file(tmp_path / "a.wav", 1.0, 44100, channels=2, seed=1)
    b = noise_file(tmp_path / "b.wav", 0.5, seed=2)
    c = noise_file(tmp_path / "c.flac", 1.5, seed=3, subtype="PCM_24")
    bed = noise_file(tmp_path / "bed.wav", 0.7, channels=2, seed=4)
    sources = [Source("a", a, (3.0, 1.0, 1.5), gain_db=-3.0, role="ambience"),
               Source("b", b, (1.0, 3.5, 1.2), start=0.33, role="dialogue"),
               Source("c", c, (4.5, 3.0, 1.7), role="effects"),
               Source("bed", bed, None, role="music", start=0.2, diegetic=False)]
    if moving:
        d = noise_file(tmp_path / "d.wav", 1.2, seed=5)
        sources.append(Source("d", d, None, role="effects", start=0.1, path=(
            Keyframe(0.0, (1.0, 1.0, 1.5)), Keyframe(1.5, (5.0, 4.0, 1.5)))))
        sources.append(Source("e", d, None, role="dialogue", start=0.4, path=(
            Keyframe(0.0, (5.0, 1.0, 1.5)), Keyframe(1.5, (1.0, 4.0, 1.0)))))
    return Scene(listener=Listener((2.5, 2.0, 1.6), 30.0), sources=tuple(sources),
                 output=Output(format=fmt), sample_rate=FS, duration=1.6,
                 room=Room((6.0, 5.0, 3.0), rt60=0.3) if room else None,
                 mix=mix or Mix())


def _reference(p, scene, roles, f) -> np.ndarray:
    """Format f's bus of `roles`: sum_i g_i x_i * filt_i + (sum_i g_i s_i x_i) * tail,
    from whole signals (g_i the bus gain of input i), (n, C)."""
    fp = p.outputs[f]
    out = np.zeros((fp.n_channels, p.length))
    send = np.zeros(p.length)
    for inp in p.inputs:
        if inp.role not in roles:
            continue
        x = planned_signal(p, inp, FS) * 10.0 ** (routing.bus_gain_db(scene, inp.role) / 20.0)
        y = fftconvolve(x[None, :], inp.filters[f], axes=1)[:, :p.length]
        out[:, :y.shape[1]] += y
        if inp.send_gain:
            send[inp.send_delay:] += inp.send_gain * x[:p.length - inp.send_delay]
    if fp.tail is not None:
        out += fftconvolve(send[None, :], fp.tail, axes=1)[:, :p.length]
    return out.T


def _run(p, rt, **kw) -> dict:
    """Every view of a loop, joined: format -> {"mix": (n, C), "bus:music": (n, C), ...}."""
    got: dict = {}
    for views in RenderLoop(p, 1024, routing=rt, **kw).frames():
        for fmt, v in views.items():
            d = got.setdefault(fmt, {})
            for name, arr in [("mix", v.mix), ("dialogue", v.dialogue),
                              ("background", v.background),
                              *[("bus:" + b, x) for b, x in v.buses.items()]]:
                if arr is not None:
                    d.setdefault(name, []).append(arr.copy())
    return {fmt: {k: np.concatenate(v) for k, v in d.items()} for fmt, d in got.items()}


@pytest.mark.parametrize("room", [True, False])
def test_buses_match_whole_signal_convolution(tmp_path, room):
    """Stems of two formats from one pass, with bus gains, each against the independent
    convolution of its sources' signals with their filters and its own tail."""
    mix = Mix(buses={"music": -6.0, "effects": 2.0}, dialogue_enhancement=3.0)
    scene = _scene(tmp_path, "binaural,5.1", room=room, mix=mix)
    p = _plan(scene)
    rt = routing.make(p, scene, stems=True, meter=True)
    assert [b for b, _ in rt.buses] == ["dialogue", "music", "ambience", "effects"]
    got = _run(p, rt)
    for f, fmt in enumerate(("binaural", "5.1")):
        total = np.zeros((p.length, p.outputs[f].n_channels))
        for bus in ("dialogue", "music", "ambience", "effects"):
            want = _reference(p, scene, (bus,), f)
            peak = np.abs(want).max()
            assert peak > 1e-3, bus  # every bus sounds
            # float32 engine: ~1e-7 of the peak (tests/test_engine.py)
            assert np.abs(got[fmt]["bus:" + bus] - want).max() < 1e-6 * peak, (fmt, bus)
            total += got[fmt]["bus:" + bus]
        # the mix is the sum of its stems (before any master limiter): -120 dB
        mix_peak = np.abs(got[fmt]["mix"]).max()
        assert np.abs(got[fmt]["mix"] - total).max() < 1e-6 * mix_peak


def test_moving_buses_equal_each_bus_alone(tmp_path):
    """With moving sources on two buses, each stem (direct path, moving reflections,
    later reflections, tail) equals a render of the scene with that bus's sources
    alone (the moving path is linear in each source: float32 rounding only); the
    static sources' stems still match their whole-signal convolution."""
    scene = _scene(tmp_path, "binaural,5.1", moving=True)
    p = _plan(scene)
    assert sum(inp.moving for inp in p.inputs) == 2
    got = _run(p, routing.make(p, scene, stems=True, meter=False))
    for bus in ("dialogue", "effects"):
        alone = replace(scene, sources=tuple(s for s in scene.sources if s.role == bus))
        q = _plan(alone)
        want = _run(q, routing.plain(q))
        for fmt in ("binaural", "5.1"):
            w = want[fmt]["mix"]
            peak = np.abs(w).max()
            assert peak > 1e-3
            assert np.abs(got[fmt]["bus:" + bus] - w).max() < 1e-6 * peak, (fmt, bus)
    for bus in ("music", "ambience"):
        want = _reference(p, scene, (bus,), 1)
        assert np.abs(got["5.1"]["bus:" + bus] - want).max() < 1e-6 * np.abs(want).max()


@pytest.mark.parametrize("moving", [False, True])
def test_formats_in_one_pass_equal_each_alone(tmp_path, moving):
    """binaural, 5.1, 7.1.4 and hoa3 from one pass: each the same, bit for bit, as a pass
    of that format alone, with its own length."""
    formats = ("binaural", "5.1", "7.1.4", "hoa3")
    mix = Mix(buses={"music": -4.0})
    scene = _scene(tmp_path, ",".join(formats), moving=moving, mix=mix)
    scene = replace(scene, duration=None)
    p = _plan(scene)
    got = _run(p, routing.make(p, scene, stems=False, meter=True))
    for f, fmt in enumerate(formats):
        one = scene.with_output(format=fmt)
        q = _plan(one)
        want = _run(q, routing.make(q, one, stems=False, meter=True))[fmt]
        assert got[fmt]["mix"].shape == want["mix"].shape == (q.length, q.n_channels)
        assert q.length == p.outputs[f].length
        for name in ("mix", "dialogue", "background"):
            assert np.array_equal(got[fmt][name], want[name]), (fmt, name)


def test_passage_equals_the_whole_render_there(tmp_path):
    """A passage rendered alone (with its pre-roll) equals the whole render over that
    span: reverberation of earlier sound and the moving sources' state included."""
    scene = _scene(tmp_path, "binaural", moving=True,
                   mix=Mix(buses={"music": -3.0}))
    p = _plan(scene)
    rt = routing.make(p, scene, stems=False, meter=False)
    whole = _run(p, rt)["binaural"]["mix"]
    a, b = int(0.9 * FS), int(1.3 * FS)
    part = _run(p, routing.make(p, scene, stems=False, meter=False), start=a, end=b)
    part = part["binaural"]["mix"]
    assert part.shape == (b - a, 2)
    peak = np.abs(whole[a:b]).max()
    # other block boundaries: float32 rounding of differently partitioned sums
    assert np.abs(part - whole[a:b]).max() < 1e-5 * peak


@pytest.mark.parametrize("loudness", [None, -23.0])
def test_formats_in_one_run_write_the_files_of_separate_runs(tmp_path, loudness):
    """`render_to_file` with a format list writes out.<format>.wav (and stems), each the
    same bytes as a run of that format alone, with and without a loudness target (each
    format mastered to it on its own); `render` returns the same samples per format."""
    formats = ("binaural", "5.1", "hoa3")
    scene = _scene(tmp_path, ",".join(formats), mix=Mix(buses={"music": -4.0}))
    scene = scene.with_output(loudness=loudness, true_peak=-1.0 if loudness else None)
    stats = spatial.render_to_file(scene, tmp_path / "all.wav", stems=True)
    assert set(stats["outputs"]) == set(formats)
    mem = spatial.render(scene, stems=True)  # the same buses: the same samples
    assert set(mem) == set(formats)
    for fmt in formats:
        alone = tmp_path / f"alone-{fmt}.wav"
        one = spatial.render_to_file(scene.with_output(format=fmt), alone, stems=True)
        both = tmp_path / f"all.{fmt}.wav"
        assert stats["outputs"][fmt]["path"] == str(both)
        assert both.read_bytes() == alone.read_bytes(), fmt
        for bus in ("dialogue", "music", "ambience", "effects"):
            assert (tmp_path / f"all.{fmt}.{bus}.wav").read_bytes() == \
                (tmp_path / f"alone-{fmt}.{bus}.wav").read_bytes(), (fmt, bus)
        assert stats["outputs"][fmt]["mix"]["loudness"] == one["mix"]["loudness"]
        if loudness is not None:
            assert abs(one["mix"]["loudness"] - loudness) < 0.15
        disk, _ = sf.read(str(both), dtype="float32", always_2d=True)
        assert np.array_equal(mem[fmt].audio, disk)
        assert set(mem[fmt].stems) == {"dialogue", "music", "ambience", "effects"}


def test_bad_format_lists_and_clashing_outputs_are_one_line_errors(tmp_path):
    """A repeated or unknown format in a list, or two deliverables on one file: one line
    naming the key, exit 2, nothing written."""
    import subprocess
    import sys

    scene = _scene(tmp_path)
    body = ("listener: {position: [0, 0, 0]}\nsources:\n"
            f"  - {{name: a, file: {scene.sources[1].file}, position: [1, 0, 0]}}\n")
    (tmp_path / "s.yaml").write_text(body)
    (tmp_path / "t.yaml").write_text(body + "output: {format: [binaural, 5.1, binaural]}\n")
    for name, args, expect in [
            ("s", ["--format", "5.1,hoa9"], "--format: output.format: unknown output format "
                                            "'hoa9'"),
            ("t", [], "t.yaml:4: output.format[2]: format 'binaural' is listed twice"),
            ("s", ["--format", "binaural", "-o", str(scene.sources[1].file)],
             "would overwrite"),
            ("s", ["--format", "binaural,5.1", "-o", str(tmp_path / "x.5.1.wav"), "--stems"],
             None)]:
        out = subprocess.run([sys.executable, "-m", "spatial", "render",
                              str(tmp_path / f"{name}.yaml"), "-q", *args],
                             capture_output=True, text=True, cwd=tmp_path)
        if expect is None:
            assert out.returncode == 0, out.stderr
            continue
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and expect in lines[0], lines
        assert "Traceback" not in out.stderr
    assert not list(tmp_path.glob("[st]*.wav"))
    # the one good run: a file per format, named after it, and its stems
    assert sorted(p.name for p in tmp_path.glob("x.5.1.*.wav")) == [
        "x.5.1.5.1.effects.wav", "x.5.1.5.1.wav", "x.5.1.binaural.effects.wav",
        "x.5.1.binaural.wav"]


@pytest.mark.parametrize("moving", [False, True])
def test_dialogue_meter_is_the_mono_rendering_of_each_part(tmp_path, moving):
    """The dialogue-to-background signals of a two-format pass (no stems, a bus gain):
    the dialogue is a mono render of the dialogue sources alone and the background one
    of the others alone (float32 rounding only), the same arrays for both formats; the
    mono format rendered for the meter is not handed out, and the mix is the mix."""
    mix = Mix(buses={"music": -4.0}, dialogue_enhancement=2.0)
    scene = _scene(tmp_path, "binaural,5.1", moving=moving, mix=mix)
    p = _plan(scene)
    assert [fp.format for fp in p.outputs] == ["binaural", "5.1"]
    assert [fp.format for fp in p.rendered] == ["binaural", "5.1", "mono"]
    rt = routing.make(p, scene, stems=False, meter=True)
    assert rt.tap is not None and rt.tap.width == 1
    got = _run(p, rt)
    assert set(got) == {"binaural", "5.1"}
    for part, keep in (("dialogue", lambda r: r == "dialogue"),
                       ("background", lambda r: r != "dialogue")):
        alone = replace(scene, sources=tuple(s for s in scene.sources if keep(s.role)),
                        output=Output(format="mono"))
        q = _plan(alone)
        want = _run(q, routing.make(q, alone, stems=False, meter=False))["mono"]["mix"]
        for fmt in ("binaural", "5.1"):
            have = got[fmt][part]
            n = min(len(have), len(want))
            peak = np.abs(want).max()
            assert peak > 1e-3 and n > 0.9 * len(want)
            assert np.abs(have[:n] - want[:n]).max() < 1e-6 * peak, (fmt, part)
    assert np.array_equal(got["binaural"]["dialogue"], got["5.1"]["dialogue"])
    # the mix is what a pass without the meter renders: bit for bit with static sources;
    # moving dialogue's reflections are summed into the tap's feeds first, then into the
    # mix's (float32 rounding of the sum only)
    plain = _run(p, routing.make(p, scene, stems=False, meter=False))
    for fmt in ("binaural", "5.1"):
        a, b = got[fmt]["mix"], plain[fmt]["mix"]
        if moving:
            assert np.abs(a - b).max() < 1e-6 * np.abs(b).max()
        else:
            assert np.array_equal(a, b)
