"""What a render will cost, known before anything is allocated: limits and an estimate.

:func:`check` refuses a scene past the limits of :mod:`spatial.scene.limits` (sources,
output channels, image sources, late-tail size, and for ``spatial.render`` in memory
the size of its result against the free memory) with one line per limit, naming it
and how to lift it (``--allow-large``, ``allow_large=True``). Every figure comes from
the scene alone (the headers of its files at most), in microseconds: the image
sources are counted from the room's lattice, not computed.

:func:`estimate`: audio length, disk and memory of a render, for the line the
command prints before a large one (LARGE_RENDER_S, LARGE_RENDER_BYTES).
"""
from __future__ import annotations

import math
import os

from spatial.errors import Problem, SceneError
from spatial.scene import limits

SPEED_OF_SOUND = 343.0  # m/s (spatial.geometry's; here without importing numpy)
BYTES_PER_TAIL_VALUE = 170  # peak bytes of planning per tail value (measured: 4.6 GB, 27 M)
BYTES_PER_IMAGE = 40_000  # peak bytes per image source of one source (binaural, order 30)
BASE_MEMORY = 300 * 2 ** 20  # the process, HRTF set, engine buffers


def lattice_count(order: int) -> int:
    """Images with |i| + |j| + |k| <= order (the shoebox lattice of that order)."""
    n = int(order)
    return (2 * n + 1) * (2 * n * n + 2 * n + 3) // 3


def image_count(room) -> int:
    """Image sources of one source in `room`, at most: the lattice of its order, and no
    more than the images within c x crossover (volume of that ball / the room's)."""
    from spatial.room.image_sources import required_order

    if room is None:
        return 1
    order = room.max_order if room.max_order is not None else required_order(
        room.dimensions, room.crossover)
    reach = SPEED_OF_SOUND * room.crossover
    ball = 4.0 / 3.0 * math.pi * reach ** 3 / max(room.volume_m3, 1e-9)
    return int(min(lattice_count(order), ball + 1))


def tail_frames(room, fs: int) -> int:
    """Samples of the late tail (spatial.room.late.tail_length), without computing it."""
    if room is None:
        return 0
    from spatial.room.decay import band_rt60, statistical_rt60
    from spatial.room.late import tail_length

    rt60 = band_rt60(room) if room.model != "ray-tracing" else statistical_rt60(room)
    return tail_length(rt60, fs, room.crossover)


def _channels(scene) -> dict[str, int]:
    from spatial.filters.layouts import get_layout

    out = {}
    for fmt in scene.output.formats:
        try:
            out[fmt] = len(get_layout(scene.output.single(fmt)).channels)
        except SceneError:
            out[fmt] = 2  # a bad format is reported by the render, naming its key
    return out


def frames(scene) -> int:
    from spatial.writer import estimate_frames

    return estimate_frames(scene)


def result_bytes(scene, stems: bool = False) -> int:
    """Bytes of render()'s arrays: every format's mix (and stems), float32."""
    n = frames(scene)
    buses = len({s.role for s in scene.sources}) if (stems or scene.output.stems) else 0
    return sum(n * c * 4 * (1 + buses) for c in _channels(scene).values())


def free_memory() -> int | None:
    """Bytes of memory available (Linux MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def problems(scene, in_memory: bool = False, stems: bool = False) -> list[Problem]:
    """The limits a scene passes (module doc), one problem each."""
    where = scene.where
    lift = "; --allow-large (allow_large=True) lifts the limit"
    out = []
    n = len(scene.sources)
    if n > limits.MAX_SOURCES:
        out.append(Problem(f"{n} sources: more than the limit of {limits.MAX_SOURCES} "
                           f"sources (MAX_SOURCES){lift}", **where("sources")))
    channels = _channels(scene)
    for fmt, c in channels.items():
        if c > limits.MAX_OUTPUT_CHANNELS:
            out.append(Problem(f"format {fmt} has {c} channels: more than the limit of "
                               f"{limits.MAX_OUTPUT_CHANNELS} output channels "
                               f"(MAX_OUTPUT_CHANNELS){lift}", **where("output.format")))
    if scene.room is not None:
        images = image_count(scene.room) * n * len(channels)
        if images > limits.MAX_IMAGE_SOURCES:
            out.append(Problem(
                f"about {images:,} image sources ({n} source{'s' if n != 1 else ''} x "
                f"{image_count(scene.room):,} within the crossover"
                + (f" x {len(channels)} formats" if len(channels) > 1 else "")
                + f"): more than the limit of {limits.MAX_IMAGE_SOURCES:,} image sources "
                f"(MAX_IMAGE_SOURCES); lower room.max_order or room.crossover{lift}",
                **where("room.max_order" if scene.room.max_order is not None
                        else "room.dimensions")))
        length = tail_frames(scene.room, scene.sample_rate)
        for fmt, c in channels.items():
            values = c * length
            if values > limits.MAX_TAIL_VALUES:
                out.append(Problem(
                    f"the late tail of format {fmt} would be {c} channels x "
                    f"{length / scene.sample_rate:.1f} s ({values:,} samples, about "
                    f"{_size(values * BYTES_PER_TAIL_VALUE)} to plan): more than the limit "
                    f"of {limits.MAX_TAIL_VALUES:,} tail samples (MAX_TAIL_VALUES); a "
                    f"shorter rt60 or fewer channels{lift}",
                    **where("room.rt60" if scene.room.rt60 is not None else "room")))
                break
    if in_memory:
        need, free = result_bytes(scene, stems), free_memory()
        if free is not None and 2 * need > limits.RENDER_MEMORY_SHARE * free:
            out.append(Problem(
                f"render() in memory would hold {_size(need)} of audio (and about twice "
                f"that while mastering), with {_size(free)} of memory free: use "
                "render_to_file (the command line does), which streams to disk in bounded "
                f"memory{lift}", file=str(scene.path) if scene.path else None))
    return out


def check(scene, allow_large: bool = False, in_memory: bool = False,
          stems: bool = False) -> None:
    """Raise SceneError naming each limit the scene passes (unless allow_large)."""
    if allow_large:
        return
    found = problems(scene, in_memory, stems)
    if found:
        raise SceneError(found)


def estimate(scene, n_frames: int, bytes_on_disk: int) -> dict:
    """Audio seconds, disk bytes and peak memory (bytes, rough) of a render to a file."""
    channels = _channels(scene)
    tail = tail_frames(scene.room, scene.sample_rate) * max(channels.values(), default=2)
    images = image_count(scene.room) if scene.room is not None else 0
    memory = BASE_MEMORY + tail * BYTES_PER_TAIL_VALUE + images * BYTES_PER_IMAGE
    return {"seconds": n_frames / scene.sample_rate, "disk": bytes_on_disk,
            "memory": memory}


def is_large(n_frames: int, fs: int, bytes_on_disk: int) -> bool:
    return n_frames / fs >= limits.LARGE_RENDER_S or bytes_on_disk >= limits.LARGE_RENDER_BYTES


def estimate_line(scene, n_frames: int, bytes_on_disk: int) -> str:
    e = estimate(scene, n_frames, bytes_on_disk)
    hours = e["seconds"] / 3600.0
    length = f"{hours:.1f} h" if hours >= 1 else f"{e['seconds'] / 60:.1f} min"
    return (f"a large render: {length} of audio, about {_size(e['disk'])} on disk, about "
            f"{_size(e['memory'])} of memory; its time is printed once the first blocks "
            "are measured (Ctrl-C stops it and leaves nothing behind)")
