"""Run history: where a report came from, what changed since the last one, and the page of all runs.

Every ``summary.json`` carries a ``provenance`` block (:func:`provenance`). The folder that
holds the runs (``reports/``) gets an ``index.html`` (:func:`write_history`) that lists every
run newest first and, per profile, each chapter metric as an inline-SVG sparkline over the
runs with its latest value. A metric is flagged when it moved since the previous run of the
same profile by more than its tolerance, and so is a check (or a chapter) that newly fails.

The tolerance of a metric is the profile's ``tolerance`` (in the chapter's ``expect`` rule or
a ``tolerance:`` block beside it); without one, when a grid of seeds ran, twice the larger
standard deviation across seeds of the two runs (at least 1e-9 of the value: rounding noise);
otherwise the metric is shown but not judged.
"""
from __future__ import annotations

import html
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from medbench.errors import ConfigError

HISTORY_MARKER = "<!-- medbench-history -->"
_PACKAGES = ("torch", "monai", "papermill", "nbclient", "ipykernel", "numpy", "dask", "distributed")


# --------------------------------------------------------------------------- provenance
def _git(root: Path) -> dict | None:
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    """GPU names from ``nvidia-smi`` (no torch import in the runner); [] when there is none."""
    if shutil.which("nvidia-smi") is None:
        return ["Apple MPS"] if sys.platform == "darwin" and platform.machine() == "arm64" else []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [g.strip() for g in out.splitlines() if g.strip()]


def provenance() -> dict:
    """medbench version, git commit (from a checkout), library versions, Python, CPU and GPU."""
    from importlib.metadata import PackageNotFoundError, version

    import medbench

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"medbench": medbench.__version__, "git": _git(Path(medbench.__file__).resolve().parent.parent),
            "python": platform.python_version(), "versions": versions, "platform": platform.platform(),
            "host": platform.node(), "cpu": _cpu(), "cpu_count": os.cpu_count(), "gpu": _gpus()}


def render_provenance(summary: dict) -> str:
    """One HTML paragraph: when, how long, which code and libraries, which machine."""
    p = summary.get("provenance") or {}
    if not p:
        return ""
    git = p.get("git") or {}
    commit = (git.get("commit", "")[:10] + (" (uncommitted changes)" if git.get("dirty") else "")) if git else "–"
    libs = ", ".join(f"{k} {v}" for k, v in (p.get("versions") or {}).items() if v)
    text = (f"Ran {summary.get('started', '?')} – {summary.get('ended', '?')} ({summary.get('duration_s', '?')} s) "
            f"on {summary.get('backend', 'local')}; medbench {p.get('medbench')} at commit {commit}; "
            f"Python {p.get('python')}, {libs}; {p.get('cpu')} ({p.get('cpu_count')} CPUs), "
            f"GPU: {', '.join(p.get('gpu') or []) or 'none'}; {p.get('platform')}.")
    return f"<p class='prov'>{html.escape(text)}</p>"


# --------------------------------------------------------------------------- values of a run
def run_values(summary: dict) -> dict[tuple[str, str], dict]:
    """``{(label, metric): {"value", "sd", "ci_low", "ci_high", "n", "tolerance"}}`` of one run.

    ``label`` is the chapter id, plus the grid point other than the seed (``"03 [lr=0.001]"``)
    where a grid varied more than seeds. Runs of a group that differ only in seed give their
    mean (finished runs only); a single run gives its value.
    """
    from medbench.reports.grid import SEED_PARAM, mean_ci, point_label

    groups: dict[str, list[dict]] = {}
    for e in summary.get("chapters", []):
        point = point_label(e.get("grid") or {})
        groups.setdefault(f"{e['id']} [{point}]" if point else e["id"], []).append(e)
    out = {}
    for label, members in groups.items():
        ok = [e for e in members if e["status"] == "ok"] or members
        tol = {}
        for e in members:
            tol |= e.get("tolerance") or {}
        for metric in dict.fromkeys(m for e in ok for m in e["metrics"]):
            vals = [e["metrics"][metric] for e in ok if isinstance(e["metrics"].get(metric), (int, float))
                    and not isinstance(e["metrics"].get(metric), bool)]
            if not vals:
                continue
            seeds = any(SEED_PARAM in (e.get("grid") or {}) for e in members) and len(vals) > 1
            stats = mean_ci([v for v in vals if math.isfinite(v)]) if seeds else None
            if stats and stats["n"]:
                out[(label, metric)] = {"value": stats["mean"], "sd": stats["sd"], "ci_low": stats["ci_low"],
                                        "ci_high": stats["ci_high"], "n": stats["n"], "tolerance": tol.get(metric)}
            else:
                out[(label, metric)] = {"value": float(vals[-1]), "sd": None, "ci_low": None, "ci_high": None,
                                        "n": 1, "tolerance": tol.get(metric)}
    return out


