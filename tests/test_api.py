"""The Python API is as careful as the scene files: exported names stay what they are,
every scene made or changed in code goes through the scene file's checks (same
SceneError, naming the key), relative paths resolve like the file's own, whatever
validation accepts renders, and one minimum distance holds for every path."""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import spatial
from helpers import GOOD_SCENE, impulse_file, noise_file
from spatial import Listener, Output, Room, Scene, SceneError, Source, Speaker
from spatial.scene.loader import load_scene, load_scene_text
from spatial.scene.parts import FACES

L_GAIN = 13  # line of gain_db in the scene below (GOOD_SCENE with a gain)
GOOD = GOOD_SCENE.replace("    position: [4, 2.5, 1.6]\n",
                          "    position: [4, 2.5, 1.6]\n    gain_db: 0\n")


@pytest.fixture
def folder(tmp_path):
    noise_file(tmp_path / "a.wav", seconds=0.05)
    return tmp_path


def good_scene(folder: Path) -> Scene:
    path = folder / "scene.yaml"
    path.write_text(GOOD)
    return load_scene(path)


def one_problem(make):
    with pytest.raises(SceneError) as info:
        make()
    assert len(info.value.problems) == 1, str(info.value)
    return info.value.problems[0]


def test_the_render_functions_take_a_scene_file_path(folder):
    """spatial.render("scene.yaml") is what a new user types first: a path (str or Path)
    renders as its loaded Scene does, and a bad file fails as the command does."""
    path = folder / "scene.yaml"
    path.write_text(GOOD)
    want = spatial.render(load_scene(path)).audio
    for given in (str(path), path):
        np.testing.assert_array_equal(spatial.render(given).audio, want)
    stats = spatial.render_to_file(path, folder / "out.wav")
    assert Path(stats["path"]).exists()
    assert spatial.impulse_response(str(path), "a").audio.shape[1] == want.shape[1]
    (folder / "bad.yaml").write_text(GOOD.replace("gain_db: 0", "gain_db: loud"))
    problem = one_problem(lambda: spatial.render(folder / "bad.yaml"))
    assert problem.key.endswith("gain_db") and problem.line == L_GAIN
    with pytest.raises(TypeError, match="Scene or the path"):
        spatial.render(42)


# -- exported names ------------------------------------------------------------------------

