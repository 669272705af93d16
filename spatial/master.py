"""Mastering: gain to the loudness target, true-peak limiter, loudness passes, warnings.

One routine for every deliverable, over anything readable: ``read(a, b)`` gives
frames [a, b) of the rendered programme as (b - a, C) float64 (zeros outside
[0, n)), from the temporary float32 file of a render's first pass
(:func:`file_reader`) or from an array in memory (:func:`array_reader`). The
result goes into sinks (:mod:`spatial.sinks`): a file, an array.

- the gain that brings the measured loudness to ``target`` (LUFS);
- with a ``ceiling`` (dBTP), the look-ahead true-peak limiter
  (:class:`spatial.dsp.limiter.Limiter`). The limiter takes some loudness from
  loud transients; when the result is more than TOLERANCE_LU off the target the
  pass runs again with the gain corrected (secant steps on loudness against
  gain, :func:`next_gain`; at most MAX_PASSES in all). Only the last pass's sink
  is committed, the others aborted;
- stems get the same gain, not the limiter: before the master limiter they sum
  to the mix;
- :func:`warning`: a target the ceiling does not let the programme reach, or
  samples above full scale, is reported (the summary's warning), not hidden.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np

from spatial.sinks.base import BusView

TOLERANCE_LU = 0.1
MAX_PASSES = 6  # when the limiter takes loudness from the target
MAX_STEP_DB = 6.0  # the largest gain correction of one pass
FIXED_POINT = ("PCM_U8", "PCM_S8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW")


def clip_warning(summary: dict, subtype: str | None = None) -> str | None:
    """One line when the output has samples above full scale, else None."""
    n = summary.get("clipped", 0)
    if not n:
        return None
    what = ("clipped in the file" if (subtype or "").upper() in FIXED_POINT
            else "above full scale (players will clip them)")
    from spatial.errors import plural

    return (f"{plural(n, 'sample')} {what}: peak {summary['sample_peak']:+.1f} dBFS, true peak "
            f"{summary['true_peak']:+.1f} dBTP; set a ceiling (output.true_peak: -1) or "
            "lower the gains")


def target_warning(summary: dict) -> str | None:
    """One line when the loudness target was not reached (the ceiling held it back)."""
    target, got = summary.get("target"), summary.get("loudness")
    if target is None or got is None or abs(got - target) <= 0.5:
        return None
    if not np.isfinite(got):
        if not np.isfinite(summary.get("rendered", {}).get("loudness", -np.inf)):
            return (f"the loudness target {target:g} LUFS could not be met: the programme "
                    "is silent (below the meter's -70 LUFS gate), so there was nothing to "
                    "bring up and no gain was applied")
        return (f"the output is silent (below -70 LUFS), not the target {target:g} LUFS; "
                "lower the target or raise the ceiling")
    return (f"loudness {got:.1f} LUFS, not the target {target:g}: the true-peak ceiling "
            f"({summary.get('ceiling')} dBTP) holds the transients back; lower the target "
            "or the transients")


def warning(summary: dict, subtype: str | None = None) -> str | None:
    """The summary's warning: clipping first, else a missed target, else None.
    subtype: the deliverable's sample format (fixed point: clipped in the file)."""
    return clip_warning(summary, subtype) or target_warning(summary)


def next_gain(tried: list, target: float) -> float:
    """The next gain (dB) to try from (gain, achieved loudness) pairs: a secant step
    (the limiter makes loudness grow slower than the gain: slope in 0.05..1), of at
    most MAX_STEP_DB: where the limiter flattens a dense programme, loudness hardly
    grows with the gain, and unbounded steps ran to hundreds of dB (and silence)."""
    g, a = tried[-1]
    slope = 1.0
    if len(tried) > 1:
        (g0, a0) = tried[-2]
        if g != g0:
            slope = float(np.clip((a - a0) / (g - g0), 0.05, 1.0))
    return g + float(np.clip((target - a) / slope, -MAX_STEP_DB, MAX_STEP_DB))


