"""The engine's fixed quantities, one home each: read by the kernels
(:mod:`spatial.engine.kernels`), the plan and the image-source renderers, and by
the tests' numpy twins (``tests/naive.py``)."""
from __future__ import annotations

FRACTIONAL_TAPS = 32  # windowed-sinc length of the fractional delay (taps)
KAISER_BETA = 8.0  # Kaiser window shape of those taps
