"""ADM XML (ITU-R BS.2076-2) for an object master, and its chna rows.

What a master holds (:mod:`spatial.adm.sink` fills these in):

- :class:`ObjectItem`: one track, typeDefinition Objects (typeLabel 0003), its
  audioBlockFormats in polar coordinates relative to the listener's head: azimuth
  counter-clockwise from the front (+90 the left, as spatial's), elevation up,
  distance in metres (its pack's absoluteDistance is 1 m, so distance 1.0 means 1 m),
  and a linear gain per block;
- :class:`SpeakersItem`: a bed of DirectSpeakers (0001) tracks, each with its BS.2051
  speakerLabel (M+030, LFE1 ...) and nominal position; an LFE channel also carries a
  120 Hz low-pass frequency element, which is how BS.2127 renderers know it;
- :class:`HoaItem`: an HOA (0004) bed, ACN order (order n, degree m = ACN - n^2 - n),
  normalisation SN3D, as AmbiX.

Each item is an audioObject with one audioPackFormat, all in one audioContent of one
audioProgramme. Tracks are linked through audioTrackFormat and audioStreamFormat
(PCM), so readers of BS.2076-1 find them too. Times are decimal (10 us).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable, Iterable

from spatial.adm.bw64 import ChnaEntry

NS = "urn:ebu:metadata-schema:ebuCore_2014"
VERSION = "ITU-R_BS.2076-2"
TYPES = {"DirectSpeakers": "0001", "Objects": "0003", "HOA": "0004"}


@dataclass
class Block:
    """One audioBlockFormat of an object: [start, start + length) samples, where the
    object ends up (reached at the block's end, interpolated from the previous block's;
    the first block holds still), its linear gain."""

    start: int
    length: int
    azimuth: float
    elevation: float
    distance: float
    gain: float


@dataclass
class ObjectItem:
    name: str
    track: int  # 1-based track in the file
    blocks: list[Block] = field(default_factory=list)  # none: static, see `static`
    static: Block | None = None  # one block without timing (the whole programme)
    lazy: Iterable[Block] | None = None  # blocks made as the document is written


@dataclass
class SpeakersItem:
    name: str
    channels: list[tuple[int, str, float | None, float | None]]  # (track, label, az, el)


@dataclass
class HoaItem:
    name: str
    tracks: list[int]  # ACN 0, 1, ... in order


TICKS = 100000  # ADM decimal times have 5 decimals: 10 us


def ticks(samples: int, fs: int) -> int:
    """A sample index as a whole number of 10 us ticks (rounded)."""
    return (int(samples) * TICKS + int(fs) // 2) // int(fs)


def adm_time(samples: int, fs: int, in_ticks: int | None = None) -> str:
    """Samples (or a number of ticks) as an ADM decimal time, hh:mm:ss.zzzzz. Decimal
    rather than BS.2076-2's fractional times, which the released EBU renderer (ear
    2.1.0) cannot parse; block times are written as ticks, so each block's rtime plus
    duration is exactly the next one's rtime."""
    t = ticks(samples, fs) if in_ticks is None else int(in_ticks)
    seconds, rest = divmod(t, TICKS)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{rest:05d}"


def _num(x: float) -> str:
    return f"{float(x):.6g}" if abs(x) >= 1e-9 else "0"


def _sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


class _Ids:
    def __init__(self):
        self.n = {t: 0x1000 for t in TYPES}
        self.objects = 0x1000

    def pack(self, kind: str) -> str:
        self.n[kind] += 1
        return f"{TYPES[kind]}{self.n[kind]:04X}"


