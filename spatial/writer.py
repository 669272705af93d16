"""Output audio files, written block by block: the only module that writes audio.

    with open_output("episode.wav", 48000, 12, channel_mask=layout.mask, frames_hint=n) as out:
        for block in blocks:          # (frames, channels) float32
            out.write(block)
    # committed: the temporary file was renamed onto episode.wav

The file is written to a temporary file beside the target and renamed into
place only when the ``with`` block ends normally; on any exception the
temporary file is deleted, so a failed render never leaves a partial file.

Same samples, same file, bit for bit: no PEAK chunk (libsndfile would put the
time of writing in it), no other timestamps. Multichannel WAV (more than two
channels, or any channel_mask) is WAVE_FORMAT_EXTENSIBLE carrying the layout's
dwChannelMask (``Layout.mask`` of spatial.filters.layouts, whose channel order is
the mask's; 0: channels without speaker positions, e.g. ambisonics). The mask is
written into the fmt chunk after libsndfile closes the file (RIFF and RF64
alike). libsndfile's own route, SFC_SET_CHANNEL_MAP_INFO, writes a nonzero mask
but not 0: given no map it labels 4, 6 and 8 channels as quad, 5.1(back) and
7.1(wide) (0x33, 0x3F, 0xFF), which would mislabel ambisonic and custom files;
one patch for every mask is simpler than two routes.

FLAC has no mask field: its channel order is fixed by the channel count (FLAC
format, "channel assignment"; ffmpeg and libFLAC read 6 channels as FL FR FC
LFE SL SR and 8 as FL FR FC LFE BL BR SL SR). A reader may take another layout
from a WAVEFORMATEXTENSIBLE_CHANNEL_MASK Vorbis comment, but libsndfile cannot
write arbitrary comments, so a FLAC file is written only with a mask that is its
channel count's fixed order (FLAC_MASKS) or with 0 (unlabelled: the reader then
assumes that order anyway).

WAV data over 4 GiB does not fit a RIFF header (32-bit sizes: it would read
back truncated). When ``frames_hint`` says the file can pass RIFF_LIMIT_BYTES
it is written as RF64 (EBU Tech 3306, which BW64 / ITU-R BS.2088 extends):
a ds64 chunk holds the 64-bit sizes, the fmt chunk is WAVE_FORMAT_EXTENSIBLE
with the same channel mask. Without a hint, libsndfile writes RF64 with its
auto-downgrade: a plain RIFF file with a JUNK chunk in place of ds64 if it
ends up under 4 GiB.

:func:`check_output` refuses a bad output (folder, extension, sample format,
channel count, disk space) before any rendering starts.
"""
from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from spatial.errors import SceneError, SpatialError, plural

# Largest RIFF file: the RIFF and data chunk sizes are unsigned 32-bit. A module
# constant so tests can lower it and check the switch to RF64 on a small file.
RIFF_LIMIT_BYTES = 0xFFFFFFFF
HEADER_BYTES = 1024  # room for every chunk before the samples (WAVEX fmt, fact, ds64: < 200)

# extension -> (libsndfile major format, default subtype)
WRITE_FORMATS = {".wav": ("WAV", "FLOAT"), ".flac": ("FLAC", "PCM_24")}
# The sample formats offered per container, with their bytes per sample. WAV
# keeps to those RF64 also holds, so the switch to RF64 never changes them.
SUBTYPES = {
    "WAV": {"PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
            "ULAW": 1, "ALAW": 1},
    "FLAC": {"PCM_S8": 1, "PCM_16": 2, "PCM_24": 3},
}
MAX_CHANNELS = {"WAV": 1024, "FLAC": 8}  # libsndfile's SF_MAX_CHANNELS; the FLAC format's 8
# FLAC's fixed channel order per channel count, as the WAVE mask a reader gives it
# (ffmpeg's flac_channel_layouts: mono stereo 3.0 quad 5.0(side) 5.1(side) 6.1 7.1)
FLAC_MASKS = {1: 0x4, 2: 0x3, 3: 0x7, 4: 0x33, 5: 0x607, 6: 0x60F, 7: 0x70F, 8: 0x63F}

