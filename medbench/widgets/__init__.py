"""ipywidgets front-ends. Each widget's state and handlers are plain Python, so tests drive
them directly (set a control's ``.value``, call ``.click()`` on a button) without a browser.
"""
from __future__ import annotations

from medbench.widgets.optimizer_explorer import OptimizerExplorer

__all__ = ["OptimizerExplorer"]
