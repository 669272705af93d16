"""Decoded sources cached on disk, so re-rendering the same assets skips decoding.

A source file that is compressed (FLAC, OGG, MP3, ...: anything but an
uncompressed WAV / AIFF / CAF / W64 / RF64 of PCM or float samples) or that must
be resampled to the render rate costs a decode (and a resample) at every render.
The first render writes the samples exactly as its :class:`~spatial.readers.BlockReader`
hands them out (decoded, downmixed to mono for a point source or a bed's
channels kept, resampled by soxr) to a cache entry *while it streams* them: no
second pass. Later renders read the entry a chunk at a time (plain reads, no
memory map, so the resident size does not grow with the file's length) and get
the same samples, bit for bit.

Entries
    ``<root>/sources/<key>.pcm``: a 32-byte header (magic, format version,
    sample type, channels, frames) then the samples, interleaved. The sample type
    is float32 when every sample of the stream is a float32 value (integer PCM
    of at most 24 bits, or float, read at its own rate without downmixing:
    half the disk), else float64 (resampled or downmixed streams: the reader
    works in float64, and a float32 copy would not be the same samples). A
    chunk that would not survive float32 drops the entry.
Key
    a hash of the resolved path, size, mtime_ns, ctime_ns and inode of the file,
    its first and last 64 KiB, the render rate, the channel handling (mono
    downmix or n bed channels), the soxr quality, the sample type, the cache
    format version and the libsndfile and soxr versions. A file rewritten (even
    to the same size, even with its old mtime put back: the ctime changes, and
    no tool sets it back) has a new key, so a stale entry is not read; the old
    entry ages out.
Where
    ``$SPATIAL_CACHE_DIR/sources``, else ``$XDG_CACHE_HOME/spatial/sources``, else
    ``~/.cache/spatial/sources``: the HRTF cache's root
    (:func:`spatial.disk_cache.cache_dir`) plus ``sources``.
Bounds
    a stream of more than FILE_LIMIT bytes decoded (512 MiB: 46 minutes of
    float32 mono at 48 kHz, 23 of float64) is not cached, it is streamed from its file
    as before; the folder holds at most ``$SPATIAL_SOURCE_CACHE_MB`` MiB (default
    4096), the least recently used entries are removed past it (a hit touches
    its entry's mtime). Nothing is written when the disk would keep less than
    FREE_RESERVE bytes free.
Safety
    an entry is written to a ``.part`` file and renamed when the whole stream
    has been read, so a killed or failed render leaves no entry; a render that
    stops before the end of a stream (a scene shorter than its source) writes
    nothing. A ``.part`` file carries its writer's pid (:mod:`spatial.tempfiles`):
    SIGINT, SIGTERM and SIGHUP remove it; what a SIGKILL left is swept when a
    later render first looks the folder up (the writer is gone), and any older
    than a day. An unwritable or full folder, or any other error of the cache, falls back to
    decoding without a word: the cache is an optimisation only.
    ``SPATIAL_SOURCE_CACHE=0`` turns it off.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from spatial import tempfiles
from spatial.disk_cache import cache_dir

VERSION = 1
MAGIC = b"SPSRCPCM"
HEADER = struct.Struct("<8sHcxIQ8x")  # magic, version, 'f'/'d', channels, frames: 32 bytes
FILE_LIMIT = 512 * 2 ** 20  # bytes of samples: longer streams are read from their files
DEFAULT_TOTAL_MB = 4096
FREE_RESERVE = 256 * 2 ** 20  # bytes the disk keeps free after an entry is written
SNIFF = 65536  # bytes hashed at each end of the source file

# containers whose PCM / float samples libsndfile reads without decoding
PLAIN = {"WAV", "WAVEX", "RF64", "W64", "AIFF", "CAF"}
PLAIN_SUBTYPES = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}
# subtypes whose samples are float32 values (at most 24 significant bits)
FLOAT32_EXACT = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "FLOAT"}


def enabled() -> bool:
    return os.environ.get("SPATIAL_SOURCE_CACHE", "1").strip().lower() not in (
        "0", "off", "no", "false")


def folder() -> Path:
    return cache_dir() / "sources"


def total_limit() -> int:
    """Bytes the folder may hold ($SPATIAL_SOURCE_CACHE_MB MiB, default 4096)."""
    try:
        mb = float(os.environ.get("SPATIAL_SOURCE_CACHE_MB", DEFAULT_TOTAL_MB))
    except ValueError:
        mb = DEFAULT_TOTAL_MB
    return int(max(mb, 0.0) * 2 ** 20)


def worth_caching(info, fs: int) -> bool:
    """A file that costs a decode or a resample at every render."""
    plain = info.format in PLAIN and info.subtype in PLAIN_SUBTYPES
    return not plain or info.sample_rate != int(fs)


def sample_type(info, fs: int, mono: bool) -> np.dtype:
    """float32 when the stream's samples are float32 values, else float64."""
    exact = (info.sample_rate == int(fs) and (not mono or info.channels == 1)
             and info.subtype in FLOAT32_EXACT)
    return np.dtype(np.float32 if exact else np.float64)


