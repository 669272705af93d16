"""A small BW64 writer (ITU-R BS.2088): RIFF/WAVE that turns into BW64 with a ds64 chunk
past 4 GiB, with the ``chna`` (track allocation) and ``axml`` (ADM XML) chunks.

Layout of the file, written in one pass with one seek back at the end:

    RIFF|BW64 <size>  WAVE
    JUNK (28 bytes)        -- becomes ds64 (riff size, data size, sample count, no
                              table) when the file passes 4 GiB; the RIFF id becomes BW64
                              and the 32-bit sizes of RIFF and data become 0xFFFFFFFF
    fmt  (PCM, 16 bytes)   -- WAVE_FORMAT_PCM: integer samples, as BS.2088 and the EBU
                              ADM Renderer read them
    chna, axml             -- before the samples (known when the file opens) ...
    data <size> ...        -- interleaved little-endian PCM, padded to an even length
    axml                   -- ... or, with moving objects, after them: their blocks are
                              written as they are made (spatial.adm.axml.write_document)

Written from the specification (BS.2088-1, EBU Tech 3306 for RF64's ds64) after
reading the EBU ADM Renderer's ``ear.fileio.bw64``; nothing of it is imported.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

RIFF_LIMIT = 0xFFFFFFFF  # 32-bit chunk sizes; tests lower it to see the switch to BW64
DS64_BODY = 28  # riffSize, dataSize, dummy (sample count) as 64-bit, table length 32-bit
BITS = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32}


@dataclass(frozen=True)
class ChnaEntry:
    """One row of the chna chunk: track (1-based), its audioTrackUID, the
    audioTrackFormat (or audioChannelFormat) and audioPackFormat it carries."""

    track: int
    uid: str  # ATU_xxxxxxxx
    track_format: str  # AT_xxxxxxxx_xx (or AC_xxxxxxxx, written with _00 appended)
    pack_format: str  # AP_xxxxxxxx


def chna_chunk(entries: list[ChnaEntry]) -> bytes:
    """The chna chunk (header included): numTracks, numUIDs, then 40-byte audioIDs."""
    body = struct.pack("<HH", len({e.track for e in entries}), len(entries))
    for e in entries:
        tf = e.track_format + ("_00" if e.track_format.startswith("AC_") else "")
        for what, value, size in (("audioTrackUID", e.uid, 12), ("track format", tf, 14),
                                  ("pack format", e.pack_format, 11)):
            if len(value) != size:
                raise ValueError(f"{what} {value!r} must be {size} characters")
        body += struct.pack("<H12s14s11sx", e.track, e.uid.encode("ascii"),
                            tf.encode("ascii"), e.pack_format.encode("ascii"))
    return _chunk(b"chna", body)


def _chunk(cid: bytes, body: bytes) -> bytes:
    pad = b"\0" if len(body) & 1 else b""
    return cid + struct.pack("<I", len(body)) + body + pad


def fmt_chunk(channels: int, sample_rate: int, bits: int) -> bytes:
    align = channels * bits // 8
    return _chunk(b"fmt ", struct.pack("<HHIIHH", 1, channels, sample_rate,
                                       sample_rate * align, align, bits))


def encode(block: np.ndarray, bits: int) -> tuple[bytes, int]:
    """(n, C) floats in [-1, 1] -> interleaved little-endian PCM, and how many samples
    were outside full scale (clipped)."""
    x = np.asarray(block, np.float64)
    clipped = int(np.count_nonzero(np.abs(x) > 1.0))
    full = float(2 ** (bits - 1) - 1)
    q = np.round(np.clip(x, -1.0, 1.0) * full).astype("<i4")
    if bits == 16:
        return q.astype("<i2").tobytes(), clipped
    if bits == 32:
        return q.tobytes(), clipped
    b = q.reshape(-1, 1).view(np.uint8)  # 4 little-endian bytes per sample: keep 3
    return np.ascontiguousarray(b[:, :3]).tobytes(), clipped


class Bw64Writer:
    """Write a BW64 file to an open binary file object `f` (seekable).

    channels, sample_rate, bits (16, 24, 32); chna: the chna chunk's bytes; axml:
    the ADM XML (bytes). write(block (n, C)) appends samples; close() pads the data,
    fixes the sizes (RIFF, or BW64 + ds64 past RIFF_LIMIT) and returns the bytes written.
    """

    def __init__(self, f, channels: int, sample_rate: int, bits: int = 24,
                 chna: bytes = b"", axml: bytes = b""):
        if bits not in (16, 24, 32):
            raise ValueError(f"bits must be 16, 24 or 32, got {bits}")
        self.f, self.channels, self.bits = f, int(channels), int(bits)
        self.frames = self.data_bytes = self.clipped = 0
        f.write(b"RIFF\xff\xff\xff\xffWAVE")
        self.junk_at = f.tell()
        f.write(_chunk(b"JUNK", bytes(DS64_BODY)))
        f.write(fmt_chunk(self.channels, int(sample_rate), self.bits))
        if chna:
            f.write(chna)
        if axml:
            f.write(_chunk(b"axml", axml))
        f.write(b"data\xff\xff\xff\xff")
        self.data_at = f.tell()

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected (n, {self.channels}) samples, got {block.shape}")
        data, clipped = encode(block, self.bits)
        self.f.write(data)
        self.frames += block.shape[0]
        self.data_bytes += len(data)
        self.clipped += clipped

    def close(self, after: tuple = ()) -> int:
        """after: (chunk id, fill) pairs written after the samples, fill(write) writing
        the chunk's body (an axml chunk made only now, in pieces)."""
        f = self.f
        if self.data_bytes & 1:
            f.write(b"\0")
        for cid, fill in after:
            head = f.tell()
            f.write(cid + b"\0\0\0\0")
            fill(f.write)
            size = f.tell() - head - 8
            if size & 1:
                f.write(b"\0")
            here = f.tell()
            f.seek(head + 4)
            f.write(struct.pack("<I", min(size, 0xFFFFFFFF)))
            f.seek(here)
        end = f.tell()
        riff = end - 8
        if riff > RIFF_LIMIT or self.data_bytes > RIFF_LIMIT:  # BW64 with ds64
            f.seek(0)
            f.write(b"BW64\xff\xff\xff\xff")
            f.seek(self.junk_at)
            f.write(b"ds64" + struct.pack("<I", DS64_BODY)
                    + struct.pack("<QQQI", riff, self.data_bytes, self.frames, 0))
        else:
            f.seek(4)
            f.write(struct.pack("<I", riff))
            f.seek(self.data_at - 4)
            f.write(struct.pack("<I", self.data_bytes))
        f.seek(end)
        return end


def read_chunks(path) -> dict:
    """The chunks of a RIFF/RF64/BW64 file: id -> (offset of the body, size), with the
    64-bit sizes of ds64 applied; "form" -> b"RIFF" | b"RF64" | b"BW64". For tests and
    checks (spatial's own reader; tests confirm files with the EBU renderer's as well)."""
    out = {}
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a RIFF/RF64/BW64 WAVE file")
        out["form"] = head[:4]
        total = f.seek(0, 2)
        pos, ds64 = 12, None
        while pos + 8 <= total:
            f.seek(pos)
            cid, size = struct.unpack("<4sI", f.read(8))
            if cid == b"ds64":
                riff, data, _frames, _n = struct.unpack("<QQQI", f.read(DS64_BODY))
                ds64 = data
            if cid == b"data" and size == 0xFFFFFFFF and ds64 is not None:
                size = ds64
            out[cid.decode("ascii")] = (pos + 8, size)
            pos += 8 + size + (size & 1)
    return out
