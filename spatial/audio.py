"""Audio files in and out: the only module that touches soundfile and soxr.

Inside spatial every signal is float64, frames x channels (as soundfile) for
multichannel audio, 1-D for a mono source. Output files are written to a
temporary file beside the target and renamed into place, so a failed render
never leaves a partial file.
"""
from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from spatial.errors import SceneError

WRITE_FORMATS = {".wav": ("WAV", "FLOAT"), ".flac": ("FLAC", "PCM_24")}


def _read(path: Path, key: str | None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, fs = sf.read(str(path), dtype="float64", always_2d=True)
    except FileNotFoundError:
        raise SceneError.at("audio file not found", file=path, key=key) from None
    except Exception as exc:  # libsndfile's reasons are varied; the message says which
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SceneError.at(f"cannot read audio file: {reason}", file=path, key=key) from None
    if data.size and not np.all(np.isfinite(data)):
        raise SceneError.at("audio file holds NaN or infinite samples", file=path, key=key)
    return data, int(fs)


def resample(data: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Resample (n,) or (n, ch) float64 from fs_in to fs_out (soxr, very high quality)."""
    if fs_in == fs_out or data.shape[0] == 0:
        return data
    import soxr

    return np.asarray(soxr.resample(data, fs_in, fs_out, quality="VHQ"), dtype=np.float64)


def read_mono(path: Path, fs: int, key: str | None = None) -> np.ndarray:
    """A point source's signal: downmixed to mono (channel mean), at fs. Shape (n,)."""
    data, fs_in = _read(Path(path), key)
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return resample(np.ascontiguousarray(mono), fs_in, fs)


def read_multichannel(path: Path, fs: int, key: str | None = None) -> np.ndarray:
    """A bed's signal, all channels kept, at fs. Shape (n, channels)."""
    data, fs_in = _read(Path(path), key)
    return resample(data, fs_in, fs)


def _set_channel_mask(path: Path, mask: int) -> None:
    """Patch dwChannelMask of a WAVE_FORMAT_EXTENSIBLE file in place."""
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


SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command (sndfile.h)


def _no_peak_chunk(f) -> None:
    """libsndfile adds a PEAK chunk to float WAV files, holding the time of writing:
    the same render written a second later would differ. Turn it off, so the same
    scene gives the same file, bit for bit."""
    from soundfile import _ffi, _snd

    _snd.sf_command(f._file, SFC_SET_ADD_PEAK_CHUNK, _ffi.NULL, 0)


def write_audio(path: str | Path, audio: np.ndarray, fs: int, subtype: str | None = None,
                channel_mask: int | None = None) -> Path:
    """Write (n, C) audio atomically. Format by extension: .wav (float32 by default) or .flac.

    Multichannel WAV (more than 2 channels, or any channel_mask) is written as
    WAVE_FORMAT_EXTENSIBLE with `channel_mask` (0 when the channels have no
    speaker positions, as for ambisonics). Raises SceneError for a bad path or
    subtype; nothing is left behind on failure.
    """
    import soundfile as sf

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in WRITE_FORMATS:
        raise SceneError.at(f"unsupported output extension {ext or '(none)'!r}; use .wav or .flac",
                            file=path)
    major, default_subtype = WRITE_FORMATS[ext]
    subtype = (subtype or default_subtype).upper()
    if not sf.check_format(major, subtype):
        raise SceneError.at(f"subtype {subtype} is not available for {ext} files "
                            f"(try one of {sorted(sf.available_subtypes(major))})", file=path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if major == "WAV" and (audio.shape[1] > 2 or channel_mask is not None):
        major = "WAVEX"
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise SceneError.at("output directory does not exist", file=directory)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    os.close(fd)
    try:
        with sf.SoundFile(tmp, "w", int(fs), audio.shape[1], subtype=subtype,
                          format=major) as f:
            _no_peak_chunk(f)
            f.write(audio)
        if major == "WAVEX":
            _set_channel_mask(Path(tmp), channel_mask or 0)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a normal file respects umask
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, (OSError, RuntimeError)):
            raise SceneError.at(f"cannot write output: {exc}", file=path) from None
        raise
    return path
