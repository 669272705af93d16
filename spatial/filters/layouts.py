"""Output channel layouts: loudspeaker formats, ambisonics and custom layouts.

The positions and the channel order are data (``layouts.yaml`` next to this
file): ITU-R BS.2051-3 nominal positions, checked against the EBU ADM Renderer's
``ear/core/data/2051_layouts.yaml``. Azimuth is counter-clockwise from the front
(+90 = left), elevation up from the horizontal plane (:mod:`spatial.geometry`).

Formats, and the channel order of the file (a public contract):

=========  ========  =====================================================================
format     BS.2051   channels (BS.2051 name, azimuth / elevation in degrees; WAVE label)
=========  ========  =====================================================================
stereo     0+2+0     L (M+030, 30/0; FL), R (M-030, -30/0; FR)
5.1        0+5+0     L, R, C (M+000, 0/0; FC), LFE (LFE1; LFE), Ls (M+110, 110/0; SL),
                     Rs (M-110; SR)
7.1        0+7+0     L, R, C, LFE, Lrs (M+135, 135/0; BL), Rrs (M-135; BR),
                     Lss (M+090, 90/0; SL), Rss (M-090; SR)
5.1.4      4+5+0     L, R, C, LFE, Ls, Rs, Ltf (U+030, 30/30; TFL), Rtf (U-030; TFR),
                     Ltr (U+110, 110/30; TBL), Rtr (U-110; TBR)
7.1.4      4+7+0     L, R, C, LFE, Lrs, Rrs, Lss, Rss, Ltf (U+045, 45/30; TFL),
                     Rtf (U-045; TFR), Ltr (U+135, 135/30; TBL), Rtr (U-135; TBR)
foa        --        ACN0 .. ACN3   (AmbiX: ACN order, SN3D, no Condon-Shortley phase;
hoa2       --        ACN0 .. ACN8    ACN0 = W, ACN1 = Y, ACN2 = Z, ACN3 = X)
hoa3       --        ACN0 .. ACN15
custom     --        Output.speakers in the order given; a speaker named "LFE" is the
                     LFE channel (no direction, never panned to)
mono       --        M (no direction)
binaural   --        L, R (ears, no direction)
adm        --        an ADM BW64 master (spatial.adm): the engine renders only its room
                     bed, the channels of output.adm.room (hoa3 or 7.1.4; none: no channel)
=========  ========  =====================================================================

The 4+5+0 upper speakers are at BS.2051's nominal U+-030 / U+-110 (allowed
ranges 30..45 and 100..135 degrees azimuth), not U+-045.

Every loudspeaker format is in the order of the WAVE_FORMAT_EXTENSIBLE channel
mask it carries (:attr:`Layout.mask`, :func:`channel_mask`): a WAVE file holds
its channels in ascending mask-bit order (FL FR FC LFE BL BR SL SR TFL TFR TBL
TBR), so the rear pair of 7.1 (BL BR, 135 degrees) comes before the side pair
(SL SR, 90 degrees), as in ffmpeg's "7.1" and FLAC's fixed 8-channel order.
Masks: stereo 0x3, 5.1 0x60F (FL FR FC LFE SL SR: the +-110 surrounds are
labelled *side*, as ffmpeg's "5.1(side)" and Microsoft's 5POINT1_SURROUND; 0x3F
would label them back), 7.1 0x63F, 5.1.4 0x2D60F, 7.1.4 0x2D63F; None for
ambisonics, custom, mono and binaural (the writer gives multichannel files
mask 0: channels without speaker labels). :attr:`Layout.wave` holds each
channel's label; loading a layout whose labels are out of mask order, or do not
make up its mask, fails. FLAC has fixed orders for 1 to 8 channels, and those for
6 and 8 channels are 5.1(side) and 7.1 above, so 5.1 and 7.1 FLAC files read the
same; FLAC holds no more than 8 channels (spatial.writer refuses 5.1.4 and 7.1.4).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from spatial.errors import Problem, SceneError
from spatial.filters.base import Channel
from spatial.filters.formats import AMBISONIC_FORMATS, FORMATS

DATA = Path(__file__).with_name("layouts.yaml")
MIN_SEPARATION_DEG = 1.0  # custom speakers closer than this count as one position

# WAVE_FORMAT_EXTENSIBLE speaker bits, in the file's canonical (ascending) order
SPEAKER_BITS = {
    "FL": 0x1, "FR": 0x2, "FC": 0x4, "LFE": 0x8, "BL": 0x10, "BR": 0x20, "FLC": 0x40,
    "FRC": 0x80, "BC": 0x100, "SL": 0x200, "SR": 0x400, "TC": 0x800, "TFL": 0x1000,
    "TFC": 0x2000, "TFR": 0x4000, "TBL": 0x8000, "TBC": 0x10000, "TBR": 0x20000,
}


@dataclass(frozen=True)
class Layout:
    """An output format's channels.

    kind: "speakers" (stereo .. 7.1.4, custom), "ambisonics", "mono" or "binaural".
    channels: one Channel per output channel, in file order; LFE, ambisonic and
      ear channels have azimuth_deg = elevation_deg = None.
    bs2051: per channel, the BS.2051 name (or None), same length as channels.
    order: the ambisonic order (kind "ambisonics"), else None.
    mask: the WAVE_FORMAT_EXTENSIBLE channel mask (the loudspeaker formats), or None.
    wave: per channel, its WAVE_FORMAT_EXTENSIBLE label (ffmpeg's channel name: FL,
      SL, TBR ...) where there is a mask, else empty.
    """

    format: str
    kind: str
    channels: tuple[Channel, ...]
    bs2051: tuple[str | None, ...] = ()
    order: int | None = None
    mask: int | None = None
    wave: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    @property
    def speaker_indices(self) -> np.ndarray:
        """(K,) indices of the channels with a direction (real, non-LFE speakers)."""
        return np.array([i for i, c in enumerate(self.channels) if c.azimuth_deg is not None],
                        dtype=int)

    def directions(self) -> np.ndarray:
        """(K, 3) unit vectors of the speakers at :attr:`speaker_indices`."""
        from spatial.geometry import unit_vectors

        idx = self.speaker_indices
        if idx.size == 0:
            return np.zeros((0, 3))
        return unit_vectors([self.channels[i].azimuth_deg for i in idx],
                            [self.channels[i].elevation_deg for i in idx])


@lru_cache(maxsize=1)
def _data() -> dict:
    with open(DATA, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _fixed(fmt: str) -> Layout:
    if fmt in AMBISONIC_FORMATS:
        order = int(_data()["ambisonics"][fmt])
        n = (order + 1) ** 2
        return Layout(fmt, "ambisonics", tuple(Channel(f"ACN{i}") for i in range(n)),
                      (None,) * n, order=order)
    if fmt == "mono":
        return Layout(fmt, "mono", (Channel("M"),), (None,))
    if fmt == "binaural":
        return Layout(fmt, "binaural", (Channel("L"), Channel("R")), (None, None))
    entry = _data()["layouts"][fmt]
    channels, names, labels = [], [], []
    for name, bs_name, az, el, label in entry["channels"]:
        if az is None:
            channels.append(Channel(str(name)))
        else:
            channels.append(Channel(str(name), float(az), float(el)))
        names.append(str(bs_name))
        labels.append(str(label))
    mask = int(entry["channel_mask"])
    if tuple(labels) != mask_order(mask):  # the data is wrong: a file would be mislabelled
        raise RuntimeError(f"{DATA}: {fmt} channels are labelled {' '.join(labels)}, but "
                           f"mask {mask:#x} holds {' '.join(mask_order(mask))} in that order")
    return Layout(fmt, "speakers", tuple(channels), tuple(names), mask=mask,
                  wave=tuple(labels))


def get_layout(output) -> Layout:
    """The Layout of ``output`` (a :class:`spatial.scene.parts.Output`).

    Raises SceneError (key "output.format" or "output.speakers...") for an
    unknown format, or a custom layout with fewer than 2 speakers, a duplicate
    name or position, or an elevation outside [-90, 90] (every problem found).
    """
    fmt = output.format
    if fmt == "custom":
        return _custom(output.speakers)
    if fmt == "adm":  # the room bed the engine renders for an ADM master (spatial.adm)
        room = getattr(output, "adm_room", "hoa3")
        if room == "none":
            return Layout("adm", "adm", ())
        bed = _fixed(room)
        return Layout("adm", bed.kind, bed.channels, bed.bs2051, bed.order)
    if fmt not in FORMATS:
        raise SceneError.at(f"unknown output format {fmt!r}; known formats: "
                            + ", ".join(FORMATS), key="output.format")
    return _fixed(fmt)


def _custom(speakers) -> Layout:
    speakers = tuple(speakers or ())
    problems: list[Problem] = []
    channels: list[Channel] = []
    seen_names: dict[str, int] = {}
    seen_dirs: list[tuple[int, np.ndarray]] = []
    for i, spk in enumerate(speakers):
        key = f"output.speakers[{i}]"
        name = str(spk.name)
        if name in seen_names:
            problems.append(Problem(f"duplicate speaker name {name!r} (also speakers"
                                    f"[{seen_names[name]}])", key=key + ".name"))
        seen_names.setdefault(name, i)
        if name == "LFE":
            channels.append(Channel("LFE"))
            continue
        az, el = float(spk.azimuth), float(spk.elevation)
        if not math.isfinite(az):
            problems.append(Problem(f"azimuth must be a finite number of degrees, got {az}",
                                    key=key + ".azimuth"))
            continue
        if not (math.isfinite(el) and -90.0 <= el <= 90.0):
            problems.append(Problem(f"elevation {el:g} is outside [-90, 90] degrees",
                                    key=key + ".elevation"))
            continue
        a, e = math.radians(az), math.radians(el)
        u = np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
        for j, v in seen_dirs:
            sep = math.degrees(math.acos(float(np.clip(u @ v, -1.0, 1.0))))
            if sep < MIN_SEPARATION_DEG:
                problems.append(Problem(
                    f"speaker {name!r} is at the same position as {speakers[j].name!r} "
                    f"(speakers[{j}]); speakers must be at least {MIN_SEPARATION_DEG:g} "
                    "degree apart", key=key))
                break
        seen_dirs.append((i, u))
        channels.append(Channel(name, az, el))
    n_directional = sum(str(s.name) != "LFE" for s in speakers)
    if n_directional < 2:
        problems.insert(0, Problem("format custom needs at least 2 speakers (not counting "
                                   f"LFE), got {n_directional}", key="output.speakers"))
    if problems:
        raise SceneError(problems)
    return Layout("custom", "speakers", tuple(channels), (None,) * len(channels))


def channel_mask(layout: Layout) -> int | None:
    """The WAVE_FORMAT_EXTENSIBLE dwChannelMask of ``layout``, or None where none
    applies (ambisonics, custom, mono, binaural): ``layout.mask``."""
    return layout.mask


def mask_order(mask: int) -> tuple[str, ...]:
    """The speaker labels a WAVE file with this mask holds, in file order."""
    return tuple(k for k, bit in sorted(SPEAKER_BITS.items(), key=lambda kv: kv[1])
                 if mask & bit)
