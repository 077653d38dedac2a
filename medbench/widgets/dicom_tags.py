"""Chapter 08 widget: a DICOM file's tags before and after de-identification, side by side.

State and handlers are plain Python: ``viewer.file.value = 2`` picks the third file,
``viewer.only_changed.value = True`` hides untouched tags; ``viewer.table`` is the shown
``pandas.DataFrame`` and ``viewer.check`` the verifier's result. The *before* values of tags the
profile acts on are masked unless ``viewer.reveal.value`` is True (off by default and never set in
reports, so an executed notebook does not carry the PHI it is about).
"""
from __future__ import annotations

import html
import warnings
from pathlib import Path

import ipywidgets as W
import pydicom

from medbench.privacy.deid import DeidOptions, deidentify_dataset
from medbench.privacy.verify import tag_table, verify

_COLORS = {"X": "#fde0dd", "Z": "#fff3cd", "D": "#fff3cd", "U": "#dbeafe", "SHIFT": "#e0f2e9", "K": "#f3f4f6"}


def table_html(table, max_rows: int = 400) -> str:
    """The tag table as an HTML string (rows coloured by action); values are HTML-escaped."""
    head = "".join(f"<th style='text-align:left;padding:2px 6px'>{c}</th>" for c in
                   ("tag", "keyword", "VR", "action", "before", "after"))
    rows = []
    for _, r in table.head(max_rows).iterrows():
        key = str(r["action"]).split("/")[0].replace("private: ", "")
        bg = _COLORS.get(key, "#ffffff") if r["changed"] or key == "X" else "#ffffff"
        cells = "".join(f"<td style='padding:1px 6px;font-family:monospace'>{html.escape(str(r[c]))}</td>"
                        for c in ("tag", "keyword", "VR", "action", "before", "after"))
        rows.append(f"<tr style='background:{bg}'>{cells}</tr>")
    return (f"<div style='max-height:420px;overflow:auto'><table style='border-collapse:collapse;font-size:12px'>"
            f"<tr>{head}</tr>{''.join(rows)}</table></div>")


class DicomTagViewer(W.VBox):
    """Pick a file: its tags before and after the Annex E Basic profile, the action of each, and the verifier's verdict.

    Args:
        files: DICOM file paths.
        opts: :class:`~medbench.privacy.deid.DeidOptions` (the key stays in memory).
        reveal: show the original values of PHI tags (interactive use only).
    """

    def __init__(self, files, opts: DeidOptions, reveal: bool = False):
        self.files = [Path(f) for f in files]
        if not self.files:
            from medbench.errors import ConfigError

            raise ConfigError("DicomTagViewer needs at least one DICOM file.")
        self.opts = opts
        self.file = W.Dropdown(options=[(f.name, i) for i, f in enumerate(self.files)], value=0, description="file")
        self.only_changed = W.Checkbox(value=True, description="only tags the profile acts on")
        self.reveal = W.Checkbox(value=bool(reveal), description="reveal original PHI values")
        self.summary = W.HTML()
        self.view = W.HTML()
        self.table = None
        self.check = None
        self.result = None
        for w in (self.file, self.only_changed, self.reveal):
            w.observe(lambda _c: self.update(), names="value")
        super().__init__([W.HBox([self.file, self.only_changed, self.reveal]), self.summary, self.view])
        self.update()

    def update(self) -> None:
        """Recompute the table for the selected file and options."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(self.files[self.file.value])
            self.result = deidentify_dataset(ds, self.opts)
            self.check = verify(ds, self.result.dataset, self.opts)
            table = tag_table(ds, self.result.dataset, self.opts, reveal=self.reveal.value)
        if self.only_changed.value:
            table = table[(table["action"] != "") | table["changed"]]
        self.table = table.reset_index(drop=True)
        flag = (f"<b style='color:#b45309'>review pixels for burned-in text: {html.escape(self.result.burned_in_reason)}"
                "</b>" if self.result.burned_in_review else "no burned-in text expected")
        verdict = ("<b style='color:#15803d'>verifier: OK</b>" if self.check.ok else
                   f"<b style='color:#b91c1c'>verifier: {len(self.check.violations)} violations, "
                   f"{len(self.check.leaks)} PHI leaks</b>")
        self.summary.value = (f"{html.escape(str(ds.get('Modality', '?')))} &middot; {len(self.table)} tags shown &middot; "
                              f"{self.check.tags_checked} checked &middot; {verdict} &middot; {flag}")
        self.view.value = table_html(self.table)
