"""Static figures (matplotlib/seaborn) that reports show and widgets reuse.

Submodules hold one chapter's figures each; :func:`fig_to_png` turns any figure into PNG
bytes for an ``ipywidgets.Image``.
"""
from __future__ import annotations

import io

import matplotlib

# Headless by default (tests, scripts); Jupyter's inline/widget backends are kept. The backend is read
# without auto-selecting one (which would import pyplot: ~0.25 s the SliceViewer need not pay).
_backend = matplotlib.get_backend(auto_select=False)
if not (_backend or "").lower().startswith(("module://", "inline", "nbagg", "widget", "ipympl")):
    matplotlib.use("Agg")


def fig_to_png(fig, dpi: int = 100, close: bool = True) -> bytes:
    """Render a matplotlib figure to PNG bytes (and close it unless ``close=False``)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return buf.getvalue()
