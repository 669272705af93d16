"""The ADM master sink: a BW64 file of objects, beds and the room bed, from the views of
a render's adm format (spatial.sinks.Sink).

Tracks, in this order:
1. one per diegetic point source (each input of a mono stream): an Objects object
   (spatial.adm.objects: its dry signal delayed as it arrives, its position relative
   to the head and 1 / r gain in the metadata);
2. each non-diegetic bed's channels, a DirectSpeakers object per bed with the BS.2051
   labels of its channel order (spatial.plan.BED_FORMATS: 2 channels M+030 M-030,
   6 channels M+030 M-030 M+000 LFE1 M+110 M-110, ...; a mono bed is M+000);
3. with ``output.lfe``: one DirectSpeakers LFE1 track, the LFE feed of the objects
   whose role it lists (each object's audio at its 1 / r, low-passed at 120 Hz
   (4th-order Butterworth), as spatial's LFE feed; a moving object's 1 / r follows
   it, where spatial's moving path holds the distance it starts at);
4. the room bed (when the scene has a room and ``adm.room`` is not none): the view's
   mix, which is the room's part alone, as an HOA object (hoa3: ACN, SN3D) or a
   DirectSpeakers 7.1.4 (4+7+0) object.
The samples are integer PCM (24 bit by default: what BS.2088 files and the EBU ADM
Renderer carry); the file appears at its path only on commit.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from spatial.adm import axml
from spatial.adm.bw64 import BITS, Bw64Writer, chna_chunk
from spatial.sinks.base import BusView

SUBTYPES = tuple(BITS)  # PCM_16, PCM_24, PCM_32


def _scene_source(scene, stream):
    """The scene source a plan stream reads (its key is sources[i].file)."""
    key = stream.key
    if key.startswith("sources[") and key.endswith("].file"):
        i = int(key[len("sources["):-len("].file")])
        return scene.sources[i]
    return None


def bed_labels(n_channels: int) -> list[tuple[str, float | None, float | None]]:
    """(BS.2051 label, azimuth, elevation) of each channel of an n-channel bed file."""
    from spatial.filters.layouts import get_layout
    from spatial.plan import BED_FORMATS
    from spatial.scene.parts import Output

    fmt = BED_FORMATS.get(n_channels)
    if fmt is None:
        return [("M+000", 0.0, 0.0)]
    lay = get_layout(Output(format=fmt))
    return [(lab, c.azimuth_deg, c.elevation_deg) for lab, c in zip(lay.bs2051, lay.channels)]


class AdmSink:
    """Writes an ADM BW64 master of plan p's adm format (see the module doc).

    scene: the scene (the sources' positions and paths, the listener's); start: the
    passage's first sample on the scene's timeline; subtype: PCM_16 | PCM_24 | PCM_32.
    commit() returns {path, tracks, objects, beds, room, clipped, bytes}."""

    def __init__(self, path, scene, p, start: int = 0, subtype: str | None = None):
        subtype = (subtype or "PCM_24").upper()
        if subtype not in BITS:
            subtype = "PCM_24"  # a float or 8-bit subtype asked for the other formats
        self.path, self.scene, self.plan = Path(path), scene, p
        self.start, self.bits = int(start), BITS[subtype]
        self._file = self._temp = self._writer = None

    def _layout_tracks(self, room_channels):
        from spatial.adm.objects import ObjectTrack

        p, scene, fs = self.plan, self.scene, self.plan.sample_rate
        objects, beds, items = [], {}, []
        for i, inp in enumerate(p.inputs):
            stream = p.streams[inp.stream]
            src = _scene_source(scene, stream)
            if src is None:
                continue
            if stream.mono:
                if src.position is None and not src.path:
                    continue
                objects.append((i, ObjectTrack(scene, src, 0, fs, self.start)))
            else:
                beds.setdefault(inp.stream, (src, []))[1].append(i)
        track = 0
        for _, obj in objects:
            track += 1
            obj.track = track
        bed_tracks = []
        for k, (src, idx) in beds.items():
            labels = bed_labels(p.streams[k].channels)
            chans = []
            for c, i in enumerate(sorted(idx, key=lambda i: p.inputs[i].channel)):
                track += 1
                label, az, el = labels[c] if c < len(labels) else ("M+000", 0.0, 0.0)
                chans.append((track, label, az, el))
                bed_tracks.append(i)
            items.append(axml.SpeakersItem(src.name, chans))
        self.lfe_track = None
        if any(obj.lfe for _, obj in objects):  # output.lfe: the objects' LFE feed
            track += 1
            self.lfe_track = track
            items.append(axml.SpeakersItem("LFE", [(track, "LFE1", None, None)]))
        room = None
        if room_channels:
            first = track + 1
            tracks = list(range(first, first + len(room_channels)))
            track += len(room_channels)
            if room_channels[0].name == "ACN0":
                room = axml.HoaItem("room", tracks)
            else:
                from spatial.filters.layouts import get_layout
                from spatial.scene.parts import Output

                lay = get_layout(Output(format="7.1.4"))
                room = axml.SpeakersItem("room", [
                    (t, lab, c.azimuth_deg, c.elevation_deg)
                    for t, lab, c in zip(tracks, lay.bs2051, lay.channels)])
        return objects, bed_tracks, items, room, track

    def open(self, layout, sample_rate: int, frames: int) -> None:
        p = self.plan
        f = next(k for k, fp in enumerate(p.rendered) if fp.format == "adm")
        self.room_width = p.rendered[f].n_channels
        objects, self.bed_inputs, beds, room, n_tracks = self._layout_tracks(
            p.rendered[f].channels)
        self.objects = objects
        items = [obj.item(frames) for _, obj in objects] + beds + ([room] if room else [])
        if self.lfe_track is not None:
            from spatial.dsp.biquads import butter_lowpass
            from spatial.filters.lfe import LFE_CUTOFF_HZ

            self.lfe_sos = butter_lowpass(4, LFE_CUTOFF_HZ, sample_rate)
            self.lfe_state = np.zeros((self.lfe_sos.shape[0], 2))
        name = Path(self.scene.path).stem if self.scene.path else "spatial"
        doc, chna, self.lazies = axml.build(items, sample_rate, frames, self.bits, name)
        self.doc, self.fs = doc, sample_rate
        self.n_tracks = max(n_tracks, 1)  # a file of no source: one silent track
        self.summary = {"objects": len(objects),
                        "beds": len(beds) - (self.lfe_track is not None),
                        "lfe": self.lfe_track is not None,
                        "room": None if room is None else (
                            "hoa3" if isinstance(room, axml.HoaItem) else "7.1.4"),
                        "tracks": n_tracks}
        folder = self.path.parent if str(self.path.parent) else Path(".")
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=folder)
        self._temp = Path(temp)
        self._file = os.fdopen(fd, "w+b")
        # the document before the samples, or (moving objects) after them
        self._writer = Bw64Writer(self._file, self.n_tracks, sample_rate, self.bits,
                                  chna_chunk(chna) if chna else b"",
                                  b"" if self.lazies else doc)
        self.done = 0

    def write(self, view: BusView) -> None:
        n = view.frames
        out = np.zeros((n, self.n_tracks))
        col = 0
        lfe = np.zeros(n) if self.lfe_track is not None else None
        for i, obj in self.objects:
            out[:, col] = obj.process(view.sources[i], self.done)
            if obj.lfe:
                lfe += obj.gain * out[:, col]
            col += 1
        for i in self.bed_inputs:
            out[:, col] = view.sources[i]
            col += 1
        if lfe is not None:
            from spatial.dsp.biquads import FLUSH_BELOW, sosfilt

            # (flushed: a pause would leave the state subnormal, 30x slower arithmetic;
            # what is flushed lies 1e-150 below a 24-bit sample)
            out[:, col], self.lfe_state = sosfilt(self.lfe_sos, lfe, self.lfe_state,
                                                  FLUSH_BELOW)
            col += 1
        if self.room_width:
            out[:, col:col + self.room_width] = view.mix
        self._writer.write(out)
        self.done += n

    def commit(self) -> dict:
        """Close the file, rename it into place; the summary of what it holds."""
        after = ()
        if self.lazies:
            after = ((b"axml", lambda write: axml.write_document(write, self.doc, self.lazies,
                                                                 self.fs)),)
        size = self._writer.close(after)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(self._temp, 0o666 & ~mask)
        os.replace(self._temp, self.path)
        self._temp = None
        return {"path": str(self.path), "bytes": size, "clipped": self._writer.clipped,
                "frames": self.done, **self.summary}

    def abort(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()
        t, self._temp = self._temp, None
        if t is not None:
            try:
                os.unlink(t)
            except OSError:
                pass
