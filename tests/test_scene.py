"""Scene files -> validated Scene: every error kind names file, line and key;
extends, presets, materials, JSON, defaults; nothing but SceneError escapes."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import GOOD_SCENE
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatial.errors import SceneError
from spatial.room.materials import known_materials, resolve_absorption
from spatial.scene.loader import check_geometry, list_presets, load_scene, load_scene_text
from spatial.scene.parts import FACES, Output

GOOD = GOOD_SCENE
# line numbers of GOOD, for the expected problem locations
L_DIMS, L_RT60, L_LISTENER_POS, L_YAW, L_SRC, L_ROLE, L_FILE, L_POS, L_FORMAT = (
    3, 4, 6, 7, 9, 10, 11, 12, 14)

TWO_SOURCES = GOOD.replace("output:", """\
  - name: b
    file: a.wav
    position: [2, 2, 1.2]
output:""")


def wav(path: Path, seconds: float = 0.05, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros((int(48000 * seconds), channels)), 48000)
    return path


@pytest.fixture
def work(tmp_path):
    wav(tmp_path / "a.wav")
    return tmp_path


def write(folder: Path, text: str, name: str = "scene.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def problems(folder: Path, text: str, name: str = "scene.yaml", **kw):
    path = write(folder, text, name)
    with pytest.raises(SceneError) as info:
        load_scene(path, **kw)
    return path, info.value.problems


def only(folder: Path, text: str, **kw):
    path, found = problems(folder, text, **kw)
    assert len(found) == 1, [str(p) for p in found]
    return path, found[0]


# -- one test per error kind: (edit of GOOD) -> (line, key, message pattern) -------------

CASES = {
    "unknown key": (("    position: [4", "    positon: [4"), L_POS, "sources[0].positon",
                    r"unknown key 'positon' \(did you mean 'position'\?\)"),
    "unknown top-level key": (("sample_rate:", "sample_rte:"), 1, "sample_rte",
                              r"did you mean 'sample_rate'"),
    "missing required key": (("listener:\n  position: [3, 2.5, 1.6]\n  yaw: 0\n", ""), 1,
                             "listener", r"required key is missing"),
    "missing source name": (("  - name: a\n    role", "  - role"), L_SRC, "sources[0].name",
                            r"required key is missing"),
    "wrong type": (("rt60: 0.3", "rt60: abc"), L_RT60, "room.rt60",
                   r"expected a number, got 'abc'"),
    "boolean is not a number": (("yaw: 0", "yaw: true"), L_YAW, "listener.yaw",
                                r"expected a number, got true"),
    "quoted number": (("yaw: 0", "yaw: '90'"), L_YAW, "listener.yaw", r"remove the quotes"),
    "vector length": (("[4, 2.5, 1.6]", "[4, 2.5]"), L_POS, "sources[0].position",
                      r"expected 3 numbers \[x, y, z\].*got 2"),
    "not finite": (("yaw: 0", "yaw: .nan"), L_YAW, "listener.yaw", r"finite number"),
    "infinite coordinate": (("[3, 2.5, 1.6]", "[3, .inf, 1.6]"), L_LISTENER_POS,
                            "listener.position[1]", r"finite number, got inf"),
    "zero dimension": (("[6, 5, 3]", "[6, 0, 3]"), L_DIMS, "room.dimensions[1]",
                       r"greater than 0 m, got 0"),
    "negative rt60": (("rt60: 0.3", "rt60: -0.3"), L_RT60, "room.rt60",
                      r"greater than 0 s, got -0.3"),
    "zero sample rate": (("sample_rate: 48000", "sample_rate: 0"), 1, "sample_rate",
                         r"greater than 0 Hz"),
    "sample rate out of range": (("sample_rate: 48000", "sample_rate: 1000"), 1, "sample_rate",
                                 r"between 8000 and 192000 Hz"),
    "integer expected": (("sample_rate: 48000", "seed: 1.5"), 1, "seed",
                         r"expected an integer, got 1.5"),
    "negative start": (("role: dialogue", "role: dialogue\n    start: -1"), L_ROLE + 1,
                       "sources[0].start", r"0 or more s, got -1"),
    "unknown role": (("role: dialogue", "role: dialog"), L_ROLE, "sources[0].role",
                     r"unknown role 'dialog' \(did you mean 'dialogue'\?.*ambience"),
    "listener outside": (("[3, 2.5, 1.6]", "[3, 7.5, 1.6]"), L_LISTENER_POS,
                         "listener.position",
                         r"outside the room: y = 7.5 m is not between 0 and 5 m.*6 x 5 x 3 m"),
    "listener on a wall": (("[3, 2.5, 1.6]", "[0, 2.5, 1.6]"), L_LISTENER_POS,
                           "listener.position", r"x = 0 m is not between 0 and 6 m"),
    "source outside": (("[4, 2.5, 1.6]", "[4, 2.5, 3.5]"), L_POS, "sources[0].position",
                       r"source 'a' is outside the room: z = 3.5 m.*0 and 3 m"),
    "source at the listener": (("[4, 2.5, 1.6]", "[3, 2.5, 1.605]"), L_POS,
                               "sources[0].position", r"'a' is at the listener position"),
    "missing audio file": (("file: a.wav", "file: nothere.wav"), L_FILE, "sources[0].file",
                           r"audio file not found: nothere.wav"),
    "audio file is a folder": (("file: a.wav", "file: sub"), L_FILE, "sources[0].file",
                               r"not a file"),
    "unreadable audio file": (("file: a.wav", "file: bad.wav"), L_FILE, "sources[0].file",
                              r"cannot read audio file .*bad.wav"),
    "unknown output format": (("format: binaural", "format: 9.1"), L_FORMAT, "output.format",
                              r"unknown output format '9.1'.*binaural, mono, stereo, 5.1"),
    "format as a number": (("format: binaural", "format: 5.2"), L_FORMAT, "output.format",
                           r"'5.2' \(did you mean '5.1'"),
    "absorption out of range": (("rt60: 0.3", "materials: {walls: 1.5, floor: 0.3, "
                                 "ceiling: 0.3}"), L_RT60, "room.materials.walls",
                                r"absorption must be in \(0, 1\], got 1.5"),
    "zero absorption in a band": (("rt60: 0.3", "materials: {walls: 0.2, floor: 0.3, "
                                   "ceiling: [0.1, 0.1, 0, 0.1, 0.1, 0.1, 0.1]}"), L_RT60,
                                  "room.materials.ceiling", r"in the 500 Hz band, got 0"),
    "unknown material": (("rt60: 0.3", "materials:\n    walls: brikwork\n    floor: 0.3\n"
                          "    ceiling: 0.3"), L_RT60 + 1, "room.materials.walls",
                         r"unknown material 'brikwork' \(did you mean 'brickwork'"),
    "materials missing a face": (("rt60: 0.3", "materials: {walls: 0.2, floor: 0.3}"), L_RT60,
                                 "room.materials", r"no material for ceiling"),
    "unknown preset": (("rt60: 0.3", "preset: livingroom"), L_RT60, "room.preset",
                       r"unknown room preset 'livingroom' \(did you mean 'living-room'\?"
                       r" known presets: .*living-room"),
    "no rt60 nor materials": (("  rt60: 0.3\n", ""), 2, "room", r"give rt60 or materials"),
    "rt60 and materials in one file": (("rt60: 0.3", "rt60: 0.3\n  materials: {walls: 0.2, floor: 0.1, "
                                        "ceiling: 0.1}"),
                                       L_RT60 + 1, "room",
                                       r"^give either rt60 or materials, not both"),
    "no sources": ((GOOD[GOOD.index("sources:"):GOOD.index("output:")], "sources: []\n"), 8,
                   "sources", r"no sources"),
    "duplicate key": (("  yaw: 0", "  yaw: 0\n  yaw: 10"), L_YAW + 1, "listener.yaw",
                      r"duplicate key 'yaw' \(already given on line 7\)"),
    "custom format without speakers": (("format: binaural", "format: custom"), 13,
                                       "output.speakers", r"needs speakers"),
    "unknown lfe role": (("format: binaural", "format: '5.1'\n  lfe: [efects]"), L_FORMAT + 1,
                         "output.lfe[0]", r"did you mean 'effects'"),
    "missing hrtf file": (("format: binaural", "format: binaural\n  hrtf: kemar.sofa"),
                          L_FORMAT + 1, "output.hrtf", r"HRTF \(SOFA\) file not found"),
    "room is not a mapping": (("room:\n  dimensions: [6, 5, 3]\n  rt60: 0.3\n", "room: 5\n"), 2,
                              "room", r"expected a mapping"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_error_names_file_line_and_key(work, case):
    (old, new), line, key, pattern = CASES[case]
    assert old in GOOD, case
    text = GOOD.replace(old, new)
    (work / "bad.wav").write_bytes(b"RIFF not really a wave file" * 40)
    (work / "sub").mkdir()
    presets = work / "presets"
    write(presets, "dimensions: [5, 4, 3]\nrt60: 0.4\n", "living-room.yaml")
    path, p = only(work, text, presets_dir=presets)
    assert (p.file, p.line, p.key) == (str(path), line, key), str(p)
    assert re.search(pattern, p.message), p.message
    assert str(p).startswith(f"{path}:{line}: {key}: ")


def test_several_problems_are_reported_together_in_line_order(work):
    text = (GOOD.replace("rt60: 0.3", "rt60: -1")
            .replace("    position: [4", "    positon: [4")
            .replace("role: dialogue", "role: narrator")
            .replace("format: binaural", "format: atmos"))
    path, found = problems(work, text)
    assert [(p.line, p.key) for p in found] == [
        (L_RT60, "room.rt60"), (L_ROLE, "sources[0].role"), (L_POS, "sources[0].positon"),
        (L_FORMAT, "output.format")]
    assert all(p.file == str(path) for p in found)
    with pytest.raises(SceneError) as info:
        load_scene(path)
    assert len(str(info.value).splitlines()) == 4


def test_duplicate_source_names(work):
    path, p = only(work, TWO_SOURCES.replace("name: b", "name: a"))
    assert (p.line, p.key) == (13, "sources[1].name")
    assert "duplicate source name 'a' (also sources[0])" in p.message


def test_syntax_error_and_top_level_not_a_mapping(work):
    _, p = only(work, "sources: [\n  - {name: a\nlistener: {\n")
    assert p.line == 2 and "not a valid YAML file" in p.message
    _, p = only(work, "- just\n- a list\n")
    assert p.line == 1 and "must be a mapping" in p.message
    _, p = only(work, "# nothing here\n")
    assert "empty" in p.message
    with pytest.raises(SceneError, match="scene file not found"):
        load_scene(work / "nope.yaml")


# -- good scenes and defaults -------------------------------------------------------------

def test_good_scene_values_and_locations(work):
    path = write(work, GOOD)
    scene = load_scene(path)
    assert scene.sample_rate == 48000 and scene.seed == 0 and scene.duration is None
    assert scene.room.dimensions == (6.0, 5.0, 3.0) and scene.room.rt60 == 0.3
    assert scene.room.materials is None and scene.room.air_absorption is False  # 90 m3
    assert (scene.room.model, scene.room.decay) == ("image-source", "eyring")
    assert scene.room.crossover == 0.08 and scene.room.max_order is None
    assert scene.listener.position == (3.0, 2.5, 1.6) and scene.listener.yaw == 0.0
    (src,) = scene.sources
    assert src.file == (work / "a.wav").resolve() and src.file.is_absolute()
    assert (src.role, src.gain_db, src.start, src.diegetic) == ("dialogue", 0.0, 0.0, True)
    assert scene.output == Output()
    assert scene.path == path
    assert scene.locations["sources[0].file"] == (str(path), L_FILE)
    assert scene.where("output.format") == {"file": str(path), "line": L_FORMAT,
                                            "key": "output.format"}
    check_geometry(scene)


def test_minimal_free_field_scene_defaults(work):
    scene = load_scene(write(work, """\
        listener: {position: [0, 0, 0]}
        sources:
          - {name: a, file: a.wav, position: [1, 0, 0]}
          - {name: bed, file: a.wav, diegetic: false, role: ambience}
        """))
    assert scene.room is None and scene.output == Output() and scene.sample_rate == 48000
    assert scene.sources[0].role == "effects"
    assert scene.sources[1].position is None and scene.sources[1].diegetic is False


def test_every_key(work):
    (work / "hrtf").mkdir()
    (work / "hrtf" / "x.sofa").write_bytes(b"\0" * 64)  # only existence is checked here
    scene = load_scene(write(work, """\
        sample_rate: 44100
        duration: 12.5
        seed: 7
        room:
          dimensions: [10, 8, 4]
          materials: {walls: brickwork, floor: 0.3, ceiling: [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5]}
          model: ray-tracing
          decay: sabine
          max_order: 10
          crossover: 0.05
          tail_gain_db: -3
          scattering: 0.4
        listener: {position: [4, 3, 1.6], yaw: 90}
        sources:
          - {name: x, role: music, file: a.wav, position: [6, 3, 1.6], gain_db: -6, start: 1.5}
        output:
          format: custom
          hrtf: hrtf/x.sofa
          speakers:
            - {name: L, azimuth: 30}
            - {name: R, azimuth: -30, elevation: 10}
          lfe: [effects, music]
        """))
    room = scene.room
    assert (scene.sample_rate, scene.duration, scene.seed) == (44100, 12.5, 7)
    assert room.air_absorption is True  # 320 m3 > 100 m3
    assert (room.model, room.decay, room.max_order) == ("ray-tracing", "sabine", 10)
    assert (room.crossover, room.tail_gain_db, room.scattering) == (0.05, -3.0, 0.4)
    assert set(room.materials) == set(FACES) and room.rt60 is None
    assert room.materials["north"] == resolve_absorption("brickwork")
    assert room.materials["floor"] == (0.3,) * 7
    assert room.materials["ceiling"] == (0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5)
    assert scene.listener.yaw == 90.0
    assert scene.sources[0].start == 1.5 and scene.sources[0].gain_db == -6.0
    out = scene.output
    assert out.hrtf == str((work / "hrtf" / "x.sofa").resolve())
    assert [(s.name, s.azimuth, s.elevation) for s in out.speakers] == [
        ("L", 30.0, 0.0), ("R", -30.0, 10.0)]
    assert out.lfe == ("effects", "music")


def test_json_scene(work):
    data = yaml.safe_load(GOOD)
    path = work / "scene.json"
    path.write_text(json.dumps(data, indent=2))
    scene = load_scene(path)
    assert scene.sources[0].position == (4.0, 2.5, 1.6)
    data["sources"][0]["positon"] = data["sources"][0].pop("position")
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(SceneError) as info:
        load_scene(path)
    (p,) = info.value.problems
    line = path.read_text().splitlines().index('      "positon": [') + 1
    assert p.key == "sources[0].positon" and p.line == line and "did you mean" in p.message


def test_a_scene_changed_in_code_is_checked_at_once_and_names_the_call(work):
    path = write(work, GOOD)
    with pytest.raises(SceneError, match=r"y = 9 m") as info:
        load_scene(path).move_source("a", [4, 9, 1])
    (p,) = info.value.problems  # the call that moved it, not the line it was loaded from
    assert (p.file, p.line, p.key) == ("move_source('a', position=...)", None,
                                       "sources[0].position")


# -- materials ----------------------------------------------------------------------------

def test_materials_by_name_number_and_list():
    assert "brickwork" in known_materials() and len(known_materials()) > 50
    assert resolve_absorption("brickwork") == (0.01, 0.02, 0.02, 0.03, 0.03, 0.04, 0.04)
    six = resolve_absorption("plasterboard")  # measured to 4 kHz only: 8 kHz holds 4 kHz
    assert len(six) == 7 and six[6] == six[5]
    assert resolve_absorption("anechoic") == (1.0,) * 7
    assert resolve_absorption(0.25) == (0.25,) * 7
    assert resolve_absorption(1) == (1.0,) * 7
    assert resolve_absorption([0.1] * 7) == (0.1,) * 7
    for name in known_materials():
        assert all(0 < a <= 1 for a in resolve_absorption(name)), name
    with pytest.raises(SceneError, match=r"did you mean 'brickwork'"):
        resolve_absorption("brikwork")
    for bad, pattern in ((0, r"\(0, 1\]"), (1.01, r"\(0, 1\]"), (True, "got True"),
                         ([0.1] * 6, "7 absorption coefficients.*got 6"),
                         (float("nan"), "finite"), (None, "expected a material name")):
        with pytest.raises(SceneError, match=pattern):
            resolve_absorption(bad)


def test_face_keys_override_walls(work):
    scene = load_scene(write(work, GOOD.replace(
        "rt60: 0.3", "materials: {walls: 0.2, east: curtains_velvet, floor: 0.3, ceiling: 1}")))
    a = scene.room.materials
    assert a["west"] == a["north"] == a["south"] == (0.2,) * 7
    assert a["east"] == resolve_absorption("curtains_velvet") and a["ceiling"] == (1.0,) * 7


# -- extends ------------------------------------------------------------------------------

SERIES = """\
sample_rate: 44100
room:
  dimensions: [8, 6, 3]
  materials: {walls: brickwork, floor: 0.3, ceiling: 0.2}
  crossover: 0.05
