"""ipywidgets front-ends. Each widget's state and handlers are plain Python, so tests drive
them directly (set a control's ``.value``, call ``.click()`` on a button) without a browser.

Widgets are imported lazily (``from medbench.widgets import SliceViewer`` loads only the
viewer), so a chapter does not pay for the imports of every other chapter's widgets.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "DicomTagViewer": "medbench.widgets.dicom_tags",
    "DoseExplorer": "medbench.widgets.dose_explorer",
    "GANPanel": "medbench.widgets.dose_explorer",
    "CensusDashboard": "medbench.widgets.census_dashboard",
    "InferencePanel": "medbench.widgets.inference_panel",
    "OptimizerExplorer": "medbench.widgets.optimizer_explorer",
    "PatientExplorer": "medbench.widgets.patient_explorer",
    "PolicyExplorer": "medbench.widgets.policy_explorer",
    "PredictionBrowser": "medbench.widgets.prediction_browser",
    "WhatIfPanel": "medbench.widgets.patient_explorer",
    "SliceViewer": "medbench.widgets.slice_viewer",
    "Volume": "medbench.widgets.slice_viewer",
    "as_volume": "medbench.widgets.slice_viewer",
    "TrainingPanel": "medbench.widgets.training_panel",
    "WhyPanel": "medbench.widgets.why_panel",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'medbench.widgets' has no attribute {name!r}")


def __dir__():
    return __all__
