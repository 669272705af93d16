"""The mix (issue 10): buses and stems, loudness to a target with a true-peak limiter
(measured by independent meters: pyloudnorm, ffmpeg's ebur128), clipping reports,
ducking, dialogue clarity, room-to-score transitions, bad input."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyloudnorm as pyln
import pytest
import soundfile as sf

from spatial.dsp.loudness import Meter, TruePeak, loudness_range
from spatial.scene.loader import load_scene_text

FS = 48000
ROLES = ("dialogue", "music", "ambience", "effects")


def _write(path: Path, x: np.ndarray) -> str:
    sf.write(str(path), x, FS, subtype="FLOAT")
    return path.name


def _noise(seconds, level=0.1, seed=1):
    return level * np.random.default_rng(seed).standard_normal(int(seconds * FS))


def _bursts(seconds, every=1.0, seed=2):
    """Quiet noise with a loud 3 ms click every `every` seconds: loud transients."""
    x = _noise(seconds, 0.02, seed)
    rng = np.random.default_rng(seed + 1)
    for t in np.arange(0.5, seconds - 0.1, every):
        i = int(t * FS)
        x[i:i + 144] = 0.9 * np.sign(rng.standard_normal(144))
    return x


def _scene(tmp_path: Path, text: str):
    path = tmp_path / "scene.yaml"
    path.write_text(textwrap.dedent(text))
    return load_scene_text(path.read_text(), path)


def _render(scene, out: Path, **kw) -> dict:
    from spatial.renderer import render_to_file

    return render_to_file(scene, out, **kw)["mix"]


def _ffmpeg_ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of a file by ffmpeg's ebur128 filter."""
    res = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", str(path),
                          "-filter_complex", "ebur128=peak=true", "-f", "null", "-"],
                         capture_output=True, text=True, check=True)
    summary = res.stderr[res.stderr.rindex("Summary:"):]
    loud = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return loud, peak


# -- the meter against independent references ------------------------------------------

def test_meter_matches_pyloudnorm_block_by_block():
    rng = np.random.default_rng(3)
    x = 0.05 * rng.standard_normal((20 * FS, 2))
    x[5 * FS:8 * FS] *= 8.0  # loud passage
    x[12 * FS:13 * FS] *= 0.001  # a near-silence the gates drop
    m = Meter(FS, [1.0, 1.0])
    for a in range(0, x.shape[0], 3001):  # odd block size: state carried across blocks
        m.add(x[a:a + 3001])
    ref = pyln.Meter(FS, filter_class="DeMan")  # the ITU coefficients, as ours
    assert m.integrated() == pytest.approx(ref.integrated_loudness(x), abs=0.01)
    # pyloudnorm's default (RBJ-designed) K-weighting differs slightly
    assert m.integrated() == pytest.approx(pyln.Meter(FS).integrated_loudness(x), abs=0.1)
    assert loudness_range(m.steps) == pytest.approx(ref.loudness_range(x), abs=0.3)


def test_true_peak_finds_the_peak_between_samples():
    t = np.arange(FS // 10) / FS
    x = np.sin(2 * np.pi * 12000 * t + np.pi / 4)  # samples at +-0.707: -3 dBFS
    ramp = np.sin(0.5 * np.pi * np.arange(480) / 480) ** 2  # 10 ms fades: no step at the ends
    x[:480] *= ramp
    x[-480:] *= ramp[::-1]
    x = x[:, None]
    tp = TruePeak(1)
    tp.add(x[:1234])
    tp.add(x[1234:])
    assert 20 * np.log10(tp.sample_peak) == pytest.approx(-3.01, abs=0.01)
    assert -0.2 < tp.dbtp <= 0.01  # 4x oversampling under-reads fs/4 by < 0.2 dB


# -- loudness, true peak, clipping -------------------------------------------------------

LOUD = """\
    duration: 8
    listener: {position: [0, 0, 0]}
    sources:
      - {name: clicks, role: effects, file: clicks.wav, position: [1, 0, 0]}
      - {name: bed, role: ambience, file: bed.wav, diegetic: false, gain_db: -12}
    output: {loudness: -23, true_peak: -1}
"""


def test_loudness_target_and_ceiling_met_on_independent_meters(tmp_path):
    _write(tmp_path / "clicks.wav", _bursts(8.0))
    _write(tmp_path / "bed.wav", _noise(8.0, 0.05, seed=9))
    scene = _scene(tmp_path, LOUD)
    out = tmp_path / "out.wav"
    mix = _render(scene, out)
    assert mix["limited_frames"] > 0  # the transients needed the limiter
    assert mix["rendered"]["true_peak"] + mix["gain_db"] > -1.0 + 3  # ... by more than 3 dB
    x, fs = sf.read(str(out))
    assert pyln.Meter(fs).integrated_loudness(x) == pytest.approx(-23.0, abs=0.5)
    assert pyln.Meter(fs, filter_class="DeMan").integrated_loudness(x) == pytest.approx(
        -23.0, abs=0.5)
    assert 20 * np.log10(np.abs(x).max()) <= -1.0
    assert mix["loudness"] == pytest.approx(-23.0, abs=0.1)
    assert mix["true_peak"] <= -1.0
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed: the ebur128 cross-check did not run "
                    "(.ci/run installs it)")
    loud, peak = _ffmpeg_ebur128(out)
    assert loud == pytest.approx(-23.0, abs=0.5)
    assert peak <= -1.0


