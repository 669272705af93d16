"""The bounds a scene's values are checked against, one home for each: what the
renderer can render correctly in reasonable time and memory. Read by the checks
(:mod:`spatial.scene.validate`, :mod:`spatial.scene.paths`, :mod:`spatial.mix.keys`).
"""
from __future__ import annotations

MAX_TIME_S = 24 * 3600.0  # s: duration, start, keyframe times, transitions
MAX_EXTENT_M = 1000.0  # room dimensions and |coordinates|: at most ~3 s of propagation
GAIN_DB_RANGE = (-200.0, 60.0)  # dB: source gain_db, room tail_gain_db, bus gains

# audio inputs (spatial.audio_check)
SOURCE_RATE_RANGE = (8000, 384000)  # Hz: a source file's own rate (resampled to the scene's)
MAX_SOURCE_CHANNELS = 128  # channels of one source file (a bed)
MAX_SAMPLE = 1e6  # |sample| of a source (+120 dBFS): beyond it a float32 render overflows

# resources of one render (spatial.resources): past these a render is refused before it
# allocates anything, unless allowed (`spatial render --allow-large`, allow_large=True)
MAX_SOURCES = 256  # sources of a scene
MAX_OUTPUT_CHANNELS = 64  # channels of one output format (custom speaker layouts)
MAX_IMAGE_SOURCES = 200_000  # image sources of a scene, all sources and formats together
MAX_TAIL_VALUES = 10_000_000  # late tail: channels x samples, per format (~1.7 GB to plan)
RENDER_MEMORY_SHARE = 0.5  # render() in memory: its result at most this share of free RAM
LARGE_RENDER_S = 3600.0  # s of audio from which the command prints an estimate first
LARGE_RENDER_BYTES = 2 * 2 ** 30  # bytes on disk from which it does too
