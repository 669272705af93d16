"""Series inheritance: with `extends`, `sources` merge by name. An episode keeps
the series' sources, trims one key by key, removes one (`remove: true`) and adds
its own; every value keeps the file and line that set it, and a misused `remove`
is an error naming file, line and key."""
from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

import spatial
from spatial.errors import SceneError
from spatial.scene.loader import load_scene
from spatial.scene.parts import Source

SCENES = Path(__file__).resolve().parents[1] / "scenes"

SERIES = """\
sample_rate: 48000
room: {dimensions: [8, 6, 3], rt60: 0.4}
listener: {position: [4, 3, 1.6]}
sources:
  - name: theme
    role: music
    file: assets/theme.wav
    diegetic: false
    gain_db: -12
    start: 1.5
  - {name: tone, role: ambience, file: assets/tone.wav, position: [2, 2, 2.5], gain_db: -30}
  - {name: knock, file: assets/knock.wav, position: [4, 1, 1.2], start: 3}
"""
L_THEME, L_THEME_FILE, L_THEME_START, L_TONE = 5, 7, 10, 11  # lines in SERIES


def wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(480), 48000)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def series(tmp_path) -> Path:
    for name in ("theme", "tone", "knock"):
        wav(tmp_path / "assets" / f"{name}.wav")
    wav(tmp_path / "ep02" / "line.wav")
    return write(tmp_path / "series.yaml", SERIES)


def problems(path: Path):
    with pytest.raises(SceneError) as info:
        load_scene(path)
    return info.value.problems


EPISODE = """\
extends: ../series.yaml
sources:
  - {name: theme, gain_db: -20}      # trim: every other key from the series
  - name: tone
    remove: true
  - {name: line, role: dialogue, file: line.wav, position: [6, 3, 1.6]}
"""


def test_episode_keeps_trims_removes_and_adds_by_name(series):
    episode = write(series.parent / "ep02" / "episode.yaml", EPISODE)
    scene = load_scene(episode)
    by_name = {s.name: s for s in scene.sources}
    # base order first (minus the removed source), then the episode's new ones
    assert [s.name for s in scene.sources] == ["theme", "knock", "line"]
    theme = by_name["theme"]
    assert theme.gain_db == -20.0  # trimmed here
    assert (theme.role, theme.diegetic, theme.start) == ("music", False, 1.5)  # kept
    # paths keep the folder of the file that wrote them
    assert theme.file == (series.parent / "assets" / "theme.wav").resolve()
    assert by_name["line"].file == (series.parent / "ep02" / "line.wav").resolve()
    assert by_name["knock"].position == (4.0, 1.0, 1.2) and by_name["knock"].start == 3.0
    # every value remembers the file and line that set it
    assert scene.locations["sources[0].gain_db"] == (str(episode), 3)
    assert scene.locations["sources[0].start"] == (str(series), L_THEME_START)
    assert scene.locations["sources[0].file"] == (str(series), L_THEME_FILE)
    assert "remove" not in {f.name for f in dataclasses.fields(Source)}


def test_errors_in_merged_sources_point_at_the_file_that_wrote_them(series):
    write(series, SERIES.replace("start: 1.5", "start: -1"))
    episode = write(series.parent / "ep02" / "episode.yaml",
                    EPISODE.replace("gain_db: -20", "gain_db: loud"))
    found = {(p.file, p.line, p.key) for p in problems(episode)}
    assert found == {(str(series), L_THEME_START, "sources[0].start"),
                     (str(episode), 3, "sources[0].gain_db")}


def test_a_chain_merges_at_every_level(series):
    write(series.parent / "season.yaml", """\
        extends: series.yaml
        sources: [{name: knock, remove: true}, {name: theme, gain_db: -15}]
        """)
    scene = load_scene(write(series.parent / "ep02" / "episode.yaml", """\
        extends: ../season.yaml
        sources: [{name: theme, start: 0}]
        """))
    assert [(s.name, s.gain_db, s.start) for s in scene.sources] == [
        ("theme", -15.0, 0.0), ("tone", -30.0, 0.0)]


