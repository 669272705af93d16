"""The renderer fuzzed (issue 18): valid scenes mutated at random (a value replaced by
any other, a key dropped or misspelt, a list where a mapping was...) and scenes built
through the API with extreme values; whatever validates is rendered for a few
blocks. The only exception that may escape is SceneError, with a message, and no
output holds NaN or infinity.

The examples are cheap (16 kHz, 50 ms passages, small rooms mostly), so the default
run's FUZZ_EXAMPLES of each kind (set SPATIAL_FUZZ_EXAMPLES for more) stays within
about a minute; CI runs the same fixed examples (the "ci" profile is derandomized)."""
from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatial import render
from spatial.errors import SceneError
from spatial.scene.loader import load_scene_text

FUZZ_EXAMPLES = int(os.environ.get("SPATIAL_FUZZ_EXAMPLES", "1500"))
FS = 16000
RAN = {"mutated": [0, 0, 0.0], "api": [0, 0, 0.0]}  # examples, rendered, seconds


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(18)
    x = (0.1 * rng.standard_normal(1600)).astype(np.float32)
    sf.write(d / "good.wav", x, FS, subtype="FLOAT")
    sf.write(d / "bed.wav", np.stack([x, -x], axis=1), FS, subtype="FLOAT")
    sf.write(d / "bed6.wav", np.tile(x[:, None], (1, 6)), FS, subtype="PCM_16")
    sf.write(d / "44k.flac", (0.1 * rng.standard_normal(4410)), 44100, subtype="PCM_16")
    y = x.copy()
    y[100] = np.nan
    sf.write(d / "nan.wav", y, FS, subtype="FLOAT")
    y[100] = 3.3e38
    sf.write(d / "huge.wav", y, FS, subtype="FLOAT")
    y[100] = 9e5  # finite, below the limit, very loud: must stay finite
    sf.write(d / "loud.wav", y, FS, subtype="FLOAT")
    (d / "text.wav").write_text("not audio")
    return d


BASE = {
    "sample_rate": FS, "duration": 0.3, "seed": 1,
    "room": {"dimensions": [4, 3, 2.5], "rt60": 0.3, "max_order": 3},
    "listener": {"position": [1, 1, 1.2], "yaw": 0},
    "sources": [
        {"name": "a", "role": "dialogue", "file": "good.wav", "position": [2, 1.5, 1.2],
         "gain_db": -6, "start": 0.0},
        {"name": "b", "role": "music", "file": "bed.wav", "diegetic": False},
        {"name": "c", "role": "effects", "file": "44k.flac",
         "path": [{"t": 0, "position": [3, 1, 1]}, {"t": 0.2, "position": [3, 2, 1]}]},
    ],
    "output": {"format": "mono"},
    "mix": {"buses": {"music": -6},
            "ducking": {"under": "dialogue", "duck": ["music"], "depth_db": 6}},
}
WORDS = ["binaural", "mono", "stereo", "5.1", "7.1.4", "foa", "hoa3", "custom", "default",
         "eyring", "sabine", "image-source", "dialogue", "music", "nan.wav", "huge.wav",
         "loud.wav", "text.wav", "missing.wav", "bed6.wav", "../good.wav", "", "a", "b",
         "mono,stereo", "diffuse-field", "linear", "spline"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e-9, 0.01, 0.5, 1, 2, 30, 31, 60, 1e3, 1e6, 1e308, -0.0]),
    st.sampled_from(WORDS), st.text(max_size=6),
    st.lists(st.floats(-20, 20, allow_nan=False), max_size=4),
    st.dictionaries(st.sampled_from(["t", "position", "x", "name"]),
                    st.integers(-3, 3), max_size=2))


def _paths(tree, at=()):
    """Every place in the tree: (path, value)."""
    yield at, tree
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, at + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _paths(v, at + (i,))


@st.composite
def mutated(draw):
    tree = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p, _ in _paths(tree) if p]
        path = draw(st.sampled_from(places))
        parent = tree
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = draw(st.sampled_from(["set", "set", "nudge", "nudge", "nudge", "drop",
                                   "misspell", "wrap", "add"]))
        value = parent[key]
        if op == "nudge" and isinstance(value, (int, float)) and not isinstance(value, bool):
            parent[key] = value * draw(st.sampled_from([0, -1, 0.5, 2, 10, 1e3, 1e-3]))
        elif op == "nudge" and isinstance(value, str):
            parent[key] = draw(st.sampled_from(WORDS))
        elif op in ("set", "nudge"):
            parent[key] = draw(VALUES)
        elif op == "drop":
            del parent[key]
        elif op == "misspell" and isinstance(key, str):
            parent[key + "x"] = parent.pop(key)
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["unphysical", "loudness", "true_peak", "stems",
                                         "crossover", "tail_gain_db", "speakers", "lfe",
                                         "hrtf", "decay", "materials", "doppler",
                                         "dialogue_center", "dialogue_enhancement"]))] = \
                draw(VALUES)
    return yaml.safe_dump(tree, allow_unicode=True)


