"""The convolution core: numba kernels against their numpy twins, the block
convolver against scipy's fftconvolve, filter crossfades, determinism and the
accuracy of the fractional delay."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import fftconvolve

import naive
from spatial.engine import kernels
from spatial.engine.convolver import DEFAULT_BLOCK, BlockConvolver, convolve, crossfade_window


def _crandn(rng, *shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def _rel_err(a, b):
    assert a.shape == b.shape
    peak = np.max(np.abs(b))
    return np.max(np.abs(a - b)) / (peak if peak > 0 else 1.0)


# -- kernels vs their numpy twins -------------------------------------------------

@pytest.mark.parametrize("n_part, n_ring, n_ch, n_bins, head",
                         [(1, 1, 1, 1, 0), (4, 4, 2, 33, 2), (3, 7, 3, 65, 5), (6, 6, 4, 129, 0)])
def test_accumulate_partitions_matches_numpy(n_part, n_ring, n_ch, n_bins, head):
    rng = np.random.default_rng(n_part * 100 + n_ring)
    fdl = _crandn(rng, n_ring, n_bins)
    H = _crandn(rng, n_part, n_ch, n_bins)
    start = _crandn(rng, n_ch, n_bins)
    got, want = start.copy(), start.copy()
    kernels.accumulate_partitions(fdl, head, H, got)
    naive.accumulate_partitions(fdl, head, H, want)
    assert np.max(np.abs(got - want)) < 1e-12
    # the definition, written out
    manual = start.copy()
    for p in range(n_part):
        manual += fdl[(head - p) % n_ring] * H[p]
    assert np.max(np.abs(got - manual)) < 1e-12


def test_fractional_delay_taps_match_numpy():
    fracs = np.concatenate([[0.0, 1e-12, 0.5, 0.37, 1 - 1e-12], np.random.default_rng(3).uniform(0, 1, 50)])
    for frac in fracs:
        np.testing.assert_allclose(kernels.fractional_delay_taps(frac),
                                   naive.fractional_delay_taps(frac), rtol=0, atol=1e-13)
    for x in [0.0, 1.0, 4.0, 8.0, 20.0]:  # the power-series Bessel I0 against numpy's
        assert abs(kernels._bessel_i0(x) / np.i0(x) - 1.0) < 1e-14


def test_scatter_images_matches_reference():
    rng = np.random.default_rng(7)
    length, n_ch, lh = 400, 2, 24
    n = 60
    delays = rng.uniform(0, length, (n, n_ch))
    delays[:8] = rng.integers(0, length, (8, n_ch))  # integer delays: exact shifts
    delays[8:16] = rng.uniform(0, 2, (8, n_ch))  # near 0: taps fall before the start
    delays[16] = [0.0, 1e-9]
    delays[17:25] = length - rng.uniform(0, 30, (8, n_ch))  # near the end: partly dropped
    delays[25] = [length + 3.5, length + 20.0]  # entirely beyond the end
    delays[26] = [length - 1.0, length - 1e-7]
    irs = rng.standard_normal((n, n_ch, lh))
    gains = rng.uniform(-1, 1, n)
    got = np.zeros((n_ch, length))
    want = np.zeros((n_ch, length))
    kernels.scatter_images(got, irs, delays, gains)
    naive.scatter_images(want, irs, delays, gains)
    assert np.max(np.abs(got - want)) < 1e-12
    assert np.max(np.abs(want)) > 1.0  # not vacuous


def test_small_kernels_match_numpy():
    rng = np.random.default_rng(11)
    frames = rng.standard_normal((3, 16))
    frames[1, 8:] = 0.0
    blocks = rng.standard_normal((3, 8))
    blocks[1] = 0.0
    f1, f2 = frames.copy(), frames.copy()
    np.testing.assert_array_equal(kernels.load_blocks(f1, blocks), naive.load_blocks(f2, blocks))
    np.testing.assert_array_equal(f1, f2)
    assert list(kernels.load_blocks(f1, np.zeros((3, 8)))) == [True, False, True]
    for n in (9, 12, 20):  # frames of N != 2B: a shorter or a longer history
        frames = rng.standard_normal((3, n))
        frames[1] = 0.0
        f1, f2 = frames.copy(), frames.copy()
        got = kernels.load_blocks(f1, blocks)
        np.testing.assert_array_equal(got, naive.load_blocks(f2, blocks))
        np.testing.assert_array_equal(f1, f2)
        np.testing.assert_array_equal(f1[:, n - 8:], blocks)  # the block last ...
        np.testing.assert_array_equal(f1[:, :n - 8], frames[:, 8:])  # ... its history first
        assert list(got) == [True, False, True]
    out, old, new = (rng.standard_normal((2, 8)) for _ in range(3))
    fade = crossfade_window(8)
    o1, o2 = out.copy(), out.copy()
    kernels.crossfade_add(o1, old, new, fade)
    naive.crossfade_add(o2, old, new, fade)
    assert np.max(np.abs(o1 - o2)) < 1e-12


# -- the block convolver against fftconvolve -----------------------------------------

def _case(rng, n_in, n_ch, filt_lens, sig_lens):
    signals = [rng.standard_normal(n) for n in sig_lens]
    filters = [rng.standard_normal((n_ch, L)) for L in filt_lens]
    return signals, filters


@pytest.mark.parametrize("block", [64, 256, 1024])
def test_convolve_matches_reference(block):
    rng = np.random.default_rng(block)
    lens = [1, block // 2, block, block + 1, 3 * block + 5]  # length-1, shorter and longer than a block
    signals, filters = _case(rng, 5, 3, lens, [2 * block + 7, 50, 1, 4 * block, block])
    signals[1] = np.concatenate([np.zeros(6 * block), signals[1], np.zeros(5 * block), signals[1]])
    want = naive.convolve_reference(signals, filters)
    got = convolve(signals, filters, block_size=block)
    assert _rel_err(got, want) < 1e-5
    got_cut = convolve(signals, filters, block_size=block, length=block + 3)  # `length` truncates
    np.testing.assert_array_equal(got_cut, got[:, :block + 3])


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.data())
def test_convolve_matches_reference_hypothesis(data):
    block = data.draw(st.sampled_from([64, 256, 1024]), label="block")
    n_in = data.draw(st.integers(1, 8), label="inputs")
    n_ch = data.draw(st.integers(1, 4), label="channels")
    filt_lens = data.draw(st.lists(st.integers(1, 3 * block), min_size=n_in, max_size=n_in), label="L")
    sig_lens = data.draw(st.lists(st.integers(1, 3 * block), min_size=n_in, max_size=n_in), label="n")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    signals, filters = _case(np.random.default_rng(seed), n_in, n_ch, filt_lens, sig_lens)
    want = naive.convolve_reference(signals, filters)
    got = convolve(signals, filters, block_size=block)
    assert _rel_err(got, want) < 1e-5


@pytest.mark.parametrize("block, n_fft, taps", [(64, 65, 2), (64, 100, 37), (256, 300, 45),
                                                (64, 200, 137)])
def test_short_transforms_match_reference(block, n_fft, taps):
    """Transforms of N != 2B points (one partition of up to N - B + 1 taps): the same
    convolution as fftconvolve, block after block, with silent stretches."""
    rng = np.random.default_rng(block + n_fft)
    n = 9 * block + 13
    x = [rng.standard_normal(n), rng.standard_normal(n)]
    x[1][2 * block:5 * block] = 0.0
    h = [rng.standard_normal((2, taps)), rng.standard_normal((2, max(1, taps // 3)))]
    conv = BlockConvolver(block, 2, fft_size=n_fft)
    for f in h:
        conv.add_input(f)
    frames = np.zeros((2, block))
    got = []
    for b in range(-(-n // block)):
        for i in range(2):
            chunk = x[i][b * block:(b + 1) * block]
            frames[i] = 0.0
            frames[i, :chunk.size] = chunk
        got.append(conv.process(frames))
    got = np.concatenate(got, axis=1)[:, :n]
    want = sum(np.stack([fftconvolve(x[i], h[i][c])[:n] for c in range(2)]) for i in range(2))
    assert _rel_err(got, want) < 1e-12
    with pytest.raises(ValueError, match="does not fit"):
        conv.add_input(np.ones((2, n_fft - block + 2)))
    with pytest.raises(ValueError, match="at least block_size"):
        BlockConvolver(block, 2, fft_size=block)


def test_process_shapes_and_errors():
    conv = BlockConvolver(32, 2)
    assert conv.latency == 0
    assert conv.add_input(np.ones((2, 1))) == 0
    assert conv.add_input(np.ones((2, 100))) == 1
    assert conv.partitions(1) == 4
    assert conv.process(np.zeros((2, 32))).shape == (2, 32)
    with pytest.raises(ValueError):
        conv.add_input(np.ones((3, 10)))  # wrong channel count
    with pytest.raises(ValueError):
        conv.add_input(np.ones((2, 0)))
    with pytest.raises(ValueError):
        conv.process(np.zeros((1, 32)))


# -- filter changes ----------------------------------------------------------------

def _expected_with_changes(x0, schedule, others, block, n):
    """Independent expectation: full fftconvolve outputs of every filter, pieced together
    block by block, with the raised-cosine crossfade in each block where the filter changes."""
    fade = 0.5 - 0.5 * np.cos(np.pi * (np.arange(block) + 0.5) / block)
    n_ch = schedule[0][1].shape[0]
    full = [np.zeros((n_ch, n)) for _ in schedule]
    for y, (_, f) in zip(full, schedule):
        c = fftconvolve(x0[None, :], f, axes=1)[:, :n]
        y[:, :c.shape[1]] = c
    out = np.zeros((n_ch, n))
    for x, f in others:
        c = fftconvolve(x[None, :], f, axes=1)[:, :n]
        out[:, :c.shape[1]] += c
    starts = [k for k, _ in schedule]
    for b in range(n // block):
        sl = slice(b * block, (b + 1) * block)
        i = max(j for j, k in enumerate(starts) if k <= b)
        if starts[i] == b and i > 0:
            out[:, sl] += (1 - fade) * full[i - 1][:, sl] + fade * full[i][:, sl]
        else:
            out[:, sl] += full[i][:, sl]
    return out


def _run_with_changes(x0, schedule, others, block, n, max_length=None):
    conv = BlockConvolver(block, schedule[0][1].shape[0])
    conv.add_input(schedule[0][1], max_length=max_length)
    for _, f in others:
        conv.add_input(f)
    sigs = [x0] + [x for x, _ in others]
    changes = dict(schedule[1:])
    out = np.zeros((conv.n_outputs, n))
    for b in range(n // block):
        if b in changes:
            conv.set_filter(0, changes[b])
        blocks = np.stack([s[b * block:(b + 1) * block] for s in sigs])
        out[:, b * block:(b + 1) * block] = conv.process(blocks)
    return out


@pytest.mark.parametrize("old_len, new_len, max_length, silent", [
    (150, 170, None, False),  # same partition count
    (300, 90, None, False),  # shorter new filter
    (150, 300, 300, False),  # longer filter, history reserved by max_length
    (150, 170, None, True),  # input 0 silent around the change (the idle-input shortcut)
])
def test_filter_change_is_crossfaded(old_len, new_len, max_length, silent):
    block, n_ch, k = 64, 2, 7
    n = 24 * block
    rng = np.random.default_rng(old_len + new_len)
    x0 = rng.standard_normal(n)
    if silent:
        x0[2 * block:12 * block] = 0.0
    x1 = rng.standard_normal(n)
    schedule = [(0, rng.standard_normal((n_ch, old_len))), (k, rng.standard_normal((n_ch, new_len)))]
    others = [(x1, rng.standard_normal((n_ch, 200)))]
    want = _expected_with_changes(x0, schedule, others, block, n)
    got = _run_with_changes(x0, schedule, others, block, n, max_length)
    assert _rel_err(got, want) < 1e-9


def test_consecutive_filter_changes():
    block, n_ch = 64, 3
    n = 20 * block
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal(n)
    schedule = [(0, rng.standard_normal((n_ch, 100))), (4, rng.standard_normal((n_ch, 120))),
                (5, rng.standard_normal((n_ch, 80))), (9, rng.standard_normal((n_ch, 1)))]
    others = [(rng.standard_normal(n), rng.standard_normal((n_ch, 64)))]
    want = _expected_with_changes(x0, schedule, others, block, n)
    got = _run_with_changes(x0, schedule, others, block, n)
    assert _rel_err(got, want) < 1e-9


def test_deterministic():
    rng = np.random.default_rng(9)
    signals, filters = _case(rng, 4, 2, [1, 300, 5000, 700], [3000, 4000, 100, 2500])
    a = convolve(signals, filters, block_size=256)
    b = convolve(signals, filters, block_size=256)
    assert np.array_equal(a, b)
    x0 = rng.standard_normal(16 * 64)
    schedule = [(0, rng.standard_normal((2, 90))), (5, rng.standard_normal((2, 130)))]
    r1 = _run_with_changes(x0, schedule, [], 64, x0.size)
    r2 = _run_with_changes(x0, schedule, [], 64, x0.size)
    assert np.array_equal(r1, r2)
    assert DEFAULT_BLOCK & (DEFAULT_BLOCK - 1) == 0  # a power of two: fast FFTs of 2B


# -- physics: the fractional delay -------------------------------------------------

def test_fractional_delay_matches_ideal_delay():
    """A windowed-sinc delay of 10.37 samples on noise band-limited below 0.8 Nyquist
    equals the ideal (phase-ramp) delay to better than -60 dB error energy.

    The filter is built by scatter_images with its time origin `pre` samples into the
    buffer, so that none of the 32 taps (15 of which precede the integer delay) falls
    before sample 0 and is dropped; the ideal reference is delayed by pre + d.
    """
    d, pre, n = 10.37, 16, 1 << 14
    rng = np.random.default_rng(2)
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spec.size) / n  # cycles per sample, Nyquist = 0.5
    spec[freqs >= 0.8 * 0.5] = 0.0
    x = np.fft.irfft(spec, n)  # periodic: circular convolution has no edges
    filt = np.zeros((1, 64))
    kernels.scatter_images(filt, np.ones((1, 1, 1)), np.array([[pre + d]]), np.ones(1))
    assert np.count_nonzero(filt) == naive.FRACTIONAL_TAPS  # nothing dropped
    y = np.fft.irfft(np.fft.rfft(x) * np.fft.rfft(filt[0], n), n)
    ideal = np.fft.irfft(spec * np.exp(-2j * np.pi * freqs * (pre + d)), n)
    err_db = 10 * np.log10(np.sum((y - ideal) ** 2) / np.sum(ideal ** 2))
    assert err_db < -60.0
    # the same filter through the block convolver (linear convolution, interior samples)
    z = convolve([np.tile(x, 2)], [filt], block_size=256)[0, n:2 * n]
    assert np.max(np.abs(z - y)) < 1e-9 * np.max(np.abs(y))


def test_single_precision_meets_the_accuracy_bound():
    """The renderer runs the engine in float32; the foundation issue bounds the error of
    the convolution core at 1e-5 of the peak against the float64 numpy reference."""
    rng = np.random.default_rng(11)
    signals = [rng.standard_normal(n) for n in (20000, 7000, 15000)]
    filters = [rng.standard_normal((2, n)) * np.exp(-np.arange(n) / (n / 4)) for n in (300, 5000, 70000)]
    want = naive.convolve_reference(signals, filters)
    got = convolve(signals, filters, block_size=1024, dtype=np.float32)
    assert np.abs(got - want).max() < 1e-5 * np.abs(want).max()
    # a filter change in single precision too: old filter, crossfade block, new filter
    B, k = 512, 6
    sig = rng.standard_normal(12 * B)
    old, new = rng.standard_normal((1, 700)), rng.standard_normal((1, 1500))
    conv = BlockConvolver(B, 1, dtype=np.float32)
    conv.add_input(old, max_length=1500)
    out = []
    for b in range(12):
        if b == k:
            conv.set_filter(0, new)
        out.append(conv.process(sig[None, b * B:(b + 1) * B]))
    out = np.concatenate(out, axis=1)[0]
    y_old = naive.convolve_reference([sig], [old])[0][:12 * B]
    y_new = naive.convolve_reference([sig], [new])[0][:12 * B]
    fade = np.concatenate([np.zeros(k * B), crossfade_window(B), np.ones((11 - k) * B)])
    want = y_old + fade * (y_new - y_old)
    assert np.abs(out - want).max() < 1e-5 * np.abs(want).max()
    assert conv.process(np.zeros((1, B))).dtype == np.float32


# -- packed multi-input accumulation, silent inputs, threads ----------------------------

def test_accumulate_routes_matches_numpy():
    """The packed kernel (every input's ring, every route's partitions in two arrays)
    against its numpy twin and against the per-route definition written out: routes of
    one input share its ring, each lands in its own channels (two groups here)."""
    rng = np.random.default_rng(21)
    rows = np.array([3, 1, 5, 2])
    rows_at = np.concatenate([[0], np.cumsum(rows)[:-1]])
    # routes: (input, parts, offset, width); inputs 0 and 2 reach both groups (0..3, 3..5)
    routes = [(0, 2, 0, 3), (1, 1, 0, 3), (2, 5, 0, 3), (3, 2, 0, 3), (0, 3, 3, 2),
              (2, 4, 3, 2)]
    route_input = np.array([r[0] for r in routes])
    parts = np.array([r[1] for r in routes])
    offset = np.array([r[2] for r in routes])
    width = np.array([r[3] for r in routes])
    size = parts * width
    h_at = np.concatenate([[0], np.cumsum(size)[:-1]])
    n_ch, n_bins = 5, 65
    fdl = _crandn(rng, rows.sum(), n_bins)
    H = _crandn(rng, size.sum(), n_bins)
    heads = np.array([2, 0, 3, 1])
    use = np.array([True, True, False, True, True, True])
    args = (fdl, heads, rows_at, rows, route_input, H, h_at, parts, offset, width, use)
    got = _crandn(rng, n_ch, n_bins)  # overwritten, not added to
    want = np.zeros_like(got)
    kernels.accumulate_routes(*args, got, 0, n_ch)
    naive.accumulate_routes(*args, want, 0, n_ch)
    manual = np.zeros_like(got)
    for r in np.flatnonzero(use):
        s = route_input[r]
        for p in range(parts[r]):
            spec = fdl[rows_at[s] + (heads[s] - p) % rows[s]]
            for j in range(width[r]):
                manual[offset[r] + j] += spec * H[h_at[r] + p * width[r] + j]
    assert np.max(np.abs(got - want)) < 1e-12
    assert np.max(np.abs(got - manual)) < 1e-12
    assert np.max(np.abs(manual)) > 1.0
    # a channel range touches only its channels, and computes them exactly as the whole
    part = _crandn(rng, n_ch, n_bins)
    kept = part.copy()
    kernels.accumulate_routes(*args, part, 1, 4)
    assert np.array_equal(part[0], kept[0]) and np.array_equal(part[4], kept[4])
    assert np.array_equal(part[1:4], got[1:4])
    ref_part = kept.copy()
    naive.accumulate_routes(*args, ref_part, 1, 4)
    assert np.array_equal(ref_part[0], kept[0])
    assert np.max(np.abs(ref_part[1:4] - manual[1:4])) < 1e-12


def test_routes_equal_engines_of_one_group():
    """An engine with two output groups (each input routed to both, with other filters)
    gives each group's channels bit for bit as an engine holding that group alone:
    one forward transform per input serves every group."""
    rng = np.random.default_rng(5)
    B, n_blocks = 256, 9
    sig = [rng.standard_normal(B * n_blocks) for _ in range(3)]
    sig[1][: 3 * B] = 0.0  # a late start: silent blocks skipped in both
    fa = [rng.standard_normal((2, int(n))) for n in (100, 700, 1300)]
    fb = [rng.standard_normal((3, int(n))) for n in (900, 50, 300)]
    both = BlockConvolver(B, 5, dtype=np.float32)
    alone = [BlockConvolver(B, 2, dtype=np.float32), BlockConvolver(B, 3, dtype=np.float32)]
    for a, b in zip(fa, fb):
        s = both.add_input()
        both.add_route(s, a, 0)
        both.add_route(s, b, 2)
        alone[0].add_input(a)
        alone[1].add_input(b)
    for k in range(n_blocks):
        x = np.stack([s_[k * B:(k + 1) * B] for s_ in sig])
        y = both.process(x)
        assert np.array_equal(y[:2], alone[0].process(x))
        assert np.array_equal(y[2:], alone[1].process(x))
    want = naive.convolve_reference(sig, fb)[:, :B * n_blocks]
    assert np.max(np.abs(y[2:] - want[:, -B:])) < 1e-5 * np.abs(want).max()


def _sparse_case(rng, block, n_blocks):
    """Inputs silent for long stretches (a late start, pauses, an early end, silence)."""
    n = block * n_blocks
    signals = [rng.standard_normal(n) for _ in range(5)]
    signals[0][:7 * block + 3] = 0.0  # starts late, mid-block
    signals[1][2 * block:9 * block] = 0.0  # a pause longer than its filter
    signals[1][12 * block + 5:13 * block - 7] = 0.0  # a pause shorter than a block
    signals[2][4 * block:] = 0.0  # ends early: its filter still rings
    signals[3][:] = 0.0  # silent throughout
    filters = [rng.standard_normal((2, L)) for L in (3 * block + 1, 2 * block, 5 * block, 10, 1)]
    return signals, filters


def test_silent_blocks_skipped_equal_not_skipped():
    """Skipping the transforms and MACs of silent inputs changes no sample, and both
    agree with fftconvolve."""
    block = 128
    signals, filters = _sparse_case(np.random.default_rng(4), block, 20)
    outs = []
    for skip in (True, False):
        conv = BlockConvolver(block, 2, dtype=np.float32, skip_silent=skip)
        for f in filters:
            conv.add_input(f)
        blocks = np.stack([s.reshape(-1, block) for s in signals], axis=1)  # (n_blocks, S, B)
        outs.append(np.concatenate([conv.process(b) for b in blocks], axis=1))
    assert np.array_equal(outs[0], outs[1])
    want = naive.convolve_reference(signals, filters, length=outs[0].shape[1])
    assert _rel_err(outs[0], want) < 1e-5


def test_fft_workers_change_nothing():
    block = 256
    signals, filters = _sparse_case(np.random.default_rng(8), block, 12)
    outs = []
    for workers in (1, 2):
        conv = BlockConvolver(block, 2, dtype=np.float32, workers=workers)
        for f in filters:
            conv.add_input(f)
        blocks = np.stack([s.reshape(-1, block) for s in signals], axis=1)
        outs.append(np.concatenate([conv.process(b) for b in blocks], axis=1))
    assert np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_change_nothing(dtype):
    """Lanes (forward FFTs by input, multiply-accumulate and inverse FFTs by channel, in a
    thread pool) give the 1-thread output bit for bit: sparse inputs, a filter change
    mid-stream (crossfade), 3 channels (uneven channel split), float64 blocks in; and
    the output is the convolution (fftconvolve, crossfade written out)."""
    block, n_blocks, k = 128, 20, 7  # input 2 ends at block 4; its filter rings to 9
    rng = np.random.default_rng(12)
    signals, filters = _sparse_case(rng, block, n_blocks)
    filters = [np.vstack([f, f[:1] * 0.5]) for f in filters]  # 3 channels
    new = rng.standard_normal((3, 4 * block + 7))  # input 2's filter from block k on
    blocks = np.stack([s.reshape(-1, block) for s in signals], axis=1)  # (n_blocks, S, B)
    outs = []
    for threads in (1, 2, 3):
        conv = BlockConvolver(block, 3, dtype=dtype, threads=threads)
        conv.lanes.min_inputs = 0  # lanes for every block, however small,
        conv.lanes.backoff_blocks = 0  # even when they did not run side by side
        for f in filters:
            conv.add_input(f, max_length=5 * block)
        out = []
        for b in range(n_blocks):
            if b == k:
                conv.set_filter(2, new)
            out.append(conv.process(blocks[b]))
        assert (conv.lanes.pool is not None) == (threads > 1)
        conv.close()
        outs.append(np.concatenate(out, axis=1))
    assert np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0], outs[2])
    n = block * n_blocks
    rest = naive.convolve_reference(signals[:2] + signals[3:], filters[:2] + filters[3:],
                                        length=n)
    y_old = naive.convolve_reference([signals[2]], [filters[2]], length=n)
    y_new = naive.convolve_reference([signals[2]], [new], length=n)
    fade = np.concatenate([np.zeros(k * block), crossfade_window(block),
                           np.ones((n_blocks - k - 1) * block)])
    want = rest + y_old + fade * (y_new - y_old)
    assert _rel_err(outs[0], want) < (1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rfft_rows_equal_scipy_rfft(dtype):
    """The forward transforms written straight into the ring rows (runs of consecutive
    inputs and rows) and through one call and a copy (many runs) are scipy.fft.rfft's,
    bit for bit, and no other row is touched."""
    from scipy.fft import rfft

    from spatial.engine.convolver import _rfft_rows

    rng = np.random.default_rng(5)
    frames = rng.standard_normal((12, 64)).astype(dtype)
    cdt = np.complex64 if dtype == np.float32 else np.complex128
    cases = [(np.arange(12), np.arange(3, 15)),  # one run
             (np.array([0, 1, 2, 5, 6, 9]), np.array([4, 5, 6, 0, 1, 20])),  # three runs
             (np.arange(0, 12, 2), np.arange(0, 24, 4))]  # every row its own run: the copy
    for idx, dst in cases:
        fdl = _crandn(rng, 24, 33).astype(cdt)
        before = fdl.copy()
        _rfft_rows(frames, idx, fdl, dst, 1)
        assert np.array_equal(fdl[dst], rfft(frames[idx], axis=-1))
        rest = np.setdiff1d(np.arange(24), dst)
        assert np.array_equal(fdl[rest], before[rest])


def test_send_bus_matches_numpy_and_delays():
    """The tail's send bus, block by block (delays shorter and longer than a block, a
    silent stretch, an input without a send between): the kernel equals its numpy twin
    bit for bit, and both equal sum_i g_i x_i(t - d_i) computed on whole signals."""
    rng = np.random.default_rng(9)
    B, n_blocks, S = 64, 12, 5
    x = rng.standard_normal((S, n_blocks * B))
    x[1, 2 * B:7 * B] = 0.0  # silent blocks: its line rings out, then idles
    inputs = np.array([0, 1, 3, 4])
    gains = np.array([0.5, -1.25, 2.0, 0.75])
    delays = np.array([0, 10, 150, 64])
    lines = [np.zeros((4, delays.max() + B)) for _ in range(2)]
    idle = [np.ones(4, bool) for _ in range(2)]
    got = np.zeros((2, n_blocks * B))
    for b in range(n_blocks):
        rows = x[:, b * B:(b + 1) * B].copy()
        active = np.any(rows != 0.0, axis=1)
        kernels.send_bus(rows, active, inputs, gains, delays, lines[0], idle[0],
                         got[0, b * B:(b + 1) * B])
        naive.send_bus(rows, active, inputs, gains, delays, lines[1], idle[1],
                           got[1, b * B:(b + 1) * B])
        assert np.array_equal(idle[0], idle[1])
        if b == 6:
            assert idle[0][1]  # silent since block 2, its 10-sample line has rung out
    assert np.array_equal(got[0], got[1])
    want = np.zeros(n_blocks * B)
    for i, g, d in zip(inputs, gains, delays):
        want[d:] += g * x[i, :n_blocks * B - d]
    assert np.max(np.abs(got[0] - want)) < 1e-12


def test_scatter_images_many_matches_reference():
    """R filters at once (the band components of early reflections) equal R scatters."""
    rng = np.random.default_rng(17)
    length, n_ch, lh, n, n_out = 300, 2, 20, 40, 3
    delays = rng.uniform(0, length + 10, (n, n_ch))
    delays[:5] = rng.integers(0, length, (5, n_ch))  # integer: exact shifts
    delays[5:9] = rng.uniform(0, 2, (4, n_ch))  # taps before the start are dropped
    irs = rng.standard_normal((n, n_ch, lh))
    gains = rng.uniform(-1, 1, (n, n_out))
    got = np.zeros((n_out, n_ch, length))
    want = np.zeros((n_out, n_ch, length))
    kernels.scatter_images_many(got, irs, delays, gains)
    naive.scatter_images_many(want, irs, delays, gains)
    assert np.max(np.abs(got - want)) < 1e-12
    one = np.zeros((n_ch, length))
    kernels.scatter_images(one, irs, delays, np.ascontiguousarray(gains[:, 1]))
    assert np.max(np.abs(got[1] - one)) < 1e-12
    assert np.max(np.abs(want)) > 1.0


def test_sized_engines_match_reference_and_keep_each_keys_bits():
    """Routes of two keys (formats) with filters of different lengths: each on its own
    transform size; the output adds every route's convolution (fftconvolve) into its
    channels, leaves the others alone, and a key's channels are the same bit for bit
    with or without the other key's routes beside them."""
    from spatial.engine.sized import SizedEngines, fft_size

    B = 128
    assert fft_size(B, 1) == fft_size(B, 2) >= B + 1 and fft_size(B, 40) >= B + 39
    assert fft_size(B, 40) < 2 * B and fft_size(B, 500) == 2 * B  # long: partitioned
    rng = np.random.default_rng(5)
    n = 12 * B
    x = rng.standard_normal((3, n)).astype(np.float32)
    x[2, 3 * B:7 * B] = 0.0
    short = [rng.standard_normal((2, 30)) for _ in range(3)]  # key 0: channels 0-1
    long = [rng.standard_normal((3, 300)) for _ in range(3)]  # key 1: channels 3-5
    mid = rng.standard_normal((2, 90))  # key 2: channels 6-7, input 1 only

    def run(keys):
        eng = SizedEngines(B, 3, 8)
        for s in range(3):
            if 0 in keys:
                eng.add_route(s, short[s], 0, key=0)
            if 1 in keys:
                eng.add_route(s, long[s], 3, key=1)
        if 2 in keys:
            eng.add_route(1, mid, 6, key=2)
        out = np.full((8, n), 7.0, np.float32)  # added into: untouched where no route
        for b in range(n // B):
            eng.process(x[:, b * B:(b + 1) * B], out[:, b * B:(b + 1) * B])
        eng.close()
        return eng, out

    eng, got = run({0, 1, 2})
    assert sorted(eng.sizes().values()) == [fft_size(B, 30), fft_size(B, 90), 2 * B]
    want = np.full((8, n), 7.0)
    for s in range(3):
        for c in range(2):
            want[c] += fftconvolve(x[s].astype(float), short[s][c])[:n]
        for c in range(3):
            want[3 + c] += fftconvolve(x[s].astype(float), long[s][c])[:n]
    for c in range(2):
        want[6 + c] += fftconvolve(x[1].astype(float), mid[c])[:n]
    assert np.max(np.abs(got - want)) < 1e-5 * np.max(np.abs(want))
    np.testing.assert_array_equal(got[2], 7.0)
    for alone in ({0}, {1}, {2}, {0, 2}):
        _, part = run(alone)
        chans = {0: [0, 1], 1: [3, 4, 5], 2: [6, 7]}
        for k in alone:
            np.testing.assert_array_equal(part[chans[k]], got[chans[k]])
    gain = SizedEngines(B, 3, 8)  # 1-tap filters (gains): the smallest size the engine takes
    gain.add_route(0, np.full((1, 1), 0.5), 2)
    one = np.zeros((8, B), np.float32)
    gain.process(x[:, :B], one)
    assert np.max(np.abs(one[2] - 0.5 * x[0, :B])) < 1e-5 * np.max(np.abs(x[0, :B]))
    np.testing.assert_array_equal(np.delete(one, 2, axis=0), 0.0)
    with pytest.raises(IndexError):
        SizedEngines(B, 3, 8).add_route(3, short[0], 0)