# ring-out margin of the estimate: 70 dB of decay is 7/6 rt60; rooms given by
# absorption (no rt60) are assumed to ring no longer than DEFAULT_RT60_S
RING_PER_RT60, DEFAULT_RT60_S, RING_MARGIN_S = 1.5, 3.0, 0.5

SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile commands (sndfile.h)
SFC_RF64_AUTO_DOWNGRADE = 0x1210


def _spec(path: Path, subtype: str | None) -> tuple[str, str]:
    """(major format, subtype) of an output path, or SceneError naming what is supported."""
    ext = path.suffix.lower()
    if ext not in WRITE_FORMATS:
        raise SceneError.at(f"unsupported output extension {ext or '(none)'!r}; supported: "
                            + ", ".join(WRITE_FORMATS), file=path)
    major, default = WRITE_FORMATS[ext]
    subtype = (subtype or default).upper()
    if subtype not in SUBTYPES[major]:
        raise SceneError.at(f"sample format {subtype} is not supported for {ext} files; "
                            f"supported: {', '.join(SUBTYPES[major])}", file=path)
    return major, subtype


def data_bytes(frames: int, channels: int, subtype: str) -> int:
    """Size of the file's sample data (uncompressed), in bytes."""
    bps = SUBTYPES["WAV"].get(subtype) or SUBTYPES["FLAC"][subtype]
    return int(frames) * int(channels) * bps


def needs_rf64(frames: int, channels: int, subtype: str) -> bool:
    """Whether a WAV file of this many frames can pass the RIFF size limit."""
    return data_bytes(frames, channels, subtype) + HEADER_BYTES > RIFF_LIMIT_BYTES


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_output(path: str | Path, sample_rate: int, n_channels: int,
                 subtype: str | None = None, frames_estimate: int | None = None) -> None:
    """Refuse an output file that cannot be written, before any work starts.

    Checks: extension (.wav, .flac) and sample format; channel count against the
    container (FLAC holds at most 8); the folder exists and a file can be made
    in it; the estimated size (uncompressed: an upper bound for FLAC) fits the
    free disk space. Raises SceneError (one problem, naming the file); creates
    nothing (a probe file is made and removed at once).
    """
    path = Path(path)
    major, subtype = _spec(path, subtype)
    if not 1 <= n_channels <= MAX_CHANNELS[major]:
        raise SceneError.at(f"{n_channels} channels do not fit a {path.suffix.lower()} file "
                            f"(at most {MAX_CHANNELS[major]})"
                            + ("; write .wav instead" if major == "FLAC" else ""), file=path)
    if int(sample_rate) <= 0:
        raise SceneError.at(f"bad sample rate {sample_rate}", file=path)
    folder = _folder(path)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise SceneError.at(f"output folder {what}", file=folder)
    if path.is_dir():
        raise SceneError.at("output path is a folder", file=path)
    try:  # os.access says yes to root on a read-only file system; making a file tells
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SceneError.at(f"output folder is not writable ({exc.strerror})",
                            file=folder) from None
    if frames_estimate is not None:
        need = data_bytes(frames_estimate, n_channels, subtype) + HEADER_BYTES
        free = shutil.disk_usage(folder).free
        if need > free:
            raise SceneError.at(f"not enough disk space: the output needs about "
                                f"{_size(need)}, {_size(free)} free", file=path)


