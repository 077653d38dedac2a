"""Exercises that check themselves: student releases and an autograder in nbgrader's format.

Every chapter's exercises live in ``notebooks/exercises/NN_topic_exercises.ipynb`` (the
instructor version, with its jupytext ``.py`` twin). Cells carry nbgrader's metadata
(``metadata.nbgrader``, schema version 3): solution cells hold their answer between
``### BEGIN SOLUTION`` / ``### END SOLUTION``; autograded test cells (``grade: true``) carry
``points`` and may hide tests between ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``.
Each exercise ``k`` names its cells ``exK_...`` (``grade_id``).

* :func:`release` writes the student versions with nbgrader's own preprocessors
  (``ClearSolutions``, ``ClearHiddenTests``, ``ClearOutput``, ``LockCells``): solutions become
  ``raise NotImplementedError()`` stubs, hidden tests disappear, outputs are cleared, and
  test and instruction cells are locked.
* :func:`check` grades a student's notebook the way ``nbgrader autograde`` does: it first
  restores every test cell (hidden tests included) and every read-only cell from the
  instructor version by ``grade_id`` (nbgrader's ``OverwriteCells``), executes the notebook
  headless with a per-cell timeout and errors allowed (so one broken exercise does not stop
  the rest), then scores each test cell with nbgrader's ``determine_grade``: its points if it
  ran without an error (or stderr output), 0 otherwise. Scores are summed per exercise.

Both work offline. The instructor notebooks are nbgrader *source* notebooks, so an instructor
can also copy them into an nbgrader course (``source/<assignment>/``) and use
``nbgrader generate_assignment`` / ``nbgrader autograde`` instead.
"""
from __future__ import annotations

import copy
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from medbench.errors import ConfigError, DataNotFoundError
from medbench.reports import default_notebooks_dir, kernel_config, kernel_name

EXERCISE_GLOB = "[0-9][0-9]_*_exercises.ipynb"
_EXERCISE_ID = re.compile(r"^(ex\d+)_")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def default_exercises_dir() -> Path:
    """``notebooks/exercises`` next to the chapters (see :func:`medbench.reports.default_notebooks_dir`)."""
    return default_notebooks_dir() / "exercises"


def discover_exercises(exercises_dir: Path | None = None, chapters: list[str] | None = None) -> list[Path]:
    """The instructor notebooks ``NN_topic_exercises.ipynb``, sorted, optionally only some chapters.

    Args:
        exercises_dir: folder of instructor notebooks (default :func:`default_exercises_dir`).
        chapters: chapter ids (``"00"``) or names (``"00_foundations"``); ``None`` for all.

    Raises:
        ConfigError: a requested chapter has no exercises notebook.
    """
    folder = Path(exercises_dir) if exercises_dir is not None else default_exercises_dir()
    found = sorted(folder.glob(EXERCISE_GLOB))
    if chapters is None:
        return found
    picked = []
    for want in chapters:
        match = [p for p in found if p.name[:2] == want or p.stem.removesuffix("_exercises") == want]
        if not match:
            have = ", ".join(p.name[:2] for p in found) or "none"
            raise ConfigError(f"no exercises notebook for chapter {want!r} in {folder} (chapters with exercises: {have})")
        picked += [p for p in match if p not in picked]
    return picked


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_grade(cell) -> bool:
    return bool(_nbgrader(cell).get("grade"))


def _is_locked(cell) -> bool:
    """Read-only cells (instructions, set-up code): locked and neither a solution nor a test."""
    meta = _nbgrader(cell)
    return bool(meta.get("locked")) and not meta.get("solution") and not meta.get("grade")


def exercise_of(grade_id: str) -> str:
    """``"ex2"`` for ``"ex2_tests"``; a grade id without an ``exK_`` prefix is its own group."""
    m = _EXERCISE_ID.match(grade_id)
    return m.group(1) if m else grade_id


