"""spatial.analyze: the mood profile of an audio file or of a scene's render.

- A file (anything soundfile reads) is read in blocks of BLOCK frames into a
  :class:`~spatial.analysis.sink.ProfileSink`. Its layout is ``fmt`` if given,
  else guessed from the channel count (GUESS). Two channels are binaural unless
  the file is a WAV whose WAVE_FORMAT_EXTENSIBLE mask says FL FR (0x3), as
  spatial writes stereo (it writes binaural without a mask): a 2-channel file of
  unknown origin is measured by its interaural cross-correlation, which is a fair
  width for stereo too; name ``--format stereo`` for the speakers' measures.
- A scene (a .yaml/.yml/.json path or a :class:`spatial.Scene`) is rendered
  through the normal render path (spatial.renderer.render_to_file, to a
  temporary file) with the ProfileSink attached as one more sink of its first
  format (or of ``fmt``): the sink sees the mix, the dialogue and the
  background. With ``output.loudness`` or ``output.true_peak`` the sink measures
  pass 1 (before mastering); the loudness figures are then moved by the master's
  gain and the true peak is the delivered file's (the limiter's effect on the
  other figures is not measured). The scene adds: reverberance from the room's
  own impulse responses (spatial.analysis.reverb.scene_reverberance), events
  (source starts, transitions) and the delivery target.

Motifs (``motifs=``): spatial.analysis.motifs, on the file or the rendered file.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from spatial.analysis.sii import DEFAULT_THRESHOLD
from spatial.errors import SceneError, plural

BLOCK = 65536
SCENE_SUFFIXES = (".yaml", ".yml", ".json")
GUESS = {1: "mono", 2: "binaural", 4: "foa", 6: "5.1", 8: "7.1", 9: "hoa2", 10: "5.1.4",
         12: "7.1.4", 16: "hoa3"}


def analyze(path_or_scene, window: float = 3.0, motifs=(), *, fmt: str | None = None,
            sii_threshold: float = DEFAULT_THRESHOLD):
    """The :class:`~spatial.analysis.profile.Profile` of a file or a scene (module doc).
    window: seconds per window; motifs: motif audio files to look for; fmt: the
    layout of a file's channels, or the format of a scene to render. Raises
    SceneError (naming the file) for anything unreadable."""
    from spatial.scene.model import Scene

    window = _window(window)
    if isinstance(path_or_scene, Scene) or Path(str(path_or_scene)).suffix.lower() in SCENE_SUFFIXES:
        return profile_scene(path_or_scene, window, motifs, fmt, sii_threshold)
    return profile_file(path_or_scene, window, motifs, fmt, sii_threshold)


def _window(window) -> float:
    try:
        w = float(window)
    except (TypeError, ValueError):
        w = float("nan")
    if not (np.isfinite(w) and 0.4 <= w <= 3600.0):
        raise SceneError.at(f"window must be a number of seconds from 0.4 to 3600, got "
                            f"{window!r}", key="--window")
    return w


def file_layout(path: Path, channels: int, fmt: str | None):
    """The Layout of a file's channels (module doc)."""
    from spatial.filters.layouts import get_layout
    from spatial.scene.parts import Output

    name = fmt or GUESS.get(channels)
    if name == "binaural" and fmt is None and _wave_mask(path) == 0x3:
        name = "stereo"
    if name is None:
        raise SceneError.at(f"{plural(channels, 'channel')} is no known format; name it with --format",
                            file=path)
    try:
        layout = get_layout(Output(format=name))
    except SceneError as err:
        raise SceneError.at(err.problems[0].message, file=path, key="--format") from None
    if len(layout.channels) != channels:
        raise SceneError.at(f"the file has {channels} channels, format {name} has "
                            f"{len(layout.channels)}", file=path, key="--format")
    return layout


