"""Motifs: where a motif occurs in a piece, and what it sounds like there.

The search itself is spatial.analysis.motif.find_occurrences(signal, fs, motif,
motif_fs) (imported when asked for); this module reads the piece and each motif
(mono: the mean of the channels; ambisonics: W), and for every occurrence adds
the loudness (BS.1770 integrated over [start, end], or its plain K-weighted mean
square when shorter than a 400 ms gating block), the spectral centroid and the
width over the span, and for a scene whether the source playing the motif's own
file was diegetic then (``diegetic``: true/false, null when no source plays that
file at that time).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spatial.analysis.profile import finite
from spatial.errors import SceneError


def _read(path: Path, what: str):
    import soundfile as sf

    try:
        x, fs = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as err:
        raise SceneError.at(f"cannot read the {what} as audio ({str(err).strip().splitlines()[0]})",
                            file=path) from None
    if not x.shape[0]:
        raise SceneError.at(f"the {what} has no audio frames", file=path)
    return x, int(fs)


def _mono(x: np.ndarray, layout=None) -> np.ndarray:
    if layout is not None and layout.kind == "ambisonics":
        return x[:, 0]
    return x.mean(axis=1)


def profile_motifs(audio_path, layout, motif_paths, scene=None) -> list:
    """[{file, occurrences: [{start, end, transposition, tempo, strength, loudness_lufs,
    spectral_centroid_hz, width, diegetic}]}] for each motif file."""
    from spatial.analysis.motif import find_occurrences

    audio, fs = _read(Path(audio_path), "piece")
    signal = _mono(audio, layout)
    out = []
    for m in motif_paths:
        m = Path(m)
        motif, mfs = _read(m, "motif")
        found = find_occurrences(signal, fs, _mono(motif), mfs)
        occ = []
        for o in found:
            a = max(0, int(round(o.start * fs)))
            b = min(audio.shape[0], max(a + 1, int(round(o.end * fs))))
            occ.append({"start": float(o.start), "end": float(o.end),
                        "transposition": float(o.transposition), "tempo": float(o.tempo),
                        "strength": float(o.strength), **span_figures(audio[a:b], fs, layout),
                        "diegetic": diegetic_at(scene, m, 0.5 * (o.start + o.end))})
        out.append({"file": str(m), "occurrences": occ})
    return out


def span_figures(x: np.ndarray, fs: int, layout) -> dict:
    """loudness_lufs, spectral_centroid_hz and width of a span (n, C)."""
    from spatial.analysis.spectrum import Spectrum
    from spatial.analysis.width import WidthStats
    from spatial.dsp.loudness import Meter, channel_weights, integrated, to_lufs

    meter = Meter(fs, channel_weights(layout.channels))
    meter.add(x)
    steps = meter.steps
    loud = finite(integrated(steps)) if steps.size >= 4 else (
        finite(to_lufs(steps.mean())) if steps.size else None)
    spec = Spectrum(fs)
    spec.add(x[:, [0]] if layout.kind == "ambisonics" else
             x[:, [i for i, c in enumerate(layout.channels) if c.name != "LFE"] or [0]])
    width = WidthStats(layout, fs)
    width.add(x)
    return {"loudness_lufs": loud, "spectral_centroid_hz": spec.centroid(),
            "width": width.results()[0]["width"]}


def diegetic_at(scene, motif: Path, t: float):
    """True/False: the scene's source playing `motif`'s file at time t is diegetic then
    (after its transitions); None without a scene or such a source."""
    if scene is None:
        return None
    import soundfile as sf

    want = Path(motif).resolve()
    for s in scene.sources:
        if Path(s.file).resolve() != want:
            continue
        try:
            length = sf.info(str(s.file)).duration
        except (OSError, RuntimeError):
            continue
        if not (s.start <= t < s.start + length):
            continue
        state = bool(s.diegetic)
        for tr in sorted(s.transitions, key=lambda tr: tr.at):
            if tr.at + 0.5 * tr.over <= t:
                state = tr.to == "diegetic"
        return state
    return None
