"""ADM BW64 export (output format adm, spatial.adm): the file's chunks, the metadata
against the scene's geometry, the objects' audio against the sources, the room bed
without direct sound, and the EBU ADM Renderer's 0+5+0 render of the master against
spatial's own 5.1 render.

The EBU renderer (ear 2.1.0) pins numpy < 2, so it runs from its own virtual
environment, which .ci/run makes (.ci/ear-venv, or $SPATIAL_EAR_VENV); where it
could not be made, the tests that need it skip, saying why.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import spatial
from spatial.engine.constants import FRACTIONAL_TAPS
from spatial.errors import SceneError
from spatial.scene.loader import load_scene_text

FS = 48000
C = 343.0
ROOT = Path(__file__).resolve().parents[1]
READER = ROOT / "tests" / "reference" / "ear_read_bw64.py"
NS = {"a": "urn:ebu:metadata-schema:ebuCore_2014"}

FREE_FIELD = """\
    sample_rate: 48000
    listener: {position: [0, 0, 0], yaw: 0}
    sources:
      - {name: a, file: a.wav, position: [2, 1.2, 0], role: dialogue}
      - {name: b, file: b.wav, position: [-1.5, -2, 0.3], role: dialogue}
      - name: m
        file: m.wav
        path:
          - {t: 0, position: [3, -1, 0]}
          - {t: 3, position: [-1, 3, 0]}
      - {name: bed, file: bed.wav, diegetic: false, role: music}
    output: {format: [5.1, adm], lfe: [dialogue]}
