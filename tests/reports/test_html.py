"""The HTML export of a report points only at files shipped in ``_static/`` (no CDN).

The browser checks (TeX typeset as SVG, icons drawn with the shipped font, no request at
all) are in ``tests/ui/test_offline_render.py``; these run without a browser.
"""
from __future__ import annotations

import re

import nbformat

from medbench.reports import MATHJAX_FILE, RENDERER_FILES, STATIC_DIR, copy_renderer, export_html

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"'#]+)["']""")


def _export(tmp_path, name, cells):
    nb = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(nb, tmp_path / f"{name}.ipynb")
    export_html(tmp_path / f"{name}.ipynb", tmp_path / f"{name}.html")
    return (tmp_path / f"{name}.html").read_text()


def test_every_shipped_file_exists_and_is_copied(tmp_path):
    for name in RENDERER_FILES:
        assert (STATIC_DIR / name).is_file(), f"medbench/static/{name} is missing (make static)"
    copy_renderer(tmp_path)
    assert sorted(p.name for p in (tmp_path / "_static").iterdir()) == sorted(RENDERER_FILES)
    # the stylesheet's font is one of the shipped files
    css = (STATIC_DIR / "widget-icons.css").read_text()
    assert set(re.findall(r'url\("([^"]+)"\)', css)) <= set(RENDERER_FILES)


def test_tex_loads_the_local_mathjax_3_and_nothing_from_a_cdn(tmp_path):
    html = _export(tmp_path, "tex", [nbformat.v4.new_markdown_cell("Dice $= 2|P \\cap T| / (|P|+|T|)$")])
    assert f'src="_static/{MATHJAX_FILE}"' in html
    assert "window.MathJax = {" in html and "inlineMath: [['$', '$']" in html
    assert "text/x-mathjax-config" not in html  # nbconvert's MathJax 2 block is gone
    assert "\\cap" in html


def test_no_tex_no_mathjax(tmp_path):
    html = _export(tmp_path, "plain", [nbformat.v4.new_markdown_cell("costs $5 per hour")])
    assert MATHJAX_FILE not in html and "window.MathJax" not in html


def test_latex_output_counts_as_tex(tmp_path):
    cell = nbformat.v4.new_code_cell("Math(...)", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/latex": "$x^2$", "text/plain": "<Math>"})])
    assert f"_static/{MATHJAX_FILE}" in _export(tmp_path, "latex_out", [cell])


def test_page_links_only_local_files(tmp_path):
    """Every src/href of the page's own markup is relative and, under _static/, a shipped file."""
    html = _export(tmp_path, "tex", [nbformat.v4.new_markdown_cell("$a^2$")])
    html = re.sub(r'<script type="application/vnd.jupyter[^>]*>.*?</script>', "", html, flags=re.S)
    urls = set(_URL.findall(html))
    assert "_static/widget-icons.css" in urls
    for url in urls:
        assert not re.match(r"^[a-z]+:|^//", url, re.I), f"the page links {url}"
        if url.startswith("_static/"):
            assert url.removeprefix("_static/") in RENDERER_FILES, url
