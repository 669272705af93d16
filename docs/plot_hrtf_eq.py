"""Plot the default HRTF set's response before and after diffuse-field equalisation.

Run from the repository root:  python docs/plot_hrtf_eq.py  -> docs/hrtf-diffuse-field-eq.png

Left: what a diffuse field (sound from all around, equal power from every
direction) gives the left ear, against an omnidirectional receiver (0 dB), for
the raw MIT KEMAR set (output.hrtf_eq: none) and the equalised one (default).
Right: a source straight ahead and one at the left (+90 degrees), left ear.
Third-octave smoothed, at 48 kHz.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spatial.filters.hrtf import load_hrtf  # noqa: E402
from spatial.filters.hrtf_eq import CROSSOVER_HZ, bandwidth, third_octave_smooth  # noqa: E402
from spatial.geometry import unit_vectors  # noqa: E402

FS = 48000
N = 8192
OUT = Path(__file__).resolve().parent / "hrtf-diffuse-field-eq.png"


def db(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(power, 1e-12))


def main() -> None:
    f = np.fft.rfftfreq(N, 1 / FS)
    band = (f >= 20) & (f <= 22000)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    styles = {"none": ("raw set (hrtf_eq: none)", "tab:red"),
              "diffuse-field": ("diffuse-field equalised (default)", "tab:blue")}
    for eq, (label, colour) in styles.items():
        h = load_hrtf("default", FS, eq=eq)
        p = third_octave_smooth(h.diffuse_power(N)[0], f)
        axes[0].semilogx(f[band], db(p[band]), color=colour, label=label)
        irs, _ = h.interpolate(unit_vectors([0.0, 90.0], [0.0, 0.0]))
        spec = third_octave_smooth(np.abs(np.fft.rfft(irs[:, 0], N, axis=-1)) ** 2, f)
        axes[1].semilogx(f[band], db(spec[0, band]), color=colour, label=f"front, {label}")
        axes[1].semilogx(f[band], db(spec[1, band]), color=colour, ls="--",
                         label=f"left (+90), {label}")
    for ax, title in zip(axes, ("Diffuse field at the left ear vs an omni receiver",
                                "Left ear, source in front / at the left")):
        ax.axhline(0, color="k", lw=0.8)
        ax.axvspan(20, CROSSOVER_HZ[0], color="0.9", zorder=0)
        ax.axvline(bandwidth(44100), color="0.5", ls=":", lw=1)
        ax.set_xlim(20, 22000)
        ax.set_ylim(-40, 20)
        ax.set_xlabel("frequency (Hz)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower center")
    axes[0].set_ylabel("dB (1/3-octave smoothed)")
    axes[0].text(25, 15, f"flat below {CROSSOVER_HZ[0]:.0f} Hz", fontsize=8)
    axes[0].text(bandwidth(44100) * 0.42, 12, "measured\nbandwidth", fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(OUT)


if __name__ == "__main__":
    main()
