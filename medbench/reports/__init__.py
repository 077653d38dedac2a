"""Run chapter notebooks headless with papermill and collect them into a report.

A report directory holds, per chapter, the executed notebook and an HTML export whose
widgets render from disk with no network (widget state embedded, renderer shipped in
``medbench/static``), plus ``summary.json`` and ``index.html`` over all chapters.

Parameters come from a profile (``notebooks/profiles/<name>.yaml``) and ``-p``
overrides; both are validated against the notebook's ``parameters`` cell (read with
``papermill.inspect_notebook``) before any kernel starts.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import os
import re
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from medbench.errors import ChapterError, ConfigError
from medbench.record import metrics_from_notebook
from medbench.settings import parse_value

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Shipped next to every report in ``_static/`` (medbench/static/README.md: sources, licences):
# the widget renderer, MathJax 3 (TeX -> SVG, fonts inside) and Font Awesome's solid font for
# widget button icons.
MATHJAX_FILE = "tex-svg-full.js"
RENDERER_FILES = ("require.js", "embed-amd.js", MATHJAX_FILE, "widget-icons.css", "fa-solid-900.woff2",
                  "LICENSE-mathjax.txt", "LICENSE-fontawesome.txt")
PROFILES = ("smoke", "default", "full")
KERNEL_NAME = "medbench"  # registered by `make` with --sys-prefix; "python3" otherwise
_TYPE_NAMES = {"int": int, "float": float, "str": str, "bool": bool}


def default_notebooks_dir() -> Path:
    """``$MEDBENCH_NOTEBOOKS``, else ``notebooks/`` of the source checkout, else ``./notebooks``."""
    env = os.environ.get("MEDBENCH_NOTEBOOKS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2] / "notebooks"
    return repo if repo.is_dir() else Path.cwd() / "notebooks"


@dataclass
class Parameter:
    name: str
    type: str  # "int", "float", "str", "bool" or "None"
    default: object
    help: str = ""


@dataclass
class Chapter:
    """One notebook: ``id`` is its number (``"00"``), ``name`` its stem (``"00_foundations"``)."""

    id: str
    name: str
    path: Path
    title: str
    parameters: dict[str, Parameter] = field(default_factory=dict)


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def load_chapter(path: Path) -> Chapter:
    """Read a chapter's title and its parameters (name, type, default) from the notebook."""
    import papermill

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for bad JSON
        raise ChapterError(f"{path}: not a readable notebook ({exc}); restore it from git") from exc
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ChapterError(f"{path}: needs exactly one cell tagged 'parameters', found {len(tagged)}")
    params = {}
    for name, info in papermill.inspect_notebook(str(path)).items():
        default = parse_value(info["default"])
        kind = info["inferred_type_name"]  # from an annotation (`n: int = 3`), else "None"
        if kind == "None" and default is not None:
            kind = type(default).__name__  # from the default value
        params[name] = Parameter(name, kind, default, info.get("help", ""))
    return Chapter(path.stem.split("_")[0], path.stem, path, _title(nb), params)


def discover_chapters(notebooks_dir: Path | None = None) -> list[Chapter]:
    """Every ``NN_name.ipynb`` in ``notebooks_dir``, sorted by number."""
    root = Path(notebooks_dir or default_notebooks_dir())
    if not root.is_dir():
        raise ChapterError(f"no notebooks directory at {root}; run from the repository root or set $MEDBENCH_NOTEBOOKS")
    paths = sorted(p for p in root.glob("[0-9]*_*.ipynb") if not p.name.startswith("."))
    return [load_chapter(p) for p in paths]


def select_chapters(chapters: list[Chapter], wanted: list[str] | None) -> list[Chapter]:
    """Pick chapters by id (``"00"``) or name; unknown ones raise :class:`ConfigError`."""
    if not wanted:
        return list(chapters)
    by_key = {c.id: c for c in chapters} | {c.name: c for c in chapters}
    unknown = [w for w in wanted if w not in by_key]
    if unknown:
        raise ConfigError(
            f"unknown chapter(s) {', '.join(unknown)}; available: {', '.join(c.id + ' (' + c.name + ')' for c in chapters)}"
        )
    seen, out = set(), []
    for w in wanted:
        c = by_key[w]
        if c.id not in seen:
            seen.add(c.id)
            out.append(c)
    return out