def read_notebook(path: Path | str):
    """An ``.ipynb`` (or a jupytext ``.py`` when jupytext is installed) as an nbformat v4 notebook.

    Raises:
        DataNotFoundError: the file does not exist.
        ConfigError: it is neither a readable notebook nor a jupytext script.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"notebook {path} does not exist; pass the path of a student's .ipynb")
    if path.suffix == ".py":
        try:
            import jupytext
        except ImportError:
            raise ConfigError(f"{path} is a .py script; install jupytext to check it, or pass the .ipynb") from None
        return jupytext.read(path)
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:
        raise ConfigError(f"{path} is not a readable Jupyter notebook ({type(exc).__name__}: {exc})") from None


def merge_answers(instructor, answers):
    """The instructor notebook with some of its solution cells replaced by ``answers``' cells.

    ``answers`` is a partial notebook (a wrong answer in ``notebooks/exercises/wrong/``, or an
    alternative solution): its markdown cells are notes and are ignored; each code cell carries the
    nbgrader metadata of one instructor solution cell and replaces that cell (same ``grade_id``).

    Raises:
        ConfigError: an answer cell names no solution cell of the instructor version.
    """
    merged = copy.deepcopy(instructor)
    solutions = {_nbgrader(c).get("grade_id"): c for c in merged.cells if _nbgrader(c).get("solution")}
    for cell in answers.cells:
        if cell.cell_type != "code":
            continue
        gid = _nbgrader(cell).get("grade_id")
        if gid not in solutions:
            raise ConfigError(f"answer cell {gid!r} is not a solution cell of the instructor version "
                              f"(solution cells: {sorted(solutions)})")
        solutions[gid].source = cell.source
    return merged


def student_version(nb):
    """The student version of an instructor notebook (a copy; ``nb`` is left as it is).

    nbgrader's preprocessors, in ``nbgrader generate_assignment``'s order: ``ClearSolutions``
    (answers -> ``raise NotImplementedError()``), ``ClearHiddenTests``, ``ClearOutput``,
    ``LockCells`` (tests and instructions cannot be deleted or edited).
    """
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions, LockCells

    nb = copy.deepcopy(nb)
    resources: dict = {}
    for pre in (ClearSolutions(), ClearHiddenTests(), ClearOutput(), LockCells()):
        nb, resources = pre.preprocess(nb, resources)
    return nb


def release(chapters: list[str] | None = None, out: Path | str = "release",
            exercises_dir: Path | None = None) -> list[Path]:
    """Write the student version of each chapter's exercises to ``out``.

    Args:
        chapters: chapter ids or names (``["00", "03"]``); ``None`` for every chapter.
        out: folder to write ``NN_topic_exercises.ipynb`` files into (created).
        exercises_dir: folder of instructor notebooks (default ``notebooks/exercises``).

    Returns:
        The written paths.

    Raises:
        ConfigError: an unknown chapter, no exercises at all, or an instructor notebook whose
            markers are malformed (nbgrader's message, with the file named).
    """
    sources = discover_exercises(exercises_dir, chapters)
    if not sources:
        raise ConfigError(f"no exercises notebooks ({EXERCISE_GLOB}) in {exercises_dir or default_exercises_dir()}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources:
        try:
            nb = student_version(read_notebook(src))
        except RuntimeError as exc:  # nbgrader: nested/unclosed markers, markers outside solution/test cells
            raise ConfigError(f"{src}: {exc}") from None
        dest = out / src.name
        nbformat.write(nb, dest)
        written.append(dest)
    return written


def find_instructor(notebook: Path | str, exercises_dir: Path | None = None) -> Path:
    """The instructor notebook for a student's file: the same name in ``exercises_dir``, else the
    instructor notebook whose stem the student's file name starts with
    (``00_foundations_exercises_alice.ipynb`` -> ``00_foundations_exercises.ipynb``).

    Raises:
        DataNotFoundError: no instructor notebook matches.
    """
    folder = Path(exercises_dir) if exercises_dir is not None else default_exercises_dir()
    stem = Path(notebook).stem
    exact = folder / f"{stem}.ipynb"
    if exact.is_file():
        return exact
    prefixed = [p for p in folder.glob(EXERCISE_GLOB) if stem.startswith(p.stem)]
    if prefixed:
        return max(prefixed, key=lambda p: len(p.stem))
    raise DataNotFoundError(f"no instructor notebook for {Path(notebook).name} in {folder}; "
                            "name the file like the released one (NN_topic_exercises.ipynb) or pass --instructor FILE")


def restore_tests(student, instructor) -> tuple[object, list[str]]:
    """Overwrite the student's test and read-only cells with the instructor's, by ``grade_id``.

    Like nbgrader's ``OverwriteCells``: a student cannot change or drop a test, and hidden tests
    come back. Test cells the student deleted are re-inserted after the preceding cell that is
    still there, so they run (and are scored) as in the instructor version.

    Returns:
        ``(notebook, notes)``: a restored copy and one note per test cell that had been deleted.
    """
    nb = copy.deepcopy(student)
    ref = {(_nbgrader(c).get("grade_id")): c for c in instructor.cells if _nbgrader(c).get("grade_id")}
    notes = []
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        src = ref.get(gid)
        if src is None or not (_is_grade(src) or _is_locked(src)) or _nbgrader(src).get("solution"):
            continue
        cell.cell_type = src.cell_type
        cell.source = src.source
        cell.metadata["nbgrader"] = copy.deepcopy(_nbgrader(src))
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    present = {_nbgrader(c).get("grade_id") for c in nb.cells}
    previous_id = None
    for src in instructor.cells:
        gid = _nbgrader(src).get("grade_id")
        if _is_grade(src) and gid not in present:
            idx = next((i + 1 for i, c in enumerate(nb.cells) if previous_id and _nbgrader(c).get("grade_id") == previous_id),
                       len(nb.cells))
            restored = copy.deepcopy(src)
            if restored.cell_type == "code":
                restored.outputs, restored.execution_count = [], None
            nb.cells.insert(idx, restored)
            present.add(gid)
            notes.append(f"test cell {gid} was missing from the student's notebook and was restored")
        if gid:
            previous_id = gid
    return nb, notes


def _error_text(ename: str, evalue: str) -> str:
    if ename == "NotImplementedError" and not evalue:
        return "NotImplementedError: not answered yet (replace `raise NotImplementedError()` with your code)"
    return f"{ename}: {evalue}" if evalue else ename


def _failure_message(cell, reply: dict | None) -> str:
    """The assertion message or error of an executed cell ("" if it ran cleanly)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return _error_text(out.get("ename", "Error"), _ANSI.sub("", str(out.get("evalue", ""))).strip())
    if reply is not None:
        return _error_text(reply.get("ename", "Error"), str(reply.get("evalue", "")).strip())
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "wrote to stderr (nbgrader counts this as a failure): " + _ANSI.sub("", out.get("text", "")).strip()[:300]
    return ""


@dataclass
class CellScore:
    grade_id: str
    points: float
    max_points: float
    message: str = ""  # why it lost its points

    def to_dict(self) -> dict:
        return {"grade_id": self.grade_id, "points": self.points, "max_points": self.max_points,
                "message": self.message}


@dataclass
class ExerciseScore:
    """One exercise (``ex1``): its test cells' scores and the errors of its solution cells."""

    name: str
    title: str
    cells: list[CellScore] = field(default_factory=list)
    solution_errors: list[str] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(c.points for c in self.cells)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.cells)

    @property
    def failures(self) -> list[str]:
        return self.solution_errors + [f"{c.grade_id}: {c.message}" for c in self.cells if c.points < c.max_points]

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "points": self.points, "max_points": self.max_points,
                "failures": self.failures, "cells": [c.to_dict() for c in self.cells]}


