"""The block convolution engine: numba kernels (:mod:`.kernels`, their constants in
:mod:`.constants`; their numpy twins are the tests' ``tests/naive.py``), run by
:mod:`.convolver`.

Importing the package first makes sure numba's compile cache (``cache=True``)
has a writable home, since kernels compiled on every run cost seconds. numba
caches in ``__pycache__`` beside the module; where that is not writable (a
system-wide ``pip install``) it would fall back to ``~/.cache/numba``, and with
neither it refuses to import at all ("no locator available"). Here, unless the
user set NUMBA_CACHE_DIR, a non-writable install caches under spatial's own
cache folder (``cache_dir()/numba``: $SPATIAL_CACHE_DIR, else ~/.cache/spatial),
or a per-user temporary folder if even that cannot be made.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def _writable(folder: Path) -> bool:
    """Whether files can be made in `folder` (made if missing): tried, as numba does."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def numba_cache_dir(package_dir: Path | None = None) -> Path | None:
    """The NUMBA_CACHE_DIR spatial needs, or None where numba's own choice works."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None  # the user's choice
    package_dir = Path(__file__).parent if package_dir is None else package_dir
    if _writable(package_dir / "__pycache__"):
        return None
    from spatial.disk_cache import cache_dir

    user = getattr(os, "getuid", lambda: 0)()
    for folder in (cache_dir() / "numba", Path(tempfile.gettempdir()) / f"spatial-numba-{user}"):
        if _writable(folder):
            return folder
    return None


def _set_numba_cache_dir() -> None:
    folder = numba_cache_dir()
    if folder is not None:  # before numba is imported: it reads the variable once
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
        if "numba" in sys.modules:  # imported already (e.g. by the user): tell its config
            sys.modules["numba"].config.CACHE_DIR = str(folder)


_set_numba_cache_dir()
