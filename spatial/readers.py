"""Audio files read block by block at the scene's sample rate.

A :class:`BlockReader` decodes a file a block at a time (soundfile), downmixes
a point source to mono (the channel mean) or keeps a bed's channels, and
resamples with soxr's streaming resampler (the same samples as
``soxr.resample`` on the whole file, whatever the block size). Memory is a few
blocks per file, whatever the file's length. A compressed or resampled file is
decoded once: its stream is cached on disk as it is read, and later renders read
the cache (:mod:`spatial.source_cache`: the same samples, bit for bit).

:func:`probe` opens a file once at planning time, so a missing or unreadable
file is refused before any rendering starts; a NaN, infinite or overflowing
sample found while streaming, or a block that fails to decode, is raised as a
SceneError naming the file and the time (:mod:`spatial.audio_check`) during the
render (the output file is then not committed).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spatial import source_cache
from spatial.audio_check import check_block
from spatial.errors import SceneError

DECODE_FRAMES = 16384  # frames decoded per soundfile call (a multiple of any block)
QUALITY = "VHQ"  # soxr quality: very high


@dataclass(frozen=True)
class FileInfo:
    """What planning needs to know of a source file."""

    path: Path
    channels: int
    frames: int  # at the file's own rate
    sample_rate: int
    format: str = ""  # libsndfile's major format and subtype ("FLAC", "PCM_24")
    subtype: str = ""

    def length_at(self, fs: int) -> int:
        """Frames after resampling to fs: soxr's length, round(frames * fs / rate)."""
        num, den = self.frames * int(fs), self.sample_rate
        return num // den + (2 * (num % den) >= den)


def _fail(path: Path, key: str | None, exc: BaseException) -> SceneError:
    if isinstance(exc, FileNotFoundError) or not path.exists():
        return SceneError.at("audio file not found", file=path, key=key)
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return SceneError.at(f"cannot read audio file: {reason}", file=path, key=key)


def probe(path, key: str | None = None) -> FileInfo:
    """Open `path` and read its header; SceneError (naming `key`) if it cannot be read."""
    import soundfile as sf

    path = Path(path)
    from spatial.audio_check import header_problem

    try:
        with sf.SoundFile(str(path)) as f:
            info = FileInfo(path, int(f.channels), int(f.frames), int(f.samplerate),
                            str(f.format), str(f.subtype))
            problem = header_problem(f)
    except Exception as exc:  # libsndfile's reasons are varied; the message says which
        raise _fail(path, key, exc) from None
    if problem:  # a file changed since the scene was loaded
        raise SceneError.at(problem, file=path, key=key)
    return info


