"""What the CLI says about the mix: warnings before a render, the summary after it."""
from __future__ import annotations

import math

from spatial.errors import Problem


def warnings(scene) -> list[Problem]:
    """A bus or a ducked role that no source uses, dialogue_center without a centre
    channel: worth a line, not an error (the render goes on)."""
    used = {s.role for s in scene.sources}
    out = []
    m = scene.mix
    for role in m.buses:
        if role not in used:
            out.append(Problem(f"no source has role '{role}': this bus gain does nothing",
                               **scene.where(f"mix.buses.{role}")))
    if m.ducking is not None:
        d = m.ducking
        if d.under not in used:
            out.append(Problem(f"no source has role '{d.under}': nothing will duck",
                               **scene.where("mix.ducking.under")))
        for role in d.duck:
            if role not in used:
                out.append(Problem(f"no source has role '{role}': nothing to duck there",
                                   **scene.where("mix.ducking.duck")))
    if m.dialogue_enhancement and "dialogue" not in used:
        out.append(Problem("no source has role 'dialogue': nothing to enhance",
                           **scene.where("mix.dialogue_enhancement")))
    if m.dialogue_center:
        from spatial.mix.plan import centre_index

        try:
            from spatial.filters.layouts import get_layout

            channels = get_layout(scene.output).channels
        except Exception:  # noqa: BLE001 - a bad format is reported by the render
            channels = ()
        if channels and centre_index(channels) is None:
            out.append(Problem(f"output format {scene.output.format} has no centre "
                               "loudspeaker: dialogue_center does nothing",
                               **scene.where("mix.dialogue_center")))
    return out


def _n(x: float, unit: str) -> str:
    return f"{x:.1f} {unit}" if x is not None and math.isfinite(x) else f"-inf {unit}"


def summary_lines(mix: dict) -> list[str]:
    """The mix summary: loudness, range, true peak, target and gain, dialogue, stems."""
    line = (f"loudness {_n(mix['loudness'], 'LUFS')}, range {mix['loudness_range']:.1f} LU, "
            f"true peak {_n(mix['true_peak'], 'dBTP')}")
    if mix.get("target") is not None:
        line += f" (target {mix['target']:g} LUFS, gain {mix['gain_db']:+.1f} dB)"
    if mix.get("ceiling") is not None:
        limited = mix.get("limited_frames", 0)
        line += f" (ceiling {mix['ceiling']:g} dBTP, {limited} frames limited)"
    lines = [line]
    if mix.get("dialogue_to_background") is not None:
        lines.append(f"dialogue {mix['dialogue_to_background']:+.1f} LU over the background "
                     "where dialogue is present")
    if mix.get("stems"):
        lines.append("stems: " + ", ".join(mix["stems"].values()))
    return lines
