"""The decoded-source cache (spatial.source_cache): the same samples as decoding, against
an independent whole-file decode; never stale; bounded; harmless when it cannot work."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from helpers import noise_file

import spatial
from spatial import source_cache
from spatial.readers import BlockReader, probe
from spatial.scene.model import Scene
from spatial.scene.parts import Listener, Output, Room, Source

FS = 48000


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
    """Every test has its own empty cache root, the cache on, the default limits."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SPATIAL_CACHE_DIR", str(root))
    monkeypatch.delenv("SPATIAL_SOURCE_CACHE", raising=False)
    monkeypatch.delenv("SPATIAL_SOURCE_CACHE_MB", raising=False)
    return root


def entries(root: Path, suffix=".pcm"):
    folder = root / "sources"
    return sorted(folder.glob(f"*{suffix}")) if folder.exists() else []


write = partial(noise_file, subtype="PCM_24")  # a 24-bit file unless told


def expected(path: Path, mono: bool, gain: float = 1.0) -> np.ndarray:
    """Independent reference: the whole file decoded, downmixed, resampled at once."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    if mono:
        data = data.mean(axis=1, keepdims=True)
    if rate != FS:
        data = soxr.resample(data, rate, FS, quality="VHQ")
    return gain * np.asarray(data).reshape(data.shape[0], -1)


def read_all(path, mono: bool, block: int = 3000, gain: float = 1.0):
    """The reader's whole stream (and a few blocks of zeros after it) from a file (or its
    FileInfo), and whether it came from the cache."""
    info = path if hasattr(path, "length_at") else probe(path)
    with BlockReader(info, FS, mono=mono, gain=gain) as reader:
        out = np.zeros((info.length_at(FS) + 2 * block, reader.channels))
        for lo in range(0, out.shape[0], block):
            reader.read_into(out[lo:lo + block])
        return out, reader.cached


CASES = [  # file rate, channels, mono, subtype, container, cached sample type
    (48000, 1, True, "PCM_24", "flac", "f"),   # compressed, at the render rate: float32
    (48000, 2, False, "PCM_16", "flac", "f"),  # a bed's channels kept
    (48000, 2, True, "PCM_24", "flac", "d"),   # downmixed: the mean needs float64
    (44100, 2, True, "PCM_16", "wav", "d"),    # resampled plain WAV
    (96000, 3, False, "FLOAT", "wav", "d"),    # resampled bed
]


@pytest.mark.parametrize("rate, channels, mono, subtype, ext, kind", CASES)
def test_cached_stream_is_the_decoded_stream_bit_for_bit(tmp_path, cache_root, monkeypatch,
                                                         rate, channels, mono, subtype, ext,
                                                         kind):
    path = write(tmp_path / f"x.{ext}", 1.7, rate, channels, subtype=subtype)
    want = expected(path, mono, gain=0.5)
    filled, hit = read_all(path, mono, gain=0.5)  # decodes, fills the cache as it streams
    assert not hit
    (entry,) = entries(cache_root)
    assert entry.read_bytes()[10:11] == kind.encode()
    n = want.shape[0]
    assert np.array_equal(filled[:n], want) and not np.any(filled[n:])

    # a warm read does not decode: soundfile and soxr would fail if it tried
    import soundfile

    info = probe(path)
    monkeypatch.setattr(soundfile, "SoundFile", None)
    monkeypatch.setattr(soxr, "ResampleStream", None)
    for block in (3000, 4096, 777):
        cached, hit = read_all(info, mono, block=block, gain=0.5)
        assert hit
        assert np.array_equal(cached[:n], want) and not np.any(cached[n:])


def test_plain_wav_at_the_render_rate_is_not_cached(tmp_path, cache_root):
    path = write(tmp_path / "x.wav", 0.5, subtype="PCM_24")
    read_all(path, mono=True)
    read_all(write(tmp_path / "s.wav", 0.5, channels=2), mono=True)  # a cheap downmix
    assert entries(cache_root) == []


def test_disabled_by_environment(tmp_path, cache_root, monkeypatch):
    monkeypatch.setenv("SPATIAL_SOURCE_CACHE", "0")
    path = write(tmp_path / "x.flac", 0.5)
    for _ in range(2):
        out, hit = read_all(path, mono=True)
        assert not hit
    assert not cache_root.exists()
    n = expected(path, True).shape[0]
    assert np.array_equal(out[:n], expected(path, True))


def test_rewritten_file_is_never_served_stale(tmp_path, cache_root):
    # 44.1 kHz 16-bit WAV: resampled, hence cached, and the same size whatever it holds
    path = write(tmp_path / "x.wav", 1.0, 44100, seed=1, subtype="PCM_16")
    old_stat = os.stat(path)
    first, _ = read_all(path, mono=True)
    assert len(entries(cache_root)) == 1

    write(path, 1.0, 44100, seed=2, subtype="PCM_16")  # new content, same size
    assert os.stat(path).st_size == old_stat.st_size
    want = expected(path, True)
    n = want.shape[0]
    got, hit = read_all(path, mono=True)
    assert not hit
    assert np.array_equal(got[:n], want) and not np.array_equal(got[:n], first[:n])

    # even with the old mtime put back (cp -p, rsync -t of another take)
    write(path, 1.0, 44100, seed=3, subtype="PCM_16")
    os.utime(path, ns=(old_stat.st_atime_ns, old_stat.st_mtime_ns))
    got, hit = read_all(path, mono=True)
    assert not hit
    assert np.array_equal(got[:n], expected(path, True))


def test_each_rate_and_channel_handling_has_its_own_entry(tmp_path, cache_root):
    path = write(tmp_path / "x.flac", 0.5, channels=2)
    read_all(path, mono=True)
    read_all(path, mono=False)
    assert len(entries(cache_root)) == 2
    info = probe(path)
    with BlockReader(info, 44100, mono=True) as reader:  # another render rate: a miss
        assert not reader.cached


def test_unwritable_or_full_cache_falls_back_to_decoding(tmp_path, cache_root, monkeypatch):
    path = write(tmp_path / "x.flac", 0.8)
    want = expected(path, True)
    n = want.shape[0]

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("SPATIAL_CACHE_DIR", str(blocker))
    got, hit = read_all(path, mono=True)
    assert not hit and np.array_equal(got[:n], want)

    monkeypatch.setenv("SPATIAL_CACHE_DIR", str(cache_root))
    # disk full before writing: nothing is attempted
    usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(p)._replace(free=1000))
    got, _ = read_all(path, mono=True)
    assert np.array_equal(got[:n], want) and entries(cache_root) == []
    monkeypatch.undo()
    monkeypatch.setenv("SPATIAL_CACHE_DIR", str(cache_root))

    # disk full while writing (ENOSPC on the second chunk)
    calls = []

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            calls.append(1)
            if len(calls) > 2:
                raise OSError(28, "No space left on device")
            return self.f.write(b)

        def __getattr__(self, name):
            return getattr(self.f, name)

    real = source_cache.Filler.__init__

    def init(self, slot, f, tmp):
        real(self, slot, Full(f), tmp)

    monkeypatch.setattr(source_cache.Filler, "__init__", init)
    got, hit = read_all(path, mono=True)
    assert len(calls) > 2 and not hit
    assert np.array_equal(got[:n], want)
    assert entries(cache_root) == [] and entries(cache_root, ".part") == []


def test_damaged_entry_is_ignored(tmp_path, cache_root):
    path = write(tmp_path / "x.flac", 0.5)
    read_all(path, mono=True)
    (entry,) = entries(cache_root)
    entry.write_bytes(entry.read_bytes()[:-4])  # cut short
    want = expected(path, True)
    got, hit = read_all(path, mono=True)
    assert not hit and np.array_equal(got[:want.shape[0]], want)
    (entry,) = entries(cache_root)  # rewritten whole
    got, hit = read_all(path, mono=True)
    assert hit and np.array_equal(got[:want.shape[0]], want)


def test_per_file_limit_streams_long_files_as_before(tmp_path, cache_root, monkeypatch):
    short = write(tmp_path / "short.flac", 0.2)
    long = write(tmp_path / "long.flac", 0.5, seed=2)
    # 0.3 s of float32 mono: the short file fits, the long one does not
    monkeypatch.setattr(source_cache, "FILE_LIMIT", int(0.3 * FS) * 4)
    read_all(short, mono=True)
    got, _ = read_all(long, mono=True)
    assert len(entries(cache_root)) == 1
    n = expected(long, True).shape[0]
    assert np.array_equal(got[:n], expected(long, True))
    got, hit = read_all(long, mono=True)
    assert not hit
    # a total cap below the file's size also keeps it out
    monkeypatch.setattr(source_cache, "FILE_LIMIT", 2 ** 30)
    monkeypatch.setenv("SPATIAL_SOURCE_CACHE_MB", str(0.3 * FS * 4 / 2 ** 20))
    read_all(long, mono=True)
    assert len(entries(cache_root)) == 1


def test_least_recently_used_entries_are_evicted_past_the_total(tmp_path, cache_root,
                                                                 monkeypatch):
    files = [write(tmp_path / f"{k}.flac", 0.25, seed=k) for k in range(3)]
    slots = [source_cache.Slot.find(probe(f), FS, True, "VHQ").path for f in files]
    size = 32 + int(0.25 * FS) * 4  # one entry: header + float32 mono
    monkeypatch.setenv("SPATIAL_SOURCE_CACHE_MB", str(2.5 * size / 2 ** 20))  # room for 2
    read_all(files[0], mono=True)
    read_all(files[1], mono=True)
    assert entries(cache_root) == sorted(slots[:2])
    os.utime(slots[0], ns=(10 ** 9, 10 ** 9))  # files[0] written long before files[1]
    os.utime(slots[1], ns=(2 * 10 ** 9, 2 * 10 ** 9))
    _, hit = read_all(files[0], mono=True)  # ... but used since: files[1] is the oldest
    assert hit and slots[0].stat().st_mtime_ns > 2 * 10 ** 9
    read_all(files[2], mono=True)  # a third entry: the least recently used one goes
    assert entries(cache_root) == sorted([slots[0], slots[2]])
    _, hit = read_all(files[1], mono=True)
    assert not hit  # evicted: decoded again (and cached again, evicting files[0]'s)
    assert sum(p.stat().st_size for p in entries(cache_root)) <= 2.5 * size


def test_a_stream_not_read_to_its_end_leaves_no_entry(tmp_path, cache_root):
    path = write(tmp_path / "x.flac", 1.0)
    with BlockReader(probe(path), FS, mono=True) as reader:
        reader.read_into(np.zeros(30000))
    assert entries(cache_root) == [] and entries(cache_root, ".part") == []


def test_killed_render_leaves_no_entry(tmp_path, cache_root):
    path = write(tmp_path / "x.flac", 2.0)
    code = textwrap.dedent(f"""
        import os, signal, numpy as np
        from spatial.readers import BlockReader, probe
        reader = BlockReader(probe({str(path)!r}), {FS}, mono=True)
        reader.read_into(np.zeros(50000))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ),
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert entries(cache_root) == []
    (part,) = entries(cache_root, ".part")  # the half-written file is not an entry ...
    read_all(path, mono=True)  # ... and a new render writes a whole one
    assert len(entries(cache_root)) == 1
    os.utime(part, (1, 1))  # ... and a .part a day old is removed by the next commit
    read_all(write(tmp_path / "y.flac", 0.2), mono=True)
    assert entries(cache_root, ".part") == [] and len(entries(cache_root)) == 2


