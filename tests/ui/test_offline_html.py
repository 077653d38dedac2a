"""Each chapter's HTML report, opened from disk in Chromium with the network off, shows its widgets and figures.

The report is made the way ``medbench report --profile smoke --chapters NN`` makes it.
Every request that is not file:, data: or blob: is aborted (and the context is offline).
"""
from __future__ import annotations

import re

import nbformat
import pytest

from medbench.reports import run_report

from .support import chapter_notebooks

pytestmark = pytest.mark.ui

CHAPTERS = chapter_notebooks()
# Requests whose failure would mean the widget renderer is not shipped with the report.
_RENDERER_URL = re.compile(r"jupyter-widgets|html-manager|embed-amd|require(\.min)?\.js|unpkg|jsdelivr", re.I)

_WIDGETS_JS = """() => Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'))
  .map(s => {
    // embed-amd.js renders each view into a div.widget-subarea inserted before its script
    const holders = Array.from(s.parentElement.children).filter(e => e !== s);
    const views = holders.map(e => e.classList.contains('jupyter-widgets') ? e : e.querySelector('.jupyter-widgets'));
    const v = views.filter(Boolean)[0];
    if (!v) return {rendered: false};
    const r = v.getBoundingClientRect();
    return {rendered: true, width: r.width, height: r.height, text: v.innerText.slice(0, 120),
            controls: v.querySelectorAll('.widget-slider, .widget-dropdown, select, button, input, textarea, '
                                         + '.widget-progress, .widget-html-content, .widget-label, img').length,
            images: Array.from(v.querySelectorAll('img')).filter(i => i.getAttribute('src') && i.getClientRects().length)
                      .map(i => [i.naturalWidth, i.naturalHeight])};
  })"""

_FIGURES_JS = """() => Array.from(document.querySelectorAll('img'))
  .filter(i => i.src.startsWith('data:image/png') && !i.closest('.jupyter-widgets'))
  .map(i => [i.naturalWidth, i.naturalHeight])"""


def _outputs(nb_path) -> tuple[int, int]:
    """(widget-view outputs, PNG figure outputs that are not widgets) of an executed notebook."""
    widgets = figures = 0
    for cell in nbformat.read(nb_path, as_version=4).cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            is_widget = "application/vnd.jupyter.widget-view+json" in data
            widgets += is_widget
            figures += "image/png" in data and not is_widget  # a widget's PNG fallback is not shown in HTML
    return widgets, figures


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_offline_html_report_shows_widgets_and_figures(notebook, browser, screenshot_dir, tmp_path, monkeypatch):
    # As `medbench report` runs from a shell: pytest's MPLBACKEND=Agg would hide every figure.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    chapter_id = notebook.stem.split("_")[0]
    report = run_report(profile="smoke", chapters=[chapter_id], out=tmp_path / "report", progress=False)
    (entry,) = report.chapters
    assert entry["status"] == "ok", entry["error"]
    html = tmp_path / "report" / entry["html"]
    n_widgets, n_figures = _outputs(tmp_path / "report" / entry["notebook"])
    assert n_figures >= 1, f"{notebook.name}: the report has no static figure"

    blocked: list[str] = []

    def only_local(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    browser.set_offline(True)
    browser.route("**/*", only_local)
    page = browser.new_page()
    failed: list[str] = []  # file: requests too, e.g. a font the page expects beside it
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    try:
        page.goto(html.as_uri())
        if n_widgets:
            page.wait_for_function(
                "n => Array.from(document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]'))"
                ".filter(s => Array.from(s.parentElement.children).some(e => e !== s && (e.classList.contains('jupyter-widgets')"
                " || e.querySelector('.jupyter-widgets')))"
                " && Array.from(s.parentElement.querySelectorAll('img')).every(i => i.complete)).length >= n",
                arg=n_widgets, timeout=180_000)
        widgets = page.evaluate(_WIDGETS_JS)
        figures = page.evaluate(_FIGURES_JS)
        first = page.locator(".jupyter-widgets-disconnected").first
        if first.count():
            first.scroll_into_view_if_needed()
        shot = f"{screenshot_dir}/{notebook.stem}.offline.png"
        page.screenshot(path=shot)
        print(f"screenshot: {shot}; requests aborted offline: {blocked or 'none'}")
        requested_offline = list(blocked)
        failed_offline = [u for u in failed if not any(u.startswith(b) for b in blocked)]
        if n_widgets:  # the check can fail: without the shipped renderer no widget renders
            (html.parent / "_static" / "embed-amd.js").unlink()
            page.reload(wait_until="load")
            page.wait_for_timeout(1500)
            without_renderer = page.evaluate(_WIDGETS_JS)
            assert not any(w["rendered"] for w in without_renderer), "widgets 'rendered' without embed-amd.js"
    finally:
        page.close()

    renderer_misses = [u for u in blocked if _RENDERER_URL.search(u)]
    assert not renderer_misses, f"the widget renderer was fetched from the network: {renderer_misses}"
    # nothing else either (MathJax from a CDN, fonts ...): the report is whole on disk
    assert not requested_offline, f"the report asked the network for: {requested_offline}"
    assert not failed_offline, f"the report asked for files it does not have: {failed_offline}"
    assert len(widgets) == n_widgets, f"{n_widgets} widget outputs in the notebook, {len(widgets)} in the HTML"
    for w in widgets:
        assert w["rendered"], f"a widget did not render offline ({html})"
        assert w["width"] > 0 and w["height"] > 0 and w["controls"] > 0, f"an empty widget offline: {w}"
        assert all(iw > 0 and ih > 0 for iw, ih in w["images"]), f"a widget image did not decode offline: {w}"
    assert len(figures) >= n_figures, f"{n_figures} figures in the notebook, {len(figures)} in the HTML"
    assert all(fw > 0 and fh > 0 for fw, fh in figures), f"a figure did not decode: {figures}"