REMOVE_ERRORS = {  # case -> (episode sources, line, key, message fragment)
    "unknown name": ("- {name: thme, remove: true}", 3, "sources[0].remove",
                     "nothing named 'thme' (did you mean 'theme'? they have: theme, tone, knock)"),
    "no name": ("- {remove: true}", 3, "sources[0].remove", "this entry has no name"),
    "named twice": ("- {name: knock, gain_db: -3}\n  - {name: knock, remove: true}", 4,
                    "sources[1].remove", "'knock' is already given above"),
    "not true/false": ("- {name: tone, remove: yes please}", 3, "sources[0].remove",
                       "expected true or false, got 'yes please'"),
    "more keys": ("- name: tone\n    gain_db: -3\n    remove: true", 5, "sources[0].remove",
                  "takes no other keys (got gain_db)"),
}


@pytest.mark.parametrize("case", sorted(REMOVE_ERRORS))
def test_remove_that_does_not_drop_a_base_source_is_an_error(series, case):
    entries, line, key, message = REMOVE_ERRORS[case]
    episode = write(series.parent / "ep02" / "episode.yaml",
                    f"extends: ../series.yaml\nsources:\n  {entries}\n")
    found = problems(episode)
    p = next(p for p in found if p.key == key)
    assert (p.file, p.line) == (str(episode), line) and message in p.message, found
    assert not any("unknown key" in q.message for q in found)  # never reaches the model


def test_remove_without_a_base_is_an_error(series):
    scene = write(series.parent / "alone.yaml", SERIES.replace(
        "  - {name: tone,", "  - {name: old, remove: true}\n  - {name: tone,"))
    (p,) = problems(scene)
    assert (p.file, p.line, p.key) == (str(scene), L_TONE, "sources[1].remove")
    assert "no base (no extends)" in p.message
    # and a base that cannot be read is reported once, not again for each remove
    episode = write(series.parent / "ep02" / "episode.yaml",
                    "extends: ../missing.yaml\nsources: [{name: tone, remove: true}]\n")
    (p,) = problems(episode)
    assert p.key == "extends" and "base scene not found" in p.message


def test_removing_every_source_leaves_a_scene_without_sources(series):
    episode = write(series.parent / "ep02" / "episode.yaml", """\
        extends: ../series.yaml
        sources: [{name: theme, remove: true}, {name: tone, remove: true},
                  {name: knock, remove: true}]
        """)
    (p,) = problems(episode)
    assert (p.file, p.line, p.key) == (str(episode), 2, "sources")
    assert "no sources" in p.message


# -- the shipped series ------------------------------------------------------------------

def raw(name: str) -> dict:
    """A shipped scene file as plain YAML, read without spatial's loader."""
    return yaml.safe_load((SCENES / name).read_text())


SHIPPED = ("coast.yaml", "episode-02.yaml", "rural.yaml", "city.yaml")


def test_shipped_episodes_keep_trim_and_remove_series_sources():
    series = {s["name"]: s for s in raw("series.yaml")["sources"]}
    shown = set()
    for name in SHIPPED:
        episode = {s["name"]: s for s in raw(name)["sources"]}
        got = {s.name: s for s in load_scene(SCENES / name).sources}
        removed = {n for n, s in episode.items() if s.get("remove") is True}
        trimmed = {n for n, s in episode.items() if n in series and n not in removed}
        kept = set(series) - set(episode)
        assert set(got) == (set(series) | set(episode)) - removed, name
        for n in trimmed:  # the keys given here win, the rest is the series'
            for key in ("gain_db", "start", "role", "diegetic"):
                value = episode[n].get(key, series[n].get(key))
                if value is not None:
                    assert getattr(got[n], key) == value, (name, n, key)
        for n in trimmed | kept:  # paths stay relative to series.yaml
            assert got[n].file == (SCENES / series[n]["file"]).resolve(), (name, n)
        for n in kept:
            assert got[n].gain_db == series[n].get("gain_db", 0), (name, n)
        shown |= {what for what, names in (("removed", removed), ("trimmed", trimmed),
                                           ("kept", kept)) if names}
    assert shown == {"removed", "trimmed", "kept"}  # the series example shows all three


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_episodes_render(name):
    scene = dataclasses.replace(load_scene(SCENES / name), duration=1.5)
    out = spatial.render(scene).audio
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-4


