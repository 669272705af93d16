"""Audio inputs a render can trust: the checks every reader of a user's audio shares.

Three levels, from cheapest:

- :func:`header_problem`, at load time (every scene, ``spatial validate``): the
  sample rate within SOURCE_RATE_RANGE (a header claiming 1 Hz would be resampled
  into an enormous stream, one claiming 2 GHz into nothing), the channel count,
  the length within the limits of :mod:`spatial.scene.limits`;
- :func:`tail_problem`, at planning time, without decoding: a compressed file
  whose header promises more frames than its data holds (a cut FLAC) cannot seek
  to its last frame; the readable length is found by bisection (a few seeks) and
  the file is refused, naming the time its data ends. For WAV files, whose length
  libsndfile takes from the file's size, :func:`declared_shortfall` compares the
  header's data size with the bytes present: such a file renders what is there,
  with a warning saying so;
- :func:`check_block` on every block the readers decode (and :func:`scan`, the
  whole file, for ``spatial validate``): NaN, infinite or overflowing samples
  (beyond MAX_SAMPLE, +120 dBFS: finite, but a render in single precision would
  overflow on them) are refused with the file and the time of the first bad
  sample; a block that fails to decode is refused with the time where it failed.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from spatial.scene.limits import MAX_SAMPLE, MAX_SOURCE_CHANNELS, SOURCE_RATE_RANGE

PLAIN = {"WAV", "WAVEX", "RF64", "W64", "AIFF", "CAF"}  # length from the file's size


def header_problem(info) -> str | None:
    """What is wrong with a file's header (soundfile.info / SoundFile), or None."""
    lo, hi = SOURCE_RATE_RANGE
    rate = int(info.samplerate)
    if not lo <= rate <= hi:
        return (f"sample rate {rate} Hz in the file's header is outside {lo}..{hi} Hz "
                "(the file is damaged, or not audio at a usable rate)")
    if not 1 <= int(info.channels) <= MAX_SOURCE_CHANNELS:
        return f"{info.channels} channels: at most {MAX_SOURCE_CHANNELS} are supported"
    return None


def _readable(f, at: int) -> bool:
    try:
        f.seek(at)
        return f.read(1, dtype="float32").shape[0] == 1
    except Exception:  # noqa: BLE001 - libsndfile's errors have no common type
        return False


def tail_problem(path) -> str | None:
    """A compressed file that cannot reach its last frame: where its data ends; else
    None (plain files are cut to their size by libsndfile: declared_shortfall)."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            frames, fs, fmt = int(f.frames), int(f.samplerate), str(f.format)
            if fmt in PLAIN or frames <= 0 or _readable(f, frames - 1):
                return None
    except Exception:  # noqa: BLE001 - unreadable files are reported by the header check
        return None
    lo, hi = 0, frames - 1
    while hi - lo > max(1, fs // 100):  # to 10 ms
        mid = (lo + hi) // 2
        with sf.SoundFile(str(path)) as f:
            ok = _readable(f, mid)
        lo, hi = (mid, hi) if ok else (lo, mid)
    return (f"truncated or damaged: its header says {frames / fs:.2f} s, its data cannot "
            f"be decoded past {lo / fs:.2f} s")


def declared_shortfall(path) -> tuple[float, float] | None:
    """(seconds the header of a RIFF/RF64 WAV file announces, seconds it holds) when its
    data chunk claims more bytes than the file has, else None."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if head[:4] not in (b"RIFF",) or head[8:12] != b"WAVE":
        return None
    pos, fmt, declared = 12, None, None
    while pos + 8 <= len(head):
        cid, n = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if cid == b"fmt " and pos + 24 <= len(head):
            _, ch, rate, _, align = struct.unpack_from("<HHIIH", head, pos + 8)
            fmt = (rate, align)
        if cid == b"data":
            declared = (n, size - pos - 8)
            break
        pos += 8 + n + (n & 1)
    if fmt is None or declared is None or not fmt[0] or not fmt[1]:
        return None
    (n, present), (rate, align) = declared, fmt
    if n <= present:
        return None
    return n / align / rate, max(present, 0) / align / rate