def build(items: list, fs: int, frames: int, bits: int = 24, name: str = "spatial"
          ) -> tuple[bytes, list[ChnaEntry], list]:
    """The axml chunk's document (UTF-8 bytes), the chna rows of the items, and the
    objects whose blocks are made lazily (ObjectItem.lazy): (channel format id, blocks)
    each, whose place in the document is a placeholder comment; :func:`write_document`
    writes the whole, so a long moving scene's blocks are never all in memory."""
    lazies: list = []
    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}ebuCoreMain")
    fmt = _sub(_sub(root, f"{{{NS}}}coreMetadata"), f"{{{NS}}}format")
    afx = _sub(fmt, f"{{{NS}}}audioFormatExtended", version=VERSION)
    q = lambda tag: f"{{{NS}}}{tag}"  # noqa: E731
    end = adm_time(frames, fs)
    prog = _sub(afx, q("audioProgramme"), audioProgrammeID="APR_1001",
                audioProgrammeName=name, start=adm_time(0, fs), end=end)
    _sub(prog, q("audioContentIDRef"), "ACO_1001")
    content = _sub(afx, q("audioContent"), audioContentID="ACO_1001",
                   audioContentName=name)
    ids = _Ids()
    chna: list[ChnaEntry] = []
    packs, channels, streams, tracks, uids = [], [], [], [], []
    for k, item in enumerate(items):
        ao = f"AO_{0x1001 + k:04X}"
        _sub(content, q("audioObjectIDRef"), ao)
        kind = ("Objects" if isinstance(item, ObjectItem) else
                "HOA" if isinstance(item, HoaItem) else "DirectSpeakers")
        tl = TYPES[kind]
        code = ids.pack(kind)
        obj = ET.Element(q("audioObject"), audioObjectID=ao, audioObjectName=item.name,
                         start=adm_time(0, fs), duration=end)
        _sub(obj, q("audioPackFormatIDRef"), f"AP_{code}")
        pack = ET.Element(q("audioPackFormat"), audioPackFormatID=f"AP_{code}",
                          audioPackFormatName=item.name, typeLabel=tl, typeDefinition=kind)
        if kind == "Objects":
            _sub(pack, q("absoluteDistance"), "1")
            chans = [(item.track, item.name, None)]
        elif kind == "HOA":
            _sub(pack, q("normalization"), "SN3D")
            chans = [(t, f"{item.name}_ACN{n}", n) for n, t in enumerate(item.tracks)]
        else:
            chans = [(t, f"{item.name}_{label}", (label, az, el))
                     for t, label, az, el in item.channels]
        for j, (track, cname, extra) in enumerate(chans):
            cid = f"{code[:4]}{int(code[4:], 16) + 0x100 * j:04X}" if j else code
            # each channel of a pack its own code: AC_0004 1001, 1101, 1201 ...
            _sub(pack, q("audioChannelFormatIDRef"), f"AC_{cid}")
            ch = ET.Element(q("audioChannelFormat"), audioChannelFormatID=f"AC_{cid}",
                            audioChannelFormatName=cname, typeLabel=tl, typeDefinition=kind)
            if kind == "Objects" and item.lazy is not None:
                ch.append(ET.Comment(f"{PLACEHOLDER}{len(lazies)}"))
                lazies.append((cid, item.lazy))
            elif kind == "Objects":
                _object_blocks(ch, q, cid, item, fs)
            elif kind == "HOA":
                n = extra
                order = int(n ** 0.5)
                bf = _sub(ch, q("audioBlockFormat"), audioBlockFormatID=f"AB_{cid}_00000001")
                _sub(bf, q("order"), order)
                _sub(bf, q("degree"), n - order * order - order)
                _sub(bf, q("normalization"), "SN3D")
            else:
                label, az, el = extra
                if label.startswith("LFE"):
                    _sub(ch, q("frequency"), "120", typeDefinition="lowPass")
                bf = _sub(ch, q("audioBlockFormat"), audioBlockFormatID=f"AB_{cid}_00000001")
                _sub(bf, q("speakerLabel"), label)
                _sub(bf, q("position"), _num(az or 0.0), coordinate="azimuth")
                _sub(bf, q("position"), _num(el or 0.0), coordinate="elevation")
                _sub(bf, q("position"), "1", coordinate="distance")
            uid = f"ATU_{track:08X}"
            _sub(obj, q("audioTrackUIDRef"), uid)
            st = ET.Element(q("audioStreamFormat"), audioStreamFormatID=f"AS_{cid}",
                            audioStreamFormatName=f"PCM_{cname}", formatLabel="0001",
                            formatDefinition="PCM")
            _sub(st, q("audioChannelFormatIDRef"), f"AC_{cid}")
            _sub(st, q("audioTrackFormatIDRef"), f"AT_{cid}_01")
            tr = ET.Element(q("audioTrackFormat"), audioTrackFormatID=f"AT_{cid}_01",
                            audioTrackFormatName=f"PCM_{cname}", formatLabel="0001",
                            formatDefinition="PCM")
            _sub(tr, q("audioStreamFormatIDRef"), f"AS_{cid}")
            u = ET.Element(q("audioTrackUID"), UID=uid, sampleRate=str(fs), bitDepth=str(bits))
            _sub(u, q("audioTrackFormatIDRef"), f"AT_{cid}_01")
            _sub(u, q("audioPackFormatIDRef"), f"AP_{code}")
            channels.append(ch)
            streams.append(st)
            tracks.append(tr)
            uids.append(u)
            chna.append(ChnaEntry(track, uid, f"AT_{cid}_01", f"AP_{code}"))
        afx.append(obj)
        packs.append(pack)
    for el in packs + channels + streams + tracks + uids:
        afx.append(el)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True), chna, lazies


