"""Plumbing for the browser tests: Chromium, a JupyterLab server, notebooks with parameters.

Everything here starts processes that the fixtures in ``conftest.py`` always stop again:
the JupyterLab server runs in its own process group, and every process it started
(kernels run in sessions of their own) is recorded and killed by pid at shutdown.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NOTEBOOKS = ROOT / "notebooks"
INSTALL_SCRIPT = HERE / "install_browser.sh"
CHROMIUM = Path(os.environ.get("MEDBENCH_CHROMIUM", "/usr/bin/chromium"))
# ../shared/DESIGN.md: the flags that let Debian's Chromium run headless as root, offline.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOT_DIR = Path(os.environ.get("MEDBENCH_UI_SCREENSHOTS", ROOT / "reports" / "ui-screenshots"))
# Settings a person would otherwise click away: news and update pop-ups, and windowing
# (which detaches off-screen cells from the DOM, so the tests could not see them).
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


def chapter_notebooks() -> list[Path]:
    """Every chapter notebook (``NN_name.ipynb``) in notebooks/, sorted by number."""
    return sorted(p for p in NOTEBOOKS.glob("[0-9]*_*.ipynb") if not p.name.startswith("."))


def ensure_chromium() -> str | None:
    """Install Chromium with tests/ui/install_browser.sh if it is absent.

    Returns:
        ``None`` when Chromium is usable, else why it is not (for a skip or a failure).
    """
    if CHROMIUM.exists():
        return None
    lock_path = Path(os.environ.get("TMPDIR", "/tmp")) / "medbench-install-chromium.lock"
    with open(lock_path, "w") as lock:  # xdist workers: one installs, the others wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not CHROMIUM.exists():
            proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
            if proc.returncode != 0 or not CHROMIUM.exists():
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
                return (f"Chromium is absent at {CHROMIUM} and {INSTALL_SCRIPT.name} could not install it: "
                        + " | ".join(tail))
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc; kernels sit in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the server if pytest itself is killed (kernels follow their parent)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def jupyter_command() -> list[str]:
    """The venv's ``jupyter lab`` (next to this interpreter), as ``make lab`` starts it."""
    exe = Path(sys.executable).with_name("jupyter")
    return [str(exe), "lab"] if exe.exists() else [sys.executable, "-m", "jupyterlab"]


class LabServer:
    """A JupyterLab server on 127.0.0.1 with a token, in a temporary root directory.

    Args:
        root: the temporary root: notebooks go to ``root / "notebooks"``; settings,
            workspaces, runtime files and the log live beside it.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.notebook_dir = self.root / "notebooks"
        self.notebook_dir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = self.root / "jupyterlab.log"
        self._seen_pids: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/notebooks/{notebook}?token={self.token}&reset"

    def _env(self) -> dict:
        env = dict(os.environ)
        # pytest's conftest sets MPLBACKEND=Agg; a kernel that inherits it shows no figures.
        env.pop("MPLBACKEND", None)
        for key in [k for k in env if k.startswith("PYTEST_") or k.startswith("JPY_")]:
            env.pop(key)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        # Hermetic: a user's own Jupyter/IPython config, kernels or startup files do not apply.
        env["JUPYTER_CONFIG_DIR"] = str(self.root / "jupyter-config")
        env["JUPYTER_DATA_DIR"] = str(self.root / "jupyter-data")
        env["IPYTHONDIR"] = str(self.root / "ipython")
        env["JUPYTER_RUNTIME_DIR"] = str(self.root / "runtime")
        env["JUPYTERLAB_SETTINGS_DIR"] = str(self.root / "user-settings")
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(self.root / "workspaces")
        env["MEDBENCH_DATA_DIR"] = str(self.root / "data")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _write_settings(self) -> Path:
        app_settings = self.root / "app-settings"
        app_settings.mkdir(exist_ok=True)
        # Keep what the installed app's settings dir holds (page_config.json ...), add overrides.
        installed = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
        overrides = {}
        if installed.is_dir():
            for f in installed.iterdir():
                if f.is_file():
                    shutil.copyfile(f, app_settings / f.name)
            if (installed / "overrides.json").is_file():
                overrides = json.loads((installed / "overrides.json").read_text())
        for plugin, values in LAB_OVERRIDES.items():
            overrides.setdefault(plugin, {}).update(values)
        (app_settings / "overrides.json").write_text(json.dumps(overrides, indent=2))
        for d in ("runtime", "user-settings", "workspaces", "data", "jupyter-config", "jupyter-data", "ipython"):
            (self.root / d).mkdir(exist_ok=True)
        return app_settings

    def start(self, timeout: float = 180.0, attempts: int = 3) -> None:
        app_settings = self._write_settings()
        for attempt in range(attempts):
            self.port = free_port()
            cmd = jupyter_command() + [
                "--no-browser", "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                f"--LabApp.app_settings_dir={app_settings}",
                f"--LabApp.user_settings_dir={self.root / 'user-settings'}",
                f"--LabApp.workspaces_dir={self.root / 'workspaces'}",
                "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: read cell state, not pixels
                "--ServerApp.terminals_enabled=False",
            ]
            if os.geteuid() == 0:
                cmd.append("--allow-root")
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent if sys.platform == "linux" else None)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                        if r.status == 200:
                            return
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
                time.sleep(0.3)
            self.stop()
            if attempt == attempts - 1:
                raise RuntimeError(f"JupyterLab did not start on port {self.port} within {timeout:.0f}s; "
                                   f"log {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def api(self, method: str, path: str, data: dict | None = None):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     data=json.dumps(data).encode() if data is not None else None,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def remember_children(self) -> None:
        """Record the server's processes (kernels included) so that stop() can kill them by pid."""
        if self.proc is not None and self.proc.poll() is None:
            self._seen_pids |= descendants(self.proc.pid)

    def shutdown_kernels(self) -> None:
        """Shut every kernel down through the REST API, as closing a notebook would."""
        self.remember_children()
        try:
            for kernel in self.api("GET", "/api/kernels") or []:
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except (urllib.error.URLError, OSError, ValueError):
            pass

    def stop(self) -> list[int]:
        """Stop the server: kernels via the API, then SIGTERM and SIGKILL by process group and pid.

        Returns:
            pids that were still alive after all that (should be empty).
        """
        if self.proc is None:
            return []
        if self.proc.poll() is None:
            self.shutdown_kernels()
            self.remember_children()
        pids = self._seen_pids | {self.proc.pid}
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = [p for p in pids if p != self.proc.pid and alive(p)]
            if sig == signal.SIGKILL:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for p in left:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(alive(p) for p in left):
                time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._seen_pids = set()
        return [p for p in pids if alive(p)]


def parameterized_copy(source: Path, dest_dir: Path, parameters: dict) -> Path:
    """Save a copy of ``source`` with ``parameters`` injected after its ``parameters`` cell.

    This is what a user does to run a chapter at a profile by hand (papermill's own
    ``parameterize_notebook``, which adds a cell tagged ``injected-parameters``), without
    executing anything.
    """
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(source))  # nbformat.read plus the metadata papermill expects
    if parameters:
        nb = parameterize_notebook(nb, parameters)
    dest = Path(dest_dir) / source.name
    nbformat.write(nb, dest)
    return dest


def smoke_parameters(notebook: Path) -> dict:
    """The ``smoke`` profile's parameters for one chapter, validated like `medbench report` does."""
    from medbench.reports import load_chapter, load_profile, resolve_parameters

    chapter = load_chapter(notebook)
    return resolve_parameters([chapter], load_profile("smoke"), {}, "smoke")[chapter.id]