def check_block(data: np.ndarray, first_frame: int, fs: float) -> str | None:
    """None when every sample of a decoded block (frames at the file's rate fs, the
    block starting at first_frame) is finite and within MAX_SAMPLE; else what and
    when the first bad one is."""
    if not data.size:
        return None
    peak = np.max(np.abs(data))
    if peak <= MAX_SAMPLE:  # NaN compares False
        return None
    bad = ~(np.abs(data) <= MAX_SAMPLE)
    frame, _ = np.unravel_index(int(np.argmax(bad)), data.shape) if data.ndim > 1 else (
        int(np.argmax(bad)), 0)
    value = data.reshape(data.shape[0], -1)[frame][bad.reshape(data.shape[0], -1)[frame]][0]
    t = (first_frame + int(frame)) / fs
    where = f"at {t:.3f} s (frame {first_frame + int(frame)})"
    if np.isnan(value):
        return f"audio file holds a NaN sample {where}"
    if np.isinf(value):
        return f"audio file holds an infinite sample {where}"
    return (f"audio file holds a sample of {value:.3g} {where}, beyond the +-{MAX_SAMPLE:g} "
            "(+120 dBFS) that a render can carry")


def scan(path, block: int = 65536) -> str | None:
    """Decode a whole file (block by block: memory bounded) and return its first
    problem (header, decoding, samples), or None: ``spatial validate``'s check."""
    import soundfile as sf

    try:
        f = sf.SoundFile(str(path))
    except Exception as exc:  # noqa: BLE001
        return f"cannot read audio file: {str(exc).splitlines()[0] if str(exc) else exc}"
    with f:
        problem = header_problem(f)
        if problem:
            return problem
        fs, done = int(f.samplerate), 0
        while True:
            try:
                data = f.read(block, dtype="float64", always_2d=True)
            except Exception as exc:  # noqa: BLE001
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return (f"cannot decode the audio file past {done / fs:.2f} s of "
                        f"{f.frames / fs:.2f} s ({reason}): truncated or damaged")
            problem = check_block(data, done, fs)
            if problem:
                return problem
            done += data.shape[0]
            if data.shape[0] < block:
                break
    if done < f.frames:
        return (f"truncated: its header says {f.frames / fs:.2f} s, its data ends at "
                f"{done / fs:.2f} s")
    return None


def shortfall_warning(path) -> str | None:
    """The warning for a WAV file whose header announces more than it holds."""
    short = declared_shortfall(path)
    if short is None:
        return None
    said, held = short
    return (f"{Path(path).name}: its header announces {said:.2f} s of audio, the file holds "
            f"{held:.2f} s: rendering what is there")


def scene_audio(scene, full: bool = False):
    """(problems, warnings) of every source file of a scene: full=True decodes each
    whole file (:func:`scan`, ``spatial validate``), else only the shortfall of WAV
    headers (the header checks ran when the scene was loaded). Each problem names the
    scene key of the file."""
    from spatial.errors import Problem

    problems, warnings, seen = [], [], {}
    for i, src in enumerate(scene.sources):
        key = f"sources[{i}].file"
        path = str(src.file)
        if path not in seen:
            seen[path] = (scan(path) if full else None, shortfall_warning(path))
        problem, warning = seen[path]
        if problem:
            problems.append(Problem(f"{path}: {problem}", **scene.where(key)))
        if warning and warning not in warnings:
            warnings.append(warning)
    return problems, warnings


def checked_file(ck, node, key: str) -> Path | None:
    """A source's `file` key (spatial.scene.validate): it exists, libsndfile reads its
    header, and the header and tail checks pass; else reported on the Checker, None."""
    p = ck.existing_file(node, key, "audio file")
    if p is None or not p.is_file():
        return None
    try:
        import soundfile

        info = soundfile.info(str(p))
    except Exception as err:  # noqa: BLE001 - libsndfile's errors have no common type
        reason = str(err).splitlines()[-1] if str(err) else type(err).__name__
        ck.add(node, key, f"cannot read audio file {p}: {reason} (use WAV, FLAC, AIFF or OGG)")
        return None
    problem = header_problem(info) or tail_problem(p)
    if problem:
        ck.add(node, key, f"{p}: {problem}")
        return None
    return p