# -- an episode changes a base's source: static to moving, null unsets ----------------------

NOISE_SERIES = """\
sample_rate: 48000
listener: {position: [0, 0, 1.6]}
sources:
  - name: walker
    file: assets/noise.wav
    position: [0, 2, 1.6]
    gain_db: -6
    start: 0.25
"""


def noise_series(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / "assets" / "noise.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), 0.1 * rng.standard_normal(48000 * 2), 48000)
    return write(tmp_path / "series.yaml", NOISE_SERIES)


def left_over_right_db(audio: np.ndarray) -> float:
    """Level of the left ear over the right, in dB (binaural: columns L, R)."""
    left, right = np.sum(audio[:, 0] ** 2), np.sum(audio[:, 1] ** 2)
    return 10 * np.log10(left / right)


def test_an_episode_path_makes_a_static_base_source_move(tmp_path):
    series = noise_series(tmp_path)
    static = load_scene(series)
    # +y is the listener's left (yaw 0 faces +x): the base's source stays there
    assert static.sources[0].position == (0.0, 2.0, 1.6) and not static.sources[0].path
    episode = write(tmp_path / "ep" / "moving.yaml", """\
        extends: ../series.yaml
        sources:
          - name: walker
            path:                       # from the left to the right, passing in front
              - {t: 0.25, position: [2, 3, 1.6]}
              - {t: 2.25, position: [2, -3, 1.6]}
            interpolation: linear
        """)
    scene = load_scene(episode)
    (walker,) = scene.sources
    assert walker.position is None and len(walker.path) == 2
    assert (walker.gain_db, walker.start) == (-6.0, 0.25)  # the rest stays the series'
    audio = spatial.render(dataclasses.replace(scene, duration=2.25)).audio
    fs = 48000
    early, late = audio[int(0.35 * fs):int(0.9 * fs)], audio[int(1.6 * fs):int(2.15 * fs)]
    # the head shadow puts a source 30-55 degrees to one side several dB up at the near
    # ear; a source that stayed where the base had it would not change sides
    assert left_over_right_db(early) > 3.0
    assert left_over_right_db(late) < -3.0
    # and the other way round: a position replaces an inherited path
    back = load_scene(write(tmp_path / "ep" / "still.yaml", """\
        extends: moving.yaml
        sources: [{name: walker, position: [0, -2, 1.6]}]
        """))
    assert back.sources[0].position == (0.0, -2.0, 1.6) and not back.sources[0].path


def test_null_unsets_an_inherited_key(tmp_path):
    series = noise_series(tmp_path)
    write(series, NOISE_SERIES.replace("listener: {position: [0, 0, 1.6]}",
                                       "duration: 1.5\nroom: {dimensions: [8, 8, 4], rt60: 0.5}\n"
                                       "listener: {position: [4, 4, 1.6], yaw: 30}")
          .replace("[0, 2, 1.6]", "[4, 6, 1.6]"))
    base = load_scene(series)
    assert (base.duration, base.listener.yaw, base.sources[0].gain_db) == (1.5, 30.0, -6.0)
    assert base.room is not None
    scene = load_scene(write(tmp_path / "ep" / "unset.yaml", """\
        extends: ../series.yaml
        duration: null
        room: null                 # free field
        listener: {yaw: null}
        sources:
          - name: walker
            gain_db: null
            start:                 # an empty value is a null too
        """))
    (walker,) = scene.sources
    # the defaults of scenes/README.md: 0 dB, start 0, yaw 0, free field, until the end
    assert (walker.gain_db, walker.start) == (0.0, 0.0)
    assert scene.listener.yaw == 0.0 and scene.room is None and scene.duration is None
    assert walker.position == (4.0, 6.0, 1.6)  # what is not unset stays


def test_a_null_with_nothing_to_unset_is_still_an_error(tmp_path):
    series = noise_series(tmp_path)
    episode = write(tmp_path / "ep" / "typo.yaml", """\
        extends: ../series.yaml
        sources:
          - name: walker
            gain_db: null
            positon: null
        """)
    (p,) = problems(episode)
    assert (p.file, p.line, p.key) == (str(episode), 5, "sources[0].positon")
    assert "did you mean 'position'" in p.message
    assert load_scene(series).sources[0].gain_db == -6.0


NULL_ERRORS = {  # case -> (episode text, line, key, message fragment)
    "required file": ("sources:\n  - name: walker\n    file: null\n", 4, "sources[0].file",
                      "this null unsets the base scene's value"),
    "required position": ("sources:\n  - {name: walker, position: null}\n", 3,
                          "sources[0].position", "this null unsets the base scene's value"),
    "listener position": ("listener:\n  position: null\n", 3, "listener.position",
                          "this null unsets the base scene's value"),
    "both in one file": ("sources:\n  - name: walker\n    position: [0, 1, 1.6]\n"
                         "    path: [{t: 0, position: [1, 1, 1]}]\n", 5, "sources[0].path",
                         "give either position or path, not both"),
}


@pytest.mark.parametrize("case", sorted(NULL_ERRORS))
def test_episode_errors_point_at_the_episode_line(tmp_path, case):
    noise_series(tmp_path)
    text, line, key, message = NULL_ERRORS[case]
    episode = write(tmp_path / "ep" / "bad.yaml", "extends: ../series.yaml\n" + text)
    (p,) = problems(episode)
    assert (p.file, p.line, p.key) == (str(episode), line, key) and message in p.message


def test_a_bad_value_in_the_base_still_points_at_the_base(tmp_path):
    series = noise_series(tmp_path)
    write(series, NOISE_SERIES.replace("gain_db: -6", "gain_db: loud"))
    episode = write(tmp_path / "ep" / "moving.yaml", """\
        extends: ../series.yaml
        sources:
          - name: walker
            path: [{t: 0, position: [2, 3, 1.6]}, {t: 1, position: [2, -3, 1.6]}]
        """)
    (p,) = problems(episode)
    assert (p.file, p.line, p.key) == (str(series), 7, "sources[0].gain_db")


def schroeder_t20(ir: np.ndarray, fs: int) -> float:
    """T20 (ISO 3382-1): the Schroeder backward integral's slope from -5 to -25 dB,
    extrapolated to 60 dB; both ears' energy summed, from the direct sound on."""
    e = np.sum(np.asarray(ir, float) ** 2, axis=1)
    e = e[np.argmax(e > e.max() * 1e-3):]
    edc = 10 * np.log10(np.cumsum(e[::-1])[::-1] / e.sum() + 1e-30)
    i0, i1 = np.argmax(edc <= -5), np.argmax(edc <= -25)
    slope = np.polyfit(np.arange(i0, i1) / fs, edc[i0:i1], 1)[0]
    return -60.0 / slope


def test_the_three_settings_sound_apart():
    """The same line on the beach, in the farmhouse kitchen and in the street: the open
    air hardly reverberates, the small wooden room a little, the street canyon's brick
    facades longest (a flutter across 16 m); the kitchen's background is the quietest."""
    import pyloudnorm

    t20, background = {}, {}
    for name in ("coast", "rural", "city"):
        scene = load_scene(SCENES / f"{name}.yaml")
        t20[name] = schroeder_t20(spatial.impulse_response(scene, "line1").audio,
                                  scene.sample_rate)
        rest = tuple(s for s in scene.sources if s.role in ("ambience", "effects"))
        audio = spatial.render(dataclasses.replace(scene, sources=rest)).audio  # all 11-12 s
        background[name] = pyloudnorm.Meter(scene.sample_rate).integrated_loudness(audio)
    # each at least 1.5 times the one before: audibly different reverberation
    assert 1.5 * t20["coast"] < t20["rural"] and 1.5 * t20["rural"] < t20["city"], t20
    # "faint" outside the kitchen window: 3 LU or more under the surf and the traffic
    # (measured 4.2 and 6.0 LU under; 3 LU is a plainly audible step)
    assert background["rural"] < min(background["coast"], background["city"]) - 3.0, background
