"""Parameter grids, aggregation across seeds, and the backends that execute report runs.

A *grid* (``--grid 02.seed=0,1,2 --grid lr=0.001,0.003``) turns one chapter into several
*runs*: each chapter runs the cross-product of the grid axes that apply to it (an axis
``02.seed`` applies to chapter 02, an unscoped ``lr`` to every selected chapter that has
a parameter ``lr``), so a chapter that no axis touches runs once. Grid values are checked
exactly like ``-p`` values, before any kernel starts.

Runs with the same parameters except ``seed`` form a group; every metric of a group with
two or more seeds is summarised as mean, sample standard deviation and a t-based 95%
confidence interval of the mean (:func:`mean_ci`).

Backends: local threads, each driving one kernel (``jobs``), or a Dask distributed
cluster (:func:`open_dask`), where each run executes papermill on a worker and sends its
notebook and HTML back (a run's scratch folder ``work/<run>`` stays on the worker).
Both show a progress bar of runs done, failed and running (:class:`RunProgress`).

Running on a cluster (``--scheduler``)::

    dask scheduler --host 10.0.0.5 --port 8786          # on one machine; prints its address
    dask worker tcp://10.0.0.5:8786 --nthreads 1 --nworkers 2   # on each worker machine
    medbench report --grid 02.seed=0,1,2,3,4 --scheduler tcp://10.0.0.5:8786

Each worker needs medbench installed (and the data directory for chapters that read
user data); the notebooks themselves travel with each run. One thread per worker process:
each run drives one kernel. Dask retries a run whose worker died on other workers (3 times
by default); start the scheduler with ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0``
to report it as failed at once, as ``--dask`` does. Dask's TCP is unencrypted: keep the
cluster on a trusted network or configure Dask's TLS.
"""
from __future__ import annotations

import itertools
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from medbench.errors import ConfigError
from medbench.reports import Chapter, check_expectations, resolve_parameters, run_chapter

SEED_PARAM = "seed"  # the grid axis that aggregation averages over
WORKER_PID_ENV = "MEDBENCH_DASK_WORKER_PID"  # set on Dask workers: the process a run executes in
CONNECT_TIMEOUT = "10s"  # how long to wait for a --scheduler to answer


@dataclass
class RunSpec:
    """One notebook execution: a chapter with its parameters; ``name`` is the file stem."""

    chapter: Chapter
    parameters: dict
    name: str
    grid: dict = field(default_factory=dict)  # this run's values of the grid axes
    expect: dict = field(default_factory=dict)
    tolerance: dict = field(default_factory=dict)


def parse_grid(items: list[str] | None) -> list[tuple[str, list[str]]]:
    """``["02.seed=0,1", "lr=1e-3,3e-3"]`` -> ``[("02.seed", ["0", "1"]), ("lr", ["1e-3", "3e-3"])]``.

    Raises:
        ConfigError: an item without ``=``, an empty or repeated value, or a key given twice.
    """
    axes, seen = [], set()
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        values = [v.strip() for v in raw.split(",")]
        if not sep or not key or not all(values):
            raise ConfigError(f"--grid expects KEY=V1,V2,... (or CHAPTER.KEY=V1,V2,...), got {item!r}")
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid {item}: a value is repeated; give each value once")
        if key in seen:
            raise ConfigError(f"--grid {key} is given twice; put all its values in one --grid {key}=V1,V2,...")
        seen.add(key)
        axes.append((key, values))
    return axes


def _slug(value) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(value)).strip("_") or "_"


def run_name(chapter: Chapter, grid: dict) -> str:
    """``00_foundations`` or, in a grid, ``00_foundations__seed-2`` (safe as a file stem)."""
    return chapter.name + "".join(f"__{_slug(k)}-{_slug(v)}" for k, v in grid.items())


