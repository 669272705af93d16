"""Pictures (matplotlib, Agg, imported here only): a profile's page, a comparison's page.

Both are written atomically: to a temporary file beside the target, renamed
into place when complete.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REFERENCE_LUFS = (-23.0, -24.0)  # EBU R128 and ATSC A/85, marked when there is no target


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _series(windows, key):
    """(edges (W + 1,), values (W,)) of a per-window figure, NaN where None."""
    edges = [w["t"] for w in windows] + ([windows[-1]["t"] + windows[-1]["duration_s"]]
                                         if windows else [])
    v = [np.nan if w.get(key) is None else w[key] for w in windows]
    return np.array(edges, float), np.array(v, float)


def _centres(edges):
    return 0.5 * (edges[:-1] + edges[1:])


def _grouped(events, end: float) -> list:
    """Events at one time joined into one label: [(t, label)]."""
    out: list = []
    for e in events:
        if out and abs(out[-1][0] - e["t"]) < 1e-9:
            out[-1] = (out[-1][0], out[-1][1] + ", " + e["label"])
        else:
            out.append((e["t"], e["label"]))
    return out


def _events(ax, events, labels: bool, end: float = 1.0) -> None:
    for i, (t, label) in enumerate(_grouped(events, end)):
        ax.axvline(t, color="0.45", lw=0.8, ls=":", zorder=1)
        if labels:
            ax.annotate(label, (t, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, -4 - 10 * (i % 4)), textcoords="offset points",
                        fontsize=7, color="0.25", va="top",
                        bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.7))


def profile_plot(profile, path) -> Path:
    """One page: short-term loudness against the target, the spectrogram, brightness,
    width, and (a scene) dialogue-to-background with the SII; events as lines."""
    plt = _pyplot()
    speech = any(w.get("dialogue_to_background_lu") is not None or
                 w.get("intelligibility_sii") is not None for w in profile.windows)
    n = 5 if speech else 4
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.3 * n + 1.0), sharex=True,
                             constrained_layout=True)
    end = max(profile.duration_s, 1e-3)
    title = f"{Path(profile.piece).name if profile.piece else 'piece'}: {profile.format}, " \
            f"{profile.duration_s:.1f} s"
    o = profile.overall
    if o.get("loudness_lufs") is not None:
        title += f"  |  {o['loudness_lufs']:.1f} LUFS"
    if o.get("loudness_range_lu") is not None:
        title += f", LRA {o['loudness_range_lu']:.1f} LU"
    if o.get("true_peak_dbtp") is not None:
        title += f", {o['true_peak_dbtp']:.1f} dBTP"
    fig.suptitle(title, fontsize=11)

    ax = axes[0]
    st = profile.short_term
    t = np.array(st["t"], float)
    v = np.array([np.nan if x is None else x for x in st["lufs"]], float)
    if t.size:
        ax.plot(t, v, color="C0", lw=1.5, label="short-term (3 s)")
    if profile.target_lufs is not None:
        ax.axhline(profile.target_lufs, color="C3", lw=1.2, label=f"target {profile.target_lufs:g} LUFS")
    else:
        for ref, style in zip(REFERENCE_LUFS, ("--", ":")):
            ax.axhline(ref, color="C3", lw=1.0, ls=style, label=f"reference {ref:g} LUFS")
    we, wl = _series(profile.windows, "loudness_lufs")
    if wl.size:
        ax.stairs(wl, we, color="C0", alpha=0.4, lw=1, label=f"per {profile.window_s:g} s window")
    ax.set_ylabel("loudness (LUFS)")
    finite = np.concatenate([v[np.isfinite(v)], wl[np.isfinite(wl)]])
    hi_room = 6  # dB above the curve for the event labels
    lo = min(finite.min() if finite.size else -40, -26) - 3
    hi = max(finite.max() if finite.size else -10, -20) + hi_room
    ax.set_ylim(lo, hi)
    ax.legend(loc="lower left", fontsize=7, ncol=2)
    _events(ax, profile.events, labels=True)

    ax = axes[1]
    spec = profile.spectrogram
    if spec is not None and spec["power"].size:
        p = spec["power"]
        with np.errstate(divide="ignore"):
            db = 10 * np.log10(np.maximum(p, 1e-20))
        top = np.nanmax(db)
        edges_t = np.arange(p.shape[0] + 1) * spec["frame_s"]
        mesh = ax.pcolormesh(edges_t, spec["edges_hz"], db.T, vmin=top - 80, vmax=top,
                             cmap="magma", shading="flat")
        ax.set_yscale("log")
        ax.set_ylim(spec["edges_hz"][0], spec["edges_hz"][-1])
        fig.colorbar(mesh, ax=ax, pad=0.01, label="dB")
    ax.set_ylabel("frequency (Hz)")
    _events(ax, profile.events, labels=False)

    ax = axes[2]
    we, wc = _series(profile.windows, "spectral_centroid_hz")
    if wc.size:
        ax.stairs(wc, we, color="C1", lw=1.5, baseline=None)
    if o.get("spectral_centroid_hz") is not None:
        ax.axhline(o["spectral_centroid_hz"], color="C1", ls="--", lw=0.8,
                   label=f"whole piece {o['spectral_centroid_hz']:.0f} Hz")
        ax.legend(loc="upper right", fontsize=7)
    ax.set_ylabel("brightness:\ncentroid (Hz)")
    _events(ax, profile.events, labels=False)

    ax = axes[3]
    we, ww = _series(profile.windows, "width")
    if ww.size:
        ax.stairs(ww, we, color="C2", lw=1.5, baseline=None)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("width\n" + (o.get("width_measure") or ""), fontsize=8)
    _events(ax, profile.events, labels=False)

    if speech:
        ax = axes[4]
        we, wd = _series(profile.windows, "dialogue_to_background_lu")
        ax.stairs(wd, we, color="C4", lw=1.5, baseline=None, label="dialogue - background (LU)")
        ax.set_ylabel("dialogue to\nbackground (LU)")
        ax2 = ax.twinx()
        we, ws = _series(profile.windows, "intelligibility_sii")
        ax2.plot(_centres(we), ws, "o-", color="C5", ms=4, lw=1, label="SII")
        ax2.axhline(profile.sii_threshold, color="C5", ls=":", lw=0.8,
                    label=f"SII threshold {profile.sii_threshold:g}")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("SII")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=7, ncol=3)
        _events(ax, profile.events, labels=False)
    axes[-1].set_xlim(0, end)
    axes[-1].set_xlabel("time (s)")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def comparison_plot(comparison, path) -> Path:
    """Small multiples: one bar chart per metric, a bar per piece, flagged bars red."""
    from spatial.analysis.table import LABELS

    plt = _pyplot()
    rows = [r for r in comparison.rows if any(v is not None for v in r["values"])]
    cols = 3
    nrows = max(1, -(-len(rows) // cols))
    k = len(comparison.pieces)
    fig, axes = plt.subplots(nrows, cols, figsize=(12, 0.35 * k * nrows + 1.1 * nrows + 1),
                             constrained_layout=True, squeeze=False)
    fig.suptitle("compare: " + "  vs  ".join(comparison.pieces)
                 + ("   (red: flagged)" if comparison.flagged else "   (nothing flagged)"),
                 fontsize=11)
    y = np.arange(k)
    for ax, row in zip(axes.flat, rows):
        vals = np.array([np.nan if v is None else v for v in row["values"]], float)
        colours = ["C3" if f else "C0" for f in row["flags"]]
        ax.barh(y, np.nan_to_num(vals), color=colours)
        for i, v in enumerate(vals):  # the value inside its bar, at the zero end
            if np.isnan(v):
                ax.text(0, i, "  no value", va="center", fontsize=7, color="0.4")
            else:
                ax.text(0, i, f" {v:.3g} " if v >= 0 else f" {v:.3g} ", va="center",
                        ha="left" if v >= 0 else "right", fontsize=7, color="white",
                        fontweight="bold")
        finite = vals[np.isfinite(vals)]
        if finite.size and finite.max() <= 0:
            ax.set_xlim(min(finite.min() * 1.05, -1e-3), 0)
        ax.set_yticks(y, [p if len(p) < 18 else p[:17] + "~" for p in comparison.pieces],
                      fontsize=7)
        ax.invert_yaxis()
        unit = f" ({row['unit']})" if row["unit"] else ""
        ax.set_title(LABELS.get(row["metric"], row["metric"]) + unit, fontsize=8,
                     color="C3" if any(row["flags"]) else "black")
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
