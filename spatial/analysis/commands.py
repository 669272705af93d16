"""The `spatial analyze` and `spatial compare` subcommands: parsers and drivers.

Kept light at import (the library is imported inside the drivers), so adding
the subcommands costs `spatial render` nothing.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

EXIT_FLAGGED = 1


def add_parsers(sub) -> None:
    p = sub.add_parser("analyze", help="profile a mix: loudness, brightness, width, "
                       "reverberance, dialogue intelligibility (a file, or a scene rendered)")
    p.add_argument("piece", help="audio file, or a scene (.yaml/.yml/.json) to render")
    p.add_argument("--json", metavar="OUT", help="write the profile as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="write a one-page picture")
    p.add_argument("--window", type=float, default=3.0, metavar="S",
                   help="seconds per window (default 3)")
    p.add_argument("--format", help="a file: the layout of its channels (default: from the "
                   "channel count); a scene: the format to render")
    p.add_argument("--motif", action="append", default=[], metavar="M.flac",
                   help="a motif to look for (repeatable)")
    p.add_argument("--sii-threshold", type=float, default=None, metavar="X",
                   help="list windows whose SII is below X (default 0.45)")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("compare", help="profiles side by side; exit status 1 when one "
                       "piece departs from the others by more than a tolerance")
    p.add_argument("pieces", nargs="*", help="two or more audio files or scenes")
    p.add_argument("--json", metavar="OUT", help="write the comparison as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="write the metrics side by side")
    p.add_argument("--window", type=float, default=3.0, metavar="S")
    p.add_argument("--format", help="as for analyze")
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="e.g. loudness_lufs=1 or spectral_centroid_hz=10%% (repeatable)")
    p.set_defaults(func=cmd_compare)


def write_json(path, data: dict) -> None:
    """Atomically: a temporary file beside it, renamed into place (no NaN allowed)."""
    path = Path(path)
    text = json.dumps(data, indent=2, allow_nan=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_out(path, what: str) -> None:
    from spatial.errors import SceneError

    if path is None:
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise SceneError.at(f"the folder {parent} does not exist", key=what)


def cmd_analyze(args) -> int:
    from spatial.analysis.profiling import analyze
    from spatial.analysis.sii import DEFAULT_THRESHOLD
    from spatial.analysis.table import profile_lines

    _check_out(args.json, "--json")
    _check_out(args.plot, "--plot")
    threshold = DEFAULT_THRESHOLD if args.sii_threshold is None else args.sii_threshold
    profile = analyze(args.piece, args.window, tuple(args.motif), fmt=args.format,
                      sii_threshold=threshold)
    for line in profile_lines(profile):
        print(line)
    _write(args, profile, "profile", "profile_plot")
    return 0


def _write(args, result, what: str, plot: str) -> None:
    """--json and --plot of an analysis result (spatial.analysis.plots.<plot> draws it)."""
    if args.json:
        write_json(args.json, result.to_dict())
        print(f"{args.json}: {what} written")
    if args.plot:
        from spatial.analysis import plots

        getattr(plots, plot)(result, args.plot)
        print(f"{args.plot}: picture written")


def cmd_compare(args) -> int:
    from spatial.analysis.comparison import compare, tolerances_of
    from spatial.analysis.table import comparison_lines
    from spatial.errors import SceneError

    if len(args.pieces) < 2:
        raise SceneError.at(f"compare needs at least two pieces, got {len(args.pieces)}")
    _check_out(args.json, "--json")
    _check_out(args.plot, "--plot")
    tolerances = tolerances_of(args.tolerance)  # bad ones fail before any work
    result = compare(args.pieces, {k: (f"{v[0] * 100:g}%" if v[1] == "rel" else v[0])
                                   for k, v in tolerances.items()},
                     window=args.window, fmt=args.format)
    for line in comparison_lines(result):
        print(line)
    _write(args, result, "comparison", "comparison_plot")
    sys.stdout.flush()
    return EXIT_FLAGGED if result.flagged else 0
