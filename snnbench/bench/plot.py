"""The picture of a sweep: time per sequence and peak memory against the varied parameter.

Two panels, log axes: median time (IQR as error bars) for ours, the reference and the speed of
light; peak memory for ours and the reference. matplotlib is optional (``pip install
'snnbench[plot]'``); without it the sweep fails before running, in one line.
"""

from __future__ import annotations

from pathlib import Path

from snnbench import results
from snnbench.bench.sweep import value_of
from snnbench.errors import SnnbenchError
from snnbench.verify import error_line

STYLE = {"native": ("tab:blue", "ours (native)"), "reference": ("tab:orange", "reference"),
         "sol": ("tab:gray", "speed of light")}
MODE_LINE = {"forward": "-", "train": "--"}


def require_matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise SnnbenchError("the sweep plot needs matplotlib: pip install 'snnbench[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(report: dict, mode: str, impl: str, field: str) -> tuple[list, list, list[list]]:
    """x values, y values and, for times, the distances down to q25 and up to q75."""
    import numpy as np

    sweep = report["sweep"]
    xs, ys, low, high = [], [], [], []
    for value in sweep["values"]:
        for r in report["results"]:
            if value_of(r, sweep["key"]) == value and r["mode"] == mode and r["impl"] == impl \
                    and r.get(field) is not None:
                xs.append(value)
                if field == "median_s":
                    q25, q75 = np.percentile(r["samples_s"], [25, 75])
                    ys.append(r[field])
                    low.append(max(0.0, r[field] - q25))
                    high.append(max(0.0, q75 - r[field]))
                else:
                    ys.append(r[field] / 2 ** 20)
    return xs, ys, [low, high]


def sweep_png(report: dict, path: str | Path) -> Path:
    """Draw the sweep and write it to ``path`` with the report writer (atomically, only over a
    regular file); a drawing that fails is one line (the report itself is already written)."""
    plt = require_matplotlib()
    import io


    try:
        fig = _figure(plt, report)
        buffer = io.BytesIO()
        try:
            fig.savefig(buffer, format="png", dpi=110)
        finally:
            plt.close(fig)
    except Exception as exc:  # matplotlib's own errors: the plot is lost, not the run

        plt.close("all")
        raise SnnbenchError(f"{path}: the plot could not be drawn: {error_line(exc)}") from None
    return results.write_bytes(buffer.getvalue(), path)


def _figure(plt, report: dict):
    sweep = report["sweep"]
    modes = list(dict.fromkeys(r["mode"] for r in report["results"]))
    impls = list(dict.fromkeys(r["impl"] for r in report["results"]))
    first = report["results"][0]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.5))
    for mode in modes:
        for impl in impls:
            color, label = STYLE.get(impl, ("black", impl))
            name = f"{label}, {mode}" if len(modes) > 1 else label
            xs, ys, errs = _series(report, mode, impl, "median_s")
            if xs:
                ax_t.errorbar(xs, ys, yerr=errs, color=color,
                              linestyle=":" if impl == "sol" else MODE_LINE.get(mode, "-"), marker="o",
                              markersize=4, capsize=3, label=name)
            xs, ys, _ = _series(report, mode, impl, "peak_mem_bytes")
            if xs:
                ax_m.plot(xs, ys, color=color, linestyle=MODE_LINE.get(mode, "-"), marker="o", markersize=4,
                          label=name)
    for ax, ylabel, title in ((ax_t, "median time per sequence (s)", "time per sequence (bars: q25 to q75)"),
                              (ax_m, "peak memory above idle (MiB)", "peak memory")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(sweep["key"])
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(f"{first['neuron']} {sweep['case']}: varying {sweep['key']} "
                 f"({first['device']}, {first['dtype']})")
    fig.tight_layout()
    return fig
