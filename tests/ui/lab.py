"""Drive a notebook in JupyterLab the way a person does: open it, Run > Run All Cells, look.

Cell state is read from JupyterLab's own notebook model (``window.jupyterapp``, exposed by
``--LabApp.expose_app_in_browser``), and what a person sees is read from the DOM; the
tests check both.
"""
from __future__ import annotations

import re
import time

from playwright.sync_api import Page

# Notebook state from the model JupyterLab renders: code cells (non-empty), those without
# an execution count yet, error outputs, widget-view outputs, kernel status.
_STATE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.content.model || !w.sessionContext) return null;
  const session = w.sessionContext.session;
  const out = {code: 0, pending: [], errors: [], widgetViews: 0, pngs: 0,
               kernel: session && session.kernel ? session.kernel.status : 'none'};
  const cells = w.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code' || !c.sharedModel.getSource().trim()) continue;
    out.code++;
    if (c.executionCount === null || c.executionCount === undefined) out.pending.push(i);
    for (let j = 0; j < c.outputs.length; j++) {
      const o = c.outputs.get(j).toJSON();
      if (o.output_type === 'error') out.errors.push({cell: i, ename: o.ename, evalue: String(o.evalue).slice(0, 300)});
      if (o.data && o.data['application/vnd.jupyter.widget-view+json']) out.widgetViews++;
      if (o.data && o.data['image/png']) out.pngs++;
    }
  }
  return out;
}"""

# Tracebacks a person would see: JupyterLab renders error outputs as stderr text, so
# they are told from warnings by the traceback header IPython prints.
_DOM_ERRORS_JS = """() => Array.from(document.querySelectorAll(
    '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
  .map(e => e.innerText)
  .filter(t => /Traceback \\(most recent call last\\)|^-{20,}\\s*\\n\\S+(Error|Exception)/m.test(t))
  .map(t => t.slice(0, 600))"""

# Every widget-view output of the notebook model, found through the cell's output area:
# closed (a widget closed by its code, e.g. tqdm with leave=False: JupyterLab hides it),
# rendered or not, widget error text, size, and its images (decoded?).
_WIDGETS_JS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const res = [];
  w.content.widgets.forEach((cell, i) => {
    if (!cell.outputArea || !cell.model.outputs) return;
    cell.outputArea.widgets.forEach((child, j) => {
      if (j >= cell.model.outputs.length) return;
      const data = cell.model.outputs.get(j).toJSON().data;
      if (!data || !data['application/vnd.jupyter.widget-view+json']) return;
      const e = child.node.querySelector('.jp-OutputArea-output') || child.node;
      const r = e.getBoundingClientRect();
      res.push({cell: i, closed: e.classList.contains('lm-mod-hidden'), rendered: !!e.querySelector('.jupyter-widgets'),
                width: r.width, height: r.height, text: e.innerText.slice(0, 200),
                error: /Error displaying widget|Error rendering widget|model not found/i.test(e.innerText),
                // images a person sees: shown (not display:none) and with a picture set
                images: Array.from(e.querySelectorAll('img')).filter(i => i.getAttribute('src') && i.getClientRects().length)
                          .map(i => ({w: i.naturalWidth, h: i.naturalHeight, complete: i.complete})),
                sliders: e.querySelectorAll('.widget-slider').length,
                buttons: e.querySelectorAll('button').length});
    });
  });
  return res;
}"""

# Loading-state placeholders JupyterLab shows until a widget model arrives.
_LOADING_RE = re.compile(r"Loading widget", re.I)


def current_state(page: Page) -> dict | None:
    return page.evaluate(_STATE_JS)


def open_notebook(page: Page, url: str, timeout: float = 300) -> None:
    """Open a notebook URL and wait until its kernel is up and idle."""
    page.goto(url)
    page.wait_for_function(
        "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
        " && w.sessionContext.session.kernel.status === 'idle' && w.content && w.content.model); }",
        timeout=timeout * 1000,
    )
    page.locator(".jp-Notebook").first.wait_for(state="visible")


def run_all_cells(page: Page) -> None:
    """Run > Run All Cells, through the menu bar."""
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})  # focus the notebook
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).click()