def expand_runs(chapters: list[Chapter], profile: dict, overrides: dict[str, str],
                axes: list[tuple[str, list[str]]], profile_name: str = "profile") -> list[RunSpec]:
    """Every run of the report: the profile, then ``-p``, then one grid point, all type-checked.

    Raises:
        ConfigError: an unknown chapter or parameter, a wrong type (as for ``-p``), or two
            axes that set the same parameter of one chapter.
    """
    from medbench.reports import profile_tolerances

    base = resolve_parameters(chapters, profile, overrides, profile_name)
    per_chapter: dict[str, list[tuple[str, list]]] = {c.id: [] for c in chapters}
    for key, values in axes:
        typed = [resolve_parameters(chapters, {}, {key: v}, profile_name, source="--grid") for v in values]
        for ch in chapters:
            if ch.parameters and key.rpartition(".")[2] in typed[0][ch.id]:
                name = key.rpartition(".")[2]
                if any(name == n for n, _ in per_chapter[ch.id]):
                    raise ConfigError(f"--grid {key}: parameter {name!r} of chapter {ch.id} already has a grid axis")
                per_chapter[ch.id].append((name, [t[ch.id][name] for t in typed]))
    runs = []
    for ch in chapters:
        entry = profile.get(ch.id, {})
        names = [n for n, _ in per_chapter[ch.id]]
        for combo in itertools.product(*[vals for _, vals in per_chapter[ch.id]]):
            grid = dict(zip(names, combo))
            runs.append(RunSpec(ch, base[ch.id] | grid, run_name(ch, grid), grid, entry.get("expect") or {},
                                profile_tolerances(entry, ch.id, profile_name)))
    return runs