def _wave_mask(path: Path) -> int | None:
    """The WAVE_FORMAT_EXTENSIBLE channel mask of a WAV/RF64 file, None if it has none."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        return None
    i = 12
    while i + 8 <= len(head):
        cid, size = head[i:i + 4], int.from_bytes(head[i + 4:i + 8], "little")
        if cid == b"fmt ":
            body = head[i + 8:i + 8 + size]
            if len(body) >= 24 and int.from_bytes(body[0:2], "little") == 0xFFFE:
                return int.from_bytes(body[20:24], "little")
            return None
        i += 8 + size + (size & 1)
    return None


def profile_file(path, window: float = 3.0, motifs=(), fmt: str | None = None,
                 sii_threshold: float = DEFAULT_THRESHOLD):
    """The Profile of an audio file, read in blocks (bounded memory without motifs)."""
    import soundfile as sf

    from spatial.analysis.sink import ProfileSink
    from spatial.sinks.base import BusView

    path = Path(path)
    try:
        f = sf.SoundFile(str(path))
    except (OSError, RuntimeError, sf.LibsndfileError) as err:
        raise SceneError.at(f"{path}: cannot read it as audio ({_first_line(err)})") from None
    with f:
        if f.frames == 0:
            raise SceneError.at(f"{path}: has no audio frames")
        layout = file_layout(path, f.channels, fmt)
        sink = ProfileSink(window, sii_threshold, piece=str(path))
        sink.open(layout, f.samplerate, f.frames)
        try:
            while True:
                block = f.read(BLOCK, dtype="float32", always_2d=True)
                if not block.shape[0]:
                    break
                sink.write(BusView(block))
        except (RuntimeError, sf.LibsndfileError) as err:
            sink.abort()
            raise SceneError.at(f"{path}: cannot read it as audio ({_first_line(err)})") from None
        profile = sink.commit()
    if profile.overall["loudness_lufs"] is None:
        profile.notes.setdefault("piece", profile.notes.get("overall.loudness_lufs"))
    if motifs:
        from spatial.analysis.motifs import profile_motifs

        profile.motifs = profile_motifs(path, layout, motifs)
    return profile


def _first_line(err) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def scene_of(path_or_scene, fmt: str | None = None):
    """A Scene (loaded if a path) with one output format: fmt, or its first."""
    from spatial.scene.loader import load_scene
    from spatial.scene.model import Scene

    scene = path_or_scene if isinstance(path_or_scene, Scene) else load_scene(path_or_scene)
    one = fmt or scene.output.formats[0]
    if scene.output.formats != (one,):
        scene = scene.with_output(format=one)
    return scene


def profile_scene(path_or_scene, window: float = 3.0, motifs=(), fmt: str | None = None,
                  sii_threshold: float = DEFAULT_THRESHOLD):
    """The Profile of a scene's render (module doc)."""
    from spatial.analysis.reverb import scene_reverberance
    from spatial.analysis.sink import ProfileSink
    from spatial.renderer import render_to_file

    scene = scene_of(path_or_scene, fmt)
    name = str(scene.path) if scene.path else "<scene>"
    fmt = scene.output.format
    sink = ProfileSink(window, sii_threshold, piece=name)
    with tempfile.TemporaryDirectory(prefix="spatial-analyze-") as tmp:
        out = Path(tmp) / "render.wav"
        stats = render_to_file(scene, out, sinks={fmt: [sink]})
        summary = stats["mix"]
        profile = summary["sinks"][0]
        _mastered(profile, summary)
        if motifs:
            from spatial.analysis.motifs import profile_motifs
            from spatial.filters.layouts import get_layout

            profile.motifs = profile_motifs(out, get_layout(scene.output), motifs, scene)
    reverb, reason = scene_reverberance(scene)
    profile.overall["reverberance"] = reverb
    profile.notes.pop("overall.reverberance", None)
    if reason:
        profile.notes["overall.reverberance"] = reason
    profile.events = events(scene)
    profile.target_lufs = scene.output.loudness
    return profile


def _mastered(profile, summary: dict) -> None:
    """Move pass 1's loudness figures by the master's gain; the delivered true peak."""
    gain = float(summary.get("gain_db") or 0.0)
    if summary.get("target") is None and summary.get("ceiling") is None:
        return
    o = profile.overall
    for key in ("loudness_lufs",):
        if o.get(key) is not None:
            o[key] += gain
    from spatial.analysis.profile import finite

    o["true_peak_dbtp"] = finite(summary.get("true_peak"))
    for w in profile.windows:
        for key in ("loudness_lufs", "true_peak_dbtp"):
            if w.get(key) is not None:
                w[key] += gain
    profile.short_term["lufs"] = [None if v is None else v + gain
                                  for v in profile.short_term["lufs"]]
    profile.notes["mastering"] = (f"measured before mastering and moved by its gain "
                                  f"({gain:+.2f} dB); true peak of the delivered file")


def events(scene) -> list:
    """Source starts and transitions, in time order: [{t, label}]."""
    out = [{"t": float(s.start), "label": f"{s.name} starts"} for s in scene.sources]
    for s in scene.sources:
        for tr in s.transitions:
            out.append({"t": float(tr.at), "label": f"{s.name} -> {tr.to}"})
    return sorted(out, key=lambda e: (e["t"], e["label"]))