def load_profile(name: str, notebooks_dir: Path | None = None) -> dict:
    """A profile: ``{chapter_id: {"parameters": {...}, "expect": {metric: {"min"|"max": x}}}}``."""
    root = Path(notebooks_dir or default_notebooks_dir()) / "profiles"
    path = root / f"{name}.yaml"
    if not path.is_file():
        found = sorted(p.stem for p in root.glob("*.yaml"))
        raise ConfigError(f"unknown profile {name!r}: no {path}; available: {', '.join(found) or 'none'}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    chapters = data.get("chapters", {}) or {}
    return {str(k).zfill(2) if str(k).isdigit() else str(k): v or {} for k, v in chapters.items()}


def coerce(param: Parameter, value, source: str):
    """Check ``value`` against the parameter's type; strings are parsed by :func:`parse_value`.

    Args:
        source: where the value came from, for the error message.
    """
    expected = _TYPE_NAMES.get(param.type)
    if isinstance(value, str) and expected is not str:
        value = parse_value(value)
    if expected is None or value is None:  # untyped default (None): accept anything
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise ConfigError(
        f"parameter {param.name!r} ({source}) must be {param.type}, got {value!r} ({type(value).__name__})"
    )


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """``["seed=3", "00.steps=50"]`` -> ``{"seed": "3", "00.steps": "50"}``."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-p expects key=value (or chapter.key=value), got {item!r}")
        out[key.strip()] = value
    return out


def resolve_parameters(chapters: list[Chapter], profile: dict, overrides: dict[str, str],
                       profile_name: str = "profile", source: str = "-p") -> dict[str, dict]:
    """Parameters per chapter id: the profile's, then ``-p`` overrides, all type-checked.

    An unscoped override (``seed=3``) applies to every selected chapter that has the
    parameter and must exist in at least one; ``00.seed=3`` targets one chapter.
    ``source`` names the option in error messages (``-p``, ``--grid``).
    """
    resolved = {}
    for ch in chapters:
        entry = profile.get(ch.id, {})
        unknown_keys = set(entry) - {"parameters", "expect", "tolerance"}
        if unknown_keys:
            raise ConfigError(f"profile {profile_name!r}, chapter {ch.id}: unknown key(s) {sorted(unknown_keys)}; "
                              "use 'parameters', 'expect' and 'tolerance'")
        params = {}
        for key, value in (entry.get("parameters") or {}).items():
            if key not in ch.parameters:
                raise ConfigError(_unknown_param(key, ch, f"profile {profile_name!r}"))
            params[key] = coerce(ch.parameters[key], value, f"profile {profile_name!r}")
        resolved[ch.id] = params
    for key, raw in overrides.items():
        scope, dot, name = key.rpartition(".")
        targets = [c for c in chapters if c.id == scope or c.name == scope] if dot else chapters
        if dot and not targets:
            raise ConfigError(f"{source} {key}: chapter {scope!r} is not among the selected chapters "
                              f"({', '.join(c.id for c in chapters)})")
        having = [c for c in targets if name in c.parameters]
        if not having:
            raise ConfigError(_unknown_param(name, targets[0] if len(targets) == 1 else None, source, targets))
        for ch in having:
            resolved[ch.id][name] = coerce(ch.parameters[name], raw, source)
    return resolved


def _unknown_param(name: str, chapter: Chapter | None, source: str, chapters: list[Chapter] | None = None) -> str:
    if chapter is not None:
        valid = ", ".join(f"{p.name} ({p.type})" for p in chapter.parameters.values())
        return f"unknown parameter {name!r} ({source}) for chapter {chapter.name}; valid parameters: {valid}"
    valid = sorted({p for c in chapters or [] for p in c.parameters})
    return f"unknown parameter {name!r} ({source}); valid parameters: {', '.join(valid)}"


def check_expectations(metrics: dict, expect: dict) -> list[dict]:
    """Compare recorded metrics with a profile's ``expect`` block.

    Returns:
        One dict per rule: ``metric``, ``rule`` (e.g. ``"<= 1e-06"``), ``value``, ``passed``.
        A metric that was not recorded fails its rule.
    """
    checks = []
    for metric, rule in (expect or {}).items():
        value = metrics.get(metric)
        for op, bound in rule.items():
            if op == "tolerance":  # not a bound: how far the metric may move between runs
                continue
            if op not in ("min", "max"):
                raise ConfigError(f"expect rule for {metric!r}: use 'min', 'max' or 'tolerance', not {op!r}")
            ok = isinstance(value, (int, float)) and (value >= bound if op == "min" else value <= bound)
            checks.append({"metric": metric, "rule": f"{'>=' if op == 'min' else '<='} {bound:g}",
                           "value": value, "passed": bool(ok)})
    return checks


def profile_tolerances(entry: dict, chapter_id: str = "", profile_name: str = "profile") -> dict[str, float]:
    """How far each metric may move between two runs before the history flags it.

    A profile gives it beside the bounds (``expect: {auroc: {min: 0.8, tolerance: 0.02}}``)
    or as a block of its own (``tolerance: {auroc: 0.02}``); the block wins.

    Raises:
        ConfigError: a tolerance that is not a number >= 0.
    """
    tol = {m: r["tolerance"] for m, r in (entry.get("expect") or {}).items()
           if isinstance(r, dict) and "tolerance" in r}
    tol |= dict(entry.get("tolerance") or {})
    for metric, value in tol.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"profile {profile_name!r}, chapter {chapter_id}: tolerance of {metric!r} must be a "
                              f"number >= 0, got {value!r}")
    return {m: float(v) for m, v in tol.items()}


def kernel_name() -> str:
    """The venv's registered ``medbench`` kernel if present, else ``python3`` (this interpreter)."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


# nbconvert's lab template with two changes for offline pages: MathJax 3 from ``_static/``
# (only when the notebook holds TeX; nbconvert's own block loads MathJax 2 from a CDN), and
# a stylesheet that gives widget icons a font shipped in ``_static/``.
_OFFLINE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_mathjax -%}
{%- if resources.medbench_tex %}
<script>
(function () {
  // ipywidgets' renderer typesets widget labels through MathJax 2's MathJax.Hub.Queue.
  var pending = [];
  function hub(queue) { return {Queue: function (job) { queue(job && job[2]); }}; }
  window.MathJax = {
    tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
          processEscapes: true, processEnvironments: true, tags: 'ams'},
    svg: {fontCache: 'global'},
    // as JupyterLab: Markdown and LaTeX outputs, not code, text or HTML outputs
    startup: {elements: ['.jp-RenderedMarkdown', '.jp-RenderedLatex'],
              ready: function () {
                MathJax.startup.defaultReady();
                MathJax.Hub = hub(function (el) { if (el) MathJax.typesetPromise([el]); });
                if (pending.length) MathJax.typesetPromise(pending);
              }},
    Hub: hub(function (el) { if (el) pending.push(el); })
  };
}());
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endif -%}
{%- endblock html_head_js_mathjax -%}
{%- block html_head_css -%}
{{ super() }}
<link rel="stylesheet" href="{{ resources.medbench_static }}/widget-icons.css">
{%- endblock html_head_css -%}
"""
_TEX = re.compile(r"\$[^$\n]+\$|\\\(|\\\[|\\begin\{")


def _has_tex(nb) -> bool:
    """Whether a Markdown cell holds TeX ($...$, \\(...\\), \\[...\\], \\begin{...}) or an output is LaTeX."""
    return any((c.cell_type == "markdown" and _TEX.search(c.source))
               or any("text/latex" in out.get("data", {}) for out in c.get("outputs", []))
               for c in nb.cells)


def export_html(nb_path: Path, html_path: Path, static_prefix: str = "_static") -> None:
    """HTML of an executed notebook that renders whole from ``static_prefix`` with no network.

    Widgets render with the shipped ``embed-amd.js`` (their buttons' icons from
    ``widget-icons.css``) and TeX typesets with the shipped MathJax 3 (SVG output), which
    the page loads only when the notebook holds TeX. ``copy_renderer`` puts the files there.
    """
    import jinja2
    from nbconvert import HTMLExporter

    nb = nbformat.read(nb_path, as_version=4)
    exporter = HTMLExporter(template_name="lab")
    exporter.extra_loaders = [jinja2.DictLoader({"medbench_offline.html.j2": _OFFLINE_TEMPLATE})]
    exporter.template_file = "medbench_offline.html.j2"
    exporter.require_js_url = f"{static_prefix}/require.js"
    exporter.widget_renderer_url = f"{static_prefix}/embed-amd.js"
    exporter.mathjax_url = f"{static_prefix}/{MATHJAX_FILE}"
    body, _ = exporter.from_notebook_node(nb, resources={"medbench_tex": _has_tex(nb),
                                                         "medbench_static": static_prefix})
    html_path.write_text(body, encoding="utf-8")


def copy_renderer(out: Path) -> None:
    """Put the offline renderers (widgets, MathJax, icon font) into ``out/_static``."""
    dest = out / "_static"
    dest.mkdir(parents=True, exist_ok=True)
    for name in RENDERER_FILES:
        shutil.copyfile(STATIC_DIR / name, dest / name)


def run_chapter(chapter: Chapter, parameters: dict, out: Path, expect: dict | None = None,
                timeout: float | None = None, kernel: str | None = None, name: str | None = None) -> dict:
    """Execute one chapter with papermill; never raises for a failing notebook.

    Writes ``<name>.ipynb`` (also when it fails: the partial notebook shows the failing
    cell) and ``<name>.html`` into ``out``. The chapter runs in ``out/work/<name>``.
    ``name`` defaults to the chapter's stem; a grid gives each run its own.

    Returns:
        The chapter's summary entry (status, duration, metrics, checks, links, error).
    """
    import papermill

    name = name or chapter.name
    out_nb = out / f"{name}.ipynb"
    out_html = out / f"{name}.html"
    workdir = out / "work" / name
    workdir.mkdir(parents=True, exist_ok=True)
    entry = {"id": chapter.id, "name": chapter.name, "run": name, "title": chapter.title, "parameters": parameters,
             "status": "ok", "error": None, "metrics": {}, "checks": [],
             "notebook": out_nb.name, "html": out_html.name}
    _inline_figures_for_kernels()
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(chapter.path), str(out_nb), parameters=parameters, kernel_name=kernel or kernel_name(),
            cwd=str(workdir), execution_timeout=timeout, progress_bar=False, log_output=False,
            config=kernel_config(),
        )
    except Exception as exc:  # a failing chapter must not take the others down
        entry["status"] = "failed"
        entry["error"] = _describe(exc)
    entry["duration_s"] = round(time.perf_counter() - start, 2)
    if out_nb.exists():
        try:
            entry["metrics"] = metrics_from_notebook(nbformat.read(out_nb, as_version=4))
        except Exception as exc:  # pragma: no cover - a notebook papermill wrote is readable
            entry["error"] = (entry["error"] or "") + f"; reading metrics failed: {exc}"
        try:
            export_html(out_nb, out_html)
        except Exception as exc:
            entry["html"] = None
            entry["error"] = (entry["error"] + "; " if entry["error"] else "") + f"HTML export failed: {_describe(exc)}"
            entry["status"] = "failed"
    else:
        entry["notebook"] = entry["html"] = None
    entry["checks"] = check_expectations(entry["metrics"], expect or {})
    return entry


def kernel_config():
    """traitlets config for the kernels a report starts (passed to nbclient and its kernel manager).

    ipykernel >= 7 warns on stderr ("Kernel is running over TCP without encryption") whenever
    its ZeroMQ sockets are plain TCP. Rather than hide the warning, remove its cause: the
    kernel manager provisions CurveZMQ keys (``transport_encryption="auto"``, jupyter_client
    >= 8.7) for kernelspecs that declare ``supported_encryption: ["curve"]``, as ipykernel 7's
    do. Older jupyter_client, a pyzmq without Curve, or a kernelspec without that declaration
    keep the previous (unencrypted, warning) behaviour.
    """
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    cfg = Config()
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        cfg.KernelManager.transport_encryption = "auto"
    return cfg


def _inline_figures_for_kernels() -> None:
    """Kernels inherit the environment: a non-inline ``$MPLBACKEND`` (e.g. ``Agg``) would stop
    them from displaying figures, and reports would silently lose them. Drop it."""
    backend = os.environ.get("MPLBACKEND", "")
    if backend and "inline" not in backend:
        del os.environ["MPLBACKEND"]


def _describe(exc: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    text = f"{type(exc).__name__}: {exc}"
    return text if str(exc) else "".join(traceback.format_exception_only(type(exc), exc)).strip()


@dataclass
class Report:
    out: Path
    chapters: list[dict]

    @property
    def ok(self) -> bool:
        return all(c["status"] == "ok" for c in self.chapters)

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def timestamped_dir(base: Path = Path("reports")) -> Path:
    """``base/YYYYmmdd-HHMMSS`` (with ``-2``, ``-3`` ... if a run in the same second took it)."""
    path = Path(base) / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    k, candidate = 2, path
    while candidate.exists():
        candidate, k = path.with_name(f"{path.name}-{k}"), k + 1
    return candidate


def check_out_dir(out: Path, force: bool = False) -> None:
    """Refuse to write a report into an existing non-empty folder unless ``force``.

    Raises:
        ConfigError: ``out`` is a file, or a non-empty folder and ``force`` is False.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; pass a folder for the report.")
    if force or not out.is_dir():
        return
    entries = sorted(p.name for p in out.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise ConfigError(f"--out {out} already exists and is not empty ({len(entries)} entries: {shown}); the "
                          "report would overwrite what is there. Pass a new folder, or --force (force=True) to "
                          "write into this one anyway (files of chapters not run now are left as they are).")


def run_report(profile: str = "default", chapters: list[str] | None = None, overrides: list[str] | None = None,
               out: Path | None = None, jobs: int = 1, timeout: float | None = None,
               notebooks_dir: Path | None = None, progress: bool = True, force: bool = False,
               grid: list[str] | None = None, scheduler: str | None = None, dask: bool = False,
               history: bool | None = None) -> Report:
    """Validate everything, then execute the selected chapters and write the report.

    Args:
        profile: a profile name (``smoke``, ``default``, ``full`` or any YAML in profiles/).
        chapters: ids or names; ``None`` for all.
        overrides: ``["key=value", "00.key=value"]`` applied after the profile.
        out: report directory; default ``reports/<timestamp>`` with ``reports/latest`` linked to it.
        jobs: chapters run in parallel (each in its own kernel); with ``dask`` and no
            ``scheduler``, the number of LocalCluster workers.
        timeout: per-cell execution timeout in seconds (papermill's ``execution_timeout``).
        notebooks_dir: where the chapters are (default: :func:`default_notebooks_dir`).
        progress: a progress bar (runs ok / failed / running) and a line per run.
        force: write into ``out`` even if it already holds files (they are overwritten).
        grid: ``["02.seed=0,1,2", "lr=1e-3,3e-3"]``: each chapter runs the cross-product of the
            axes that apply to it (:mod:`medbench.reports.grid`); metrics are summarised across seeds.
        scheduler: a Dask scheduler address (``tcp://host:8786``): runs execute on its workers.
        dask: run on Dask; without ``scheduler``, on a new loopback ``LocalCluster``.
        history: rewrite the run history page ``out.parent/index.html``
            (:mod:`medbench.reports.history`); default: when ``out`` is the default
            ``reports/<timestamp>``, or ``out``'s parent already holds a history page or is named ``reports``.

    Raises:
        ConfigError / ChapterError: before any kernel starts, for an unknown profile,
            chapter or parameter, a value of the wrong type (``-p`` or ``--grid``), an ``out``
            folder that is not empty (without ``force``), or a Dask scheduler that does not answer.
    """
    from medbench.reports import grid as rg
    from medbench.reports import history as rh

    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {timeout}")
    all_chapters = discover_chapters(notebooks_dir)
    selected = select_chapters(all_chapters, chapters)
    prof = load_profile(profile, notebooks_dir)
    specs = rg.expand_runs(selected, prof, parse_overrides(overrides), rg.parse_grid(grid), profile)
    link_latest = out is None
    if out is not None:
        check_out_dir(out, force)
    use_dask = dask or scheduler is not None
    client = rg.open_dask(scheduler, workers=jobs) if use_dask else None  # fails before anything is written
    started = _dt.datetime.now()
    try:
        out = Path(out or timestamped_dir())
        out.mkdir(parents=True, exist_ok=True)
        copy_renderer(out)
        bar = rg.RunProgress(len(specs), enabled=progress)
        try:
            if client is not None:
                backend = f"dask {scheduler}" if scheduler else f"dask LocalCluster ({jobs} workers)"
                entries = rg.run_dask(specs, out, client, timeout, bar)
            else:
                backend = f"local (jobs={jobs})"
                entries = rg.run_local(specs, out, jobs, timeout, kernel_name(), bar, note=f" ({profile})")
        finally:
            bar.close()
    finally:
        if client is not None:
            rg.close_dask(client)
    ended = _dt.datetime.now()
    write_history = history or (history is None and (link_latest or rh.is_history_dir(out.parent)))
    summary = {"profile": profile, "started": started.isoformat(timespec="seconds"),
               "ended": ended.isoformat(timespec="seconds"),
               "duration_s": round((ended - started).total_seconds(), 2), "out": str(out.resolve()),
               "ok": all(e["status"] == "ok" for e in entries), "backend": backend,
               "overrides": list(overrides or []), "grid": list(grid or []),
               "parameters": {e["run"]: e["parameters"] for e in entries},
               "provenance": rh.provenance(), "history_index": "../index.html" if write_history else None,
               "chapters": entries, "aggregates": rg.aggregate(entries)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "index.html").write_text(render_index(summary), encoding="utf-8")
    if link_latest:
        latest = out.parent / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out.name, target_is_directory=True)
    if write_history:
        rh.write_history(out.parent)
    return Report(out, entries)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def render_index(summary: dict) -> str:
    """A self-contained HTML page: one row per run with status, time, metrics, links; the
    grid's aggregates across seeds; where the run came from (versions, commit, machine)."""
    from medbench.reports.grid import render_aggregates
    from medbench.reports.history import render_provenance

    rows = []
    for e in summary["chapters"]:
        metrics = "<br>".join(f"<code>{html.escape(k)}</code> = {_fmt(v)}" for k, v in e["metrics"].items()) or "–"
        checks = "<br>".join(
            f"<span class='{'pass' if c['passed'] else 'fail'}'>{'✔' if c['passed'] else '✘'} "
            f"{html.escape(c['metric'])} {html.escape(c['rule'])}</span>" for c in e["checks"]) or "–"
        links = " · ".join(f"<a href='{html.escape(e[k])}'>{label}</a>"
                           for k, label in (("html", "HTML"), ("notebook", "notebook")) if e.get(k))
        error = f"<div class='err'>{html.escape(e['error'])}</div>" if e["error"] else ""
        point = ", ".join(f"{k}={v}" for k, v in (e.get("grid") or {}).items())
        point = f" <span class='grid'>({html.escape(point)})</span>" if point else ""
        rows.append(
            f"<tr><td>{html.escape(e['id'])}</td><td>{html.escape(e['title'] or e['name'])}{point}{error}</td>"
            f"<td class='{e['status']}'>{e['status']}</td><td>{e['duration_s']:.1f}</td>"
            f"<td>{metrics}</td><td>{checks}</td><td>{links}</td></tr>"
        )
    history = (f" Earlier runs: <a href='{html.escape(summary['history_index'])}'>history</a>."
               if summary.get("history_index") else "")
    status = "all chapters ran" if summary["ok"] else "some chapters failed"
    n_failed_checks = sum(not c["passed"] for e in summary["chapters"] for c in e["checks"])
    status += f"; {n_failed_checks} check(s) missed their bound" if n_failed_checks else "; every check passed"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>medbench report ({html.escape(summary['profile'])})</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .4em .6em; vertical-align: top; }}
th {{ background: #f3f3f3; }} .ok {{ color: #070; font-weight: bold; }} .failed {{ color: #b00; font-weight: bold; }}
.pass {{ color: #070; }} .fail {{ color: #b00; }} .err {{ color: #b00; font-size: 90%; margin-top: .3em; }}
.grid {{ color: #555; }} .prov {{ color: #555; font-size: 90%; }}
</style></head><body>
<h1>medbench report</h1>
<p>Profile <b>{html.escape(summary['profile'])}</b>, started {html.escape(summary['started'])}: {status}.</p>
<table><thead><tr><th>#</th><th>chapter</th><th>status</th><th>seconds</th><th>metrics</th><th>checks</th>
<th>links</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
{render_aggregates(summary.get("aggregates") or [])}
{render_provenance(summary)}
<p>Machine-readable: <a href="summary.json">summary.json</a>.{history}</p>
</body></html>
"""