# --------------------------------------------------------------------------- aggregation
def t_quantile(level: float, df: int) -> float:
    """Two-sided Student-t quantile: ``t_{(1+level)/2, df}`` (scipy)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df))


def mean_ci(values: list[float], level: float = 0.95) -> dict:
    """Mean, sample SD (ddof=1) and the t-based confidence interval of the mean.

    ``mean ± t_{0.975, n-1} · sd / sqrt(n)``: it assumes the per-seed values are roughly
    normal; with 3-5 seeds the t quantile (4.30 for n=3) makes it honestly wide.

    Returns:
        ``{"n", "mean", "sd", "ci_low", "ci_high", "values"}``; ``sd`` and the interval are
        ``None`` for fewer than two values.
    """
    vals = [float(v) for v in values]
    n = len(vals)
    mean = sum(vals) / n if n else None
    if n < 2:
        return {"n": n, "mean": mean, "sd": None, "ci_low": None, "ci_high": None, "values": vals}
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = t_quantile(level, n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "values": vals}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def point_label(grid: dict) -> str:
    """The grid values other than the seed, e.g. ``lr=0.001`` ('' when only seeds vary)."""
    return ", ".join(f"{k}={v}" for k, v in grid.items() if k != SEED_PARAM)


def aggregate(entries: list[dict]) -> list[dict]:
    """Per chapter and grid point, each metric across seeds (runs that finished ``ok`` only).

    Returns:
        One dict per group of >= 2 runs that differ in ``seed``: ``id``, ``name``, ``point``
        (see :func:`point_label`), ``runs`` (run names), ``n_failed`` and ``metrics``
        ``{metric: mean_ci(...)}``.
    """
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        grid = e.get("grid") or {}
        if SEED_PARAM in grid:
            groups.setdefault((e["id"], point_label(grid)), []).append(e)
    out = []
    for (cid, point), members in groups.items():
        if len(members) < 2:
            continue
        ok = [e for e in members if e["status"] == "ok"]
        names = list(dict.fromkeys(m for e in ok for m in e["metrics"]))
        metrics = {m: mean_ci([e["metrics"][m] for e in ok if _number(e["metrics"].get(m))]) for m in names}
        out.append({"id": cid, "name": members[0]["name"], "point": point, "runs": [e["run"] for e in members],
                    "n_failed": len(members) - len(ok), "metrics": {m: s for m, s in metrics.items() if s["n"]}})
    return out


def render_aggregates(aggregates: list[dict]) -> str:
    """HTML table of :func:`aggregate` (empty string when no grid of seeds ran)."""
    import html

    if not aggregates:
        return ""
    rows = []
    for a in aggregates:
        for m, s in a["metrics"].items():
            ci = f"[{s['ci_low']:.4g}, {s['ci_high']:.4g}]" if s["sd"] is not None else "–"
            sd = f"{s['sd']:.3g}" if s["sd"] is not None else "–"
            links = " ".join(f"<a href='{html.escape(r)}.html'>{i}</a>" for i, r in enumerate(a["runs"]))
            rows.append(f"<tr><td>{html.escape(a['id'])}</td><td>{html.escape(a['point']) or '–'}</td>"
                        f"<td><code>{html.escape(m)}</code></td><td>{s['mean']:.4g}</td><td>{sd}</td><td>{ci}</td>"
                        f"<td>{s['n']}{' (' + str(a['n_failed']) + ' failed)' if a['n_failed'] else ''}</td>"
                        f"<td>{links}</td></tr>")
    return ("<h2>Across seeds</h2><p>Mean, sample standard deviation and the t-based 95% confidence interval of "
            "the mean (mean ± t<sub>0.975, n−1</sub>·sd/√n) over the runs that finished.</p>"
            "<table><thead><tr><th>#</th><th>grid point</th><th>metric</th><th>mean</th><th>sd</th>"
            "<th>95% CI</th><th>n</th><th>runs</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


# --------------------------------------------------------------------------- progress
class RunProgress:
    """A terminal bar of runs done, with ok / failed / running counts (tqdm, on stderr)."""

    def __init__(self, total: int, enabled: bool = True):
        self.ok = self.failed = self.running = 0
        self._lock = threading.Lock()
        self.bar = None
        if enabled and total > 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="chapters", unit="run", dynamic_ncols=True)
            self._refresh()
        self.enabled = enabled

    def _refresh(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"ok={self.ok} failed={self.failed} running={self.running}")

    def write(self, line: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def set_running(self, n: int) -> None:
        with self._lock:
            if n == self.running:  # redraw only on change (a cron log keeps one line per change)
                return
            self.running = n
            self._refresh()

    def started(self, name: str, note: str = "") -> None:
        with self._lock:
            self.running += 1
            self._refresh()
        self.write(f"[medbench] {name}: running{note}")

    def finished(self, entry: dict, was_running: bool = True) -> None:
        with self._lock:
            self.running -= int(was_running)
            if entry["status"] == "ok":
                self.ok += 1
            else:
                self.failed += 1
            self._refresh()
            if self.bar is not None:
                self.bar.update(1)
        failed = [c["metric"] for c in entry["checks"] if not c["passed"]]
        note = f", checks failed: {', '.join(failed)}" if failed else ""
        self.write(f"[medbench] {entry['run']}: {entry['status']} in {entry['duration_s']:.1f}s{note}"
                   + (f" - {entry['error']}" if entry["error"] else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- backends
def _finish(entry: dict, spec: RunSpec) -> dict:
    entry.update(run=spec.name, grid=dict(spec.grid), tolerance=dict(spec.tolerance))
    return entry


def run_local(specs: list[RunSpec], out: Path, jobs: int = 1, timeout: float | None = None,
              kernel: str | None = None, progress: RunProgress | None = None, note: str = "") -> list[dict]:
    """Execute the runs in this process's threads, ``jobs`` kernels at a time."""
    progress = progress or RunProgress(len(specs), enabled=False)

    def one(spec: RunSpec) -> dict:
        progress.started(spec.name, note)
        entry = _finish(run_chapter(spec.chapter, spec.parameters, out, spec.expect, timeout, kernel,
                                    name=spec.name), spec)
        progress.finished(entry)
        return entry

    if jobs == 1 or len(specs) == 1:
        return [one(s) for s in specs]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, specs))