PLACEHOLDER = "spatial-blocks-"
_SPLIT = re.compile(rb"<!--" + PLACEHOLDER.encode() + rb"(\d+)-->")


def write_document(write: Callable[[bytes], object], doc: bytes, lazies: list, fs: int
                   ) -> None:
    """Write `doc` with each placeholder replaced by its object's blocks, made as they
    are written (a few thousand at a time)."""
    parts = _SPLIT.split(doc)
    write(parts[0])
    for k in range(1, len(parts), 2):
        cid, blocks = lazies[int(parts[k])]
        lines = []
        for n, b in enumerate(blocks, 1):
            lines.append(block_text(cid, n, b, fs))
            if len(lines) >= 4096:
                write("".join(lines).encode())
                lines = []
        write("".join(lines).encode())
        write(parts[k + 1])


def block_text(cid: str, n: int, b: Block, fs: int) -> str:
    """One timed Objects audioBlockFormat as XML text (default namespace)."""
    a, e = ticks(b.start, fs), ticks(b.start + b.length, fs)
    return (f'<audioBlockFormat audioBlockFormatID="AB_{cid}_{n:08X}" '
            f'rtime="{adm_time(0, fs, a)}" duration="{adm_time(0, fs, e - a)}">'
            f'<position coordinate="azimuth">{_num(b.azimuth)}</position>'
            f'<position coordinate="elevation">{_num(b.elevation)}</position>'
            f'<position coordinate="distance">{_num(b.distance)}</position>'
            f'<gain>{_num(b.gain)}</gain></audioBlockFormat>\n')


def _object_blocks(ch, q, cid: str, item: ObjectItem, fs: int) -> None:
    blocks = [item.static] if item.static is not None else item.blocks
    for n, b in enumerate(blocks, 1):
        attrs = {"audioBlockFormatID": f"AB_{cid}_{n:08X}"}
        if item.static is None:
            a, e = ticks(b.start, fs), ticks(b.start + b.length, fs)
            attrs |= {"rtime": adm_time(0, fs, a), "duration": adm_time(0, fs, e - a)}
        bf = _sub(ch, q("audioBlockFormat"), **attrs)
        _sub(bf, q("position"), _num(b.azimuth), coordinate="azimuth")
        _sub(bf, q("position"), _num(b.elevation), coordinate="elevation")
        _sub(bf, q("position"), _num(b.distance), coordinate="distance")
        _sub(bf, q("gain"), _num(b.gain))
