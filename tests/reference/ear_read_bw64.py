"""Read a BW64 file with the EBU ADM Renderer's own reader and ADM parser, and print
what it holds as JSON: run with the ear venv's python (tests/test_adm.py does), it
imports only ear, nothing of spatial.

    .ci/ear-venv/bin/python tests/reference/ear_read_bw64.py FILE.wav

Prints {"format", "channels", "sample_rate", "bitdepth", "frames", "chna": [[track,
uid, track_format, pack_format], ...], "axml_bytes", "objects": [{"name", "type",
"tracks", "blocks": [[rtime, duration, azimuth, elevation, distance, gain], ...]}]}.
"""
import json
import sys
import warnings

from ear.fileio import openBw64
from ear.fileio.adm.chna import load_chna_chunk
from ear.fileio.adm.xml import parse_string


def main(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any complaint of ear's reader fails the test
        with openBw64(path) as f:
            out = {"channels": f.channels, "sample_rate": f.sampleRate,
                   "bitdepth": f.bitdepth, "frames": len(f),
                   "chna": [[a.trackIndex, a.audioTrackUID, a.audioTrackFormatIDRef,
                             a.audioPackFormatIDRef] for a in f.chna.audioIDs],
                   "axml_bytes": len(f.axml)}
            adm = parse_string(f.axml)
            load_chna_chunk(adm, f.chna)
    with open(path, "rb") as raw:
        out["format"] = raw.read(4).decode("ascii")
    objects = []
    for obj in adm.audioObjects:
        pack = obj.audioPackFormats[0]
        blocks = []
        for ch in pack.audioChannelFormats:
            for b in ch.audioBlockFormats:
                pos = getattr(b, "position", None)
                row = [None if b.rtime is None else float(b.rtime),
                       None if b.duration is None else float(b.duration)]
                if getattr(b, "speakerLabel", None):
                    row += [b.speakerLabel[0]]
                elif hasattr(pos, "azimuth"):
                    row += [pos.azimuth, pos.elevation, pos.distance, b.gain]
                elif hasattr(b, "order"):
                    row += [b.order, b.degree, b.normalization]
                blocks.append(row)
        objects.append({"name": obj.audioObjectName, "type": pack.type.name,
                        "tracks": [t.trackIndex for t in obj.audioTrackUIDs],
                        "blocks": blocks})
    out["objects"] = objects
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