def test_presets_set_target_and_ceiling(tmp_path):
    _write(tmp_path / "clicks.wav", _bursts(8.0))
    _write(tmp_path / "bed.wav", _noise(8.0, 0.05, seed=9))
    for name, (lufs, dbtp) in {"atsc-a85": (-24, -2), "streaming": (-14, -1)}.items():
        scene = _scene(tmp_path, LOUD.replace("{loudness: -23, true_peak: -1}",
                                              f"{{loudness: {name}}}"))
        assert (scene.output.loudness, scene.output.true_peak) == (lufs, dbtp)
        x, fs = sf.read(str(tmp_path / "p.wav")) if _render(scene, tmp_path / "p.wav") else None
        assert pyln.Meter(fs).integrated_loudness(x) == pytest.approx(lufs, abs=0.5)
        tp = TruePeak(2)
        tp.add(x)
        assert tp.dbtp <= dbtp


HOT = """\
    duration: 3
    listener: {position: [4, 3, 1.6]}
    sources:
      - {name: n, role: effects, file: n.wav, position: [4.15, 3, 1.6]}
"""


@pytest.mark.parametrize("suffix,subtype", [(".flac", None), (".wav", "PCM_24"),
                                            (".wav", None)])
def test_clipping_is_reported(tmp_path, suffix, subtype):
    """A noise 15 cm from the listener (issue 10's example): reported, with the peak."""
    _write(tmp_path / "n.wav", _noise(3.0, 0.3))
    (tmp_path / "scene.yaml").write_text(textwrap.dedent(HOT))
    out = tmp_path / f"hot{suffix}"
    cmd = [sys.executable, "-m", "spatial", "render", "scene.yaml", "-o", out.name, "-q"]
    res = subprocess.run(cmd + (["--subtype", subtype] if subtype else []), cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    x, _ = sf.read(str(out))
    clipped = int(np.count_nonzero(np.abs(x) >= 1.0 - 1e-6))
    assert clipped > 1000  # the file really is clipped (fixed point) or over full scale
    line = [ln for ln in res.stderr.splitlines() if "above full scale" in ln
            or "clipped" in ln]
    assert len(line) == 1 and "output.true_peak" in line[0]
    assert "clipped in the file" in line[0] if (suffix == ".flac" or subtype) else \
        "players will clip" in line[0]


def test_a_ceiling_prevents_clipping(tmp_path):
    _write(tmp_path / "n.wav", _noise(3.0, 0.3))
    scene = _scene(tmp_path, HOT + "    output: {true_peak: -1}\n")
    mix = _render(scene, tmp_path / "hot.wav", subtype="PCM_24")
    x, _ = sf.read(str(tmp_path / "hot.wav"))
    assert np.abs(x).max() <= 10 ** (-1 / 20)
    assert mix["clipped"] == 0 and mix["warning"] is None and mix["true_peak"] <= -1.0
    assert mix["rendered"]["sample_peak"] > 6.0  # it was far over full scale before


# -- buses and stems ---------------------------------------------------------------------

ROOM_SCENE = """\
    duration: 4
    room: {dimensions: [6, 5, 3], rt60: 0.4}
    listener: {position: [3, 2.5, 1.6]}
    sources:
      - {name: talk, role: dialogue, file: talk.wav, position: [4.5, 3, 1.6], start: 0.5}
      - {name: tune, role: music, file: tune.wav, position: [1, 4, 2]}
      - {name: air, role: ambience, file: air.wav, diegetic: false, gain_db: -10}
      - {name: bang, role: effects, file: bang.wav, position: [3, 0.5, 1], start: 2}
"""


def _room_assets(tmp_path):
    _write(tmp_path / "talk.wav", _noise(2.0, 0.1, 1))
    _write(tmp_path / "tune.wav", _noise(4.0, 0.05, 2))
    _write(tmp_path / "air.wav", _noise(4.0, 0.05, 3))
    _write(tmp_path / "bang.wav", _bursts(1.0, seed=4))


def test_stems_sum_to_the_mix_and_are_the_roles_alone(tmp_path):
    _room_assets(tmp_path)
    scene = _scene(tmp_path, ROOM_SCENE + "    mix: {buses: {music: -6, effects: 3}}\n")
    mix = _render(scene, tmp_path / "out.wav", stems=True)
    assert sorted(mix["stems"]) == sorted(ROLES)
    out, _ = sf.read(str(tmp_path / "out.wav"))
    stems = {r: sf.read(mix["stems"][r])[0] for r in ROLES}
    assert all(Path(p).name == f"out.{r}.wav" for r, p in mix["stems"].items())
    err = np.abs(sum(stems.values()) - out).max() / np.abs(out).max()
    assert err < 1e-3  # -60 dB
    # each stem is its role rendered alone, bus gain applied (reverberation included)
    from spatial.renderer import render

    for role, gain_db in (("dialogue", 0.0), ("music", -6.0), ("effects", 3.0)):
        alone = scene.__class__(**{**scene.__dict__, "sources": tuple(
            s for s in scene.sources if s.role == role), "mix": scene.mix.__class__()})
        ref = render(alone).audio * 10 ** (gain_db / 20)
        err = np.abs(stems[role] - ref).max() / np.abs(ref).max()
        assert err < 1e-3, role  # -60 dB


def test_without_mix_keys_the_render_is_unchanged(tmp_path):
    """A scene without a mix section renders as before (one loop, no buses)."""
    _room_assets(tmp_path)
    from spatial.renderer import render

    plain = render(_scene(tmp_path, ROOM_SCENE)).audio
    bused = render(_scene(tmp_path, ROOM_SCENE + "    mix: {buses: {music: 0}}\n")).audio
    err = np.abs(plain - bused).max() / np.abs(plain).max()
    assert err < 1e-5  # float32 rounding of the split tails


# -- ducking -----------------------------------------------------------------------------

DUCK = """\
    duration: 6
    listener: {position: [0, 0, 0]}
    sources:
      - {name: score, role: music, file: score.wav, diegetic: false}
      - {name: line, role: dialogue, file: line.wav, position: [1, 0.5, 0], start: 1.5}
    output: {stems: true}
"""


def _level_db(x, a, b):
    seg = x[int(a * FS):int(b * FS)]
    return 10 * np.log10(np.mean(seg ** 2))


def test_ducking_dips_music_under_dialogue_and_recovers(tmp_path):
    _write(tmp_path / "score.wav", _noise(6.0, 0.05, 5))
    _write(tmp_path / "line.wav", _noise(2.0, 0.1, 6))  # dialogue 1.5 .. 3.5 s
    depth, attack, release = 8.0, 0.05, 0.5
    plain = _render(_scene(tmp_path, DUCK), tmp_path / "plain.wav")
    ducked = _render(_scene(tmp_path, DUCK + f"""\
    mix: {{ducking: {{under: dialogue, duck: [music], depth_db: {depth}, attack: {attack},
                      release: {release}}}}}
"""), tmp_path / "ducked.wav")
    a = sf.read(plain["stems"]["music"])[0]
    b = sf.read(ducked["stems"]["music"])[0]
    during = _level_db(a, 1.5 + attack + 0.03, 3.5) - _level_db(b, 1.5 + attack + 0.03, 3.5)
    assert during >= depth - 2
    assert _level_db(a, 0.2, 1.4) - _level_db(b, 0.2, 1.4) == pytest.approx(0, abs=1e-6)
    # still down right after the dialogue, back within the release (+ 2 detector frames)
    assert _level_db(a, 3.55, 3.65) - _level_db(b, 3.55, 3.65) > 3.0
    t_back = 3.5 + release + 0.02
    assert _level_db(a, t_back, 6.0) - _level_db(b, t_back, 6.0) == pytest.approx(0, abs=1e-6)
    # the dialogue stem is untouched
    assert np.array_equal(sf.read(plain["stems"]["dialogue"])[0],
                          sf.read(ducked["stems"]["dialogue"])[0])
    # without stems, roles treated alike share a render loop: the same mix
    text = DUCK.replace("    output: {stems: true}\n", "") + f"""\
    mix: {{ducking: {{under: dialogue, duck: [music], depth_db: {depth}, attack: {attack},
                      release: {release}}}}}
"""
    shared = _render(_scene(tmp_path, text), tmp_path / "shared.wav")
    assert shared["stems"] == {}
    x = sf.read(str(tmp_path / "shared.wav"))[0]
    y = sf.read(str(tmp_path / "ducked.wav"))[0]
    assert np.abs(x - y).max() <= 1e-6 * np.abs(y).max()


# -- dialogue clarity --------------------------------------------------------------------

def _dialogue_to_background_pyln(dialogue, background, present):
    """Independent: pyloudnorm's loudness of each over the passage where dialogue plays."""
    meter = pyln.Meter(FS)
    a, b = present
    seg = slice(int(a * FS), int(b * FS))
    return meter.integrated_loudness(dialogue[seg]) - meter.integrated_loudness(background[seg])


def test_dialogue_enhancement_raises_dialogue_over_the_rest(tmp_path):
    _room_assets(tmp_path)
    steady = "\n".join(ln for ln in ROOM_SCENE.splitlines() if "bang" not in ln) + "\n"
    base = _render(_scene(tmp_path, steady + "    output: {stems: true}\n"),
                   tmp_path / "a.wav")
    enhanced = _render(_scene(tmp_path, steady + "    output: {stems: true}\n"
                              "    mix: {dialogue_enhancement: 6}\n"), tmp_path / "b.wav")
    assert enhanced["dialogue_to_background"] - base["dialogue_to_background"] == \
        pytest.approx(6.0, abs=0.05)
    # the report agrees with pyloudnorm on the stems where the dialogue plays (0.5..2.5 s)
    for mix in (base, enhanced):
        stems = {r: sf.read(p)[0] for r, p in mix["stems"].items()}
        rest = sum(x for r, x in stems.items() if r != "dialogue")
        ref = _dialogue_to_background_pyln(stems["dialogue"], rest, (0.6, 2.5))
        assert mix["dialogue_to_background"] == pytest.approx(ref, abs=1.0)


CENTRE = """\
    duration: 1
    listener: {position: [0, 0, 0]}
    sources:
      - {name: talk, role: dialogue, file: talk.wav, position: [1.732, 1.0, 0]}
    output: {format: "5.1"}
"""


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_dialogue_center_moves_the_direct_sound_into_c(tmp_path, share):
    """Dialogue at +30 degrees (the L speaker), free field: the share goes to C, the
    energy stays the same."""
    from spatial.renderer import render

    _write(tmp_path / "talk.wav", _noise(1.0, 0.1, 1))
    plain = render(_scene(tmp_path, CENTRE)).audio.astype(np.float64)
    scene = _scene(tmp_path, CENTRE + f"    mix: {{dialogue_center: {share}}}\n")
    out = render(scene).audio.astype(np.float64)
    energy = (out ** 2).sum(axis=0)
    names = ["L", "R", "C", "LFE", "Ls", "Rs"]
    assert energy.sum() == pytest.approx((plain ** 2).sum(), rel=1e-3)
    c = energy[names.index("C")] / energy.sum()
    # g' = sqrt(1-s) e_L + sqrt(s) e_C (orthogonal): C holds exactly s of the energy
    assert c == pytest.approx(share, abs=0.01)


# -- from the room into the score --------------------------------------------------------

TRANSITION = """\
    duration: 6
    room: {dimensions: [6, 5, 3], rt60: 0.3}
    listener: {position: [3, 2.5, 1.6]}
    sources:
      - {name: radio, role: music, file: cue.wav, position: [4.7, 3.5, 1.6]%s}
"""


def _window_levels(x, a, b, w=0.1):
    edges = np.arange(a, b + 1e-9, w)
    return np.array([_level_db(x.sum(axis=1) * 0 + (x ** 2).sum(axis=1) ** 0.5, s, s + w)
                     for s in edges[:-1]])


def test_room_to_score_is_continuous_and_ends_as_the_plain_bed(tmp_path):
    from spatial.renderer import render

    _write(tmp_path / "cue.wav", _noise(6.0, 0.1, 7))
    moving = _scene(tmp_path, TRANSITION % ", transitions: [{at: 2.0, to: non-diegetic, "
                                           "over: 2.0}]")
    out = render(moving).audio.astype(np.float64)
    bed = render(_scene(tmp_path, TRANSITION.replace("position: [4.7, 3.5, 1.6]%s",
                                                     "diegetic: false"))).audio
    room = render(_scene(tmp_path, TRANSITION % "")).audio
    levels = _window_levels(out, 0.5, 5.8)
    assert np.abs(np.diff(levels)).max() <= 1.0  # no jump between 100 ms windows
    start, end = _level_db(room.sum(axis=1), 0.5, 2.0), _level_db(bed.sum(axis=1), 4.5, 5.8)
    assert abs(start - end) > 2.0  # the two renderings really differ in level
    during = _window_levels(out, 2.0, 4.0)
    lo = min(_window_levels(room, 0.5, 2.0).mean(), _window_levels(bed, 4.5, 5.8).mean())
    hi = max(_window_levels(room, 0.5, 2.0).mean(), _window_levels(bed, 4.5, 5.8).mean())
    assert during.min() >= lo - 1.0 and during.max() <= hi + 1.0  # no dip, no bump
    # before: the room rendering; once the room has rung out: the plain bed, sample for sample
    pre = slice(0, int(2.0 * FS))
    assert np.abs(out[pre] - room[pre]).max() <= 1e-5 * np.abs(room).max()
    post = slice(int(4.8 * FS), None)
    assert np.abs(out[post] - bed[post]).max() <= 1e-4 * np.abs(bed).max()


def test_score_narrows_into_the_radio(tmp_path):
    """The other way: a bed that becomes the placed source (its position given)."""
    from spatial.renderer import render

    _write(tmp_path / "cue.wav", _noise(6.0, 0.1, 7))
    text = TRANSITION % ", diegetic: false, transitions: [{at: 1.0, to: diegetic, over: 1.0}]"
    out = render(_scene(tmp_path, text)).audio.astype(np.float64)
    bed = render(_scene(tmp_path, TRANSITION.replace("position: [4.7, 3.5, 1.6]%s",
                                                     "diegetic: false"))).audio
    room = render(_scene(tmp_path, TRANSITION % "")).audio
    assert np.abs(out[:FS] - bed[:FS]).max() <= 1e-5 * np.abs(bed).max()
    post = slice(int(3.0 * FS), None)  # once the room has heard the whole source (rt60 0.3 s)
    assert np.abs(out[post] - room[post]).max() <= 1e-4 * np.abs(room).max()
    assert np.abs(np.diff(_window_levels(out, 0.3, 5.8))).max() <= 1.0


# -- bad input ---------------------------------------------------------------------------

BAD = """\
    listener: {position: [0, 0, 0]}
    sources:
      - {name: a, role: music, file: a.wav, %s}
    %s
"""


@pytest.mark.parametrize("source,extra,needle", [
    ("position: [1, 0, 0]", "output: {loudness: -80}",
     "scene.yaml:4: output.loudness: must be between -70 and 0 LUFS, got -80"),
    ("position: [1, 0, 0]", "output: {loudness: ebu}",
     "output.loudness: unknown loudness preset"),
    ("position: [1, 0, 0]", "output: {true_peak: 3}", "output.true_peak: must be between"),
    ("diegetic: false, transitions: [{at: 1, to: diegetic}]", "",
     "scene.yaml:3: sources[0].transitions: a transition needs the source's position"),
    ("position: [1, 0, 0], transitions: [{at: 1, to: diegetic}]", "",
     "sources[0].transitions[0].to: the source is already diegetic at 1 s"),
    ("position: [1, 0, 0]", "mix: {ducking: {under: music, duck: [music]}}",
     "mix.ducking.duck: the side-chain role 'music' cannot duck itself"),
    ("position: [1, 0, 0]", "mix: {buses: {musik: -3}}", "mix.buses.musik: unknown key"),
    ("position: [1, 0, 0]", "mix: {dialogue_center: 2}", "mix.dialogue_center: must be"),
])
def test_bad_mix_input_is_one_line(tmp_path, source, extra, needle):
    _write(tmp_path / "a.wav", _noise(0.5))
    (tmp_path / "scene.yaml").write_text(textwrap.dedent(BAD % (source, extra)))
    res = subprocess.run([sys.executable, "-m", "spatial", "render", "scene.yaml", "-o",
                          "o.wav"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and needle in res.stderr, res.stderr
    assert not (tmp_path / "o.wav").exists()


def test_unused_bus_or_ducked_role_is_a_warning(tmp_path):
    _write(tmp_path / "a.wav", _noise(0.5))
    (tmp_path / "scene.yaml").write_text(textwrap.dedent(BAD % (
        "position: [1, 0, 0]", "mix: {buses: {effects: -3}, ducking: {duck: [ambience]}}")))
    res = subprocess.run([sys.executable, "-m", "spatial", "render", "scene.yaml", "-o",
                          "o.wav", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0 and (tmp_path / "o.wav").exists()
    lines = res.stderr.strip().splitlines()
    assert any("scene.yaml:4: mix.buses.effects: no source has role 'effects'" in ln
               for ln in lines), lines
    assert any("mix.ducking.under: no source has role 'dialogue'" in ln for ln in lines)
    assert any("mix.ducking.duck: no source has role 'ambience'" in ln for ln in lines)
    assert all(ln.startswith("spatial: warning: ") for ln in lines)


def test_oversampled_peak_matches_scipy_upfirdn():
    """The interpolator as matrix products = the same FIR run by scipy (independent)."""
    from scipy import signal

    from spatial.dsp.loudness import interpolator, oversampled_peak

    phases = interpolator()
    taps = phases.shape[1]
    x = np.random.default_rng(5).standard_normal((9000, 3))
    h = phases.T.ravel()  # back to the 4x filter (phase k = taps k, k + 4, ...)
    y = signal.upfirdn(h, x, up=4, axis=0)  # y[4 j + k] = interpolated points
    ref = np.abs(y[:4 * x.shape[0]].reshape(x.shape[0], 4, 3)).max(axis=(1, 2))
    got = oversampled_peak(x, phases)
    np.testing.assert_allclose(got, ref[taps - 1:], rtol=2e-6, atol=1e-6)


def test_peak_above_is_the_interpolated_maximum_of_scipy_upfirdn():
    """The pruned search (bounds, highest first) finds upfirdn's 4x peak, or the floor."""
    from scipy import signal

    from spatial.dsp.loudness import interpolator, peak_above

    phases = interpolator()
    taps = phases.shape[1]
    h = phases.T.ravel()
    rng = np.random.default_rng(7)
    for scale in (0.1, 1.0, 3.0):
        x = scale * rng.standard_normal((6000, 2))
        x[3000:3002] = [[0.9 * scale, -0.9 * scale], [-0.9 * scale, 0.9 * scale]]  # inter-sample
        y = signal.upfirdn(h, x, up=4, axis=0)[:4 * x.shape[0]]
        ref = np.abs(y.reshape(x.shape[0], 4, 2)[taps - 1:]).max()
        assert peak_above(x, phases, 0.0) == pytest.approx(ref, rel=2e-6)
        assert peak_above(x, phases, 2.0 * ref) == 2.0 * ref  # nothing can pass the floor
        assert peak_above(x, phases, 0.99 * ref) == pytest.approx(ref, rel=2e-6)


def test_peak_kernels_match_their_twins_and_bound_every_frame():
    """The numba bounds and candidates = their numpy twins; the bound is at or above every
    frame's 4x peak."""
    import naive
    from spatial.dsp.loudness import NEAR_TAPS, interpolator, oversampled_peak
    from spatial.dsp.peak_kernels import peak_bounds, peak_candidates

    phases = interpolator()
    h = np.ascontiguousarray(np.abs(phases))
    taps, centre = h.shape[1], h.shape[1] // 2
    lo, hi = centre - NEAR_TAPS // 2, centre + NEAR_TAPS // 2
    rng = np.random.default_rng(11)
    for n, c in ((taps, 1), (700, 2), (1000, 6)):
        x = (rng.standard_normal((n, c)) * rng.uniform(0, 2, (n, 1))).astype(np.float32)
        got, want = np.empty(n - taps + 1), np.empty(n - taps + 1)
        peak_bounds(x, h, lo, hi, got)
        naive.peak_bounds(x, h, lo, hi, want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        assert np.all(got * (1 + 1e-6) >= oversampled_peak(x, phases))
        kernel = np.ascontiguousarray(phases[:, ::-1].T, dtype=np.float32)
        for floor in (0.0, float(np.median(got))):
            v1, t1, v2, t2 = (np.empty(got.size) for _ in range(4))
            low1 = peak_candidates(x, kernel, got, floor, 1e-6, v1, t1)
            low2 = naive.peak_candidates(x, kernel, got, floor, 1e-6, v2, t2)
            assert low1 == pytest.approx(low2, rel=1e-12) and (v1 < 0).sum() == (v2 < 0).sum()
            np.testing.assert_allclose(v1, v2, rtol=1e-12, atol=0)
            np.testing.assert_array_equal(t1, t2)


@pytest.mark.parametrize("shape", ["noise", "crescendo", "clicks", "silence", "sine"])
def test_peak_above_is_exactly_the_largest_oversampled_value(shape):
    """The pruned search returns oversampled_peak's maximum to the bit (it is what a
    whole file's true peak and the mastering decisions read), with and without a floor."""
    from spatial.dsp.loudness import TruePeak, interpolator, oversampled_peak, peak_above

    phases = interpolator()
    rng = np.random.default_rng(3)
    n = 20000
    t = np.arange(n)
    x = {"noise": rng.standard_normal((n, 2)) * 0.3,
         "crescendo": rng.standard_normal((n, 2)) * np.linspace(0, 1.5, n)[:, None],
         "clicks": np.where(rng.random((n, 3)) < 0.001, rng.choice([-1.0, 1.0], (n, 3)), 0.0),
         "silence": np.zeros((n, 2)),
         "sine": np.stack([np.sin(2 * np.pi * 0.2499 * t + 0.3)] * 2, axis=1),
         }[shape]
    want = float(oversampled_peak(x, phases).max())
    for floor in (0.0, 0.5 * want, 0.999 * want, want, 1.5 * want):
        assert peak_above(x, phases, floor) == max(floor, want)
    tp = TruePeak(x.shape[1])  # block by block, history kept: the whole signal's peak
    for a in range(0, n, 4096):
        tp.add(x[a:a + 4096].astype(np.float32))
    head = np.concatenate([np.zeros((phases.shape[1] - 1, x.shape[1])), x])
    assert tp.peak == max(float(oversampled_peak(head, phases).max()), np.abs(x).max())


SCENES = Path(__file__).resolve().parents[1] / "scenes"


@pytest.mark.parametrize("extra", ["", "mix: {dialogue_enhancement: 6}\n"])
def test_demo_meets_ebu_r128_on_independent_meters(tmp_path, extra):
    """issue 10's done-when: the demo at EBU R 128 (and its clear-dialogue version)."""
    (tmp_path / "r128.yaml").write_text(f"extends: {SCENES / 'demo.yaml'}\n"
                                        "output: {loudness: ebu-r128}\n" + extra)
    from spatial.scene.loader import load_scene

    out = tmp_path / "demo.wav"
    mix = _render(load_scene(tmp_path / "r128.yaml"), out, subtype="PCM_24")
    x, fs = sf.read(str(out))
    assert pyln.Meter(fs).integrated_loudness(x) == pytest.approx(-23.0, abs=0.5)
    tp = TruePeak(2)
    tp.add(x)
    assert tp.dbtp <= -1.0 and mix["true_peak"] <= -1.0
    if extra:
        assert mix["dialogue_to_background"] > 13.5  # 8.0 LU in the plain demo (mono), + 6
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed: the ebur128 cross-check did not run")
    loud, peak = _ffmpeg_ebur128(out)
    assert loud == pytest.approx(-23.0, abs=0.5) and peak <= -1.0


def test_radio_to_score_example_renders_with_stems(tmp_path):
    from spatial.scene.loader import load_scene

    scene = load_scene(SCENES / "radio-to-score.yaml")
    mix = _render(scene, tmp_path / "radio.wav")
    assert mix["stems"] == {}  # stems only when asked
    assert mix["loudness"] == pytest.approx(-23.0, abs=0.1) and mix["true_peak"] <= -1.0
    mix = _render(scene, tmp_path / "radio.wav", stems=True)
    assert mix["limited_frames"] == 0
    out = sf.read(str(tmp_path / "radio.wav"))[0]
    total = sum(sf.read(p)[0] for p in mix["stems"].values())
    assert np.abs(total - out).max() <= 1e-3 * np.abs(out).max()  # nothing was limited
