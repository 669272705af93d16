"""Signal processing shared by the plan and the mix, below both: neither the plan
(:mod:`spatial.plan`) nor the mix stages (:mod:`spatial.mix`) are imported here.

- :mod:`spatial.dsp.biquads`: Butterworth sections and a numba ``sosfilt``;
- :mod:`spatial.dsp.loudness`: BS.1770-4 loudness, EBU Tech 3342 range, true peak;
- :mod:`spatial.dsp.limiter`: the look-ahead true-peak limiter;
- :mod:`spatial.dsp.ducking`: the ducking gain computer (side-chain RMS to gain).
"""
