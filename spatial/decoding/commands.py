"""The `spatial decode` subcommand: its parser and driver.

Light at import (numpy and the decoders are imported inside the driver), so
registering it costs `spatial render` nothing.
"""
from __future__ import annotations

from pathlib import Path

from spatial.decoding import TARGETS
from spatial.filters.formats import AMBISONIC_FORMATS


def add_parsers(sub) -> None:
    p = sub.add_parser("decode", help="decode an AmbiX recording (ACN, SN3D) to binaural "
                       "(MagLS) or loudspeakers (AllRAD)")
    p.add_argument("input", help="AmbiX .wav or .flac: 4, 9 or 16 channels")
    p.add_argument("--from", dest="source", required=True,
                   help="its order: " + ", ".join(AMBISONIC_FORMATS))
    p.add_argument("--to", dest="target", required=True,
                   help="decode to: " + ", ".join(TARGETS))
    p.add_argument("--hrtf", help="binaural: a SimpleFreeFieldHRIR SOFA file (default: "
                   "the packaged MIT KEMAR set)")
    p.add_argument("--yaw", type=float, default=0.0, metavar="DEG",
                   help="turn the listener's head by DEG degrees first (+ = to the left: "
                   "a source at azimuth a is heard at a - DEG)")
    p.add_argument("-o", "--output", required=True, help="output .wav or .flac")
    p.add_argument("--subtype", help="sample format, e.g. PCM_24, PCM_16, FLOAT")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=cmd_decode)


def cmd_decode(args) -> int:
    from spatial.decoding.decoder import decode_file

    done = decode_file(args.input, args.output, args.source, args.target, hrtf=args.hrtf,
                       yaw=args.yaw, subtype=args.subtype,
                       keys={"from": "--from", "to": "--to", "output": "--output",
                             "yaw": "--yaw", "hrtf": "--hrtf"})
    if not args.quiet:
        seconds = done["frames"] / done["sample_rate"]
        print(f"{Path(done['path'])}: {seconds:.2f} s, {len(done['channels'])} ch "
              f"({done['format']}: {' '.join(done['channels'])}), decoded from "
              f"{args.source}" + (f", head turned {args.yaw:g} deg" if args.yaw else ""))
    return 0
