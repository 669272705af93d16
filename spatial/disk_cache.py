"""The disk cache's folder, and atomic writes of its .npz entries.

Every cache (processed HRTF sets, speaker-layout hulls, decoded sources) lives
under one root: $SPATIAL_CACHE_DIR, else $XDG_CACHE_HOME/spatial, else
~/.cache/spatial. A cache is an optimisation only: an entry is written to a
temporary file and renamed when whole, and a folder that cannot be written is
ignored (the caller keeps what it computed).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """$SPATIAL_CACHE_DIR, else $XDG_CACHE_HOME/spatial, else ~/.cache/spatial."""
    if os.environ.get("SPATIAL_CACHE_DIR"):
        return Path(os.environ["SPATIAL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "spatial"


def save_npz(file: Path, **arrays) -> bool:
    """np.savez to `file` through a temporary file renamed when whole; False (and
    nothing left behind) when the folder cannot be written."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".npz.part")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, file)
        return True
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