@dataclass
class CheckResult:
    """The outcome of :func:`check`: per-exercise scores and the total."""

    notebook: Path
    instructor: Path
    exercises: list[ExerciseScore]
    duration_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        return sum(e.max_points for e in self.exercises)

    @property
    def full_marks(self) -> bool:
        return self.max_points > 0 and self.points == self.max_points

    def to_dict(self) -> dict:
        return {"notebook": str(self.notebook), "instructor": str(self.instructor), "points": self.points,
                "max_points": self.max_points, "full_marks": self.full_marks, "duration_s": round(self.duration_s, 2),
                "notes": self.notes, "exercises": [e.to_dict() for e in self.exercises]}

    def format(self) -> str:
        """A plain-text report: one line per exercise, then each failure's message, then the total."""
        lines = [f"{self.notebook.name} (instructor version: {self.instructor})"]
        width = max([len(e.title) for e in self.exercises] + [8])
        for e in self.exercises:
            mark = "ok  " if e.points == e.max_points else "FAIL"
            lines.append(f"  {mark} {e.name:<5} {e.title:<{width}}  {_num(e.points)}/{_num(e.max_points)}")
            lines += [f"         - {f}" for f in e.failures]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  total: {_num(self.points)}/{_num(self.max_points)}"
                     + ("  (full marks)" if self.full_marks else ""))
        return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:g}"


