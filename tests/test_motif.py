"""Leitmotif tracking (spatial.analysis.motif), on synthetic pieces with known answers:
a melody of harmonic tones is written into an ambience bed at known times, as it
is, transposed and played by another instrument, and slower or faster (the notes
themselves are re-timed, not the audio stretched, so nothing here uses the
module's own stretching). The real assets: the demo scene's radio plays
scenes/assets/leitmotif.flac from 0 s.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spatial.errors import SceneError

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "scenes" / "assets"
FS = 48000

# (midi note, beats) at 120 bpm: a 6-second phrase in E minor
THEME = [(64, 1), (67, 1), (71, 0.5), (69, 0.5), (67, 1), (66, 1.5), (64, 0.5),
         (62, 1), (64, 1), (71, 1), (72, 0.5), (71, 0.5), (69, 1)]
# another phrase, same key, scale, rhythm and register: the hardest negative
OTHER = [(71, 1), (69, 0.5), (67, 0.5), (66, 1), (64, 1), (62, 1.5), (66, 0.5),
         (67, 1), (69, 1), (64, 1), (62, 0.5), (64, 0.5), (67, 1)]

PIANO = dict(partials=(1.0, 0.5, 0.3, 0.2, 0.12), attack=0.005, decay=0.35, sustain=0.3)
REED = dict(partials=(1.0, 0.05, 0.55, 0.05, 0.3, 0.02, 0.15), attack=0.06, decay=0.1,
            sustain=0.9)   # odd partials, slow attack, held: another timbre


def hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def melody(notes, *, tempo=1.0, transpose=0, partials, attack, decay, sustain,
           bpm=120.0) -> np.ndarray:
    """The notes as harmonic tones, `tempo` times as fast as written, at FS, peak 0.5."""
    beat = 60.0 / bpm / tempo
    total = sum(b for _, b in notes) * beat
    out = np.zeros(int((total + 0.3) * FS))
    at = 0.0
    for midi, beats in notes:
        dur = beats * beat
        t = np.arange(int((dur + 0.25) * FS)) / FS
        env = np.where(t < attack, t / attack,
                       sustain + (1 - sustain) * np.exp(-(t - attack) / decay))
        env *= np.where(t < dur, 1.0, np.exp(-(t - dur) / 0.05))
        f = hz(midi + transpose)
        tone = sum(w * np.sin(2 * np.pi * (k + 1) * f * t) for k, w in enumerate(partials)
                   if (k + 1) * f < FS / 2)
        s = int(at * FS)
        out[s:s + len(t)] += env * tone
        at += dur
    return 0.5 * out / np.max(np.abs(out))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def bed(seconds: float, seed: int = 0) -> np.ndarray:
    """Ambience: pink-ish noise and a slowly swelling low rumble (30-60 Hz)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    pink = np.fft.irfft(spectrum / np.sqrt(np.maximum(f, 20.0)), n)
    t = np.arange(n) / FS
    lows = ((31.0, 0.3), (43.5, 1.1), (57.0, 2.0))
    rumble = sum(np.sin(2 * np.pi * fr * t + p) for fr, p in lows)
    rumble *= 1 + 0.5 * np.sin(2 * np.pi * 0.07 * t)
    return 0.05 * pink / rms(pink) + 0.03 * rumble / rms(rumble)


def insert(piece: np.ndarray, sound: np.ndarray, at_s: float, level: float = 1.0) -> None:
    s = int(at_s * FS)
    piece[s:s + len(sound)] += level * sound


def find(signal, motif, **kw):
    from spatial.analysis.motif import find_occurrences
    return find_occurrences(signal, FS, motif, FS, **kw)


def piece_with_three() -> np.ndarray:
    """60 s of ambience; the theme at 5 s as it is, at 25 s up 3 semitones on a reed-like
    instrument, at 45 s 10 % slower; each about 7 dB under the bed."""
    piece = bed(60.0)
    insert(piece, melody(THEME, **PIANO), 5.0, 0.2)
    insert(piece, melody(THEME, transpose=3, **REED), 25.0, 0.2)
    insert(piece, melody(THEME, tempo=0.9, **PIANO), 45.0, 0.2)
    return piece


def test_finds_the_three_occurrences_and_nothing_else():
    motif = melody(THEME, **PIANO)
    found = find(piece_with_three(), motif)
    assert len(found) == 3, found
    # 0.5 s: the brief's tolerance (the chroma frames are 46 ms apart)
    expected = [(5.0, 0, 1.0), (25.0, 3, 1.0), (45.0, 0, 0.9)]
    for o, (at, transposition, tempo) in zip(found, expected):
        assert abs(o.start - at) < 0.5, o
        assert o.transposition == transposition, o
        assert abs(o.tempo - tempo) < 0.05, o   # the tempo grid is 0.015 apart
        # the motif sounds 5.8 s (its last note's release under -40 dB is not counted)
        assert abs((o.end - o.start) - 5.8 / tempo) < 0.5, o
        assert 0.55 <= o.strength <= 1.0, o