def test_cache_root_is_the_hrtf_caches(tmp_path, monkeypatch):
    from spatial.disk_cache import cache_dir

    for env in ({"SPATIAL_CACHE_DIR": str(tmp_path / "a")},
                {"SPATIAL_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "x")},
                {"SPATIAL_CACHE_DIR": "", "XDG_CACHE_HOME": "", "HOME": str(tmp_path)}):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert source_cache.folder() == cache_dir() / "sources"
    assert source_cache.folder() == tmp_path / ".cache" / "spatial" / "sources"


def test_render_is_bit_identical_cold_filling_and_warm(tmp_path, cache_root, monkeypatch):
    """A whole render (a resampled stereo source downmixed, a FLAC bed, a room) three
    ways: cache off, cache being filled, cache read."""
    a = write(tmp_path / "a.wav", 0.6, 44100, channels=2, seed=1, subtype="PCM_16")
    b = write(tmp_path / "b.flac", 0.5, seed=2)
    bed = write(tmp_path / "bed.flac", 0.4, 44100, channels=2, seed=3)
    scene = Scene(listener=Listener((2.0, 2.0, 1.5), 0.0),
                  sources=(Source("a", a, (3.0, 1.0, 1.5)),
                           Source("b", b, (1.0, 3.0, 1.2), start=0.2),
                           Source("bed", bed, diegetic=False)),
                  output=Output(format="stereo"),
                  room=Room(dimensions=(4.0, 4.0, 3.0), rt60=0.3), sample_rate=FS)
    monkeypatch.setenv("SPATIAL_SOURCE_CACHE", "0")
    cold = spatial.render(scene).audio
    monkeypatch.setenv("SPATIAL_SOURCE_CACHE", "1")
    filling = spatial.render(scene).audio
    assert len(entries(cache_root)) == 3
    stamp = {p: p.stat().st_size for p in entries(cache_root)}
    warm = spatial.render(scene).audio
    assert {p: p.stat().st_size for p in entries(cache_root)} == stamp
    assert np.any(cold)
    assert np.array_equal(cold, filling) and np.array_equal(cold, warm)