def _sniff(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        head = f.read(SNIFF)
        if size > 2 * SNIFF:
            f.seek(size - SNIFF)
        return head + f.read(SNIFF)


def _versions() -> str:
    import soundfile as sf
    import soxr

    return f"{sf.__libsndfile_version__}|{soxr.__version__}"


class Slot:
    """The cache entry of one stream (a file at a rate, with its channel handling)."""

    def __init__(self, path: Path, channels: int, frames: int, dtype: np.dtype):
        self.path, self.channels, self.frames, self.dtype = path, channels, frames, dtype

    @classmethod
    def find(cls, info, fs: int, mono: bool, quality: str) -> "Slot | None":
        """The slot for a stream, or None when it is not to be cached (disabled, a plain
        file at the render rate, too long for the limits, the file unreadable)."""
        if not enabled() or not worth_caching(info, fs):
            return None
        _sweep_once()
        channels = 1 if mono else int(info.channels)
        dtype = sample_type(info, fs, mono)
        frames = int(info.length_at(fs))
        if frames * channels * dtype.itemsize > min(FILE_LIMIT, total_limit()):
            return None
        try:
            src = Path(info.path).resolve()
            st = os.stat(src)
            digest = hashlib.sha256(_sniff(src, st.st_size))
        except OSError:
            return None
        handling = "mono" if mono else f"bed{channels}"
        resampled = quality if info.sample_rate != int(fs) else "-"
        digest.update(f"|{VERSION}|{src}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|"
                      f"{st.st_ino}|{int(fs)}|{handling}|{resampled}|{dtype.str}|"
                      f"{_versions()}".encode())
        return cls(folder() / f"{digest.hexdigest()[:32]}.pcm", channels, frames, dtype)

    def open(self) -> "Entry | None":
        """The entry if it is there and whole, else None."""
        try:
            f = open(self.path, "rb")
        except OSError:
            return None
        try:
            magic, version, kind, channels, frames = HEADER.unpack(f.read(HEADER.size))
            ok = (magic == MAGIC and version == VERSION and kind == self.dtype.char.encode()
                  and channels == self.channels and frames <= self.frames
                  and os.fstat(f.fileno()).st_size
                  == HEADER.size + frames * channels * self.dtype.itemsize)
        except (OSError, struct.error):
            ok = False
        if not ok:
            f.close()
            return None
        try:
            os.utime(self.path)  # used now: least recently used goes first
        except OSError:
            pass
        return Entry(f, channels, frames, self.dtype)

    def create(self) -> "Filler | None":
        """A writer for the entry, or None when it cannot be written (unwritable folder,
        disk nearly full)."""
        need = HEADER.size + self.frames * self.channels * self.dtype.itemsize
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(self.path.parent).free < need + FREE_RESERVE:
                return None
            tempfiles.watch(self.path.parent)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".part",
                                       prefix=f"{self.path.stem}.{tempfiles.tag()}.")
        except OSError:
            return None
        return Filler(self, os.fdopen(fd, "wb"), Path(tmp))


