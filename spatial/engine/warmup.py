"""Compile a render's numba kernels before it starts, once, and say so.

The kernels are compiled on their first call and cached on disk (``cache=True``,
where :mod:`spatial.engine` points numba's cache). The first render after an install
(or after a kernel's source changed) pays the compilation: seconds, spread over
planning and the first blocks of the loop, where it was counted as render time.
:func:`prepare` compiles, before the render, the kernels this scene's render will
call, and only those (a static render neither imports nor compiles the moving path's
kernels): each at the exact argument types the render calls it with (listed below,
checked by tests/test_warmup.py), so the render's own calls find them compiled.
When some are not in numba's disk cache yet it first prints one line on stderr
(:data:`NOTICE`). :class:`CompileClock` times every compilation (numba's
"numba:compile" events, which fire on cache misses only), so the real-time factor can
leave out the compile time, even of a kernel compiled later than :func:`prepare`.

Kernels that call other kernels (``scatter_images_many`` calls ``_delayed``...) compile
them with themselves: only the kernels called from Python are listed.
"""
from __future__ import annotations

import sys
import time
from importlib import import_module

NOTICE = "spatial: compiling the render kernels once (cached for later renders)..."


def _types(*specs: str) -> tuple:
    """numba types of a call's arguments: 'f8:2' is a C-contiguous 2-d float64 array,
    'f8:2A' any-layout, 'i8', 'f8', 'b1' scalars ('?' for bool arrays: '?:1')."""
    from numba.core import types

    scalars = {"i8": types.int64, "f8": types.float64, "b1": types.boolean}
    dtypes = {"f8": types.float64, "f4": types.float32, "c8": types.complex64,
              "i8": types.int64, "i4": types.int32, "?": types.boolean}
    out = []
    for spec in specs:
        if ":" not in spec:
            out.append(scalars[spec])
            continue
        dtype, shape = spec.split(":")
        layout = "A" if shape.endswith("A") else "C"
        out.append(types.Array(dtypes[dtype], int(shape.rstrip("A")), layout))
    return tuple(out)


# The kernels by feature: (module, kernel, argument types of each of its call sites).
# Every render's engine (spatial.engine.convolver: input blocks and the multiply-accumulate)
ENGINE = [
    ("spatial.engine.kernels", "load_blocks", [("f4:2", "f8:2")]),
    ("spatial.engine.kernels", "accumulate_routes",
     [("c8:2", "i8:1", "i8:1", "i8:1", "i8:1", "c8:2", "i8:1", "i8:1", "i8:1", "i8:1", "?:1",
       "c8:2", "i8", "i8")]),
]
# the loudness meter of the delivered file and the LFE feed (spatial.dsp.biquads.sosfilt)
BIQUADS = [("spatial.dsp.biquads", "_sosfilt_kernel", [("f8:2", "f8:2", "f8:3", "f8:2", "f8")])]
# the true-peak meter of the delivered file (spatial.dsp.loudness.peak_above)
TRUE_PEAK = [
    ("spatial.dsp.peak_kernels", "peak_bounds", [("f4:2", "f8:2", "i8", "i8", "f8:1")]),
    ("spatial.dsp.peak_kernels", "peak_candidates",
     [("f4:2", "f4:2", "f8:1", "f8", "f8", "f8:1", "f8:1")]),
]
# a room: the early reflections (spatial.room.rir) and the send bus of the late tail
ROOM = [
    ("spatial.engine.kernels", "scatter_images_many", [("f8:3", "f8:3", "f8:2", "f8:2")]),
    ("spatial.engine.kernels", "send_bus",
     [("f8:2", "?:1", "i8:1", "f8:1", "i8:1", "f8:2", "?:1", "f8:1")]),
]
# moving sources (spatial.motion_render): delays, Doppler, direct path
MOTION = [
    ("spatial.engine.delay", "lagrange4_coefficients", [("f8:1", "i8", "i8", "f8:2")]),
    ("spatial.engine.delay", "tap_delay_sum_coef", [("f8:2", "i8", "f8:2", "f8:3", "i8", "f8:2")]),
    ("spatial.engine.emission", "emission_solve",
     [("f8:1", "f8:3", "f8:1", "f8:2", "f8:2", "f8:2", "f8", "b1", "f8", "i8", "f8:2", "f8:3")]),
    ("spatial.engine.motion_kernels", "direct_geometry",
     [("f8:1", "f8:2", "f8:2", "f8:1", "f8", "f8", "f8", "f8", "f8", "f8:2", "f8:3", "f8:2")]),
    ("spatial.engine.motion_kernels", "_direct_spectra",
     [("f4:3", "f4:3", "i8:3", "f8:3", "f8:3", "i8", "f4:3")]),
]
# moving sources in a room: their image sources, panned onto the virtual directions
MOTION_ROOM = [
    ("spatial.engine.kernels", "scatter_images", [("f8:2", "f8:3", "f8:2", "f8:1")]),
    ("spatial.engine.emission", "image_weights",
     [("f8:2", "f8:3", "f8:2", "f8:1", "f8:2", "f8:1", "f8", "f8", "f8:2", "f8", "f8", "f8",
       "f8:3")]),
    ("spatial.engine.delay", "tap_delay_sum_coef", [("f8:2", "i8", "f8:2", "f4:3", "i8", "f4:2")]),
    ("spatial.engine.kernels", "load_blocks", [("f4:2", "f4:2")]),  # spatial.engine.sized
]
# moving sources, binaural: the HRTF set's barycentric weights
MOTION_BINAURAL = [
    ("spatial.engine.motion_kernels", "hull_weights",
     [("f8:2", "i4:2", "f8:2", "f8:1", "f8:3", "i8:2", "f8:2")]),
]