Read = Callable[[int, int], np.ndarray]


def master(read: Read, n: int, layout, sample_rate: int, out: Callable[[], object], *,
           target: float | None, ceiling: float | None, measured: float,
           stems: dict | None = None, progress: Callable[[int], None] | None = None):
    """Master a programme of n frames (see the module doc) into the sink out() makes
    (a fresh one per pass); returns (summary, the committed sink). The summary:
    gain_db, limited_frames, the final loudness, loudness_range, true_peak,
    sample_peak, clipped (of the output as written, :class:`spatial.sinks.MeterSink`)
    and stems: bus -> its sink's commit() result.

    measured: the programme's integrated loudness (LUFS, from the first pass).
    stems: bus -> (read, sink): copied with the final gain, no limiter.
    progress: called with the frames of the first pass done.
    """
    from spatial.sinks.meter import MeterSink

    gain_db = 0.0
    if target is not None and np.isfinite(measured):
        gain_db = target - measured
    tried = []
    for attempt in range(MAX_PASSES):
        meter, sink = MeterSink(), out()
        limited = _pass(read, n, layout, sample_rate, gain_db, ceiling, [sink, meter],
                        progress if attempt == 0 else None)
        achieved = meter.meter.integrated()
        tried.append((gain_db, achieved))
        final = (target is None or not np.isfinite(achieved) or not limited
                 or abs(achieved - target) <= TOLERANCE_LU or attempt == MAX_PASSES - 1)
        if final:
            break
        sink.abort()
        gain_db = next_gain(tried, target)
    stems = stems or {}
    try:  # every deliverable written before any is committed
        for stem_read, stem_sink in stems.values():
            _pass(stem_read, n, layout, sample_rate, gain_db, None, [stem_sink], None)
        sink.commit()
        written = {bus: stem_sink.commit() for bus, (_, stem_sink) in stems.items()}
    except BaseException:
        for s in [sink, *(stem_sink for _, stem_sink in stems.values())]:
            s.abort()
        raise
    summary = {"gain_db": gain_db, "limited_frames": limited, **meter.summary(),
               "stems": written}
    return summary, sink


def _pass(read: Read, n: int, layout, sample_rate: int, gain_db: float, ceiling, sinks,
          progress) -> int:
    """read times the gain (through the limiter with a ceiling) into the opened sinks;
    returns the frames the limiter turned down. Aborts the sinks on any error."""
    from spatial.dsp.limiter import CHUNK, Limiter

    gain = 10.0 ** (gain_db / 20.0)

    def gained(a, b):
        return read(a, b) * gain

    limiter = Limiter(sample_rate, ceiling) if ceiling is not None else None
    try:
        for s in sinks:
            s.open(layout, sample_rate, n)
        chunks = limiter.limit(gained, n) if limiter else (
            gained(a, min(n, a + CHUNK)) for a in range(0, n, CHUNK))
        done = 0
        for chunk in chunks:
            view = BusView(chunk.astype(np.float32))
            for s in sinks:
                s.write(view)
            done += view.frames
            if progress is not None:
                progress(done)
    except BaseException:
        for s in sinks:
            s.abort()
        raise
    return limiter.reduced_frames if limiter else 0


def array_reader(audio: np.ndarray) -> Read:
    """read(a, b) over an (n, C) array (zeros outside it)."""
    n, C = audio.shape

    def read(a, b):
        x = np.zeros((b - a, C))
        lo, hi = max(a, 0), min(b, n)
        if hi > lo:
            x[lo - a:hi - a] = audio[lo:hi]
        return x

    return read


@contextlib.contextmanager
def file_reader(path):
    """read(a, b) over an audio file (zeros outside it), while the context is open."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        n, C = f.frames, f.channels

        def read(a, b):
            x = np.zeros((b - a, C))
            lo, hi = max(a, 0), min(b, n)
            if hi > lo:
                f.seek(lo)
                x[lo - a:hi - a] = f.read(hi - lo, dtype="float64", always_2d=True)
            return x

        yield read
