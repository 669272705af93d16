"""Audio files in: reading and resampling source files (soundfile, soxr).

Inside spatial every signal is float64, frames x channels (as soundfile) for
multichannel audio, 1-D for a mono source. Output files are written by
:mod:`spatial.writer` (``write_audio`` is re-exported here for older callers).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spatial.errors import SceneError
from spatial.writer import WRITE_FORMATS, write_audio  # noqa: F401 - re-exported


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