def run_checks(summary: dict) -> tuple[dict[tuple[str, str, str], bool], dict[str, bool]]:
    """``({(label, metric, rule): passed in every run}, {label: every run ok})`` of one run."""
    from medbench.reports.grid import point_label

    checks, status = {}, {}
    for e in summary.get("chapters", []):
        point = point_label(e.get("grid") or {})
        label = f"{e['id']} [{point}]" if point else e["id"]
        status[label] = status.get(label, True) and e["status"] == "ok"
        for c in e.get("checks", []):
            key = (label, c["metric"], c["rule"])
            checks[key] = checks.get(key, True) and bool(c["passed"])
    return checks, status


# --------------------------------------------------------------------------- comparison
@dataclass
class Comparison:
    """Differences between two runs: ``rows`` per metric, ``events`` for checks and chapters."""

    rows: list[dict] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def n_flags(self) -> int:
        return sum(r["flag"] for r in self.rows) + len(self.events)


def tolerance(old: dict | None, new: dict | None) -> tuple[float | None, str]:
    """The tolerance of one metric between two runs, and where it comes from."""
    for v in (new, old):
        if v and v.get("tolerance") is not None:
            return float(v["tolerance"]), "profile"
    sds = [v["sd"] for v in (old, new) if v and v.get("sd") is not None]
    if sds:  # floor: a metric every seed agrees on (sd 0) may still move by rounding noise
        scale = max([abs(v["value"]) for v in (old, new) if v and math.isfinite(v["value"])] + [1.0])
        return max(2 * max(sds), 1e-9 * scale), "2 sd seeds"
    return None, ""


def compare(old: dict, new: dict) -> Comparison:
    """Compare two summaries: metric changes beyond tolerance, checks and chapters that newly fail."""
    a, b = run_values(old), run_values(new)
    cmp = Comparison()
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        tol, source = tolerance(va, vb)
        delta = vb["value"] - va["value"] if va and vb else None
        if delta is not None and math.isnan(delta):
            changed = not (math.isnan(va["value"]) and math.isnan(vb["value"]))
        else:
            changed = delta is None or abs(delta) > (tol or 0.0)
        cmp.rows.append({"chapter": key[0], "metric": key[1], "a": va, "b": vb, "delta": delta, "tolerance": tol,
                         "source": source, "flag": tol is not None and changed})
    (ca, sa), (cb, sb) = run_checks(old), run_checks(new)
    for label, ok in sorted(sb.items()):
        if not ok and sa.get(label, True):
            cmp.events.append(f"chapter {label} newly fails")
    for (label, metric, rule), passed in sorted(cb.items()):
        if not passed and ca.get((label, metric, rule), True):
            cmp.events.append(f"check {label} {metric} {rule} newly fails")
    return cmp


def _num(v: dict | None) -> str:
    if not v:
        return "–"
    text = f"{v['value']:.4g}"
    return text + (f" ± {v['sd']:.2g}" if v.get("sd") is not None else "")


