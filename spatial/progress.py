"""Progress of a render on the terminal, and the peak memory of the process.

The renderer reports progress through a plain callable, so it does not know
about terminals:

    progress(done_frames, total_frames)    # called as often as it likes

:func:`terminal_progress` makes one backed by a tqdm bar (elapsed time, ETA,
speed in seconds of audio per second) that appears only if the render is still
running after ``delay`` seconds (counted from its creation, so planning counts),
so short renders print nothing but the summary. :class:`ProgressTicks` is the
render functions' side: whatever progress they were given, a tick(done_frames).
"""
from __future__ import annotations

import contextlib
import resource
import sys
import time
from typing import Callable, Iterator

Progress = Callable[[int, int], None]

BAR_DELAY_S = 2.0  # renders shorter than this show no bar


class TqdmProgress:
    """A progress(done_frames, total_frames) callable drawing a tqdm bar in seconds of audio."""

    def __init__(self, sample_rate: int, delay: float = BAR_DELAY_S, file=None,
                 mininterval: float = 0.5):
        self.sample_rate = int(sample_rate)
        self.delay, self.mininterval = delay, mininterval  # mininterval: s between redraws
        self.file = file if file is not None else sys.stderr
        self._bar = None
        self._done = 0
        self._t0 = time.time()  # the render starts now: planning counts in the elapsed time

    def __call__(self, done_frames: int, total_frames: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=round(total_frames / self.sample_rate, 2), unit="s",
                             unit_scale=False, leave=False, file=self.file, delay=self.delay,
                             mininterval=self.mininterval,
                             dynamic_ncols=True, desc="rendering",
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s "
                                        "audio [{elapsed}<{remaining}, {rate_fmt}]")
            self._bar.start_t = self._t0  # tqdm's clock (time.time) for elapsed and delay
        step = done_frames - self._done
        if step > 0:
            self._bar.update(round(step / self.sample_rate, 6))
            self._done = done_frames

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextlib.contextmanager
def terminal_progress(enabled: bool, sample_rate: int,
                      delay: float = BAR_DELAY_S) -> Iterator[Progress | None]:
    """A progress callable for the renderer (None when disabled); the bar is removed on exit."""
    if not enabled:
        yield None
        return
    bar = TqdmProgress(sample_rate, delay)
    try:
        yield bar
    finally:
        bar.close()


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far, MiB (ru_maxrss: KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes there
        kib /= 1024
    return kib / 1024


class ProgressTicks:
    """progress: False/None (nothing), True (a tqdm bar on stderr) or a callable
    progress(done_frames, total_frames); as a context giving tick(done_frames)."""

    def __init__(self, progress, total: int):
        self.progress, self.total, self.bar = progress, int(total), None

    def __enter__(self):
        if callable(self.progress):
            return lambda done: self.progress(done, self.total)
        if self.progress:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="frame", unit_scale=True, leave=False,
                            file=sys.stderr)
            return lambda done: self.bar.update(done - self.bar.n)
        return lambda done: None

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