def _titles(nb) -> dict[str, str]:
    """Each exercise's title: the first heading of its first markdown cell (``## Exercise 1 - ...``)."""
    titles: dict[str, str] = {}
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id", "")
        m = _EXERCISE_ID.match(gid)
        if cell.cell_type == "markdown" and m and m.group(1) not in titles:
            head = next((ln.lstrip("#").strip() for ln in cell.source.splitlines() if ln.startswith("#")), "")
            titles[m.group(1)] = head
    return titles


def execute(nb, timeout: float = 120, kernel: str | None = None, cwd: Path | None = None) -> dict[int, dict]:
    """Execute ``nb`` in place, in a fresh kernel, errors allowed, ``timeout`` seconds per cell.

    Returns:
        ``{cell_index: error reply content}`` for every cell that raised or timed out.
    """
    from nbclient import NotebookClient

    errors: dict[int, dict] = {}

    def on_error(cell, cell_index, execute_reply):
        errors[cell_index] = dict(execute_reply.get("content", {}))

    with tempfile.TemporaryDirectory(prefix="medbench-check-") as tmp:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name=kernel or kernel_name(), allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": f"the cell ran longer than {timeout:g} s",
                              "traceback": []},
            on_cell_error=on_error, config=kernel_config(),
            resources={"metadata": {"path": str(cwd or tmp)}})
        client.execute()
    return errors


def check(notebook: Path | str, instructor: Path | str | None = None, timeout: float = 120,
          exercises_dir: Path | None = None, kernel: str | None = None, partial: bool = False) -> CheckResult:
    """Grade a student's exercises notebook offline, as ``nbgrader autograde`` would.

    Args:
        notebook: the student's ``.ipynb`` (a jupytext ``.py`` works when jupytext is installed).
        instructor: the instructor version; default: the file of the same name in
            ``exercises_dir`` (see :func:`find_instructor`).
        timeout: seconds each cell may run before it is interrupted (and fails).
        exercises_dir: folder of instructor notebooks (default ``notebooks/exercises``).
        kernel: Jupyter kernel name (default: the venv's ``medbench`` kernel, else ``python3``).
        partial: ``notebook`` holds only some solution cells (a wrong answer, an alternative
            solution): grade the instructor version with them swapped in (:func:`merge_answers`).

    Returns:
        A :class:`CheckResult`: per exercise its points, maximum and failure messages (each test
        cell's assertion message or error, and the error of any solution cell that raised).

    Raises:
        DataNotFoundError: the notebook or its instructor version is missing.
        ConfigError: a file is not a notebook, ``timeout`` is not positive, or the instructor
            version has no graded cells.
    """
    if not timeout or timeout <= 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    notebook = Path(notebook)
    student = read_notebook(notebook)
    instructor = Path(instructor) if instructor is not None else find_instructor(notebook, exercises_dir)
    ref = read_notebook(instructor)
    if not any(_is_grade(c) for c in ref.cells):
        raise ConfigError(f"{instructor} has no autograded test cells (nbgrader metadata grade: true); "
                          "is it an exercises notebook?")
    if partial:
        student = merge_answers(ref, student)
    nb, notes = restore_tests(student, ref)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    t0 = time.perf_counter()
    errors = execute(nb, timeout=timeout, kernel=kernel)
    duration = time.perf_counter() - t0

    from nbgrader.utils import determine_grade

    titles = _titles(ref)
    groups: dict[str, ExerciseScore] = {}

    def group(gid: str) -> ExerciseScore:
        name = exercise_of(gid)
        return groups.setdefault(name, ExerciseScore(name, titles.get(name, "")))

    for i, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if not gid:
            continue
        if _is_grade(cell):
            if cell.cell_type != "code" or meta.get("solution"):
                group(gid).cells.append(CellScore(gid, 0.0, float(meta.get("points", 0)),
                                                  "a written answer: graded by hand, not automatically"))
                continue
            score, max_points = determine_grade(cell)
            message = _failure_message(cell, errors.get(i))
            if i in errors:
                score = 0.0
            group(gid).cells.append(CellScore(gid, float(score or 0.0), float(max_points),
                                              message if (score or 0) < max_points else ""))
        elif meta.get("solution") and i in errors and cell.cell_type == "code":
            group(gid).solution_errors.append(f"{gid} raised {_failure_message(cell, errors[i])}")
    exercises = [e for e in groups.values() if e.cells]
    return CheckResult(notebook, instructor, exercises, duration, notes)