def _finite(result) -> None:
    results = result.values() if isinstance(result, dict) else [result]
    for r in results:
        assert np.isfinite(r.audio).all(), "the output holds NaN or infinity"
        for stem in r.stems.values():
            assert np.isfinite(stem).all(), "a stem holds NaN or infinity"


def _render(scene, kind: str) -> None:
    try:
        result = render(scene, end=0.05)
    except SceneError as err:
        assert str(err).strip(), "a SceneError without a message"
        return
    RAN[kind][1] += 1
    _finite(result)


FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@FUZZ
@given(text=mutated())
def test_mutated_scenes_fail_only_with_scene_errors(assets, text):
    t0 = time.perf_counter()
    RAN["mutated"][0] += 1
    try:
        scene = load_scene_text(text, assets / "scene.yaml")
    except SceneError as err:
        assert str(err).strip()
    else:
        _render(scene, "mutated")
    RAN["mutated"][2] += time.perf_counter() - t0


ODD = st.sampled_from([math.nan, math.inf, -math.inf])


def floats(lo, hi):
    return st.one_of(st.floats(lo, hi), ODD)


ODD_VALUES = st.one_of(ODD, st.sampled_from([0.0, -1.0, 1e-6, 1e4, 1e9, 3e38]))
FIELDS = ("room", "listener", "source", "yaw", "rt60", "gain", "start")


@st.composite
def api_scene(draw):
    """(kwargs of Scene's parts) inside a room, a few of them made extreme."""
    odd = set(draw(st.lists(st.sampled_from(FIELDS), max_size=2)))  # often none

    def value(field, strategy):
        return draw(ODD_VALUES) if field in odd else draw(strategy)

    room = draw(st.one_of(st.none(), st.tuples(*[st.floats(0.3, 60.0)] * 3)))
    box = room or (10.0, 10.0, 10.0)
    if room is not None and "room" in odd:
        room = (room[0], draw(ODD_VALUES), room[2])

    def point(field):
        p = tuple(draw(st.floats(0.0, 1.0)) * d for d in box)
        return (p[0], value(field, st.just(p[1])), p[2])

    return dict(room=room, listener=point("listener"), source=point("source"),
                yaw=value("yaw", st.floats(-720, 720)),
                rt60=draw(st.one_of(st.none(), st.just(None) if "rt60" not in odd
                                    else ODD_VALUES, st.floats(0.05, 30))),
                gain=value("gain", st.floats(-200, 60)),
                start=value("start", st.floats(0, 0.3)),
                fmt=draw(st.sampled_from(["mono", "stereo", "5.1", "foa", "binaural",
                                          "7.1.4", "hoa3", "nonsense"])),
                file=draw(st.sampled_from(["good.wav", "loud.wav", "good.wav", "44k.flac",
                                           "bed6.wav", "huge.wav", "nan.wav", "text.wav",
                                           "missing.wav"])),
                loudness=draw(st.one_of(st.none(), st.floats(-70, 0))),
                true_peak=draw(st.one_of(st.none(), st.floats(-30, 0))),
                diegetic=draw(st.booleans()))


@FUZZ
@given(k=api_scene())
def test_api_scenes_fail_only_with_scene_errors(assets, k):
    from spatial.scene.model import Scene
    from spatial.scene.parts import Listener, Output, Room, Source

    t0 = time.perf_counter()
    RAN["api"][0] += 1
    try:
        src = (Source("s", assets / k["file"], k["source"], gain_db=k["gain"],
                      start=k["start"]) if k["diegetic"] else
               Source("s", assets / k["file"], None, gain_db=k["gain"], start=k["start"],
                      diegetic=False))
        scene = Scene(listener=Listener(k["listener"], k["yaw"]), sources=(src,),
                      room=None if k["room"] is None else Room(k["room"],
                                                               rt60=k["rt60"] or 0.3),
                      output=Output(format=k["fmt"], loudness=k["loudness"],
                                    true_peak=k["true_peak"]),
                      sample_rate=FS, duration=0.2)
    except SceneError as err:
        assert str(err).strip()
        if os.environ.get("FUZZ_DEBUG"):
            print(err)
    else:
        _render(scene, "api")
    RAN["api"][2] += time.perf_counter() - t0


@pytest.fixture(scope="module", autouse=True)
def _report():
    """After the module: how many examples ran, and how long (on the terminal)."""
    yield
    import sys

    for kind, (n, rendered, seconds) in RAN.items():
        if n:
            print(f"\nfuzz {kind}: {n} examples, {rendered} rendered, {seconds:.1f} s",
                  file=sys.__stderr__)
