"""Our shoebox image sources, octave bank and pyroomacoustics tables against
pyroomacoustics itself (issue 8: a render no longer imports it, so it is the
reference here): the same images in the same order, the same positions and
damping, the same bands, the same tables."""
from __future__ import annotations

import numpy as np
import pytest

from spatial import bands
from spatial.bands import BANDS_HZ, N_BANDS
from spatial.room import decay, materials, pra_data
from spatial.room.image_sources import _band_absorption, image_sources, lattice, shoebox_damping
from spatial.scene.parts import FACES, Room

pra = pytest.importorskip("pyroomacoustics")

MIXED = {"west": [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6], "east": [0.02] * 7,
         "south": [0.9, 0.5, 0.3, 0.2, 0.1, 0.05, 0.01], "north": [0.3] * 7,
         "floor": [0.6, 0.6, 0.61, 0.7, 0.8, 0.8, 0.81], "ceiling": [1.0] * 7}
ROOMS_ORDERS = [
    (Room((8, 6, 3), rt60=0.5), 0),
    (Room((8, 6, 3), rt60=0.5), 1),
    (Room((8, 6, 3), rt60=0.5), 9),
    (Room((20, 14, 8), rt60=1.5), 6),
    (Room((5.3, 4.1, 2.7), materials=MIXED), 12),
    (Room((3.0, 3.0, 3.0), rt60=0.2), 30),
    (Room((80, 16, 40), materials={**MIXED, "ceiling": [1.0] * 7, "floor": [0.05] * 7}), 4),
]


def _pra_images(room: Room, src, lis, order: int):
    """pyroomacoustics' ShoeBox.image_source_model(): (lattice (N, 3), damping (N, 7))."""
    absorption = decay.room_absorption(room)
    mats = {f: pra.Material({"coeffs": [float(v) for v in absorption[f]],
                             "center_freqs": list(BANDS_HZ)}) for f in FACES}
    box = pra.ShoeBox(np.asarray(room.dimensions, float), fs=48000, max_order=order,
                      materials=mats, air_absorption=False)
    box.add_source(np.asarray(src, float))
    box.add_microphone(np.asarray(lis, float))
    box.image_source_model()
    image = box.sources[0]
    return (np.asarray(image.orders_xyz, np.int64).T,
            np.asarray(image.damping, float)[:N_BANDS].T, np.asarray(image.images, float).T)


@pytest.mark.parametrize("room,order", ROOMS_ORDERS)
def test_image_sources_are_pyroomacoustics_ones(room, order):
    rng = np.random.default_rng(order)
    dims = np.asarray(room.dimensions, float)
    for _ in range(3):
        src, lis = rng.uniform(0.05, 0.95, 3) * dims, rng.uniform(0.05, 0.95, 3) * dims
        n_ref, damping_ref, pos_ref = _pra_images(room, src, lis, order)
        n_xyz = lattice(order)
        assert np.array_equal(n_xyz, n_ref)  # same set, same order
        damping = shoebox_damping(n_xyz, _band_absorption(room)).astype(float)
        assert damping.shape == damping_ref.shape
        assert np.max(np.abs(damping - damping_ref)) <= 1e-12  # (in fact the same floats)
        # whole pipeline: pra's images, kept and sorted as before, from our own model
        refl = image_sources(room, src, lis, max_order=order, max_delay_s=10.0)
        odd = (n_ref % 2) != 0
        pos = n_ref * dims + np.where(odd, dims - src, src)
        assert np.allclose(pos, pos_ref, atol=1e-4)  # pra keeps positions in float32
        dist = np.linalg.norm(pos - lis, axis=1)
        direct = int(np.flatnonzero(np.abs(n_ref).sum(axis=1) == 0)[0])
        rest = np.flatnonzero((np.arange(dist.size) != direct) & np.any(damping_ref > 0, axis=1))
        idx = np.concatenate([[direct], rest[np.argsort(dist[rest], kind="stable")]])
        assert np.array_equal(refl.positions_m, pos[idx])
        assert np.abs(refl.band_gains[1:] - damping_ref[idx[1:]]).max(initial=0.0) <= 1e-12
        assert np.array_equal(refl.order, np.abs(n_ref[idx]).sum(axis=1))


def test_lattice_counts_the_l1_ball():
    for m in range(8):  # 1 + 2m(2m^2 + 3m + 4) / 3 points (pra's number_image_sources_3)
        assert len(lattice(m)) == 1 + 2 * m * (2 * m * m + 3 * m + 4) // 3


def test_damping_by_hand():
    """A single reflection off each face gives sqrt(1 - alpha) of that face alone."""
    alpha = np.array([[0.1], [0.2], [0.3], [0.4], [0.5], [0.6]], np.float32)
    n = np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1],
                  [2, 0, 0], [-3, 0, 0]])
    got = shoebox_damping(n, alpha)[:, 0]
    r = np.sqrt(1.0 - alpha[:, 0].astype(float))
    want = [*r, r[0] * r[1], r[0] ** 2 * r[1]]
    assert np.allclose(got, want, rtol=1e-6)


def test_octave_bank_is_pyroomacoustics_one():
    rng = np.random.default_rng(3)
    for fs in (48000, 44100, 16000, 8000):
        bank = pra.acoustics.OctaveBandsFactory(base_frequency=BANDS_HZ[0], fs=fs, n_fft=512,
                                                keep_dc=True)
        assert np.array_equal(bands._filters(fs), bank.filters)
        x = rng.standard_normal(3001)
        same = bands._Same(x, fs)
        for b in range(bank.n_bands):
            assert np.max(np.abs(same.band(b) - bank.analysis(x, band=b))) <= 1e-12


def test_tables_are_pyroomacoustics_ones():
    from pyroomacoustics.parameters import Physics, materials_absorption_table

    assert pra_data.materials_absorption_table() == materials_absorption_table
    assert pra_data.AIR_ABSORPTION == Physics().get_air_absorption()
    assert Physics().get_sound_speed() == pytest.approx(343.0)
    assert set(materials.known_materials()) == set(materials_absorption_table)