class BlockReader:
    """Sequential blocks of one file at rate `fs`: (n, channels) float64, zeros after the end.

    mono: downmix to one channel (the channel mean). gain: linear factor applied
    to every sample. The stream has exactly `length` frames (FileInfo.length_at).
    """

    def __init__(self, info: FileInfo, fs: int, *, mono: bool, gain: float = 1.0,
                 key: str | None = None):
        self.info, self.key, self.gain = info, key, float(gain)
        self.mono = bool(mono)
        self.channels = 1 if mono else info.channels
        self.length = info.length_at(fs)
        self.position = 0  # frames handed out so far
        self._eof = False
        self._decoded = 0  # frames of the file decoded (its own rate)
        self._pending = np.zeros((0, self.channels))  # decoded (and resampled), not handed out
        self._file = self._resampler = self._cached = self._filler = None
        slot = source_cache.Slot.find(info, fs, self.mono, QUALITY)
        self._cached = slot.open() if slot is not None else None
        if self._cached is not None:
            return  # the stream comes from the cache: no decoder, no resampler
        import soundfile as sf

        try:
            self._file = sf.SoundFile(str(info.path))
        except Exception as exc:
            raise _fail(info.path, key, exc) from None
        if info.sample_rate != fs:
            import soxr

            self._resampler = soxr.ResampleStream(info.sample_rate, fs, self.channels,
                                                  dtype="float64", quality=QUALITY)
        if slot is not None:
            self._filler = slot.create()  # the stream is written to the cache as it is read

    @property
    def cached(self) -> bool:
        """True when the stream is read from the source cache."""
        return self._cached is not None

    @property
    def cost(self) -> float:
        """Relative decoding cost per frame (for sharing streams among threads)."""
        if self._cached is not None:
            return self.channels * 0.25
        return self.info.channels * (2.0 if self._resampler is not None else 1.0)

    def close(self) -> None:
        if self._filler is not None:
            self._filler.discard()  # a stream not read to its end leaves no entry
        for f in (self._file, self._cached):
            if f is not None:
                f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _decode(self) -> np.ndarray:
        """The next chunk of the stream at rate fs (may be empty before the end)."""
        if self._cached is not None:
            try:
                data = self._cached.read(DECODE_FRAMES)
            except OSError as exc:
                raise _fail(self.info.path, self.key, exc) from None
            self._eof = data.shape[0] < DECODE_FRAMES
            return data
        at = self._decoded  # frames of the file decoded so far, at its own rate
        try:
            data = self._file.read(DECODE_FRAMES, dtype="float64", always_2d=True)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SceneError.at(f"cannot decode the audio file past "
                                f"{at / self.info.sample_rate:.2f} s ({reason}): truncated "
                                "or damaged", file=self.info.path, key=self.key) from None
        self._decoded += data.shape[0]
        last = data.shape[0] < DECODE_FRAMES
        problem = check_block(data, at, self.info.sample_rate)
        if problem:  # NaN, infinite or overflowing samples: named with their time
            raise SceneError.at(problem, file=self.info.path, key=self.key)
        if self.mono and data.shape[1] > 1:
            data = data.mean(axis=1, keepdims=True)
        if self._resampler is not None:
            data = self._resampler.resample_chunk(np.ascontiguousarray(data), last=last)
            data = np.asarray(data, dtype=np.float64).reshape(-1, self.channels)
        self._eof = last
        if self._filler is not None:
            self._filler.write(data, last)
        return data

    def read_into(self, out: np.ndarray) -> None:
        """Fill `out` ((n,) for one channel, or (n, channels)) with the next n frames times gain."""
        n = out.shape[0]
        view = out.reshape(n, self.channels)
        done = 0
        while done < n:
            if self._pending.shape[0] == 0:
                if self._eof or self.position >= self.length:
                    view[done:] = 0.0
                    break
                self._pending = self._decode()
                continue
            take = min(n - done, self._pending.shape[0], self.length - self.position)
            if take <= 0:  # the resampler's last frames beyond the stated length
                self._pending = self._pending[:0]
                self._eof = True
                continue
            np.multiply(self._pending[:take], self.gain, out=view[done:done + take])
            self._pending = self._pending[take:]
            self.position += take
            done += take

    def skip(self, n: int) -> None:
        """Drop the next n frames: a seek where the stream is read as stored (a file at
        the render rate, or the source cache), else decoded and dropped (the resampler's
        state then runs on exactly as when every frame is read)."""
        held = min(n, self._pending.shape[0])
        self._pending = self._pending[held:]
        self.position += held
        n = min(n - held, max(self.length - self.position, 0))
        if n > 0 and self._resampler is None:
            if self._cached is not None:
                self.position += self._cached.skip(n)
                return
            if self._filler is not None:  # an entry must hold the whole stream
                self._filler.discard()
                self._filler = None
            try:
                self._file.seek(n, 1)  # SEEK_CUR
            except Exception as exc:
                raise _fail(self.info.path, self.key, exc) from None
            self.position += n
            self._decoded += n
            return
        scratch = np.empty((min(n, DECODE_FRAMES), self.channels))
        while n > 0:
            k = min(n, scratch.shape[0])
            self.read_into(scratch[:k])
            n -= k
