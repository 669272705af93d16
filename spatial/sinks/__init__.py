"""Sinks: where the blocks of a render go (files, meters, arrays), behind one interface.

- :mod:`spatial.sinks.base`: :class:`BusView` (one format's signals for one block)
  and the :class:`Sink` protocol (open, write, commit, abort);
- :mod:`spatial.sinks.files`: :class:`FileSink`, the mix or one bus to a WAV/RF64 or
  FLAC file through :mod:`spatial.writer`'s atomic writer;
- :mod:`spatial.sinks.meter`: :class:`MeterSink`, loudness, range, peaks, clipping and
  dialogue-to-background;
- :mod:`spatial.sinks.array`: :class:`ArraySink`, the mix (and buses) in memory;
- :mod:`spatial.sinks.driver`: :func:`deliver`, which runs per-block frames into the
  sinks of each format and commits them all, or aborts them all.

The render loop knows sinks only by :class:`Sink`; :mod:`spatial.master` masters
(gain, limiter, loudness passes) from anything readable into sinks.
"""
from spatial.sinks.array import ArraySink
from spatial.sinks.base import BusView, Sink
from spatial.sinks.driver import deliver
from spatial.sinks.files import FileSink
from spatial.sinks.meter import MeterSink

__all__ = ["ArraySink", "BusView", "FileSink", "MeterSink", "Sink", "deliver"]
