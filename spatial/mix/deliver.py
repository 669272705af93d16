"""Deliver a render: the mix to a file (and its stems), normalised and limited, measured.

Without ``output.loudness`` or ``output.true_peak``: one pass, the mix written
block by block as the loop makes it, metered on the way.

With either: two passes, without holding the programme in memory:
1. the mix (and each stem) is rendered to a temporary float32 file beside the
   output and its loudness measured (:class:`spatial.dsp.loudness.Meter`);
2. the temporary file is read back with the gain that brings it to the target
   and, with a ceiling, through the look-ahead true-peak limiter
   (:class:`spatial.dsp.limiter.Limiter`), into the output file, metered
   again. The limiter takes some loudness from loud transients; when the
   result is more than 0.1 LU off the target, pass 2 runs again with the gain
   corrected (secant steps on loudness against gain, :func:`next_gain`; at
   most MAX_PASSES in all). A target the ceiling does not let the programme
   reach is reported (the summary's warning), not hidden.
Stems get the same gain, not the limiter: before the master limiter they sum
to the mix. Temporary files are removed whatever happens.

The summary (returned in the stats) reports the achieved integrated loudness,
loudness range and true peak, the sample peak and how many samples are above
full scale: a render that clips is never silent about it (:func:`clip_warning`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spatial.dsp.loudness import Meter, TruePeak, channel_weights, db

TOLERANCE_LU = 0.1
MAX_PASSES = 6  # of pass 2, when the limiter takes loudness from the target
FIXED_POINT = ("PCM_U8", "PCM_S8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW")


def stem_path(path, role: str) -> Path:
    """out.wav -> out.dialogue.wav"""
    path = Path(path)
    return path.with_name(f"{path.stem}.{role}{path.suffix}")


class _Measure:
    """Loudness and peaks of one signal, block by block."""

    def __init__(self, fs, channels):
        self.meter = Meter(fs, channel_weights(channels))
        self.peak = TruePeak(len(channels))

    def add(self, block):
        self.meter.add(block)
        self.peak.add(block)

    def summary(self) -> dict:
        return {"loudness": self.meter.integrated(),
                "loudness_range": self.meter.loudness_range(),
                "true_peak": self.peak.dbtp, "sample_peak": db(self.peak.sample_peak),
                "clipped": self.peak.clipped}


def clip_warning(summary: dict, subtype: str | None = None) -> str | None:
    """One line when the output has samples above full scale, else None."""
    n = summary.get("clipped", 0)
    if not n:
        return None
    what = ("clipped in the file" if (subtype or "").upper() in FIXED_POINT
            else "above full scale (players will clip them)")
    return (f"{n} samples {what}: peak {summary['sample_peak']:+.1f} dBFS, true peak "
            f"{summary['true_peak']:+.1f} dBTP; set a ceiling (output.true_peak: -1) or "
            "lower the gains")


def next_gain(tried: list, target: float) -> float:
    """The next gain (dB) to try from (gain, achieved loudness) pairs: a secant step
    (the limiter makes loudness grow slower than the gain: slope in 0.05..1)."""
    g, a = tried[-1]
    slope = 1.0
    if len(tried) > 1:
        (g0, a0) = tried[-2]
        if g != g0:
            slope = float(np.clip((a - a0) / (g - g0), 0.05, 1.0))
    return g + (target - a) / slope


def target_warning(summary: dict) -> str | None:
    """One line when the loudness target was not reached (the ceiling held it back)."""
    target, got = summary.get("target"), summary.get("loudness")
    if target is None or got is None or not np.isfinite(got) or abs(got - target) <= 0.5:
        return None
    return (f"loudness {got:.1f} LUFS, not the target {target:g}: the true-peak ceiling "
            f"({summary.get('ceiling')} dBTP) holds the transients back; lower the target "
            "or the transients")


def deliver(scene, p, path, subtype=None, progress=None, block_size=None,
            stems: bool = False) -> dict:
    """Render plan p of scene to `path` (and stems); returns the summary (see module doc)."""
    from spatial.filters.layouts import file_mask
    from spatial.mix.buses import mix_loop
    from spatial.progress import ProgressTicks
    from spatial.writer import check_output, open_output

    path = Path(path)
    fs, C, n = p.sample_rate, p.n_channels, p.length
    loop = mix_loop(p, scene, block_size, stems)
    want_stems = bool(stems or scene.output.stems)
    stem_paths = {r: stem_path(path, r) for r in loop.roles} if want_stems else {}
    for sp in stem_paths.values():
        check_output(sp, fs, C, subtype, n)
    mask = file_mask(scene.output.format)
    target, ceiling = scene.output.loudness, scene.output.true_peak
    two_pass = target is not None or ceiling is not None
    total = 2 * n if two_pass else n

    def out(target_path, kind="final"):
        st = "FLOAT" if kind == "temp" else subtype
        return open_output(target_path, fs, C, st, mask, frames_hint=n)

    summary = {"target": target, "ceiling": ceiling, "gain_db": 0.0}
    with ProgressTicks(progress, total) as tick:
        if not two_pass:
            measure = _Measure(fs, p.channels)
            _render_pass(loop, path, stem_paths, out, measure, tick)
            summary.update(measure.summary())
        else:
            temps = {None: _temp(path)} | {r: _temp(sp) for r, sp in stem_paths.items()}
            try:
                first = _Measure(fs, p.channels)
                _render_pass(loop, temps[None], {r: temps[r] for r in stem_paths},
                             lambda t, kind="temp": out(t, "temp"), first, tick)
                summary["rendered"] = first.summary()
                measured = first.meter.integrated()
                gain_db = 0.0
                if target is not None and np.isfinite(measured):
                    gain_db = target - measured
                tried = []
                for attempt in range(MAX_PASSES):
                    final = _Measure(fs, p.channels)
                    limited = _copy(temps[None], path, out, gain_db, ceiling, final,
                                    tick if attempt == 0 else None, n)
                    achieved = final.meter.integrated()
                    tried.append((gain_db, achieved))
                    if (target is None or not np.isfinite(achieved)
                            or abs(achieved - target) <= TOLERANCE_LU or not limited):
                        break
                    gain_db = next_gain(tried, target)
                summary.update(final.summary())
                summary["gain_db"] = gain_db
                summary["limited_frames"] = limited
                for r, sp in stem_paths.items():
                    _copy(temps[r], sp, out, gain_db, None, None, None, n)
            finally:
                for t in temps.values():
                    try:
                        os.unlink(t)
                    except OSError:
                        pass
    summary["dialogue_to_background"] = loop.dialogue_to_background()
    summary["stems"] = {r: str(sp) for r, sp in stem_paths.items()}
    from spatial.writer import WRITE_FORMATS

    default = WRITE_FORMATS.get(path.suffix.lower(), (None, "FLOAT"))[1]
    summary["warning"] = clip_warning(summary, subtype or default) or target_warning(summary)
    return summary


def _temp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.pass1.wav")


SINK_DEPTH = 2  # blocks handed to the sink thread and not yet written (bounded memory)


def _render_pass(loop, path, stem_paths, out, measure, tick) -> None:
    """Pass 1 (or the only pass): the loop's mix to path, its buses to stem_paths.

    With more than one thread, writing and metering run in one sink thread while the
    loop renders the next block (libsndfile's writes, the meter's kernels and numpy
    release the GIL): the blocks reach the files and the meter in the same order, so
    the files and the figures are the same, bit for bit, as on one thread.
    """
    import contextlib
    from collections import deque

    from spatial.plan import _threads

    done = 0
    with contextlib.ExitStack() as stack:
        main = stack.enter_context(out(path))
        stem_out = {r: stack.enter_context(out(sp)) for r, sp in stem_paths.items()}

        def sink(mix, stems):
            main.write(mix)
            measure.add(mix)
            for r, w in stem_out.items():
                w.write(stems[r])

        if _threads() < 2:
            for mix, stems in loop.blocks():
                sink(mix, stems)
                done += mix.shape[0]
                tick(done)
            return
        from concurrent.futures import ThreadPoolExecutor

        pending = deque()
        with ThreadPoolExecutor(1, thread_name_prefix="spatial-sink") as pool:
            try:
                for mix, stems in loop.blocks():  # the loop reuses its buffers: copies
                    if len(pending) >= SINK_DEPTH:
                        pending.popleft().result()  # (raises the sink's error, if any)
                    pending.append(pool.submit(sink, mix.copy(),
                                               {r: stems[r].copy() for r in stem_out}))
                    done += mix.shape[0]
                    tick(done)
                while pending:
                    pending.popleft().result()
            finally:
                for job in pending:
                    job.cancel()


def _copy(src: Path, dst: Path, out, gain_db: float, ceiling, measure, tick, n: int) -> int:
    """Pass 2: src times the gain (through the limiter when ceiling is set) into dst;
    returns the number of frames the limiter turned down."""
    import soundfile as sf

    from spatial.dsp.limiter import CHUNK, Limiter

    gain = 10.0 ** (gain_db / 20.0)
    with sf.SoundFile(str(src)) as f, out(dst) as w:
        C = f.channels

        def read(a, b):
            x = np.zeros((b - a, C))
            lo, hi = max(a, 0), min(b, n)
            if hi > lo:
                f.seek(lo)
                x[lo - a:hi - a] = f.read(hi - lo, dtype="float64", always_2d=True)
            return x * gain

        limiter = Limiter(f.samplerate, ceiling) if ceiling is not None else None
        chunks = limiter.limit(read, n) if limiter else (
            read(a, min(n, a + CHUNK)) for a in range(0, n, CHUNK))
        done = 0
        for chunk in chunks:
            block = chunk.astype(np.float32)
            w.write(block)
            if measure is not None:
                measure.add(block)
            done += block.shape[0]
            if tick is not None:
                tick(n + done)
    return limiter.reduced_frames if limiter else 0


def master_array(audio: np.ndarray, fs: int, channels, target, ceiling) -> tuple[np.ndarray, dict]:
    """The in-memory version of pass 2 (spatial.renderer.render): audio (n, C) float32
    normalised to target and limited to ceiling, and its summary."""
    first = _Measure(fs, channels)
    first.add(audio)
    n = audio.shape[0]
    summary = {"target": target, "ceiling": ceiling, "gain_db": 0.0}
    if target is None and ceiling is None:
        summary.update(first.summary())
        return audio, summary
    from spatial.dsp.limiter import CHUNK, Limiter

    measured = first.meter.integrated()
    gain_db = target - measured if target is not None and np.isfinite(measured) else 0.0
    tried = []
    for _ in range(MAX_PASSES):
        gain = 10.0 ** (gain_db / 20.0)

        def read(a, b):
            x = np.zeros((b - a, audio.shape[1]))
            lo, hi = max(a, 0), min(b, n)
            x[lo - a:hi - a] = audio[lo:hi]
            return x * gain

        limiter = Limiter(fs, ceiling) if ceiling is not None else None
        chunks = limiter.limit(read, n) if limiter else (
            read(a, min(n, a + CHUNK)) for a in range(0, n, CHUNK))
        result = np.concatenate([c.astype(np.float32) for c in chunks] or
                                [np.zeros((0, audio.shape[1]), np.float32)])
        final = _Measure(fs, channels)
        final.add(result)
        achieved = final.meter.integrated()
        tried.append((gain_db, achieved))
        if (target is None or not np.isfinite(achieved) or not limiter
                or not limiter.reduced_frames or abs(achieved - target) <= TOLERANCE_LU):
            break
        gain_db = next_gain(tried, target)
    summary.update(final.summary())
    summary["gain_db"] = gain_db
    summary["warning"] = target_warning(summary)
    return result, summary