def format_comparison(cmp: Comparison, name_a: str, name_b: str) -> str:
    """A plain-text table (for the terminal) of :func:`compare`."""
    head = ("chapter", "metric", name_a, name_b, "change", "tolerance", "flag")
    lines = []
    for r in cmp.rows:
        tol = f"{r['tolerance']:.3g} ({r['source']})" if r["tolerance"] is not None else "none"
        lines.append((r["chapter"], r["metric"], _num(r["a"]), _num(r["b"]),
                      f"{r['delta']:+.4g}" if r["delta"] is not None else "–", tol,
                      "CHANGED" if r["flag"] else ""))
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip() for x in lines]
    out += [f"!! {e}" for e in cmp.events]
    n_changed = sum(r["flag"] for r in cmp.rows)
    out.append(f"{n_changed} metric(s) changed beyond tolerance, {len(cmp.events)} newly failing check(s)/chapter(s)")
    return "\n".join(out)


def resolve_run(arg: str | Path, base: Path = Path("reports")) -> Path:
    """A run folder from a path (folder or its ``summary.json``) or a name under ``base``.

    Raises:
        ConfigError: no ``summary.json`` there.
    """
    for cand in (Path(arg), Path(base) / str(arg)):
        folder = cand.parent if cand.name == "summary.json" else cand
        if (folder / "summary.json").is_file():
            return folder
    raise ConfigError(f"--compare {arg}: no report there (no {Path(arg) / 'summary.json'} and no "
                      f"{Path(base) / str(arg) / 'summary.json'}); pass a report folder such as reports/latest")


def load_summary(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / "summary.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{folder}/summary.json is not readable JSON ({exc})") from exc


# --------------------------------------------------------------------------- history page
def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def load_runs(base: Path) -> list[tuple[Path, dict]]:
    """Every report folder directly under ``base`` (not links such as ``latest``), oldest first."""
    runs = []
    for p in Path(base).iterdir() if Path(base).is_dir() else []:
        if p.is_dir() and not p.is_symlink() and (p / "summary.json").is_file():
            try:
                runs.append((p, json.loads((p / "summary.json").read_text())))
            except (OSError, json.JSONDecodeError):
                continue  # a run still being written, or a damaged file: not part of the history
    return sorted(runs, key=lambda r: (str(r[1].get("started", "")), _natural(r[0].name)))


def is_history_dir(base: Path) -> bool:
    """Whether ``base`` is a folder of runs: named ``reports`` or already holding a history page."""
    index = Path(base) / "index.html"
    try:
        return Path(base).resolve().name == "reports" or (index.is_file() and HISTORY_MARKER in index.read_text())
    except OSError:
        return False