def kernels_for(scene, metered: bool = True) -> list:
    """(dispatcher, argument types) of the kernels a render of `scene` calls; only their
    modules are imported. metered: the render meters its output (render_to_file does)."""
    groups = list(ENGINE)
    formats = scene.output.formats
    if metered or set(formats) & {"5.1", "7.1", "5.1.4", "7.1.4"}:
        groups += BIQUADS
    if metered:
        groups += TRUE_PEAK
    if scene.room is not None:
        groups += ROOM
    from spatial.motion import is_moving

    if any(is_moving(scene, src) for src in scene.sources):
        groups += MOTION
        if scene.room is not None:
            groups += MOTION_ROOM
        if "binaural" in formats:
            groups += MOTION_BINAURAL
    found = []
    for module, name, calls in groups:
        kernel = getattr(import_module(module), name)
        found += [(kernel, _types(*call)) for call in calls]
    return found


def cached(kernel, sig: tuple) -> bool | None:
    """Whether kernel(*sig) is compiled in this process or in numba's disk cache;
    None if that cannot be told (numba's cache internals changed)."""
    if sig in kernel.overloads:
        return True
    try:  # the test numba's Dispatcher.compile makes before loading: the cache index
        cache = kernel._cache
        key = cache._index_key(sig, kernel.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - private API: never let it break a render
        return None


def prepare(scene, notice: bool | None = None, metered: bool = True) -> float:
    """Compile (or load from numba's cache) the kernels a render of `scene` calls.
    Returns the seconds spent compiling (0.0 when all were cached). notice: print
    :data:`NOTICE` on stderr when some must be compiled (default: if stderr is a
    terminal, as the progress bars)."""
    todo = [(k, sig) for k, sig in kernels_for(scene, metered) if sig not in k.overloads]
    if not todo:
        return 0.0
    if notice is None:
        notice = sys.stderr.isatty()
    if notice and any(cached(k, sig) is False for k, sig in todo):
        print(NOTICE, file=sys.stderr, flush=True)
    with CompileClock() as clock:
        for kernel, sig in todo:
            kernel.compile(sig)
    return clock.seconds


class CompileClock:
    """Seconds spent compiling numba functions (cache misses) while active, nested
    compilations counted once. A context manager."""

    def __init__(self):
        self.seconds = 0.0
        self._depth = 0
        self._t0 = 0.0

    def __enter__(self):
        from numba.core import event

        clock = self

        class _Listener(event.Listener):
            def on_start(self, ev):
                if clock._depth == 0:
                    clock._t0 = time.perf_counter()
                clock._depth += 1

            def on_end(self, ev):
                clock._depth -= 1
                if clock._depth == 0:
                    clock.seconds += time.perf_counter() - clock._t0

        self._listener = _Listener()
        event.register("numba:compile", self._listener)
        return self

    def __exit__(self, *exc):
        from numba.core import event

        event.unregister("numba:compile", self._listener)
