"""Every chapter, opened in JupyterLab in Chromium, runs at smoke, shows its widgets, and responds.

Run: ``.venv/bin/python -m pytest -m ui tests/ui`` (``-n 2`` works: one server per worker).
Screenshots: ``reports/ui-screenshots/`` (or ``$MEDBENCH_UI_SCREENSHOTS``).
"""
from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from .interactions import interactions_for
from .lab import current_state, dom_errors, open_notebook, rendered_widgets, run_all_cells, wait_until_done
from .support import chapter_notebooks, parameterized_copy, smoke_parameters

pytestmark = pytest.mark.ui

CHAPTERS = chapter_notebooks()


def _screenshot(page, screenshot_dir, name: str, target=None) -> str:
    """Save the viewport, scrolled to ``target`` (a locator) or to the first widget."""
    path = f"{screenshot_dir}/{name}.png"
    if target is None:
        target = page.locator(".jp-Notebook .jp-OutputArea-output:not([data-mime-type]) .jupyter-widgets").first
    if target.count():
        target.scroll_into_view_if_needed()
    page.screenshot(path=path)
    print(f"screenshot: {path}")
    return path


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_runs_renders_and_responds_in_jupyterlab(notebook, lab_server, browser, screenshot_dir):
    chapter_id = notebook.stem.split("_")[0]
    params = smoke_parameters(notebook)
    copy = parameterized_copy(notebook, lab_server.notebook_dir, params)
    Path(screenshot_dir, f"{notebook.stem}.failed.png").unlink(missing_ok=True)  # from an earlier run
    page = browser.new_page()
    try:
        open_notebook(page, lab_server.lab_url(copy.name))
        lab_server.remember_children()  # the kernel: stopped by pid at teardown whatever happens
        start = time.perf_counter()
        run_all_cells(page)
        state = wait_until_done(page)
        print(f"{notebook.name}: Run All Cells finished in {time.perf_counter() - start:.1f}s")

        # No cell failed, in JupyterLab's model or on screen, and every code cell ran.
        errors = dom_errors(page)
        assert not state["errors"], f"{notebook.name}: cells raised {state['errors']}"
        assert not errors, f"{notebook.name}: tracebacks shown:\n" + "\n---\n".join(errors)
        assert not state["pending"], f"{notebook.name}: code cells {state['pending']} did not run"
        assert state["code"] > 0

        # Widgets render: every widget output that its code did not close is drawn, sized,
        # without a widget error, and its images decode.
        all_widgets = rendered_widgets(page)
        assert len(all_widgets) == state["widgetViews"]
        widgets = [w for w in all_widgets if not w["closed"]]
        if state["widgetViews"]:
            assert widgets, f"{notebook.name}: every one of its {state['widgetViews']} widget outputs is hidden"
        for w in widgets:
            assert w["rendered"] and not w["error"], f"widget in cell {w['cell']} failed to render: {w['text']!r}"
            assert w["width"] > 0 and w["height"] > 0, f"widget in cell {w['cell']} has no size: {w}"
            for img in w["images"]:
                assert img["w"] > 0 and img["h"] > 0, f"widget image in cell {w['cell']} did not decode: {w}"
        interactions = interactions_for(chapter_id, page)
        if interactions:
            assert widgets, f"{notebook.name}: interactions are listed but no widget rendered"

        _screenshot(page, screenshot_dir, notebook.stem)
        # Interacting works: each change reaches the kernel and comes back as a new picture.
        # (Finding the control is itself a check: e.g. Slider("^slice$") needs a rendered
        # SliceViewer, a slice slider in the same widget as a decoded image.)
        output = None
        for interaction in interactions:
            start = time.perf_counter()
            what, output = interaction.apply(page)
            print(f"{what} [{time.perf_counter() - start:.1f}s]")
        if output is not None:
            _screenshot(page, screenshot_dir, notebook.stem, output)  # after the last interaction
        assert current_state(page)["errors"] == [], "an interaction raised in the kernel"
    except BaseException:
        try:
            _screenshot(page, screenshot_dir, notebook.stem + ".failed")
        except Exception:  # the page may be gone; the test's own error matters more
            pass
        raise
    finally:
        lab_server.shutdown_kernels()
        page.close()


def test_a_failing_cell_is_detected(lab_server, browser, tmp_path):
    """The checks above can fail: a widget, a warning, a widget without a model, an error, a cell after it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("import warnings\nimport ipywidgets as W\n"
                                  "warnings.warn('a warning is not an error')\nW.IntSlider(description='n')"),
        nbformat.v4.new_code_cell("from IPython.display import display\n"
                                  "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'no-such-model',"
                                  " 'version_major': 2, 'version_minor': 0}}, raw=True)"),
        nbformat.v4.new_code_cell("1 / 0"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ]
    nbformat.write(nb, lab_server.notebook_dir / "zz_failing.ipynb")
    page = browser.new_page()
    try:
        open_notebook(page, lab_server.lab_url("zz_failing.ipynb"))
        lab_server.remember_children()
        run_all_cells(page)
        state = wait_until_done(page, timeout=120)
        assert [e["ename"] for e in state["errors"]] == ["ZeroDivisionError"]
        assert state["pending"] == [3]
        shown = dom_errors(page)
        assert len(shown) == 1 and "ZeroDivisionError" in shown[0], shown
        good, broken = rendered_widgets(page, timeout=10)
        assert good["rendered"] and good["sliders"] == 1 and not good["error"], good
        assert broken["error"] and not broken["rendered"], broken
    finally:
        lab_server.shutdown_kernels()
        page.close()