def sparkline(values: list[float | None], flagged: bool = False, width: int = 120, height: int = 28) -> str:
    """Inline SVG polyline of ``values`` (oldest first; None leaves a gap); the last point red if flagged."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not pts:
        return "–"
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    n = len(values)

    def xy(i, v):
        x = 3 + (width - 6) * (i / (n - 1) if n > 1 else 0.5)
        y = height / 2 if hi == lo else height - 3 - (height - 6) * (v - lo) / (hi - lo)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(i, v) for i, v in pts)
    lx, ly = xy(*pts[-1]).split(",")
    title = html.escape(", ".join(f"{v:.4g}" for _, v in pts))
    return (f"<svg class='spark' width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img'>"
            f"<title>{title}</title><polyline fill='none' stroke='#456' stroke-width='1.5' points='{line}'/>"
            f"<circle cx='{lx}' cy='{ly}' r='2.5' fill='{'#c00' if flagged else '#456'}'/></svg>")


def render_history(base: Path) -> str:
    """The history page of every run under ``base`` (newest first) with sparklines and flags."""
    runs = load_runs(base)
    by_profile: dict[str, list[tuple[Path, dict]]] = {}
    for path, s in runs:
        by_profile.setdefault(s.get("profile", "?"), []).append((path, s))
    flags_of: dict[Path, Comparison | None] = {}
    for prof_runs in by_profile.values():
        for k, (path, s) in enumerate(prof_runs):
            flags_of[path] = compare(prof_runs[k - 1][1], s) if k else None
    run_rows = []
    for path, s in reversed(runs):
        chs = s.get("chapters", [])
        n_bad = sum(e["status"] != "ok" for e in chs)
        git = (s.get("provenance") or {}).get("git") or {}
        commit = (git.get("commit", "")[:10] + ("*" if git.get("dirty") else "")) if git else "–"
        cmp = flags_of[path]
        what = [f"{r['chapter']} {r['metric']} changed" for r in (cmp.rows if cmp else []) if r["flag"]]
        what += cmp.events if cmp else []
        more = f"; {len(what) - 4} more" if len(what) > 4 else ""
        flag = ("first run of this profile" if cmp is None else
                f"<span class='flag'>{cmp.n_flags} flag(s): {html.escape('; '.join(what[:4]) + more)}</span>"
                if cmp.n_flags else "no change beyond tolerance")
        run_rows.append(
            f"<tr><td><a href='{html.escape(path.name)}/index.html'>{html.escape(path.name)}</a></td>"
            f"<td>{html.escape(str(s.get('started', '?')))}</td><td>{html.escape(str(s.get('profile', '?')))}</td>"
            f"<td>{s.get('duration_s', '–')}</td><td>{len(chs) - n_bad} ok"
            f"{f', <span class=flag>{n_bad} failed</span>' if n_bad else ''}</td>"
            f"<td><code>{html.escape(commit)}</code></td><td>{flag}</td></tr>")
    sections = []
    for prof, prof_runs in by_profile.items():
        values = [run_values(s) for _, s in prof_runs]
        last = flags_of[prof_runs[-1][0]]
        flagged = {(r["chapter"], r["metric"]): r for r in (last.rows if last else [])}
        rows = []
        for key in sorted({k for v in values for k in v}):
            series = [v[key]["value"] if key in v else None for v in values]
            latest = values[-1].get(key)
            r = flagged.get(key)
            ci = (f" [{latest['ci_low']:.4g}, {latest['ci_high']:.4g}] n={latest['n']}"
                  if latest and latest.get("ci_low") is not None else "")
            change = f"{r['delta']:+.4g}" if r and r["delta"] is not None else "–"
            tol = f"{r['tolerance']:.3g} ({r['source']})" if r and r["tolerance"] is not None else "–"
            red = bool(r and r["flag"])
            rows.append(f"<tr class='{'flag' if red else ''}'><td>{html.escape(key[0])}</td>"
                        f"<td><code>{html.escape(key[1])}</code></td><td>{sparkline(series, red)}</td>"
                        f"<td>{html.escape(_num(latest))}{html.escape(ci)}</td><td>{change}</td><td>{tol}</td></tr>")
        events = "".join(f"<li class='flag'>{html.escape(e)}</li>" for e in (last.events if last else []))
        sections.append(
            f"<h2>Profile {html.escape(prof)} ({len(prof_runs)} run(s))</h2>"
            + (f"<ul>{events}</ul>" if events else "")
            + "<table><thead><tr><th>chapter</th><th>metric</th><th>over runs</th><th>latest</th>"
              "<th>change</th><th>tolerance</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return f"""<!DOCTYPE html>
{HISTORY_MARKER}
<html lang="en"><head><meta charset="utf-8"><title>medbench report history</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: .3em .6em; vertical-align: middle; }}
th {{ background: #f3f3f3; }} .flag, tr.flag td {{ color: #b00; font-weight: bold; }}
tr.flag td {{ background: #fee; }}
</style></head><body>
<h1>medbench report history</h1>
<p>{len(runs)} run(s) in this folder, newest first. Flags compare each run with the previous run of the same
profile: a metric that moved by more than its tolerance (the profile's <code>tolerance</code>, else twice the
seed standard deviation when a grid of seeds ran; metrics without either are not judged), a check or a chapter
that newly fails. Latest values of seed grids are means ± sd with the t-based 95% interval.</p>
<table><thead><tr><th>run</th><th>started</th><th>profile</th><th>seconds</th><th>chapter runs</th><th>commit</th>
<th>vs previous</th></tr></thead><tbody>
{''.join(run_rows)}
</tbody></table>
{''.join(sections)}
</body></html>
"""


def write_history(base: Path) -> Path:
    """Write ``base/index.html`` over every run in ``base``; returns its path."""
    path = Path(base) / "index.html"
    tmp = path.with_name(f".index.html.{os.getpid()}.tmp")
    tmp.write_text(render_history(base), encoding="utf-8")
    os.replace(tmp, path)  # a browser never sees half a page
    return path