listener:
  position: [4, 3, 1.6]
sources:
  - {name: theme, role: music, file: assets/theme.wav, position: [5, 3, 1.6]}
output: {format: stereo}
"""


def test_extends_merges_and_overrides(work):
    wav(work / "assets" / "theme.wav")
    wav(work / "ep1" / "line.wav")
    write(work, SERIES, "series.yaml")
    scene = load_scene(write(work / "ep1", """\
        extends: ../series.yaml
        room: {rt60: 0.6}
        listener: {yaw: 45}
        """, "scene.yaml"))
    assert scene.sample_rate == 44100 and scene.output.format == "stereo"
    assert scene.room.rt60 == 0.6 and scene.room.materials is None  # rt60 replaces materials
    assert scene.room.crossover == 0.05 and scene.room.dimensions == (8.0, 6.0, 3.0)
    assert scene.listener.position == (4.0, 3.0, 1.6) and scene.listener.yaw == 45.0
    # paths in the base are relative to the base file
    assert scene.sources[0].file == (work / "assets" / "theme.wav").resolve()
    # sources merge by name (tests/test_series.py): a new name is added, and its
    # path is relative to the episode file
    scene = load_scene(write(work / "ep1", """\
        extends: ../series.yaml
        sources: [{name: l, role: dialogue, file: line.wav, position: [3, 3, 1.6]}]
        """, "scene2.yaml"))
    assert [s.name for s in scene.sources] == ["theme", "l"]
    assert scene.sources[1].file == (work / "ep1" / "line.wav").resolve()
    assert scene.room.materials is not None and scene.room.rt60 is None
    assert scene.locations["room.crossover"] == (str(work / "series.yaml"), 5)


def test_extends_chain_and_errors_point_into_the_base(work):
    wav(work / "assets" / "theme.wav")
    write(work, SERIES.replace("crossover: 0.05", "crossover: -1"), "series.yaml")
    write(work, "extends: series.yaml\nseed: 3\n", "season.yaml")
    path, found = problems(work, "extends: season.yaml\nduration: 2\n")
    (p,) = found
    assert (p.file, p.line, p.key) == (str(work / "series.yaml"), 5, "room.crossover")
    write(work, SERIES, "series.yaml")
    scene = load_scene(path)
    assert (scene.seed, scene.duration, scene.sample_rate) == (3, 2.0, 44100)


def test_extends_cycle_and_missing_base(work):
    write(work, "seed: 1\nextends: b.yaml\n", "a.yaml")
    write(work, "\n\nextends: a.yaml\n", "b.yaml")
    _, found = problems(work, "extends: a.yaml\n", "scene.yaml")
    (p,) = found
    assert p.file.endswith("b.yaml") and p.line == 3 and p.key == "extends"
    assert re.search(r"extends cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml", p.message)
    _, found = problems(work, "seed: 1\n\nextends: ../nowhere/series.yaml\n")
    (p,) = found  # and no "listener is missing": it may be in the base
    assert p.line == 3 and "base scene not found" in p.message and "nowhere" in p.message


# -- presets ------------------------------------------------------------------------------

def test_presets_and_scene_overrides(work):
    presets = work / "presets"
    write(presets, "# a hall\ndimensions: [20, 15, 8]\nmaterials: {walls: brickwork, "
                   "floor: 0.2, ceiling: 0.3}\ncrossover: 0.1\n", "hall.yaml")
    write(presets, "dimensions: [5, 4, 3]\nrt60: 0.4\n", "small.yaml")
    assert list_presets(presets) == ["hall", "small"]
    base = GOOD.replace("  dimensions: [6, 5, 3]\n  rt60: 0.3\n", "  preset: hall\n")
    scene = load_scene(write(work, base), presets_dir=presets)
    room = scene.room
    assert room.preset == "hall" and room.dimensions == (20.0, 15.0, 8.0)
    assert room.crossover == 0.1 and room.air_absorption is True
    assert room.materials["floor"] == (0.2,) * 7
    # override key by key, materials face by face
    scene = load_scene(write(work, base.replace(
        "preset: hall", "preset: hall\n  materials: {floor: 0.5}\n  crossover: 0.07")),
        presets_dir=presets)
    assert scene.room.materials["floor"] == (0.5,) * 7
    assert scene.room.materials["west"] == resolve_absorption("brickwork")
    assert scene.room.crossover == 0.07
    # the scene's rt60 replaces the preset's materials (and vice versa)
    scene = load_scene(write(work, base.replace("preset: hall", "preset: hall\n  rt60: 1.2")),
                       presets_dir=presets)
    assert scene.room.rt60 == 1.2 and scene.room.materials is None
    scene = load_scene(write(work, base.replace(
        "preset: hall", "preset: small\n  materials: {walls: 0.1, floor: 0.1, ceiling: 0.1}")),
        presets_dir=presets)
    assert scene.room.rt60 is None and scene.room.materials["floor"] == (0.1,) * 7
    # a problem in the preset points into the preset file
    write(presets, "dimensions: [5, 4, 3]\nrt60: 0\n", "small.yaml")
    _, p = only(work, base.replace("preset: hall", "preset: small"), presets_dir=presets)
    assert (p.file, p.line, p.key) == (str(presets / "small.yaml"), 2, "room.rt60")


def test_shipped_presets_load(work):
    names = list_presets()
    if not names:
        pytest.skip("no presets shipped yet")
    for name in names:
        scene = load_scene(write(work, f"""\
            room: {{preset: {name}}}
            listener: {{position: [0.6, 0.5, 0.5]}}
            sources: [{{name: a, file: a.wav, position: [0.9, 0.7, 0.6]}}]
            """))
        assert scene.room.preset == name and scene.room.materials is not None, name


# -- the format reference ------------------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "scenes" / "README.md"


def test_readme_example_loads_and_every_key_is_documented(tmp_path):
    from spatial.scene import validate as v

    text = README.read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    for name in re.findall(r"file: (\S+)", example):
        wav(tmp_path / name)
    scene = load_scene(write(tmp_path, example, "example.yaml"))
    assert scene.output.format == "5.1" and scene.room.materials["east"] == \
        resolve_absorption("curtains_velvet")
    assert scene.sources[2].diegetic is False and scene.duration == 12.5
    for keys in (v.TOP_KEYS, v.ROOM_KEYS, v.LISTENER_KEYS, v.SOURCE_KEYS, v.OUTPUT_KEYS):
        for key in keys:
            assert f"| `{key}` |" in text, key
    for name in list_presets() + known_materials() + list(v.FORMATS):
        assert f"| `{name}` |" in text, name


# -- robustness ---------------------------------------------------------------------------

KEYS = ["sample_rate", "duration", "seed", "room", "listener", "sources", "output",
        "dimensions", "rt60", "materials", "walls", "floor", "position", "yaw", "name", "role",
        "file", "format", "lfe", "speakers", "preset", "diegetic", "<<"]
scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=8) | st.sampled_from(["a.wav", "dialogue", "brickwork", "custom"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5), max_leaves=25)


@settings(max_examples=70, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=7))
def test_arbitrary_mappings_raise_only_scene_error(data):
    try:
        load_scene_text(yaml.safe_dump(data))
    except SceneError as err:
        assert err.problems and all(p.message for p in err.problems)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=80) | st.sampled_from([
    "a: &x [*x]", "a: &x {<<: *x}", "a: !!python/object:os.system x", "a: !!binary zz",
    "listener: 2020-01-01", "sources: [1e999]", "room: {dimensions: [1e400, 1, 1]}",
    "seed: 99999999999999999999999999", "\x00", "a: b\n---\nc: d", "[" * 200]))
def test_arbitrary_text_raises_only_scene_error(text):
    with pytest.raises(SceneError):
        load_scene_text(text)
