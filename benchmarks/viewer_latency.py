"""Update latency of SliceViewer vs matplotlib-redraw viewers on the same 512 x 512 CT slice.

Each "update" is what one slider move costs in Python: change the window level, re-render
the slice (with a label overlay unless --no-overlay) and put new PNG bytes into an
``ipywidgets.Image``. Three viewers, measured in one run, interleaved round by round so
that machine load affects them alike:

* SliceViewer: NumPy windowing + overlay -> Pillow PNG (zlib level 1);
* matplotlib, new figure per update (what an ``interact`` callback with ``plt.imshow`` does);
* matplotlib, one reused figure: ``set_clim`` and ``savefig`` only (a tuned baseline).

Goal (issue 3): SliceViewer median <= 30 ms and >= 5x faster than the matplotlib redraw.

    .venv/bin/python benchmarks/viewer_latency.py            # real 512^2 head CT (pydicom-data)
    .venv/bin/python benchmarks/viewer_latency.py --n 60 --no-overlay
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("MPLBACKEND", "Agg")

import ipywidgets as W  # noqa: E402
import numpy as np  # noqa: E402


def load_slice() -> tuple[np.ndarray, np.ndarray, str]:
    """The 512 x 512 CT slice (HU) and a body label: the real head CT, else a phantom slice."""
    from medbench.transforms import body_mask

    try:
        from medbench.data.samples import sample_ct

        ct = sample_ct()
        image, pad = ct["image"], ct.get("padding_mask")
        source = "pydicom-data 693_UNCR.dcm (CQ500 head CT), 512x512"
    except Exception as exc:  # noqa: BLE001 - fall back to the phantom, say so
        from medbench.data.phantom import make_ct_phantom

        case = make_ct_phantom(shape=(512, 512, 8), spacing=(0.75, 0.75, 5.0), seed=0)
        image, pad = case["image"][:, :, 4], None
        source = f"CT phantom slice 512x512 (real CT unavailable: {type(exc).__name__})"
    label = body_mask(image, padding_mask=pad).astype(np.uint8)
    return image.astype(np.float32), label, source


class MatplotlibViewer:
    """A minimal viewer that renders with matplotlib into an ``ipywidgets.Image``."""

    def __init__(self, image, label=None, reuse_figure: bool = False, dpi: int = 100):
        import matplotlib.pyplot as plt

        self.plt, self.image, self.label, self.dpi = plt, image.T, None if label is None else label.T, dpi
        self.widget = W.Image(format="png")
        self.reuse = reuse_figure
        self.fig = None
        if reuse_figure:
            self.fig, self.ax, self.im = self._draw(-150.0, 250.0)

    def _draw(self, lo, hi):
        plt = self.plt
        h, w = self.image.shape
        fig = plt.figure(figsize=(w / self.dpi, h / self.dpi), dpi=self.dpi)
        ax = fig.add_axes([0, 0, 1, 1])
        ax.set_axis_off()
        im = ax.imshow(self.image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        if self.label is not None:
            ax.imshow(np.ma.masked_equal(self.label, 0), cmap="autumn", alpha=0.4, interpolation="nearest")
        return fig, ax, im

    def set_window(self, width: float, level: float) -> None:
        import io

        lo, hi = level - width / 2, level + width / 2
        if self.reuse:
            self.im.set_clim(lo, hi)
            fig = self.fig
        else:
            fig, _, _ = self._draw(lo, hi)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self.dpi)
        if not self.reuse:
            self.plt.close(fig)
        self.widget.value = buf.getvalue()


def run(n: int = 40, overlay: bool = True, warmup: int = 3) -> dict:
    from medbench.widgets.slice_viewer import SliceViewer

    image, label, source = load_slice()
    lab = label if overlay else None
    fast = SliceViewer(image, lab, window="soft_tissue", opacity=0.4, modality="ct")
    mpl_new = MatplotlibViewer(image, lab, reuse_figure=False)
    mpl_reuse = MatplotlibViewer(image, lab, reuse_figure=True)
    updates = {
        "SliceViewer (NumPy -> PNG)": lambda w, l: setattr(fast, "window", (w, l)),
        "matplotlib, new figure per update": mpl_new.set_window,
        "matplotlib, reused figure (set_clim)": mpl_reuse.set_window,
    }
    times: dict[str, list[float]] = {k: [] for k in updates}
    for i in range(warmup + n):  # interleaved: each round updates every viewer once
        level = 40.0 + (i % 20)
        for name, update in updates.items():
            t0 = time.perf_counter()
            update(400.0, level)
            if i >= warmup:
                times[name].append((time.perf_counter() - t0) * 1000.0)
    assert fast.frame.shape[:2] == (512, 512), fast.frame.shape
    return {"source": source, "n": n, "overlay": overlay, "times": {k: np.asarray(v) for k, v in times.items()}}


def print_table(res: dict) -> None:
    times = res["times"]
    base = float(np.median(times["SliceViewer (NumPy -> PNG)"]))
    print(f"slice: {res['source']}; overlay: {res['overlay']}; {res['n']} updates each, interleaved")
    print(f"{'viewer':40s} {'median ms':>10s} {'p90 ms':>8s} {'x slower than SliceViewer':>26s}")
    for name, t in times.items():
        med = float(np.median(t))
        print(f"{name:40s} {med:10.1f} {np.percentile(t, 90):8.1f} {med / base:26.1f}")
    ratio_new = float(np.median(times["matplotlib, new figure per update"])) / base
    ratio_reuse = float(np.median(times["matplotlib, reused figure (set_clim)"])) / base
    print(f"goal <= 30 ms: {'met' if base <= 30 else 'NOT met'} ({base:.1f} ms); "
          f"goal >= 5x faster than the matplotlib redraw: {'met' if ratio_new >= 5 else 'NOT met'} "
          f"({ratio_new:.1f}x; {ratio_reuse:.1f}x against the reused figure)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="updates per viewer (after 3 warm-ups)")
    ap.add_argument("--no-overlay", action="store_true", help="no label overlay")
    args = ap.parse_args(argv)
    print_table(run(n=args.n, overlay=not args.no_overlay))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