class Entry:
    """A cached stream read a chunk at a time: read(n) -> (k <= n, channels) float64."""

    def __init__(self, f, channels: int, frames: int, dtype: np.dtype):
        self._f, self.channels, self.frames, self.dtype = f, channels, frames, dtype
        self.position = 0

    def read(self, n: int) -> np.ndarray:
        k = max(0, min(int(n), self.frames - self.position))
        buf = np.empty((k, self.channels), self.dtype)
        got = self._f.readinto(memoryview(buf).cast("B")) if k else 0
        if got != buf.nbytes:
            raise OSError(f"cached source {self._f.name} was cut short")
        self.position += k
        return buf.astype(np.float64, copy=False)

    def skip(self, n: int) -> int:
        """Move n frames on (at most to the end); returns the frames skipped."""
        k = max(0, min(int(n), self.frames - self.position))
        self._f.seek(k * self.channels * self.dtype.itemsize, os.SEEK_CUR)
        self.position += k
        return k

    def close(self) -> None:
        self._f.close()


class Filler:
    """Writes a stream to its entry as it is decoded; the entry appears (renamed from a
    .part file) only once the whole stream has been written. Errors drop the entry."""

    def __init__(self, slot: Slot, f, tmp: Path):
        self.slot, self._f, self._tmp = slot, f, tmp
        self.frames = 0  # written so far
        try:
            f.write(HEADER.pack(MAGIC, VERSION, slot.dtype.char.encode(), slot.channels, 0))
        except OSError:
            self.discard()

    def write(self, data: np.ndarray, last: bool) -> None:
        """Append the stream's next (k, channels) float64 samples; `last`: the stream ends
        here. Samples past the stream's stated length are not stored (nor handed out)."""
        if self._f is None:
            return
        data = data[:max(0, self.slot.frames - self.frames)]
        try:
            out = np.ascontiguousarray(data, dtype=self.slot.dtype)
            if out.dtype != data.dtype and not np.array_equal(out, data):
                raise ValueError("samples are not float32 values")
            self._f.write(memoryview(out).cast("B"))
            self.frames += out.shape[0]
            if last or self.frames >= self.slot.frames:
                self._commit()
        except (OSError, ValueError):
            self.discard()

    def _commit(self) -> None:
        f, self._f = self._f, None
        try:
            f.seek(0)
            f.write(HEADER.pack(MAGIC, VERSION, self.slot.dtype.char.encode(),
                                self.slot.channels, self.frames))
            f.close()
            os.replace(self._tmp, self.slot.path)
        except OSError:
            f.close()
            _unlink(self._tmp)
            return
        evict(self.slot.path.parent, total_limit(), keep=self.slot.path)

    def discard(self) -> None:
        """Drop the entry being written (a stream not read to its end, an error)."""
        f, self._f = self._f, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
            _unlink(self._tmp)


_swept: set = set()


def _sweep_once() -> None:
    """Remove the .part files dead renders left in the folder (once per process)."""
    where = folder()
    if where not in _swept:
        _swept.add(where)
        tempfiles.sweep(where, suffixes=(".part",))


def evict(where: Path, limit: int, keep: Path | None = None) -> None:
    """Remove the least recently used entries of `where` until they total at most `limit`
    bytes (`keep` last of all), and stale .part files (spatial.tempfiles.is_stale)."""
    entries, total, now = [], 0, time.time()
    try:
        with os.scandir(where) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if e.name.endswith(".part"):
                    if tempfiles.is_stale(e.name, st.st_mtime, now):
                        _unlink(Path(e.path))
                elif e.name.endswith(".pcm"):
                    entries.append((Path(e.path) == keep, st.st_mtime_ns, e.name, st.st_size))
                    total += st.st_size
    except OSError:
        return
    for _, _, name, size in sorted(entries):
        if total <= limit:
            break
        if _unlink(where / name):
            total -= size


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except OSError:
        return False
