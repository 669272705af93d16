"""Cascaded biquads (K-weighting, the LFE low-pass) and the true-peak interpolator,
written without scipy.signal (issue 8), against scipy.signal (imported here only)
and against their plain-Python twin."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from spatial.dsp.biquads import butter_lowpass, sosfilt, sosfilt_reference
from spatial.dsp.loudness import OVERSAMPLE, TRUE_PEAK_TAPS, Meter, interpolator, k_weighting


@pytest.mark.parametrize("fs", [48000, 44100, 96000, 16000])
def test_sosfilt_is_scipy_sosfilt_across_blocks(fs):
    rng = np.random.default_rng(fs)
    sos = np.vstack([k_weighting(fs), butter_lowpass(4, 120.0, fs)])
    x = rng.standard_normal((3000, 3))
    zi0 = rng.standard_normal((sos.shape[0], 2, 3))
    want, zi_want = signal.sosfilt(sos, x, axis=0, zi=zi0)
    got, zi = [], zi0
    for a, b in [(0, 1), (1, 700), (700, 701), (701, 3000)]:  # state carried across blocks
        y, zi = sosfilt(sos, x[a:b], zi)
        got.append(y)
    assert np.max(np.abs(np.concatenate(got) - want)) <= 1e-12
    assert np.max(np.abs(zi - zi_want)) <= 1e-12
    ref, zi_ref = sosfilt_reference(sos, x[:500], zi0)
    y, zi = sosfilt(sos, x[:500], zi0)
    assert np.max(np.abs(y - ref)) <= 1e-12 and np.max(np.abs(zi - zi_ref)) <= 1e-12
    assert np.array_equal(zi0, zi0.copy())  # the caller's state is not modified


def test_a_meter_filter_flushes_its_decaying_state_and_measures_the_same():
    """Through a pause, the K-weighting's state decays into subnormal numbers (30x slower
    arithmetic on x86) unless flushed: with FLUSH_BELOW every state is zero or above it,
    the filter equals its twin, and the loudness and range are the same numbers as with
    scipy's exact arithmetic (flush 0)."""
    from spatial.dsp import loudness
    from spatial.dsp.biquads import FLUSH_BELOW

    fs = 48000
    sos = k_weighting(fs)
    x = np.zeros((4 * fs, 2))
    x[:fs] = np.random.default_rng(2).standard_normal((fs, 2)) * 0.1
    x[3 * fs:] = x[:fs]  # sound, two seconds of silence, sound
    y0, zi0 = sosfilt(sos, x[:3 * fs], np.zeros((sos.shape[0], 2, 2)))
    y1, zi1 = sosfilt(sos, x[:3 * fs], np.zeros((sos.shape[0], 2, 2)), FLUSH_BELOW)
    assert np.any((zi0 != 0) & (np.abs(zi0) < np.finfo(float).tiny))  # subnormal, unflushed
    _, zi_later = sosfilt(sos, np.zeros((10 * fs, 2)), zi1, FLUSH_BELOW)
    for z in (zi1, zi_later):
        assert np.all((z == 0) | (np.abs(z) >= FLUSH_BELOW))  # never subnormal
    ref, zi_ref = sosfilt_reference(sos, x[:3 * fs], np.zeros((sos.shape[0], 2, 2)),
                                    FLUSH_BELOW)
    assert np.max(np.abs(y1 - ref)) <= 1e-12 and np.array_equal(zi1, zi_ref)
    assert np.max(np.abs(y1 - y0)) < 1e-140
    meters = [Meter(fs, np.ones(2)) for _ in range(2)]
    meters[0].add(x)
    try:
        loudness.FLUSH_BELOW = 0.0
        meters[1].add(x)
    finally:
        loudness.FLUSH_BELOW = FLUSH_BELOW
    assert meters[0].integrated() == meters[1].integrated()
    assert meters[0].loudness_range() == meters[1].loudness_range()


def test_sosfilt_one_dimensional():
    sos = butter_lowpass(2, 1000.0, 48000)
    x = np.zeros(64)
    x[0] = 1.0
    y, zi = sosfilt(sos, x, np.zeros((1, 2)))
    assert y.shape == (64,) and zi.shape == (1, 2)
    assert np.max(np.abs(y - signal.sosfilt(sos, x))) <= 1e-12


@pytest.mark.parametrize("order,fc,fs", [(4, 120.0, 48000), (4, 120.0, 44100), (2, 1000.0, 16000),
                                         (6, 5000.0, 48000), (8, 200.0, 96000)])
def test_butter_lowpass_is_scipy_butter(order, fc, fs):
    want = signal.butter(order, fc, fs=fs, output="sos")
    got = butter_lowpass(order, fc, fs)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1e-12
    # physics: unit gain at DC, -3 dB at the cut-off
    w, h = signal.sosfreqz(got, worN=[0.0, fc], fs=fs)
    assert abs(h[0]) == pytest.approx(1.0, abs=1e-9)
    assert 20 * np.log10(abs(h[1])) == pytest.approx(-3.0103, abs=1e-3)


def test_butter_lowpass_rejects_odd_orders():
    with pytest.raises(ValueError, match="even order"):
        butter_lowpass(3, 120.0, 48000)


def test_true_peak_interpolator_is_scipy_firwin():
    n = OVERSAMPLE * TRUE_PEAK_TAPS + 1
    h = signal.firwin(n, 1.0 / OVERSAMPLE, window=("kaiser", 9.0)) * OVERSAMPLE
    want = np.concatenate([h, np.zeros(OVERSAMPLE - 1)]).reshape(-1, OVERSAMPLE).T
    assert np.max(np.abs(interpolator() - want)) <= 1e-12


def test_meter_k_weighting_is_scipy_sosfilt():
    """The meter's 100 ms mean squares equal those of the signal K-weighted by scipy."""
    fs = 48000
    rng = np.random.default_rng(5)
    x = rng.standard_normal((fs, 2)) * 0.1
    m = Meter(fs, [1.0, 1.0])
    for a in range(0, fs, 1234):
        m.add(x[a:a + 1234])
    y = signal.sosfilt(k_weighting(fs), x, axis=0)
    want = (y * y).sum(axis=1)[:fs // 4800 * 4800].reshape(-1, 4800).mean(axis=1)
    assert np.max(np.abs(m.steps - want) / want) <= 1e-12
