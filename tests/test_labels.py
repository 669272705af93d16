"""SELD labels (issue 17): the DCASE / STARSS23 CSV of a scene. A moving source at
known times gives the directions and distances of the scene's geometry (worked out
here from the listener's front and left vectors), activity follows the signal and
not the file's length, and the CSV is exactly `frame,class,source,azimuth,elevation,
distance` in integers, no header, frames without events left out."""
from __future__ import annotations

import math
import re
import textwrap

import numpy as np
import soundfile as sf

from spatial.batch.labels import classes_of, rows, write_labels
from spatial.scene.loader import load_scene

FS = 48000


def tone(path, seconds, on=(0.0, None)):
    """A 0.1-amplitude 440 Hz tone that sounds only from on[0] to on[1] s of the file."""
    t = np.arange(int(seconds * FS)) / FS
    x = 0.1 * np.sin(2 * np.pi * 440 * t)
    x[(t < on[0]) | (t >= (on[1] if on[1] is not None else seconds))] = 0.0
    sf.write(str(path), x, FS, subtype="FLOAT")


def scene(tmp_path):
    # the mover's file lasts 1.5 s but sounds only from 0.3 to 0.75 s of it; it starts
    # at 0.2 s on the timeline: it sounds from 0.5 to 0.95 s, frames 5..9
    tone(tmp_path / "mover.wav", 1.5, (0.3, 0.75))
    tone(tmp_path / "still.wav", 0.35)
    tone(tmp_path / "bed.wav", 1.0)
    text = textwrap.dedent("""\
        sample_rate: 48000
        room: {dimensions: [6, 6, 4], rt60: 0.3}
        listener: {position: [3, 2.5, 1.5], yaw: 90}
        sources:
          - name: car
            file: mover.wav
            start: 0.2
            label: vehicle
            interpolation: linear
            path:
              - {t: 0, position: [1, 4.5, 1.5]}
              - {t: 1, position: [5, 4.5, 1.5]}
          - name: bird
            file: still.wav
            role: ambience
            position: [3, 4.5, 3.5]
          - name: bird2
            file: still.wav
            role: ambience
            start: 0.6
            position: [1, 2.5, 1.5]
          - name: music
            file: bed.wav
            diegetic: false
        output: {format: foa}
        """)
    (tmp_path / "s.yaml").write_text(text)
    return load_scene(tmp_path / "s.yaml")


def expected(src_pos, lis=(3.0, 2.5, 1.5), yaw_deg=90.0):
    """Azimuth (counter-clockwise, 0 in front), elevation, distance (cm): from the
    listener's front and left unit vectors."""
    d = np.subtract(src_pos, lis)
    yaw = math.radians(yaw_deg)
    front = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    left = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    f, l, up = d @ front, d @ left, d[2]
    r = float(np.linalg.norm(d))
    return (round(math.degrees(math.atan2(l, f))), round(math.degrees(math.asin(up / r))),
            round(r * 100))


def test_moving_source_labels_follow_the_geometry(tmp_path):
    s = scene(tmp_path)
    classes = {name: k for k, name in enumerate(classes_of([s]))}
    assert classes == {"ambience": 0, "vehicle": 1}  # the bed has no class: no direction
    got = rows(s, classes, 1.2)
    car = [r for r in got if r[1] == 1]
    assert [r[0] for r in car] == [5, 6, 7, 8, 9]  # the signal, not the file's 1.5 s
    for frame, cls, source, az, el, dist in car:
        t = frame * 0.1  # linear path: x from 1 to 5 m over 1 s
        assert (az, el, dist) == expected((1 + 4 * t, 4.5, 1.5)), frame
        assert source == 0
    # at 0.5 s the car is 2 m straight ahead (the listener faces +y)
    assert car[0][3:] == (0, 0, 200)
    assert car[-1][3:] == expected((4.6, 4.5, 1.5)) == (-39, 0, 256)
    birds = [r for r in got if r[1] == 0]
    # bird: 2 m ahead, 2 m up, 0 .. 0.35 s: frames 0..3; bird2 (the second ambience
    # source: instance 1) 2 m to the left from 0.6 s: frames 6..9
    assert [r for r in birds if r[2] == 0] == [(k, 0, 0, 0, 45, 283) for k in range(4)]
    assert [r for r in birds if r[2] == 1] == [(k, 0, 1, 90, 0, 200) for k in range(6, 10)]
    frames = [r[0] for r in got]
    assert frames == sorted(frames) and frames.count(6) == 2  # overlapping: repeated
    assert 4 not in frames and 10 not in frames  # no event: no row


def test_csv_follows_the_column_spec(tmp_path):
    s = scene(tmp_path)
    out = tmp_path / "s.csv"
    n = write_labels(s, out, {"ambience": 0, "vehicle": 1}, 1.2)
    text = out.read_text()
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == n == 13
    spec = re.compile(r"(\d+),(\d+),(\d+),(-?\d+),(-?\d+),(\d+)")
    for line in lines:  # no header, six integers, nothing else
        m = spec.fullmatch(line)
        assert m, line
        az, el = int(m.group(4)), int(m.group(5))
        assert -180 <= az <= 180 and -90 <= el <= 90
    assert lines[0] == "0,0,0,0,45,283"
    assert "5,1,0,0,0,200" in lines


def test_turning_listener_rotates_the_labels(tmp_path):
    s = scene(tmp_path)
    from spatial.scene.parts import Keyframe

    # the listener turns from yaw 90 to yaw 0 over 1 s: bird2 (2 m towards -x) goes
    # from the left (90) to behind (180)
    import dataclasses

    turning = dataclasses.replace(s, listener=dataclasses.replace(
        s.listener, position=None, interpolation="linear",
        path=(Keyframe(0.0, (3.0, 2.5, 1.5), 90.0), Keyframe(1.0, (3.0, 2.5, 1.5), 0.0))))
    got = [r for r in rows(turning, {"ambience": 0, "vehicle": 1}, 1.2) if r[:3] == (6, 0, 1)]
    assert got == [(6, 0, 1, expected((1, 2.5, 1.5), yaw_deg=90 - 54)[0], 0, 200)]
    assert got[0][3] == 144