"""


def _venv() -> Path:
    return Path(os.environ.get("SPATIAL_EAR_VENV", ROOT / ".ci" / "ear-venv"))


def _ear(tool: str) -> Path:
    exe = _venv() / "bin" / tool
    if not (_venv() / "bin" / "ear-render").exists():  # .ci/run removes it on failure
        exe = _venv() / "bin" / "ear-render"
        why = (ROOT / ".ci" / "ear-venv.log").read_text()[-300:].strip() if (
            ROOT / ".ci" / "ear-venv.log").exists() else "no log"
        pytest.skip(f"the EBU ADM Renderer's venv is missing ({exe} not found; .ci/run "
                    f"makes it, or set SPATIAL_EAR_VENV): {why}")
    return exe


def _run(args) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    """The free-field scene rendered to 5.1 and to ADM in one pass."""
    d = tmp_path_factory.mktemp("adm")
    rng = np.random.default_rng(1)
    dry = {}
    for name in ("a", "b", "m"):
        dry[name] = 0.1 * rng.standard_normal(3 * FS)
        sf.write(d / f"{name}.wav", dry[name], FS, subtype="FLOAT")
    dry["bed"] = 0.05 * rng.standard_normal((3 * FS, 2))
    sf.write(d / "bed.wav", dry["bed"], FS, subtype="FLOAT")
    (d / "ff.yaml").write_text(textwrap.dedent(FREE_FIELD))
    scene = spatial.load_scene(d / "ff.yaml")
    stats = spatial.render_to_file(scene, d / "ff.wav")
    return d, stats, dry


def _axml(path: Path) -> ET.Element:
    from spatial.adm.bw64 import read_chunks

    chunks = read_chunks(path)
    with open(path, "rb") as f:
        f.seek(chunks["axml"][0])
        return ET.fromstring(f.read(chunks["axml"][1]))


def test_master_tracks_and_metadata(master):
    d, stats, dry = master
    out = stats["outputs"]["adm"]
    path = Path(out["path"])
    assert path.name == "ff.adm.wav" and out["mix"]["objects"] == 3
    assert out["mix"]["room"] is None  # free field
    audio, fs = sf.read(path)  # libsndfile reads it as a plain WAVE file
    assert fs == FS and audio.shape[1] == 6  # 3 objects, the stereo bed, the LFE feed
    # object a: its dry signal, delayed by r / c (whole samples), 24-bit
    r_a = np.hypot(2.0, 1.2)
    delay = int(round(r_a / C * FS))
    np.testing.assert_allclose(audio[delay:delay + FS, 0], dry["a"][:FS], atol=2e-7)
    assert np.max(np.abs(audio[:delay - 1, 0])) < 1e-6
    # the bed's two channels, as they are
    np.testing.assert_allclose(audio[:FS, 3:5], dry["bed"][:FS], atol=2e-7)
    from spatial.adm.bw64 import read_chunks

    # a moving object's blocks are written as they are made: axml after the samples
    assert list(read_chunks(path))[1:] == ["JUNK", "fmt ", "chna", "data", "axml"]
    root = _axml(path)
    blocks = {ch.get("audioChannelFormatName"): ch.findall("a:audioBlockFormat", NS)
              for ch in root.iter(f"{{{NS['a']}}}audioChannelFormat")}
    (a,) = blocks["a"]
    pos = {p.get("coordinate"): float(p.text) for p in a.findall("a:position", NS)}
    assert pos["azimuth"] == pytest.approx(np.degrees(np.arctan2(1.2, 2.0)), abs=1e-3)
    assert pos["elevation"] == pytest.approx(0.0, abs=1e-6)
    assert pos["distance"] == pytest.approx(r_a, rel=1e-5)
    assert float(a.find("a:gain", NS).text) == pytest.approx(1.0 / r_a, rel=1e-5)
    (b,) = blocks["b"]
    pos = {p.get("coordinate"): float(p.text) for p in b.findall("a:position", NS)}
    assert pos["azimuth"] == pytest.approx(np.degrees(np.arctan2(-2.0, -1.5)), abs=1e-3)
    assert pos["elevation"] == pytest.approx(np.degrees(np.arcsin(0.3 / np.sqrt(6.34))),
                                             abs=1e-3)
    # the moving source: a block every 20 ms, each where it is at the block's end
    # (position on the line at the emission time t - r / c)
    m = blocks["m"]
    assert len(m) > 140
    for bf in m[10::40]:
        h, mi, s = bf.get("rtime").split(":")
        t_end = float(s) + float(bf.get("duration").split(":")[2])
        pos = {p.get("coordinate"): float(p.text) for p in bf.findall("a:position", NS)}
        az, rr = np.radians(pos["azimuth"]), pos["distance"]
        te = t_end - rr / C
        expect = np.array([3.0, -1.0]) + (np.array([-1.0, 3.0]) - [3.0, -1.0]) * te / 3.0
        np.testing.assert_allclose([rr * np.cos(az), rr * np.sin(az)], expect, atol=2e-3)
    labels = [e.text for e in root.iter(f"{{{NS['a']}}}speakerLabel")]
    assert labels == ["M+030", "M-030", "LFE1"]
    # the LFE track (output.lfe: dialogue, a and b): their direct sound at 1 / r,
    # low-passed at 120 Hz (4th-order Butterworth, scipy's here)
    from scipy.signal import butter, sosfilt

    feed = np.zeros(3 * FS)
    for name, pos in (("a", (2.0, 1.2, 0.0)), ("b", (-1.5, -2.0, 0.3))):
        r = float(np.linalg.norm(pos))
        k = int(round(r / C * FS))
        feed[k:] += dry[name][:3 * FS - k] / r
    want = sosfilt(butter(4, 120.0, fs=FS, output="sos"), feed)
    np.testing.assert_allclose(audio[:3 * FS, 5], want, atol=1e-5)
    assert out["mix"]["lfe"] and out["mix"]["beds"] == 1


def test_bw64_chunks_and_ds64(tmp_path, monkeypatch):
    from spatial.adm import bw64
    from spatial.adm.bw64 import Bw64Writer, ChnaEntry, chna_chunk, read_chunks

    x = np.random.default_rng(3).uniform(-0.9, 0.9, (1001, 3))
    chna = chna_chunk([ChnaEntry(k + 1, f"ATU_{k + 1:08X}", f"AT_0003100{k + 1}_01",
                                 f"AP_0003100{k + 1}") for k in range(3)])
    for limit, form in ((bw64.RIFF_LIMIT, b"RIFF"), (4000, b"BW64")):
        monkeypatch.setattr(bw64, "RIFF_LIMIT", limit)
        path = tmp_path / f"{form.decode()}.wav"
        with open(path, "wb") as f:
            w = Bw64Writer(f, 3, FS, 24, chna, b"<x/>")
            w.write(x[:500])
            w.write(x[500:])
            size = w.close()
        raw = path.read_bytes()
        assert len(raw) == size and raw[:4] == form
        chunks = read_chunks(path)
        assert list(chunks)[1:] == ["JUNK" if form == b"RIFF" else "ds64", "fmt ", "chna",
                                    "axml", "data"]
        off, n = chunks["data"]
        assert n == 1001 * 3 * 3  # 24-bit, 3 channels
        if form == b"BW64":  # 32-bit sizes are -1, the real ones are in ds64
            assert raw[4:8] == b"\xff\xff\xff\xff"
            ds_off = chunks["ds64"][0]
            riff, data, frames = struct.unpack("<QQQ", raw[ds_off:ds_off + 24])
            assert (riff, data, frames) == (len(raw) - 8, n, 1001)
        else:
            assert struct.unpack("<I", raw[4:8])[0] == len(raw) - 8
        b = np.frombuffer(raw[off:off + n], np.uint8).reshape(-1, 3)
        q = (b[:, 0].astype(np.int32) | b[:, 1].astype(np.int32) << 8
             | b[:, 2].astype(np.int32) << 16)
        q = np.where(q >= 1 << 23, q - (1 << 24), q).reshape(1001, 3)
        np.testing.assert_allclose(q / (2 ** 23 - 1), x, atol=1e-7)
        off, n = chunks["chna"]
        tracks, uids = struct.unpack("<HH", raw[off:off + 4])
        assert (tracks, uids, n) == (3, 3, 4 + 3 * 40)
        assert raw[off + 4 + 2:off + 4 + 14] == b"ATU_00000001"


def test_ear_reads_master(master):
    """The EBU renderer's own BW64 reader and ADM parser (no warning allowed)."""
    d, stats, _ = master
    python = _ear("python")
    got = json.loads(_run([python, READER, stats["outputs"]["adm"]["path"]]))
    assert (got["format"], got["channels"], got["sample_rate"], got["bitdepth"]) == (
        "RIFF", 6, FS, 24)
    assert [row[0] for row in got["chna"]] == [1, 2, 3, 4, 5, 6]
    kinds = {o["name"]: (o["type"], o["tracks"]) for o in got["objects"]}
    assert kinds == {"a": ("Objects", [1]), "b": ("Objects", [2]), "m": ("Objects", [3]),
                     "bed": ("DirectSpeakers", [4, 5]), "LFE": ("DirectSpeakers", [6])}


