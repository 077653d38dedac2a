"""``record(name, value)``: how a notebook reports a headline number.

The value is displayed as an output with its own MIME type, so the executed notebook
itself carries the metrics; the report runner reads them back from it (there is no side
file that could go stale). Interactively the same call just shows ``name = value``.
"""
from __future__ import annotations

import math
import numbers
import re

from medbench.errors import ConfigError

METRIC_MIMETYPE = "application/vnd.medbench.metric+json"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _to_plain(value):
    """numpy / torch scalars to Python numbers; strings and bools pass through."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise ConfigError(f"record() takes a number, bool or string; got {type(value).__name__}")


def record(name: str, value) -> None:
    """Record a headline metric of the running chapter.

    In a kernel the metric is displayed once, as its own output; outside one it is printed.
    Nothing is returned, so a cell whose last line is ``record(...)`` does not echo the value
    a second time as ``Out[n]``.

    Args:
        name: an identifier such as ``"test_auroc"`` (letters, digits, underscore).
        value: a number (Python, NumPy or 0-d torch), bool or short string; stored as the
            plain Python value (``float``, ``int``, ``bool`` or ``str``).

    Returns:
        None. Keep your own variable if you need the value again.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"metric name {name!r} must be an identifier like 'test_auroc'")
    value = _to_plain(value)
    shown = f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else repr(value)
    bundle = {
        "text/plain": f"{name} = {shown}",
        # JSON has no NaN/inf: store them as strings, the runner turns them back.
        METRIC_MIMETYPE: {"name": name, "value": value if not isinstance(value, float) or math.isfinite(value) else str(value)},
    }
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            bundle["text/html"] = f"<code>{name}</code> = <b>{shown}</b>"
            display(bundle, raw=True)
            return None
    except ImportError:  # pragma: no cover - IPython ships with the kernel
        pass
    print(bundle["text/plain"])
    return None


def metrics_from_notebook(nb) -> dict:
    """Read the recorded metrics back from an executed notebook (``nbformat`` node).

    The last value recorded under a name wins.
    """
    metrics: dict = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data") or {}
            item = data.get(METRIC_MIMETYPE)
            if item:
                value = item["value"]
                if isinstance(value, str) and value in ("nan", "inf", "-inf"):
                    value = float(value)
                metrics[item["name"]] = value
    return metrics
