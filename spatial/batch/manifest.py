"""The batch's ``manifest.json``: per scene and format, the output paths, duration,
render time, loudness, true peak and status; a failed scene's one-line error; with
labels, the labels' file and the class list (index to label).

Written atomically (a temporary file renamed). A re-run that skips a scene's
up-to-date outputs keeps the figures the previous manifest had for them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "manifest.json"
CARRIED = ("render_s", "compile_s", "loudness_lufs", "true_peak_dbtp", "warning")


def previous(out_dir: Path) -> dict:
    """scene path -> its entry in the folder's manifest ({} if none or unreadable)."""
    try:
        data = json.loads((out_dir / NAME).read_text(encoding="utf-8"))
        return {e["scene"]: e for e in data.get("scenes", []) if isinstance(e, dict)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def carry(entry: dict, old: dict | None) -> dict:
    """A skipped scene's entry with the figures of its previous render."""
    if not old:
        return entry
    for fmt, done in entry.get("outputs", {}).items():
        before = (old.get("outputs") or {}).get(fmt) or {}
        for key in CARRIED:
            if key in before and key not in done:
                done[key] = before[key]
    if "render_s" in old:
        entry.setdefault("render_s", old["render_s"])
    return entry


def write(out_dir: Path, entries: list[dict], **header) -> Path:
    """Write the manifest; returns its path."""
    from spatial import __version__

    failed = sum(e["status"] == "failed" for e in entries)
    data = {"spatial": __version__, **header, "scenes_total": len(entries),
            "scenes_failed": failed, "scenes": entries}
    path = out_dir / NAME
    tmp = path.with_name(f".{NAME}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