def test_ear_render_matches_5_1(master):
    """ear-render's 0+5+0 of the master against spatial's 5.1, per channel within 1 dB
    in every 0.5 s window where the channel has energy (within 40 dB of its loudest),
    the LFE (fed by the static dialogue sources) included."""
    d, stats, _ = master
    ear = _ear("ear-render")
    rendered = d / "ear-0+5+0.wav"
    _run([ear, "-s", "0+5+0", stats["outputs"]["adm"]["path"], rendered])
    ours, _ = sf.read(stats["outputs"]["5.1"]["path"])
    theirs, fs = sf.read(rendered)
    assert fs == FS and theirs.shape[1] == 6  # ear's 0+5+0: M+030 M-030 M+000 LFE1 M+110 M-110
    W = FS // 2
    n = min(len(ours), len(theirs)) // W
    e_ours = np.array([np.sum(ours[k * W:(k + 1) * W] ** 2, 0) for k in range(n)])
    e_theirs = np.array([np.sum(theirs[k * W:(k + 1) * W] ** 2, 0) for k in range(n)])
    meaningful = e_ours > 1e-4 * e_ours.max(axis=0, keepdims=True)
    assert meaningful.sum() >= 26  # every channel plays (the LFE: output.lfe), 6 windows
    assert meaningful[:, 3].sum() >= 5
    diff = 10 * np.log10(e_theirs[meaningful] / e_ours[meaningful])
    print("ear-render - spatial 5.1 per window and channel (dB):", np.round(diff, 2))
    assert np.max(np.abs(diff)) < 1.0


