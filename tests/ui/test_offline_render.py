"""Offline reports render everything from disk: TeX typeset by the shipped MathJax, widget icons
drawn with the shipped Font Awesome font, and not one request to the network.

Chapter 00's report (``medbench report --profile smoke --chapters 00``) is opened as file: in
Chromium with the context offline and every request that is not file:/data:/blob: aborted.
Its formulas must come out as MathJax SVG, one per formula, with no TeX error. Chapter 00 has
no button, so the icons are checked on a report of a one-cell notebook showing a
``medbench.widgets.TrainingPanel`` (its Train and Stop buttons carry ``icon=``), executed and
exported the way ``run_chapter`` does. Each check deletes the shipped file afterwards and shows
that the page then fails it, so the checks can fail.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from medbench.reports import MATHJAX_FILE, copy_renderer, export_html, kernel_name, run_report

from .support import NOTEBOOKS

pytestmark = pytest.mark.ui

ICON_FONT = "medbench Font Awesome 5 Free"  # widget-icons.css

_TEX_JS = """() => ({
  containers: document.querySelectorAll('mjx-container').length,
  svgs: document.querySelectorAll('mjx-container > svg').length,
  nested: document.querySelectorAll('mjx-container mjx-container').length,
  errors: Array.from(document.querySelectorAll('[data-mjx-error], mjx-merror')).map(e => e.getAttribute('data-mjx-error') || e.textContent),
  empty: Array.from(document.querySelectorAll('mjx-container > svg')).filter(s => !(s.getBoundingClientRect().width > 0)).length,
  raw: Array.from(document.querySelectorAll('.jp-RenderedMarkdown')).map(e => e.innerText).filter(t => /\\$|\\\\(frac|beta|eta|theta|partial)\\b/.test(t))
})"""

_ICONS_JS = """async (family) => {
  await document.fonts.ready;
  const icons = Array.from(document.querySelectorAll('.jupyter-widgets i.fa'));
  return {
    icons: icons.map(i => ({cls: i.className, family: getComputedStyle(i).fontFamily, width: i.getBoundingClientRect().width,
                            glyph: getComputedStyle(i, '::before').content})),
    faces: Array.from(document.fonts).filter(f => f.family.replace(/"/g, '') === family).map(f => f.status),
    check: document.fonts.check(`900 16px "${family}"`),
  };
}"""


def _count_formulas(nb) -> int:
    """Formulas in the Markdown cells: $$...$$ blocks first, then $...$ (no escaped dollars in chapters)."""
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text, blocks = re.subn(r"\$\$.+?\$\$", " ", cell.source, flags=re.S)
        n += blocks + len(re.findall(r"\$[^$\n]+\$", text))
    return n


@pytest.fixture
def offline_page(browser):
    """A page in an offline context; returns (page, requests) where requests lists (url, failure)."""
    requests: list[tuple[str, str | None]] = []

    def only_local(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            requests.append((url, "aborted: not a local file"))
            route.abort("internetdisconnected")

    browser.set_offline(True)
    browser.route("**/*", only_local)
    page = browser.new_page()
    page.on("requestfailed", lambda r: requests.append((r.url, r.failure)))
    try:
        yield page, requests
    finally:
        page.close()


def test_offline_report_typesets_chapter_00_tex_with_shipped_mathjax(offline_page, screenshot_dir, tmp_path,
                                                                      monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # as `medbench report` runs from a shell
    page, requests = offline_page
    report = run_report(profile="smoke", chapters=["00"], out=tmp_path / "report", progress=False)
    (entry,) = report.chapters
    assert entry["status"] == "ok", entry["error"]
    html = tmp_path / "report" / entry["html"]
    expected = _count_formulas(nbformat.read(NOTEBOOKS / "00_foundations.ipynb", as_version=4))
    assert expected >= 20, f"chapter 00 writes only {expected} formulas in LaTeX"

    page.goto(html.as_uri())
    page.wait_for_function("n => document.querySelectorAll('mjx-container > svg').length >= n",
                           arg=expected, timeout=60_000)
    page.wait_for_timeout(500)  # a second typesetting pass would show up as extra containers
    tex = page.evaluate(_TEX_JS)
    page.locator("mjx-container").nth(expected // 2).scroll_into_view_if_needed()
    page.screenshot(path=f"{screenshot_dir}/00_foundations.tex.png")
    print(f"{expected} formulas -> {tex['svgs']} MathJax SVGs; requests that failed: {requests or 'none'}")

    assert not requests, f"the report asked for what it does not have: {requests}"
    assert tex["svgs"] == tex["containers"] == expected, tex
    assert not tex["nested"] and not tex["empty"], tex
    assert not tex["errors"], f"MathJax could not typeset: {tex['errors']}"
    assert not tex["raw"], f"TeX left untypeset: {tex['raw']}"

    # the check can fail: without the shipped MathJax nothing is typeset
    (html.parent / "_static" / MATHJAX_FILE).unlink()
    page.reload(wait_until="load")
    page.wait_for_timeout(1500)
    assert page.evaluate(_TEX_JS)["containers"] == 0


def test_offline_report_shows_widget_button_icons_with_shipped_font(offline_page, screenshot_dir, tmp_path):
    from nbclient import NotebookClient

    page, requests = offline_page
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from medbench.widgets import TrainingPanel\n"
        "TrainingPanel(lambda config, callbacks: None, epochs=1, background=False)")])
    NotebookClient(nb, kernel_name=kernel_name(), timeout=300, store_widget_state=True).execute()
    nbformat.write(nb, tmp_path / "panel.ipynb")
    export_html(tmp_path / "panel.ipynb", tmp_path / "panel.html")
    copy_renderer(tmp_path)

    page.goto((tmp_path / "panel.html").as_uri())
    page.wait_for_selector(".jupyter-widgets i.fa", state="attached", timeout=120_000)
    shown = page.evaluate(_ICONS_JS, ICON_FONT)
    page.locator(".jupyter-widgets i.fa").first.scroll_into_view_if_needed()
    page.screenshot(path=f"{screenshot_dir}/training_panel.icons.png")
    print(f"icons: {shown}; requests that failed: {requests or 'none'}")

    assert not requests, f"the report asked for what it does not have: {requests}"
    assert sorted(i["cls"] for i in shown["icons"]) == ["fa fa-play", "fa fa-stop"], shown
    assert shown["faces"] == ["loaded"] and shown["check"], f"the shipped icon font did not load: {shown}"
    for icon in shown["icons"]:
        assert icon["family"].replace('"', "").startswith(ICON_FONT), icon
        assert icon["glyph"] not in ("none", "normal", '""') and icon["width"] > 0, icon

    # the check can fail: without the font file the icon face errors and the glyphs shrink to
    # the fallback font's notdef box
    (tmp_path / "_static" / "fa-solid-900.woff2").unlink()
    page.reload(wait_until="load")
    page.wait_for_selector(".jupyter-widgets i.fa", state="attached", timeout=120_000)
    missing = page.evaluate(_ICONS_JS, ICON_FONT)
    assert missing["faces"] == ["error"] and not missing["check"], missing
    widths = {i["cls"]: i["width"] for i in shown["icons"]}
    assert all(i["width"] < widths[i["cls"]] for i in missing["icons"]), (shown, missing)