def estimate_frames(scene) -> int:
    """Output length of a scene, in frames, estimated before reading any audio.

    scene.duration if given; else the latest source end (start + file length,
    from the file header) plus a margin for the room to ring out. Used to check
    disk space before rendering; the writer gets the exact length from the plan.
    """
    import soundfile as sf

    fs = scene.sample_rate
    if scene.duration is not None:
        return int(round(scene.duration * fs))
    end = 0.0
    for src in scene.sources:
        try:
            info = sf.info(str(src.file))
        except Exception:  # noqa: BLE001 - the render reports unreadable files
            continue
        end = max(end, src.start + info.frames / info.samplerate)
    if scene.room is not None:  # the tail decays 70 dB (see spatial.room.late) and more
        end += RING_PER_RT60 * (scene.room.rt60 or DEFAULT_RT60_S) + scene.room.crossover
    return int(round((end + RING_MARGIN_S) * fs))


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _set_channel_mask(path: Path, mask: int) -> None:
    """Patch dwChannelMask of a WAVE_FORMAT_EXTENSIBLE file (RIFF or RF64) in place."""
    with open(path, "r+b") as f:
        header = f.read(4096)
        pos = header.find(b"fmt ")
        if pos < 0:
            raise RuntimeError("no fmt chunk")
        size, tag = struct.unpack("<IH", header[pos + 4:pos + 10])
        if tag != 0xFFFE or size < 40:
            raise RuntimeError("not WAVE_FORMAT_EXTENSIBLE")
        f.seek(pos + 8 + 20)
        f.write(struct.pack("<I", mask))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputWriter:
    """An output file being written; see :func:`open_output`.

    write(block) appends (frames, channels) samples (float32; 1-D for one
    channel). commit() closes the file and renames it into place; abort()
    deletes it. As a context manager: commit on success, abort on any exception.
    """

    def __init__(self, path: Path, sample_rate: int, channels: int, subtype: str,
                 container: str, channel_mask: int | None, auto_downgrade: bool = False):
        import soundfile as sf
        from soundfile import _ffi, _snd

        self.path, self.sample_rate, self.channels = path, int(sample_rate), int(channels)
        self.subtype, self.container = subtype, container  # container: WAV, WAVEX, RF64, FLAC
        self.frames = 0
        self._mask = channel_mask
        self._limit = None
        if container in ("WAV", "WAVEX"):  # never let a RIFF file pass its limit silently
            self._limit = RIFF_LIMIT_BYTES - HEADER_BYTES
        from spatial import tempfiles

        self._tmp = tempfiles.make(_folder(path), f".{path.name}.", ".part")
        tmp = str(self._tmp)
        try:
            self._file = sf.SoundFile(tmp, "w", self.sample_rate, self.channels,
                                      subtype=subtype, format=container)
            if container in ("WAV", "WAVEX"):
                # libsndfile adds a PEAK chunk to float WAV files, holding the time of
                # writing: the same render written a second later would differ. Turn it
                # off. Not for RF64, which has none: there this command (1.2.2) adds one.
                _snd.sf_command(self._file._file, SFC_SET_ADD_PEAK_CHUNK, _ffi.NULL, 0)
            if container == "RF64" and auto_downgrade:
                _snd.sf_command(self._file._file, SFC_RF64_AUTO_DOWNGRADE, _ffi.NULL, 1)
        except BaseException as exc:
            self._tmp.unlink(missing_ok=True)
            raise _write_error(exc, path) from None

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[:, None]
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"block of shape {block.shape}: expected (frames, {self.channels})")
        if self._limit is not None and (
                data_bytes(self.frames + block.shape[0], self.channels, self.subtype)
                > self._limit):
            raise SpatialError(f"{self.path}: more audio than frames_hint announced would pass "
                               "the 4 GiB limit of a RIFF file; nothing written")
        if not np.isfinite(block).all():  # never a NaN or infinity in a user's file
            bad = int(np.argmin(np.isfinite(block).all(axis=1)))
            raise SpatialError(f"{self.path}: the render produced a non-finite sample at "
                               f"{(self.frames + bad) / self.sample_rate:.3f} s; nothing "
                               "written (a bug: please report it with the scene)")
        try:
            self._file.write(block)
        except (OSError, RuntimeError) as exc:
            raise _write_error(exc, self.path) from None
        self.frames += block.shape[0]

    def commit(self) -> Path:
        """Close the file and rename it onto the target path; returns the path."""
        try:
            self._file.close()
            if self.container in ("WAVEX", "RF64") and (
                    self._mask is not None or self.channels > 2):
                _set_channel_mask(self._tmp, self._mask or 0)
            os.chmod(self._tmp, 0o666 & ~_umask())  # mkstemp makes 0600; respect the umask
            os.replace(self._tmp, self.path)
        except BaseException as exc:
            self._tmp.unlink(missing_ok=True)
            raise _write_error(exc, self.path) from None
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file; the target path is left as it was."""
        try:
            self._file.close()
        except Exception:  # noqa: BLE001 - the file goes anyway
            pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "OutputWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


FULL_BYTES = 1 << 20  # a folder with less free space than this after a failed write is full


def _write_error(exc: BaseException, path: Path) -> BaseException:
    if isinstance(exc, (OSError, RuntimeError)) and not isinstance(exc, SpatialError):
        import errno

        try:  # libsndfile says only "System error.": the free space tells
            free = shutil.disk_usage(_folder(path)).free
        except OSError:
            free = None
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
                free is not None and free < FULL_BYTES):
            left = "" if free is None else f" ({_size(free)} free)"
            return SceneError.at(f"cannot write output: the disk is full{left}; nothing was "
                                 "written (free some space, or write elsewhere)", file=path)
        return SceneError.at(f"cannot write output: {exc}", file=path)
    return exc


def open_output(path: str | Path, sample_rate: int, channels: int, subtype: str | None = None,
                channel_mask: int | None = None, frames_hint: int | None = None) -> OutputWriter:
    """Open an output file for block-by-block writing. Format by extension.

    .wav: float32 by default; WAVE_FORMAT_EXTENSIBLE with `channel_mask` for more
    than two channels or any mask; RF64 when `frames_hint` frames can pass
    RIFF_LIMIT_BYTES (without a hint: RF64 that libsndfile downgrades to RIFF if
    small). `channel_mask`: a Layout's mask (one bit per channel), 0 or None.
    .flac: 24-bit by default, at most 8 channels, `channel_mask` None, 0 or FLAC's
    fixed order for the channel count (FLAC_MASKS). Raises SceneError for a bad
    path, sample format, channel count or mask, before creating anything.
    """
    path = Path(path)
    check_output(path, sample_rate, channels, subtype, frames_hint)
    major, subtype = _spec(path, subtype)
    if channel_mask and bin(channel_mask).count("1") != channels:
        raise SceneError.at(f"channel mask {channel_mask:#x} labels "
                            f"{plural(bin(channel_mask).count('1'), 'channel')}, the file has {channels}",
                            file=path)
    if major == "FLAC" and channel_mask and channel_mask != FLAC_MASKS[channels]:
        raise SceneError.at(f"channel mask {channel_mask:#x} is not FLAC's {channels}-channel "
                            f"order ({FLAC_MASKS[channels]:#x}), which a reader would assume; "
                            "write .wav instead", file=path)
    container = major
    if major == "WAV":
        if frames_hint is None or needs_rf64(frames_hint, channels, subtype):
            container = "RF64"
        elif channels > 2 or channel_mask is not None:
            container = "WAVEX"
    return OutputWriter(path, sample_rate, channels, subtype, container, channel_mask,
                        auto_downgrade=frames_hint is None)


def write_audio(path: str | Path, audio: np.ndarray, fs: int, subtype: str | None = None,
                channel_mask: int | None = None) -> Path:
    """Write (n, C) audio in one go, atomically (see :func:`open_output`). Returns the path."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    with open_output(path, fs, audio.shape[1], subtype, channel_mask,
                     frames_hint=audio.shape[0]) as out:
        out.write(audio)
    return Path(path)
