"""Run a render's blocks into its sinks: commit them all, or abort them all."""
from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Mapping, Sequence

from spatial.sinks.base import BusView, Sink

SINK_DEPTH = 2  # blocks handed to the sink thread and not yet written (bounded memory)


def deliver(frames: Iterable[Mapping[str, BusView]], sinks: Mapping[str, Sequence[Sink]],
            layouts: Mapping, sample_rate: int, length: int,
            progress: Callable[[int], None] | None = None,
            threads: int | None = None) -> dict[str, list]:
    """Hand every frame's views to the sinks of their format; returns format -> the
    sinks' commit() results, in the order of ``sinks``.

    frames: per block, format -> :class:`BusView` (a dict, or anything indexed by
      format). sinks: format -> its sinks; layouts: format -> its Layout; every
      sink is opened with (layout, sample_rate, length) before the first block.
    progress: called with the frames done so far after each block.
    threads: with 2 or more (default: spatial.plan's thread count) the sinks run in
      one sink thread while the frames' producer makes the next block (at most
      SINK_DEPTH blocks in flight, copied since the producer reuses its buffers):
      the sinks get the same blocks in the same order as inline, so the files and
      figures are the same bit for bit. Only when every block was written are the
      sinks committed; on any error every sink is aborted and the error re-raised.
    """
    every = [s for group in sinks.values() for s in group]
    try:
        for fmt, group in sinks.items():
            for s in group:
                s.open(layouts[fmt], sample_rate, length)
        _run(frames, sinks, progress, threads)
        return {fmt: [s.commit() for s in group] for fmt, group in sinks.items()}
    except BaseException:
        for s in every:
            s.abort()
        raise
    finally:
        close = getattr(frames, "close", None)  # a generator: stop its reader threads
        if close is not None:
            close()


def _write(frame, sinks) -> None:
    for fmt, group in sinks.items():
        view = frame.get(fmt)
        if view is None:  # that format has ended
            continue
        for s in group:
            s.write(view)


def _frames(frame) -> int:
    """Frames of a block: its longest format's (a format whose filters ring shorter
    ends first, and is missing from the last blocks)."""
    return max((v.frames for v in frame.values()), default=0)


def _run(frames, sinks, progress, threads) -> None:
    if threads is None:
        from spatial.plan import _threads

        threads = _threads()
    first = next(iter(sinks), None)
    done = 0
    if threads < 2 or first is None:
        for frame in frames:
            _write(frame, sinks)
            done += _frames(frame)
            if progress is not None:
                progress(done)
        return
    from concurrent.futures import ThreadPoolExecutor

    pending = deque()
    with ThreadPoolExecutor(1, thread_name_prefix="spatial-sink") as pool:
        try:
            for frame in frames:  # the producer reuses its buffers: copies
                if len(pending) >= SINK_DEPTH:
                    pending.popleft().result()  # (raises the sink's error, if any)
                pending.append(pool.submit(_write, {f: frame[f].copy() for f in sinks
                                                    if f in frame}, sinks))
                done += _frames(frame)
                if progress is not None:
                    progress(done)
            while pending:
                pending.popleft().result()
        finally:
            for job in pending:
                job.cancel()