def test_render_is_still_the_function_after_impulse_response_in_a_fresh_interpreter():
    code = textwrap.dedent("""\
        import spatial
        spatial.impulse_response
        import spatial.renderer, spatial.scene.loader
        assert callable(spatial.render) and spatial.render.__module__ == "spatial.renderer"
        print(spatial.render.__name__)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "render", out.stderr


def test_no_export_is_shadowed_by_a_submodule():
    spatial.impulse_response  # noqa: B018 - the order that used to break spatial.render
    for info in pkgutil.walk_packages(spatial.__path__, "spatial."):
        if not info.name.endswith("__main__"):  # that one runs the command line
            importlib.import_module(info.name)
    for name, module in spatial._EXPORTS.items():
        value = getattr(spatial, name)
        assert value is getattr(importlib.import_module(module), name), name
        assert not isinstance(value, type(spatial)), f"spatial.{name} is a module"
    assert spatial.render.__name__ == "render" and callable(spatial.render)


# -- bad values set in code ----------------------------------------------------------------

def _room(**kw):
    return dataclasses.replace(Room((6.0, 5.0, 3.0), rt60=0.3), **kw)


# (what to change, key named, message pattern); each applied by every way of making a scene
ROOM_CASES = [
    (dict(rt60=None), "room", r"give rt60 or materials"),
    (dict(rt60="fast"), "room.rt60", r"expected a number, got 'fast'"),
    (dict(rt60=100.0), "room.rt60", r"between 0.05 and 30 s"),
    (dict(dimensions=(6, 0, 3)), "room.dimensions[1]", r"greater than 0 m"),
    (dict(dimensions=(6, 5)), "room.dimensions", r"expected 3 numbers"),
    (dict(dimensions=(6, 5, 3000)), "room.dimensions[2]", r"between 0 and 1000 m"),
    (dict(crossover=5.0), "room.crossover", r"between 0 and 1 s"),
    (dict(max_order=1000), "room.max_order", r"between 0 and 30"),
    (dict(max_order=2.5), "room.max_order", r"expected an integer"),
    (dict(tail_gain_db=1e6), "room.tail_gain_db", r"between -200 and 60 dB"),
    (dict(model="raytracing"), "room.model", r"did you mean 'ray-tracing'"),
    (dict(rt60=None, materials={"walls": 1.5, "floor": 0.3, "ceiling": 0.3}),
     "room.materials.walls", r"absorption must be in \(0, 1\]"),
    (dict(rt60=None, materials={"walls": "brikwork", "floor": 0.3, "ceiling": 0.3}),
     "room.materials.walls", r"did you mean 'brickwork'"),
    (dict(scattering=2), "room.scattering", r"between 0 and 1"),
    (dict(air_absorption="yes"), "room.air_absorption", r"expected true or false"),
]
SOURCE_CASES = [
    (dict(gain_db="loud"), "sources[0].gain_db", r"^expected a number, got 'loud'$"),
    (dict(gain_db=1e6), "sources[0].gain_db", r"between -200 and 60 dB"),
    (dict(start=-1), "sources[0].start", r"0 or more s"),
    (dict(role="dialog"), "sources[0].role", r"did you mean 'dialogue'"),
    (dict(position=(1.0, 2.0)), "sources[0].position", r"expected 3 numbers"),
    (dict(position=(3.0, 2.5, 1.6)), "sources[0].position", r"at the listener position"),
    (dict(position=(4.0, 9.0, 1.6)), "sources[0].position", r"outside the room"),
    (dict(position=None), "sources[0].position", r"required key is missing"),
    (dict(file="nothere.wav"), "sources[0].file", r"audio file not found: nothere.wav"),
    (dict(name=""), "sources[0].name", r"expected text"),
    (dict(diegetic=0), "sources[0].diegetic", r"expected true or false"),
]
OUTPUT_CASES = [
    (dict(format="9.1"), "output.format", r"unknown output format '9.1'"),
    (dict(format="5.1", lfe=("dialog",)), "output.lfe[0]", r"did you mean 'dialogue'"),
    (dict(hrtf="nope.sofa"), "output.hrtf", r"HRTF \(SOFA\) file not found"),
    (dict(format="custom"), "output.speakers", r"needs speakers"),
    (dict(format="custom", speakers=(Speaker("L", 30.0, 100.0),)),
     "output.speakers[0].elevation", r"between -90 and 90"),
    (dict(format="custom", speakers=(Speaker("L", "left"),)),
     "output.speakers[0].azimuth", r"expected a number"),
]
LISTENER_CASES = [
    (dict(position="here"), "listener.position", r"expected 3 numbers"),
    (dict(yaw=float("nan")), "listener.yaw", r"finite number"),
    (dict(position=(3.0, 2.5, 5.0)), "listener.position", r"outside the room"),
]
SCENE_CASES = [
    (dict(sample_rate=7), "sample_rate", r"between 8000 and 192000 Hz, got 7"),
    (dict(sample_rate=48000.5), "sample_rate", r"expected an integer"),
    (dict(duration=-1.0), "duration", r"greater than 0 s"),
    (dict(duration=1e9), "duration", r"between 0 and 86400 s"),
    (dict(seed=-1), "seed", r"0 or more"),
    (dict(sources=()), "sources", r"no sources"),
    (dict(listener=None), "listener", r"expected a mapping"),
]


def _check(problem, key, pattern):
    assert problem.key == key, str(problem)
    assert problem.line is None  # set in code: no line of any file to blame
    assert re.search(pattern, problem.message), problem.message


@pytest.mark.parametrize("change,key,pattern", ROOM_CASES)
def test_bad_room_values_in_code(folder, change, key, pattern):
    base = good_scene(folder)
    p = one_problem(lambda: dataclasses.replace(base, room=dataclasses.replace(base.room,
                                                                               **change)))
    _check(p, key, pattern)
    p = one_problem(lambda: Scene(base.listener, base.sources, room=_room(**change)))
    _check(p, key, pattern)


@pytest.mark.parametrize("change,key,pattern", SOURCE_CASES)
def test_bad_source_values_in_code(folder, monkeypatch, change, key, pattern):
    monkeypatch.chdir(folder)
    base = good_scene(folder)
    (name, value), = change.items()
    # with_source names its call; move_source too
    p = one_problem(lambda: base.with_source("a", **change))
    _check(p, key, pattern)
    assert p.file == f"with_source('a', {name}=...)"
    if name == "position":
        p = one_problem(lambda: base.move_source("a", value))
        _check(p, key, pattern)
        assert p.file == "move_source('a', position=...)"
    # dataclasses.replace: the loaded line no longer holds that value, so no file either
    p = one_problem(lambda: dataclasses.replace(
        base, sources=(dataclasses.replace(base.sources[0], **change),)))
    _check(p, key, pattern)
    assert p.file is None
    # built from scratch
    src = dataclasses.replace(Source("a", "a.wav", (4.0, 2.5, 1.6)), **change)
    p = one_problem(lambda: Scene(Listener((3.0, 2.5, 1.6)), (src,), room=_room()))
    _check(p, key, pattern)


@pytest.mark.parametrize("change,key,pattern", OUTPUT_CASES)
def test_bad_output_values_in_code(folder, change, key, pattern):
    base = good_scene(folder)
    with pytest.raises(SceneError) as info:
        base.with_output(**change)
    (p,) = [p for p in info.value.problems if p.key == key]
    _check(p, key, pattern)
    if key in (f"output.{k}" for k in change):
        assert p.file == f"with_output({key.split('.')[1].split('[')[0]}=...)"
    p = one_problem(lambda: Scene(base.listener, base.sources, Output(**change)))
    _check(p, key, pattern)


@pytest.mark.parametrize("change,key,pattern", LISTENER_CASES)
def test_bad_listener_values_in_code(folder, change, key, pattern):
    base = good_scene(folder)
    p = one_problem(lambda: dataclasses.replace(
        base, listener=dataclasses.replace(base.listener, **change)))
    _check(p, key, pattern)


@pytest.mark.parametrize("change,key,pattern", SCENE_CASES)
def test_bad_scene_values_in_code(folder, change, key, pattern):
    base = good_scene(folder)
    p = one_problem(lambda: dataclasses.replace(base, **change))
    _check(p, key, pattern)
    kw = dict(listener=base.listener, sources=base.sources, room=base.room)
    p = one_problem(lambda: Scene(**{**kw, **change}))
    _check(p, key, pattern)


@pytest.mark.parametrize("key,text", [("gain_db", "'loud'"), ("gain_db", "1e6"),
                                      ("start", "-2"), ("diegetic", "'yes'")])
def test_code_and_file_give_the_same_message(folder, key, text):
    file = folder / "bad.yaml"
    file.write_text(GOOD.replace("    gain_db: 0\n", f"    {key}: {text}\n"))
    with pytest.raises(SceneError) as from_file:
        load_scene(file)
    (pf,) = from_file.value.problems
    assert (pf.file, pf.line, pf.key) == (str(file), L_GAIN, f"sources[0].{key}")
    value = yaml.safe_load(f"v: {text}")["v"]
    pc = one_problem(lambda: good_scene(folder).with_source("a", **{key: value}))
    assert (pc.key, pc.message) == (pf.key, pf.message)


def test_the_scene_file_error_is_as_it_was(folder):
    file = folder / "bad.yaml"
    file.write_text(GOOD.replace("gain_db: 0", "gain_db: loud"))
    with pytest.raises(SceneError) as info:
        load_scene(file)
    assert str(info.value) == f"{file}:{L_GAIN}: sources[0].gain_db: expected a number, got 'loud'"


def test_wrong_keywords_suggest_the_scene_key(folder):
    base = good_scene(folder)
    p = one_problem(lambda: base.with_source("a", start_s=2))
    assert p.file == "with_source('a', ...)" and "did you mean 'start'?" in p.message
    p = one_problem(lambda: base.with_source("a", gain=-3))
    assert "did you mean 'gain_db'?" in p.message
    p = one_problem(lambda: base.with_output(fromat="5.1"))
    assert p.file == "with_output()" and "did you mean 'format'?" in p.message
    p = one_problem(lambda: base.with_source("line1", gain_db=-3))
    assert "no source named 'line1'" in p.message and "'a'" in p.message
    with pytest.raises(TypeError):  # dataclasses' own keywords stay Python's business
        Source("a", "a.wav", start_s=2)


def test_keywords_are_the_scene_keys_and_values_are_normalised(folder):
    scene = good_scene(folder).with_source("a", start=2, gain_db=-3, position=[5, 2, 1])
    src = scene.sources[0]
    assert (src.start, src.gain_db, src.position) == (2.0, -3.0, (5.0, 2.0, 1.0))
    assert isinstance(src.start, float) and all(isinstance(v, float) for v in src.position)
    scene = scene.with_output(format="5.1", lfe=["effects", "dialogue"])
    assert scene.output.format == "5.1" and scene.output.lfe == ("effects", "dialogue")
    scene = dataclasses.replace(scene, room=Room([8, 6, 3], materials={
        "walls": "brickwork", "floor": 0.3, "ceiling": [0.1] * 7}))
    assert scene.room.dimensions == (8.0, 6.0, 3.0)
    assert set(scene.room.materials) == {"west", "east", "south", "north", "floor", "ceiling"}
    assert scene.room.materials["floor"] == (0.3,) * 7
    assert scene.sample_rate == 48000 and isinstance(
        Scene(scene.listener, scene.sources, sample_rate=np.int64(44100)).sample_rate, int)


def test_unchanged_keys_still_point_into_the_scene_file(folder):
    base = good_scene(folder)
    # the room shrinks (in code): the listener's position, loaded from line 6, is outside
    problems = pytest.raises(SceneError, dataclasses.replace, base,
                             room=dataclasses.replace(base.room, dimensions=(2.0, 2.0, 2.0))
                             ).value.problems
    assert {(p.key, p.line) for p in problems} == {("listener.position", 6),
                                                    ("sources[0].position", 12)}


# -- relative paths ------------------------------------------------------------------------

def test_relative_paths_in_code_resolve_against_the_scene_folder(folder, tmp_path_factory,
                                                                  monkeypatch):
    elsewhere = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(elsewhere)
    noise_file(folder / "b.wav", seconds=0.05)
    noise_file(elsewhere / "b.wav", seconds=0.05)  # a decoy in the working directory
    base = good_scene(folder)
    assert base.with_source("a", file="b.wav").sources[0].file == (folder / "b.wav").resolve()
    added = dataclasses.replace(base, sources=base.sources + (
        Source("b", "b.wav", (2.0, 2.0, 1.5)),))
    assert added.sources[1].file == (folder / "b.wav").resolve()
    p = one_problem(lambda: base.with_source("a", file="sub/c.wav"))
    assert str(p).startswith("with_source('a', file=...): sources[0].file: audio file not "
                             "found: sub/c.wav")
    assert str(folder / "sub" / "c.wav") in p.message


def test_a_scene_built_from_scratch_uses_the_working_directory_when_built(folder,
                                                                          tmp_path_factory,
                                                                          monkeypatch):
    monkeypatch.chdir(folder)
    scene = Scene(Listener((0.0, 0.0, 0.0)), (Source("a", "a.wav", (1.0, 0.0, 0.0)),))
    assert scene.sources[0].file == (folder / "a.wav").resolve()
    monkeypatch.chdir(tmp_path_factory.mktemp("later"))
    assert dataclasses.replace(scene, seed=3).sources[0].file == (folder / "a.wav").resolve()
    p = one_problem(lambda: scene.with_source("a", file="a.wav"))  # no a.wav here
    assert p.key == "sources[0].file" and "not found" in p.message


# -- one minimum distance ------------------------------------------------------------------

def test_a_source_at_2_cm_keeps_the_lfe_to_centre_ratio_of_the_direct_path(tmp_path):
    from spatial.geometry import MIN_DISTANCE_M

    click = impulse_file(tmp_path / "click.wav")

    def lfe_to_centre_db(distance):
        scene = Scene(Listener((0.0, 0.0, 0.0)),
                      (Source("s", click, (distance, 0.0, 0.0), role="effects"),),
                      output=Output(format="5.1", lfe=("effects",)))
        ir = spatial.impulse_response(scene, "s")
        names = list(ir.channel_names)
        energy = np.sum(ir.audio.astype(float) ** 2, axis=0)
        return 10 * np.log10(energy[names.index("LFE")] / energy[names.index("C")]), \
            energy[names.index("C")]

    at_1m, centre_1m = lfe_to_centre_db(1.0)
    at_2cm, centre_2cm = lfe_to_centre_db(0.02)
    # the direct path stops rising at MIN_DISTANCE_M: 1/0.1 = +20 dB over 1 m ...
    assert 10 * np.log10(centre_2cm / centre_1m) == pytest.approx(
        20 * np.log10(1.0 / MIN_DISTANCE_M), abs=0.1)
    # ... and so does the LFE feed: the balance does not move (it was +14 dB); 0.25 dB
    # allows for the direct path's fractional-delay taps (their energy varies ~0.1 dB
    # with the sub-sample offset; the LFE feed's delay is whole samples)
    assert at_2cm == pytest.approx(at_1m, abs=0.25)


# -- whatever validation accepts, renders ----------------------------------------------------

RATES = [8000, 16000, 44100, 192000]
FORMATS = ["binaural", "mono", "5.1", "foa"]


@st.composite
def extreme_scenes(draw):
    fs = draw(st.sampled_from(RATES))
    gain = draw(st.sampled_from([-200.0, 60.0, 0.0]) | st.floats(-200, 60))
    fmt = draw(st.sampled_from(FORMATS))
    lfe = ["effects"] if fmt == "5.1" else []
    near_wall = st.sampled_from([1e-4, 0.5, 1 - 1e-4]) | st.floats(1e-4, 1 - 1e-4)
    room = None
    if draw(st.booleans()):
        dims = [draw(st.sampled_from([0.05, 0.5, 3.0, 40.0, 1000.0]) | st.floats(0.05, 1000))
                for _ in range(3)]
        absorption = st.sampled_from([0.001, 0.5, 1.0, "brickwork"])
        walls = ({"rt60": draw(st.sampled_from([0.05, 0.3, 3.0, 30.0]))} if draw(st.booleans())
                 else {"materials": {"walls": draw(absorption), "floor": draw(absorption),
                                     "ceiling": draw(absorption)}})
        from spatial.room.decay import band_rt60
        from spatial.room.materials import resolve_absorption

        faces = {f: resolve_absorption(walls["materials"]["walls" if f in (
            "west", "east", "south", "north") else f]) for f in FACES} if "materials" in walls \
            else None
        rt60 = band_rt60(Room(tuple(dims), walls.get("rt60"), faces)).max()
        assume(rt60 * fs <= 3e5)  # the longest tails at the highest rates take too long here
        room = {"dimensions": dims, **walls,
                "crossover": draw(st.sampled_from([0.001, 0.08, 1.0])),
                "max_order": draw(st.sampled_from([None, 0, 30])),
                "tail_gain_db": draw(st.sampled_from([-200.0, 0.0, 60.0]))}
        listener = [d * draw(near_wall) for d in dims]
        if draw(st.booleans()):  # at the minimum distance, in any direction
            v = np.array([draw(st.floats(-1, 1)) for _ in range(3)])
            assume(np.linalg.norm(v) > 1e-3)
            source = [float(x) for x in np.array(listener) + 0.0101 * v / np.linalg.norm(v)]
        else:
            source = [d * draw(near_wall) for d in dims]
    else:
        listener = [draw(st.floats(-1000, 1000)) for _ in range(3)]
        source = [draw(st.sampled_from([-1000.0, 1000.0]) | st.floats(-1000, 1000))
                  for _ in range(3)]
    scene = {"sample_rate": fs, "listener": {"position": listener,
                                             "yaw": draw(st.floats(-1e6, 1e6))},
             "sources": [{"name": "s", "file": "click.wav", "position": source,
                          "gain_db": gain, "role": "effects",
                          "start": draw(st.sampled_from([0.0, 0.01]))}],
             "output": {"format": fmt, "lfe": lfe}}
    if draw(st.booleans()):
        scene["duration"] = 0.05
    if room is not None:
        scene["room"] = {k: v for k, v in room.items() if v is not None}
    return scene


@pytest.fixture(scope="module")
def click_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extreme")
    impulse_file(folder / "click.wav")
    return folder


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(extreme_scenes())
def test_extreme_but_accepted_values_render_finite(click_folder, data):
    try:
        scene = load_scene_text(yaml.safe_dump(data), click_folder / "scene.yaml")
    except SceneError as err:
        event(f"refused: {err.problems[0].key}")
        return  # refused with a message: fine (e.g. a source outside a tiny room)
    event("rendered in a room" if scene.room is not None else "rendered in free field")
    result = spatial.render(scene)
    assert result.audio.dtype == np.float32 and result.audio.ndim == 2
    assert result.audio.shape[0] > 0 and np.all(np.isfinite(result.audio))
