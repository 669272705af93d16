"""The scene map's labels (:mod:`spatial.scene_map`): what they say (the title's room
and output, a source's level and start, the list of beds), and where they go: names
beside their markers without covering one another, other markers, or leaving the axes.

Greedy, in the order the labels were added: each label tries positions around its
point (eight directions, at three distances, the preferred direction first) and
takes the first whose box, measured by the figure's renderer, overlaps no label
placed before it and no marker; if none is free, the least-overlapping one. Far
positions get a thin leader line to the point.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MARKER_PX = 7.0  # half-size of the box a marker keeps free, display pixels
DISTANCES_PT = (6.0, 16.0, 28.0)
# direction (unit dx, dy) -> horizontal and vertical alignment of the text there
DIRECTIONS = [((1, 0), "left", "center"), ((0.7, 0.7), "left", "bottom"),
              ((0, 1), "center", "bottom"), ((-0.7, 0.7), "right", "bottom"),
              ((-1, 0), "right", "center"), ((-0.7, -0.7), "right", "top"),
              ((0, -1), "center", "top"), ((0.7, -0.7), "left", "top")]


@dataclass
class _Label:
    xy: tuple
    text: str
    colour: object
    size: float
    first: int  # index in DIRECTIONS tried first
    style: dict = field(default_factory=dict)


class Labeller:
    """Collects labels (and markers to keep clear) for one Axes, then places them."""

    def __init__(self, ax):
        self.ax = ax
        self.labels: list[_Label] = []
        self.boxes: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1 (px)

    def obstacle(self, xy) -> None:
        """Keep the marker at data point xy free of labels."""
        x, y = self.ax.transData.transform((float(xy[0]), float(xy[1])))
        self.boxes.append((x - MARKER_PX, y - MARKER_PX, x + MARKER_PX, y + MARKER_PX))

    def obstacle_line(self, points, step_px: float = 10.0) -> None:
        """Keep a polyline (data points (N, 2): a path, a wall, an arrow) free of labels."""
        pts = self.ax.transData.transform(np.asarray(points, float).reshape(-1, 2))
        frame = self.ax.get_window_extent()
        for a, b in zip(pts[:-1], pts[1:]):
            n = max(int(np.hypot(*(b - a)) / step_px), 1)
            for x, y in a + (b - a) * np.linspace(0, 1, n + 1)[:, None]:
                if frame.x0 - 20 <= x <= frame.x1 + 20 and frame.y0 - 20 <= y <= frame.y1 + 20:
                    self.boxes.append((x - 3, y - 3, x + 3, y + 3))

    def obstacle_text(self, artist) -> None:
        """Keep a text already drawn (a wall's name) free of labels."""
        bb = artist.get_window_extent(self.ax.figure.canvas.get_renderer())
        self.boxes.append((bb.x0, bb.y0, bb.x1, bb.y1))

    def add(self, xy, text: str, colour, size: float, prefer: str | None = None,
            centre=None, **style) -> None:
        """Queue a label at data point xy; prefer "out"/"in": away from / towards
        `centre` first (the loudspeaker ring), else up and to the right first."""
        first = 1
        if prefer is not None and centre is not None:
            dx, dy = float(xy[0] - centre[0]), float(xy[1] - centre[1])
            if prefer == "in":
                dx, dy = -dx, -dy
            if math.hypot(dx, dy) > 0:
                angle = math.atan2(dy, dx)
                first = int(round(angle / (math.pi / 4))) % 8  # DIRECTIONS go by 45 degrees
        self.labels.append(_Label((float(xy[0]), float(xy[1])), text, colour, size, first,
                                  style))

    def place(self) -> None:
        renderer = self.ax.figure.canvas.get_renderer()
        frame = self.ax.get_window_extent(renderer)
        for label in self.labels:
            best = None
            order = DIRECTIONS[label.first:] + DIRECTIONS[:label.first]
            for dist in DISTANCES_PT:
                for (ux, uy), ha, va in order:
                    art = self._text(label, (ux * dist, uy * dist), ha, va, dist)
                    bb = art.get_window_extent(renderer)
                    box = (bb.x0, bb.y0, bb.x1, bb.y1)
                    cost = sum(_overlap(box, other) for other in self.boxes)
                    cost += 4 * _outside(box, (frame.x0, frame.y0, frame.x1, frame.y1))
                    if best is None or cost < best[0]:
                        if best is not None:
                            best[1].remove()
                        best = (cost, art, box)
                    else:
                        art.remove()
                    if cost == 0:
                        break
                if best is not None and best[0] == 0:
                    break
            self.boxes.append(best[2])

    def _text(self, label: _Label, offset, ha: str, va: str, dist: float):
        leader = dict(arrowstyle="-", lw=0.5, color=label.colour, shrinkA=0, shrinkB=3) \
            if dist > DISTANCES_PT[0] else None
        return self.ax.annotate(label.text, xy=label.xy, xytext=offset,
                                textcoords="offset points", ha=ha, va=va, color=label.colour,
                                fontsize=label.size, zorder=8, arrowprops=leader,
                                bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none",
                                          alpha=0.75), **label.style)


# -- what the labels say ------------------------------------------------------------------------------

def describe_output(layout, radius: float) -> str:
    fmt = layout.format
    if layout.kind == "binaural":
        return f"{fmt}: headphones, no loudspeakers"
    if layout.kind == "ambisonics":
        return f"{fmt}: ambisonics (order {layout.order}), no loudspeakers"
    if layout.kind == "mono":
        return f"{fmt}: one omnidirectional receiver, no loudspeakers"
    where = "output.speakers" if fmt == "custom" else "ITU-R BS.2051 positions"
    return f"{fmt} loudspeakers ({where}), drawn {radius:.1f} m around the listener"


def describe_room(room, zoomed: bool) -> str:
    if room is None:
        return "free field (no room)"
    dims = " x ".join(f"{d:g}" for d in room.dimensions)
    name = f"{room.preset} " if room.preset else ""
    note = ", the part around the listener shown" if zoomed else ""
    return f"room {name}{dims} m{note}"


def bed_text(beds) -> str:
    if not beds:
        return "Beds: none"
    lines = ["Beds (diegetic: false):", "no position, not in the room"]
    for s in beds:
        start = f", from {s.start:g} s" if s.start else ""
        lines.append(f"- {s.name} ({s.role})\n    {s.gain_db:+g} dB{start}")
    return "\n".join(lines)


def source_label(s) -> str:
    extra = [f"{s.gain_db:+g} dB"] if s.gain_db else []
    if s.start:
        extra.append(f"from {s.start:g} s")
    for tr in s.transitions:
        extra.append(f"-> {'bed' if tr.to == 'non-diegetic' else 'room'} at {tr.at:g} s")
    return s.name + (f" ({', '.join(extra)})" if extra else "")


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box, frame) -> float:
    """Area of `box` outside `frame` (display pixels)."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    return area - _overlap(box, frame) if area > 0 else 0.0


__all__ = ["Labeller", "describe_output", "describe_room", "bed_text", "source_label"]
