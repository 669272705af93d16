"""The readable summaries the terminal shows: a profile's, and a comparison's table."""
from __future__ import annotations

from spatial.errors import plural

ROWS = (  # (label, metric, format, unit)
    ("Loudness (integrated)", "loudness_lufs", "{:.1f}", "LUFS"),
    ("Loudness range", "loudness_range_lu", "{:.1f}", "LU"),
    ("True peak", "true_peak_dbtp", "{:.1f}", "dBTP"),
    ("Brightness (centroid)", "spectral_centroid_hz", "{:.0f}", "Hz"),
    ("Balance: low <250 Hz", "band_balance_db.low", "{:.1f}", "dB"),
    ("Balance: low-mid 250-2k", "band_balance_db.low_mid", "{:.1f}", "dB"),
    ("Balance: presence 2-6k", "band_balance_db.presence", "{:.1f}", "dB"),
    ("Balance: air >6k", "band_balance_db.air", "{:.1f}", "dB"),
    ("Dynamic range (95-10 %)", "dynamic_range_db", "{:.1f}", "dB"),
    ("Onsets", "onset_density_per_s", "{:.2f}", "/s"),
    ("Reverberance T30", "reverberance.t30_s", "{:.2f}", "s"),
    ("Reverberance EDT", "reverberance.edt_s", "{:.2f}", "s"),
    ("Width", "width", "{:.2f}", ""),
    ("Front share", "front_share", "{:.2f}", ""),
    ("Back share", "back_share", "{:.2f}", ""),
    ("Height share", "height_share", "{:.2f}", ""),
    ("Dialogue to background", "dialogue_to_background_lu", "{:+.1f}", "LU"),
    ("Intelligibility (SII)", "intelligibility_sii", "{:.2f}", ""),
)
LABELS = {metric: label for label, metric, _, _ in ROWS}
FORMATS = {metric: fmt for _, metric, fmt, _ in ROWS}


def _value(fmt: str, v, unit: str = "") -> str:
    if v is None:
        return "-"
    return fmt.format(v) + (f" {unit}" if unit else "")


def profile_lines(profile) -> list[str]:
    """The summary of one profile: a header, a table of the overall figures (a dash
    and the reason for each missing one), the windows hard to follow."""
    out = [f"{profile.piece}: {profile.format}, {profile.sample_rate} Hz, "
           f"{profile.duration_s:.2f} s, {len(profile.windows)} windows of "
           f"{profile.window_s:g} s"]
    for key in ("piece", "mastering"):
        if profile.notes.get(key):
            out.append(f"  note: {profile.notes[key]}")
    width = max(len(label) for label, *_ in ROWS)
    for label, metric, fmt, unit in ROWS:
        v = profile.metric(metric)
        why = profile.notes.get(f"overall.{metric.split('.')[0]}") if v is None else None
        line = f"  {label:<{width}}  {_value(fmt, v, unit)}"
        if metric == "width" and profile.overall.get("width_measure"):
            line += f"  ({profile.overall['width_measure']})"
        if why:
            line += f"  ({why})"
        out.append(line)
    if profile.overall.get("reverberance", {}).get("method"):
        out.append(f"  reverberance: {profile.overall['reverberance']['method']}")
    if profile.low_intelligibility:
        spans = ", ".join(f"{w['t']:g} s ({w['sii']:.2f})" for w in profile.low_intelligibility)
        out.append(f"  SII below {profile.sii_threshold:g} in the windows at: {spans}")
    for m in profile.motifs:
        out.append(f"  motif {m['file']}: {plural(len(m['occurrences']), 'occurrence')}")
        for o in m["occurrences"]:
            d = {True: "diegetic", False: "non-diegetic", None: "-"}[o.get("diegetic")]
            out.append(f"    {o['start']:.2f}-{o['end']:.2f} s  strength {o['strength']:.2f}  "
                       f"{_value('{:.1f}', o['loudness_lufs'], 'LUFS')}  "
                       f"{_value('{:.0f}', o['spectral_centroid_hz'], 'Hz')}  width "
                       f"{_value('{:.2f}', o['width'])}  {d}")
    return out


def comparison_lines(comparison) -> list[str]:
    """Metric rows, one column per piece; a '*' beside each value that departs from
    the others' median by more than the tolerance (shown in the last column)."""
    names = [n if len(n) <= 22 else n[:21] + "~" for n in comparison.pieces]
    width = max(len(label) for label, *_ in ROWS)
    cols = [max(10, len(n) + 1) for n in names]
    head = f"  {'metric':<{width}}  " + "  ".join(f"{n:>{c}}" for n, c in zip(names, cols))
    out = [head + "  tolerance", "  " + "-" * (len(head) + 9)]
    for row in comparison.rows:
        fmt = FORMATS.get(row["metric"], "{:.2f}")
        cells = []
        for v, f, c in zip(row["values"], row["flags"], cols):
            cells.append(f"{_value(fmt, v) + ('*' if f else ' '):>{c}}")
        tol = (f"{row['tolerance'] * 100:g} %" if row["kind"] == "rel"
               else f"{row['tolerance']:g} {row['unit']}".strip())
        out.append(f"  {LABELS.get(row['metric'], row['metric']):<{width}}  "
                   + "  ".join(cells) + f"  {tol}")
    flags = comparison.flags()
    if flags:
        out.append(f"{len(flags)} flag(s) (*: departs from the others' median by more "
                   "than the tolerance):")
        for metric, piece, v, med in flags:
            fmt = FORMATS.get(metric, "{:.2f}")
            out.append(f"  {piece}: {LABELS.get(metric, metric)} {fmt.format(v)}, the "
                       f"others' median {fmt.format(med)}")
    else:
        out.append("nothing flagged: every metric within its tolerance")
    return out