def test_a_stereo_piece_is_averaged_and_a_fifth_up_is_minus_five():
    piece = bed(30.0, seed=3)
    insert(piece, melody(THEME, transpose=7, **REED), 12.0, 0.2)
    stereo = np.stack([piece, piece], axis=1)
    found = find(stereo, melody(THEME, **PIANO))
    assert [(round(o.start), o.transposition) for o in found] == [(12, -5)]


@pytest.mark.parametrize("tempo", [0.85, 1.15])
def test_fifteen_percent_slower_or_faster_is_found(tempo):
    piece = bed(40.0, seed=2)
    insert(piece, melody(THEME, tempo=tempo, **REED), 17.0, 0.2)
    found = find(piece, melody(THEME, **PIANO))
    assert len(found) == 1, found
    assert abs(found[0].start - 17.0) < 0.5
    assert abs(found[0].tempo - tempo) < 0.05
    assert found[0].transposition == 0


def speech_bed(seconds: float) -> np.ndarray:
    line1 = sf.read(ASSETS / "line1.flac")[0]
    line2 = sf.read(ASSETS / "line2.flac")[0]
    talk = np.concatenate([line1, np.zeros(FS // 2), line2, np.zeros(FS)])
    n = int(seconds * FS)
    return np.tile(talk, n // len(talk) + 1)[:n] + 0.3 * bed(seconds, seed=9)


@pytest.mark.parametrize("negative", ["another melody", "noise and rumble", "surf and room tone",
                                      "speech", "the demo's leitmotif"])
def test_an_absent_motif_is_not_found(negative):
    n = 60 * FS
    if negative == "another melody":   # same key, scale, rhythm and instrument
        other = np.concatenate([melody(OTHER, **PIANO), np.zeros(FS)])
        piece = 0.2 * np.tile(other, 10)[:n] + bed(60.0, seed=4)
    elif negative == "noise and rumble":
        piece = bed(60.0, seed=5)
    elif negative == "surf and room tone":
        ambience = sf.read(ASSETS / "surf.flac")[0] + sf.read(ASSETS / "roomtone.flac")[0]
        piece = np.tile(ambience, 5)[:n]
    elif negative == "speech":
        piece = speech_bed(60.0)
    else:
        piece = np.tile(sf.read(ASSETS / "leitmotif.flac")[0], 6)[:n] + 0.5 * bed(60.0, seed=6)
    assert find(piece, melody(THEME, **PIANO)) == []


def test_the_motif_under_dialogue_is_found():
    piece = speech_bed(30.0)
    insert(piece, melody(THEME, transpose=-2, **REED), 8.0, 0.3)
    found = find(piece, melody(THEME, **PIANO))
    assert [(round(o.start), o.transposition) for o in found] == [(8, -2)]


def test_a_motif_longer_than_the_piece_is_a_scene_error():
    with pytest.raises(SceneError, match="longer than the piece"):
        find(bed(4.0), melody(THEME, **PIANO))


def test_a_silent_motif_is_a_scene_error():
    with pytest.raises(SceneError, match="silent"):
        find(bed(10.0), np.zeros(3 * FS))


@pytest.mark.parametrize("signal, motif, message", [
    (np.full(FS * 10, np.nan), None, "not finite"),
    (np.zeros((10, 10, 2)), None, "array"),
    (None, np.zeros(0), "empty"),
    (None, 0.1 * np.sin(np.arange(FS // 2) * 0.1), "at least 1 s"),
])
def test_bad_input_is_a_one_line_scene_error(signal, motif, message):
    signal = bed(10.0) if signal is None else signal
    motif = melody(THEME, **PIANO)[:3 * FS] if motif is None else motif
    with pytest.raises(SceneError, match=message) as error:
        find(signal, motif)
    assert "\n" not in str(error.value)


def test_the_demo_scene_plays_the_leitmotif_where_the_scene_starts_it():
    import spatial
    scene = spatial.load_scene(ROOT / "scenes" / "demo.yaml")
    music = [s for s in scene.sources if s.file and Path(s.file).name == "leitmotif.flac"]
    assert len(music) == 1
    rendered = spatial.render(scene)
    leitmotif, fs = sf.read(ASSETS / "leitmotif.flac")
    from spatial.analysis.motif import find_occurrences
    found = find_occurrences(rendered.audio, rendered.sample_rate, leitmotif, fs)
    assert len(found) == 1, found
    assert abs(found[0].start - music[0].start) < 0.5
    assert found[0].transposition == 0
    assert abs(found[0].tempo - 1.0) < 0.05