def wait_until_done(page: Page, timeout: float = 900, settle: float = 1.0) -> dict:
    """Wait until every code cell has an execution count and the kernel is idle.

    Returns early (kernel idle, cells left unexecuted) when a cell failed: Run All stops
    there. The returned state says which. ``timeout`` only bounds a stuck kernel; it is
    no speed requirement (smoke runs take well under a minute on 2 cores).

    Raises:
        TimeoutError: with the last state, when the notebook is still running at ``timeout``.
    """
    deadline = time.monotonic() + timeout
    state = None
    idle_since = None
    while time.monotonic() < deadline:
        state = current_state(page)
        if state and state["kernel"] == "idle" and (not state["pending"] or state["errors"]):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle:  # idle for a moment: not between two cells
                return state
        else:
            idle_since = None
        page.wait_for_timeout(250)
    raise TimeoutError(f"notebook still running after {timeout:.0f}s: {state}")


def dom_errors(page: Page) -> list[str]:
    return page.evaluate(_DOM_ERRORS_JS)


def rendered_widgets(page: Page, timeout: float = 60) -> list[dict]:
    """Every widget-view output (see ``_WIDGETS_JS``), once all open ones rendered and loaded, or at ``timeout``."""
    deadline = time.monotonic() + timeout
    widgets: list[dict] = []
    while time.monotonic() < deadline:
        widgets = page.evaluate(_WIDGETS_JS)
        open_ = [w for w in widgets if not w["closed"]]
        waiting = [w for w in open_ if not w["rendered"] or _LOADING_RE.search(w["text"])
                   or any(not i["complete"] for i in w["images"])]
        if not waiting:
            break
        page.wait_for_timeout(250)
    return widgets


# --- images and controls -------------------------------------------------------------

# A digest of every <img>'s bytes inside a root element, so "the picture changed" means
# different pixels, not just a new blob: URL for the same PNG.
IMAGE_DIGESTS_JS = """async (root) => {
  const out = [];
  for (const img of root.querySelectorAll('img')) {
    if (!img.src) { out.push(null); continue; }
    try {
      const buf = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
      let h = 2166136261 >>> 0;
      for (let i = 0; i < buf.length; i++) { h ^= buf[i]; h = Math.imul(h, 16777619) >>> 0; }
      out.push(buf.length + ':' + h.toString(16));
    } catch (e) { out.push('unreadable:' + img.src.slice(0, 40)); }
  }
  return out;
}"""

# What shows progress: progress-bar widths, text widgets and labels.
PROGRESS_JS = """(root) => ({
  bars: Array.from(root.querySelectorAll('.progress-bar, progress')).map(b => b.style.width || String(b.value)),
  text: Array.from(root.querySelectorAll('.widget-html-content, .widget-label, .widget-readout, .widget-inline-hbox'))
         .map(e => e.innerText).join('|')
})"""

# Record every width/value a progress bar inside root takes from now on, including ones
# that last less than a polling interval (a short run goes 0% -> 100% between two polls).
# Returns nothing; PROGRESS_SEEN_JS reads the record.
PROGRESS_RECORD_JS = """(root) => {
  const seen = [];
  const value = (b) => b.style.width || String(b.value);
  const old = (r) => {
    if (r.oldValue === null) return null;
    if (r.attributeName === 'style') { const m = /width:\\s*([^;]+)/.exec(r.oldValue); return m ? m[1].trim() : null; }
    return r.oldValue;
  };
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type !== 'attributes' || !r.target.matches || !r.target.matches('.progress-bar, progress')) continue;
      const before = old(r);
      if (before !== null && before !== seen[seen.length - 1]) seen.push(before);
      const now = value(r.target);
      if (now !== seen[seen.length - 1]) seen.push(now);
    }
  });
  observer.observe(root, {subtree: true, attributes: true, attributeOldValue: true,
                          attributeFilter: ['style', 'value']});
  root.__medbenchProgress = {seen, observer};
}"""
PROGRESS_SEEN_JS = "(root) => root.__medbenchProgress ? root.__medbenchProgress.seen.slice() : []"