def test_room_bed_has_no_direct_sound(tmp_path):
    """adm.room 7.1.4: the room's part alone; it starts with the first reflection (the
    floor's image, arriving after the direct sound), and the object has the direct."""
    x = np.zeros(FS // 2)
    x[0] = 1.0
    sf.write(tmp_path / "click.wav", x, FS, subtype="FLOAT")
    scene = load_scene_text(textwrap.dedent("""\
        sample_rate: 48000
        duration: 0.6
        room: {dimensions: [8, 6, 3], rt60: 0.4}
        listener: {position: [3, 3, 1.5]}
        sources:
          - {name: click, file: click.wav, position: [5, 3, 1.5]}
        output: {format: adm, adm: {room: 7.1.4}}
        """), path=tmp_path / "s.yaml")
    stats = spatial.render_to_file(scene, tmp_path / "room.wav")
    assert stats["outputs"]["adm"]["mix"]["room"] == "7.1.4"
    audio, _ = sf.read(tmp_path / "room.wav")
    assert audio.shape[1] == 1 + 12
    direct = int(round(2.0 / C * FS))
    assert np.argmax(np.abs(audio[:, 0]) > 0.5) == direct  # the object: the click at r / c
    floor = np.hypot(2.0, 3.0) / C * FS  # the first image: floor and ceiling, 3.6 m
    room = np.abs(audio[:, 1:]).max(axis=1)
    first = int(np.argmax(room > 1e-4))
    half = FRACTIONAL_TAPS // 2  # an image's fractional-delay filter starts this early
    assert floor - half - 1 <= first <= floor + 1
    assert np.max(room[:direct + half + 20]) < 1e-6  # nothing where the direct sound is
    assert np.sum(audio[:, 1:] ** 2) > 0.05  # and the room is there (reflections, tail)
    root = _axml(tmp_path / "room.wav")
    labels = [e.text for e in root.iter(f"{{{NS['a']}}}speakerLabel")]
    assert labels == ["M+030", "M-030", "M+000", "LFE1", "M+135", "M-135", "M+090", "M-090",
                      "U+045", "U-045", "U+135", "U-135"]


def test_hoa_room_bed_declared(tmp_path):
    sf.write(tmp_path / "n.wav", 0.1 * np.random.default_rng(2).standard_normal(FS // 4), FS)
    scene = load_scene_text(textwrap.dedent("""\
        sample_rate: 48000
        room: {dimensions: [5, 4, 3], rt60: 0.2}
        listener: {position: [2, 2, 1.5]}
        sources:
          - {name: n, file: n.wav, position: [3, 2.5, 1.5]}
        output: {format: adm}
        """), path=tmp_path / "s.yaml")
    stats = spatial.render_to_file(scene, tmp_path / "hoa.wav")
    assert stats["outputs"]["adm"]["mix"]["tracks"] == 17
    root = _axml(tmp_path / "hoa.wav")
    hoa = [bf for ch in root.iter(f"{{{NS['a']}}}audioChannelFormat")
           if ch.get("typeDefinition") == "HOA" for bf in ch]
    got = [(int(bf.find("a:order", NS).text), int(bf.find("a:degree", NS).text),
            bf.find("a:normalization", NS).text) for bf in hoa]
    assert got == [(n, m, "SN3D") for n in range(4) for m in range(-n, n + 1)]  # ACN order


def test_adm_refusals(tmp_path):
    sf.write(tmp_path / "n.wav", np.zeros(100), FS)
    text = """\
        listener: {position: [0, 0, 0]}
        sources: [{name: n, file: n.wav, position: [1, 0, 0]}]
        output: {format: adm, adm: {room: 5.1}}
        """
    with pytest.raises(SceneError, match=r"output\.adm\.room.*hoa3, 7\.1\.4, none"):
        load_scene_text(textwrap.dedent(text), path=tmp_path / "s.yaml")
    scene = load_scene_text(textwrap.dedent(text.replace("5.1", "none")), path=tmp_path / "s.yaml")
    with pytest.raises(SceneError, match="BW64 file"):
        spatial.render_to_file(scene, tmp_path / "x.flac")
    with pytest.raises(SceneError, match="render it to a file"):
        spatial.render(scene)
    assert not list(tmp_path.glob("x*"))


def test_ear_render_of_room_bed_matches_7_1_4(tmp_path):
    """A room scene with the 7.1.4 room bed: ear-render's 4+7+0 against spatial's 7.1.4
    within 1 dB per channel and 0.5 s window (EAR's 4+7+0 has the side pair before
    the rear pair, spatial's WAV the rear pair first: reordered by label)."""
    ear = _ear("ear-render")
    rng = np.random.default_rng(4)
    for name in ("p", "q"):
        sf.write(tmp_path / f"{name}.wav", 0.1 * rng.standard_normal(int(1.5 * FS)), FS,
                 subtype="FLOAT")
    scene = load_scene_text(textwrap.dedent("""\
        sample_rate: 48000
        room: {dimensions: [6, 5, 3], rt60: 0.3}
        listener: {position: [3, 2.5, 1.6], yaw: 20}
        sources:
          - {name: p, file: p.wav, position: [4.5, 3.5, 1.6]}
          - {name: q, file: q.wav, position: [1.2, 1.0, 2.2]}
        output: {format: [7.1.4, adm], adm: {room: 7.1.4}}
        """), path=tmp_path / "s.yaml")
    stats = spatial.render_to_file(scene, tmp_path / "r.wav")
    _run([ear, "-s", "4+7+0", stats["outputs"]["adm"]["path"], tmp_path / "ear.wav"])
    ours, _ = sf.read(stats["outputs"]["7.1.4"]["path"])
    theirs, _ = sf.read(tmp_path / "ear.wav")
    theirs = theirs[:, [0, 1, 2, 3, 6, 7, 4, 5, 8, 9, 10, 11]]  # M+135 M-135 before M+090
    W = FS // 2
    n = min(len(ours), len(theirs)) // W
    e_ours = np.array([np.sum(ours[k * W:(k + 1) * W] ** 2, 0) for k in range(n)])
    e_theirs = np.array([np.sum(theirs[k * W:(k + 1) * W] ** 2, 0) for k in range(n)])
    meaningful = e_ours > 1e-4 * e_ours.max(axis=0, keepdims=True)
    assert meaningful.sum() >= 30
    diff = 10 * np.log10(e_theirs[meaningful] / e_ours[meaningful])
    print("7.1.4 room bed: ear-render - spatial per window and channel (dB):",
          np.round(diff, 2))
    assert np.max(np.abs(diff)) < 1.0


def test_ear_render_head_turn_passage(master):
    """A listener walking and turning 120 degrees (every object moves in the head's
    frame), rendered as a passage (0.5 .. 2.5 s): ear-render's 0+5+0 against spatial's
    5.1 within 1 dB per channel and window."""
    d, _, _ = master
    ear = _ear("ear-render")
    (d / "turn.yaml").write_text(textwrap.dedent("""\
        sample_rate: 48000
        listener:
          path:
            - {t: 0, position: [0, 0, 0], yaw: 0}
            - {t: 3, position: [0.5, 0, 0], yaw: 120}
        sources:
          - {name: a, file: a.wav, position: [2, 1.2, 0]}
          - {name: b, file: b.wav, position: [-1.5, -2, 0]}
        output: {format: [5.1, adm]}
        """))
    stats = spatial.render_to_file(spatial.load_scene(d / "turn.yaml"), d / "turn.wav",
                                   start=0.5, end=2.5)
    assert stats["outputs"]["adm"]["frames"] == 2 * FS
    _run([ear, "-s", "0+5+0", stats["outputs"]["adm"]["path"], d / "turn-ear.wav"])
    ours, _ = sf.read(stats["outputs"]["5.1"]["path"])
    theirs, _ = sf.read(d / "turn-ear.wav")
    W = FS // 2
    e_ours = np.array([np.sum(ours[k * W:(k + 1) * W] ** 2, 0) for k in range(4)])
    e_theirs = np.array([np.sum(theirs[k * W:(k + 1) * W] ** 2, 0) for k in range(4)])
    meaningful = e_ours > 1e-4 * e_ours.max(axis=0, keepdims=True)
    assert meaningful.sum() >= 14
    diff = 10 * np.log10(e_theirs[meaningful] / e_ours[meaningful])
    assert np.max(np.abs(diff)) < 1.0


def test_demo_scene_exports_and_ear_renders(tmp_path):
    """The demo scene (cut to 2 s) as an ADM master with its HOA3 room bed: the EBU
    renderer reads it without a warning and renders it to 0+5+0."""
    import dataclasses

    scene = spatial.load_scene(ROOT / "scenes" / "demo.yaml").with_output(format="adm")
    scene = dataclasses.replace(scene, duration=2.0)
    stats = spatial.render_to_file(scene, tmp_path / "demo.wav")
    summary = stats["outputs"]["adm"]["mix"]
    assert (summary["objects"], summary["room"], summary["tracks"]) == (6, "hoa3", 22)
    got = json.loads(_run([_ear("python"), READER, tmp_path / "demo.wav"]))
    assert sorted(o["type"] for o in got["objects"]) == ["HOA"] + ["Objects"] * 6
    _run([_ear("ear-render"), "-s", "0+5+0", tmp_path / "demo.wav", tmp_path / "ear.wav"])
    out, fs = sf.read(tmp_path / "ear.wav")
    assert fs == FS and out.shape == (2 * FS, 6) and np.all(np.isfinite(out))
    assert np.sqrt(np.mean(out[:, [0, 1, 2, 4, 5]] ** 2)) > 1e-3  # it plays