def open_dask(scheduler: str | None, workers: int = 2):
    """A ``dask.distributed.Client``: to ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``), or to a new
    loopback ``LocalCluster`` of ``workers`` single-threaded worker processes when it is None.

    The LocalCluster fails a run at once when its worker dies (``allowed-failures: 0``) rather
    than retrying it on the next worker (which it might kill too). An external scheduler keeps
    its own setting (Dask's default retries a task whose worker died 3 times).

    Raises:
        ConfigError: the scheduler cannot be reached.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler is None:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, silence_logs=40)
        return Client(cluster)
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"--scheduler {scheduler}: no Dask scheduler answered ({type(exc).__name__}: {exc}). "
                          "Start one with `dask scheduler` and workers with `dask worker ADDRESS`, "
                          "or use --dask for a local cluster.") from exc


def close_dask(client) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _dask_task(payload: dict) -> dict:
    """Runs on a Dask worker: execute one chapter in a temporary folder, return entry and files."""
    import socket
    import tempfile

    os.environ[WORKER_PID_ENV] = str(os.getpid())
    with tempfile.TemporaryDirectory(prefix="medbench-run-") as tmp:
        src = Path(tmp) / "src" / f"{payload['chapter_name']}.ipynb"
        src.parent.mkdir()
        src.write_bytes(payload["notebook"])
        chapter = Chapter(payload["chapter_id"], payload["chapter_name"], src, payload["title"])
        out = Path(tmp) / "out"
        entry = run_chapter(chapter, payload["parameters"], out, payload["expect"], payload["timeout"],
                            name=payload["run"])
        files = {n: (out / n).read_bytes() for n in (entry["notebook"], entry["html"]) if n and (out / n).is_file()}
    entry["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return {"entry": entry, "files": files}


def _failed_entry(spec: RunSpec, error: str, duration: float) -> dict:
    return {"id": spec.chapter.id, "name": spec.chapter.name, "title": spec.chapter.title,
            "parameters": spec.parameters, "status": "failed", "error": error, "metrics": {},
            "checks": check_expectations({}, spec.expect), "notebook": None, "html": None,
            "duration_s": round(duration, 2)}


def run_dask(specs: list[RunSpec], out: Path, client, timeout: float | None = None,
             progress: RunProgress | None = None) -> list[dict]:
    """Execute the runs on a Dask cluster; notebooks and HTML are written into ``out`` here.

    At most one run per worker thread is in flight, so a worker that dies takes only the run
    it was executing with it; that run is reported as failed with the reason.
    """
    from dask.distributed import wait

    progress = progress or RunProgress(len(specs), enabled=False)
    entries: dict[int, dict] = {}
    todo = list(enumerate(specs))
    inflight: dict = {}  # future -> (index, spec, start time)
    while todo or inflight:
        slots = max(1, sum(client.nthreads().values()))
        while todo and len(inflight) < slots:
            i, spec = todo.pop(0)
            payload = {"chapter_id": spec.chapter.id, "chapter_name": spec.chapter.name, "title": spec.chapter.title,
                       "notebook": Path(spec.chapter.path).read_bytes(), "parameters": spec.parameters,
                       "expect": spec.expect, "timeout": timeout, "run": spec.name}
            fut = client.submit(_dask_task, payload, pure=False, key=f"medbench-{spec.name}-{time.time_ns()}")
            inflight[fut] = (i, spec, time.perf_counter())
        progress.set_running(len(inflight))
        try:
            done, _ = wait(list(inflight), timeout=1.0, return_when="FIRST_COMPLETED")
        except TimeoutError:  # nothing finished this second: refresh the bar, wait again
            continue
        for fut in done:
            i, spec, start = inflight.pop(fut)
            try:
                result = fut.result()
                entry = result["entry"]
                for fname, data in result["files"].items():
                    (out / fname).write_bytes(data)
            except Exception as exc:  # KilledWorker, a worker without medbench, ...
                reason = f"{type(exc).__name__}: {exc}"
                if type(exc).__name__ == "KilledWorker":
                    reason = f"the Dask worker running it died ({reason})"
                entry = _failed_entry(spec, reason, time.perf_counter() - start)
            entries[i] = _finish(entry, spec)
            progress.finished(entries[i], was_running=False)
        progress.set_running(len(inflight))
    return [entries[i] for i in range(len(specs))]
