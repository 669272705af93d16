"""Prepare a render's HRTF set before it starts, once, and say so.

The first binaural render with an HRTF set (the default one after an install, or a
new SOFA file) processes it: equalisation, minimum phase, the hull of its
directions; seconds, then kept in the disk cache (spatial.filters.hrtf). As
spatial.engine.warmup does for the numba kernels, :func:`prepare_hrtf` does that
before the render's clock starts, prints :data:`NOTICE` on stderr when that work
lasts, and returns its time, so the real-time factor leaves it out.
"""
from __future__ import annotations

import sys
import threading
import time

from spatial.errors import SceneError

NOTICE = "spatial: preparing the HRTF set once (cached for later renders)..."
NOTICE_AFTER_S = 0.3


def prepare_hrtf(output, sample_rate: int, notice: bool | None = None) -> float:
    """Seconds spent processing the HRTF set of `output` (spatial.Output) at sample_rate
    (0.0: no binaural format, or already prepared). notice: print NOTICE first
    (default: if stderr is a terminal). A bad HRTF raises nothing here: the render
    reports it with its scene key."""
    if "binaural" not in output.formats:
        return 0.0
    from spatial.filters import hrtf

    try:
        if hrtf.is_prepared(output.hrtf, sample_rate, output.hrtf_eq):
            return 0.0
    except SceneError:
        return 0.0
    say = None
    if notice if notice is not None else sys.stderr.isatty():
        # said once the work has lasted NOTICE_AFTER_S: a file that cannot be read fails
        # before that, and its error stays the only line
        say = threading.Timer(NOTICE_AFTER_S, print, (NOTICE,),
                              {"file": sys.stderr, "flush": True})
        say.daemon = True
        say.start()
    t = time.perf_counter()
    try:
        hrtf.load_hrtf(output.hrtf, sample_rate, output.hrtf_eq)
    except SceneError:
        return 0.0
    finally:
        if say is not None:
            say.cancel()
    return time.perf_counter() - t
