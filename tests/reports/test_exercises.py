"""Exercises (issue 12): the format, the student release, and an autograder that provably can fail.

For every ``notebooks/exercises/NN_*_exercises.ipynb`` (parametrised over the folder, so a new
chapter's exercises are covered when they land): the instructor version scores full marks, the
released student version scores 0 in every exercise and holds no solution or hidden-test text,
and every ``notebooks/exercises/wrong/*_wrong.py`` (only the wrong solution cells, swapped into the
instructor version) scores below full marks but above 0.
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import nbformat
import pytest

from medbench.cli import main
from medbench.errors import ConfigError, DataNotFoundError
from medbench.reports.exercises import check, discover_exercises, merge_answers, release, restore_tests, student_version

EXERCISES = Path(__file__).resolve().parents[2] / "notebooks" / "exercises"
INSTRUCTOR = sorted(EXERCISES.glob("[0-9][0-9]_*_exercises.ipynb"))
WRONG = sorted((EXERCISES / "wrong").glob("*_wrong.py"))
_GRADE_ID = re.compile(r"^[a-z0-9_]+$")


def _nbg(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _marked_lines(nb, begin: str, end: str) -> list[str]:
    """Lines strictly between ``### BEGIN x`` and ``### END x`` markers in any cell."""
    lines, inside = [], False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside:
                lines.append(line)
    return lines


def _outside_lines(nb) -> set[str]:
    """Stripped lines of ``nb`` outside every solution and hidden-test region."""
    out, inside = set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if "### BEGIN " in line:
                inside = True
            elif "### END " in line:
                inside = False
            elif not inside:
                out.add(line.strip())
    return out


# ---------------------------------------------------------------------------------- format
def test_there_are_exercises():
    assert INSTRUCTOR, f"no NN_*_exercises.ipynb in {EXERCISES}"
    assert WRONG, f"no wrong answers in {EXERCISES / 'wrong'}"


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_format(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "cell 1: a markdown title"
    assert "parameters" in nb.cells[1].metadata.get("tags", []), "cell 2: a code cell tagged parameters"
    ids = [_nbg(c)["grade_id"] for c in nb.cells if _nbg(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade_id values: {sorted(i for i in ids if ids.count(i) > 1)}"
    assert all(_GRADE_ID.match(i) for i in ids), f"grade_id values must be [a-z0-9_]: {ids}"
    exercises: dict[str, set] = {}
    for c in nb.cells:
        meta = _nbg(c)
        m = re.match(r"^(ex\d+)_", meta.get("grade_id", ""))
        if not m:
            continue
        kinds = exercises.setdefault(m.group(1), set())
        if meta.get("grade"):
            assert c.cell_type == "code" and float(meta["points"]) > 0, f"{meta['grade_id']}: a test cell with points"
            assert "assert" in c.source, f"{meta['grade_id']}: a test cell asserts"
            kinds.add("test")
        elif meta.get("solution"):
            kinds.add("solution")
        elif c.cell_type == "markdown" and meta.get("locked"):
            kinds.add("instruction")
    assert len(exercises) >= 3, f"at least 3 exercises, found {sorted(exercises)}"
    for name, kinds in exercises.items():
        assert kinds >= {"instruction", "solution", "test"}, f"{name} lacks a cell: has {sorted(kinds)}"
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "outputs must be stripped"
    twin = path.with_suffix(".py")
    assert twin.is_file(), f"the jupytext twin {twin.name} is missing"
    src = jupytext.read(twin)
    assert [c.source for c in src.cells] == [c.source for c in nb.cells], (
        f"{twin.name} and {path.name} differ: run jupytext --to ipynb --update {twin}")
    assert [_nbg(c) for c in src.cells] == [_nbg(c) for c in nb.cells], f"nbgrader metadata differs in {twin.name}"


@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_wrong_answer_says_what_is_wrong_and_holds_only_its_wrong_cells(path):
    nb = jupytext.read(path)
    assert nb.cells[0].cell_type == "markdown" and re.search(r"exercise \d", nb.cells[0].source, re.I), (
        "a wrong answer's first markdown cell says which exercise is wrong and how")
    instructor = EXERCISES / (path.stem.removesuffix("_wrong") + ".ipynb")
    assert instructor.is_file(), "no instructor version"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(_nbg(c).get("solution") for c in code), "a wrong answer holds only solution cells"
    merged = merge_answers(nbformat.read(instructor, as_version=4), nb)
    changed = [_nbg(c)["grade_id"] for c, o in zip(merged.cells, nbformat.read(instructor, as_version=4).cells)
               if c.source != o.source]
    assert changed == [_nbg(c)["grade_id"] for c in code], "every wrong cell differs from the instructor's"


def test_merge_answers_refuses_a_cell_that_is_not_a_solution():
    inst = nbformat.read(INSTRUCTOR[0], as_version=4)
    test_cell = next(c for c in inst.cells if _nbg(c).get("grade"))
    answers = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass", metadata=dict(test_cell.metadata))])
    with pytest.raises(ConfigError, match="not a solution cell"):
        merge_answers(inst, answers)


# ---------------------------------------------------------------------------------- release
@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_release_holds_no_solution_and_no_hidden_test(path, tmp_path):
    (released,) = release(chapters=[path.name[:2]], out=tmp_path, exercises_dir=EXERCISES)
    assert released.name == path.name
    inst = nbformat.read(path, as_version=4)
    stud = nbformat.read(released, as_version=4)
    text = "\n".join(c.source for c in stud.cells)
    outside = _outside_lines(inst)
    secret = {ln.strip() for ln in _marked_lines(inst, "BEGIN SOLUTION", "END SOLUTION")
              + _marked_lines(inst, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")}
    # lines that also occur outside the markers (blank lines, ``return``) are not secrets
    secret = {ln for ln in secret if ln and ln not in outside and len(ln) > 3}
    assert secret, "the instructor version has solutions"
    leaked = sorted(secret & {ln.strip() for ln in text.splitlines()})
    assert not leaked, f"the student release contains solution or hidden-test lines: {leaked[:5]}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    n_solutions = sum(bool(_nbg(c).get("solution")) for c in inst.cells)
    assert text.count("raise NotImplementedError()") >= n_solutions
    assert all(c.metadata.get("deletable") is False for c in stud.cells if _nbg(c).get("grade"))
    assert not any(c.get("outputs") for c in stud.cells if c.cell_type == "code")
    # the instructor file itself is unchanged by the release
    assert nbformat.read(path, as_version=4) == inst


def test_release_of_an_unknown_chapter_names_it(tmp_path):
    with pytest.raises(ConfigError, match="'99'"):
        release(chapters=["99"], out=tmp_path, exercises_dir=EXERCISES)


# ---------------------------------------------------------------------------------- the grader can fail
@pytest.mark.slow
@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_instructor_scores_full_marks_and_release_scores_zero(path, tmp_path):
    (released,) = release(chapters=[path.name[:2]], out=tmp_path, exercises_dir=EXERCISES)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two kernels side by side
        inst, stud = pool.map(lambda nb: check(nb, instructor=path, timeout=120), [path, released])
    assert inst.full_marks, f"the instructor version does not score full marks:\n{inst.format()}"
    assert inst.max_points > 0 and len(inst.exercises) >= 3
    assert [e.name for e in stud.exercises] == [e.name for e in inst.exercises]
    scored = {e.name: e.points for e in stud.exercises if e.points > 0}
    assert not scored, f"exercises of the student release score without an answer: {scored}\n{stud.format()}"
    assert stud.max_points == inst.max_points


@pytest.mark.slow
@pytest.mark.parametrize("path", WRONG, ids=lambda p: p.stem)
def test_wrong_answer_scores_below_full_marks_but_above_zero(path):
    instructor = EXERCISES / (path.stem.removesuffix("_wrong") + ".ipynb")
    res = check(path, instructor=instructor, timeout=120, partial=True)
    assert 0 < res.points < res.max_points, f"a wrong answer must lose some points, not all:\n{res.format()}"
    lost = [e for e in res.exercises if e.points < e.max_points]
    assert all(e.failures for e in lost), "every exercise that loses points says why"


# ---------------------------------------------------------------------------------- the grader on a small course
def _cell(kind: str, source: str, gid: str | None = None, points: int = 0, tags=()):
    cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    if gid:
        cell.metadata["nbgrader"] = {"grade": kind == "test", "grade_id": gid, "locked": kind != "solution",
                                     "schema_version": 3, "solution": kind == "solution", "task": False}
        if kind == "test":
            cell.metadata["nbgrader"]["points"] = points
    return cell


def _course_notebook(square: str = "x * x", cube: str = "x ** 3", crash: bool = False):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("md", "# 99 · Tiny: exercises", "title"),
        _cell("code", "k = 3", tags=["parameters"]),
        _cell("md", "## Exercise 1 · Square (compute, 2 points)", "ex1_intro"),
        _cell("solution", f"def square(x):\n    ### BEGIN SOLUTION\n    return {square}\n    ### END SOLUTION", "ex1_solution"),
        _cell("test", "assert square(k) == k * k, 'square(k) is not k times k'\n### BEGIN HIDDEN TESTS\n"
                      "assert square(-2) == 4, 'negative numbers'\n### END HIDDEN TESTS", "ex1_tests", 2),
        _cell("md", "## Exercise 2 · Cube (compute, 1 point)", "ex2_intro"),
        _cell("solution", ("raise RuntimeError('student crash')\n" if crash else "")
              + f"### BEGIN SOLUTION\nkube = {cube.replace('x', 'k')}\n### END SOLUTION", "ex2_solution"),
        _cell("test", "assert kube == k ** 3, 'kube is not k cubed'", "ex2_tests", 1),
    ]
    return nb


@pytest.fixture
def course(tmp_path) -> Path:
    """notebooks/exercises/99_tiny_exercises.ipynb (instructor) and a few student versions."""
    ex = tmp_path / "notebooks" / "exercises"
    ex.mkdir(parents=True)
    nbformat.write(_course_notebook(), ex / "99_tiny_exercises.ipynb")
    return ex


def _student(course: Path, name: str, nb) -> Path:
    path = course.parent.parent / "students" / name
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_cli_check_exit_codes_and_json(course, capsys):
    full = _student(course, "99_tiny_exercises.ipynb", _course_notebook())
    partial = _student(course, "99_tiny_exercises_bob.ipynb", _course_notebook(square="abs(x) * x"))
    args = ["exercises", "check", "--exercises", str(course)]
    assert main(args + [str(full)]) == 0
    assert "total: 3/3  (full marks)" in capsys.readouterr().out
    assert main(args + [str(partial), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["points"] == 1 and report["max_points"] == 3 and not report["full_marks"]
    ex1 = report["exercises"][0]
    assert ex1["name"] == "ex1" and ex1["points"] == 0 and ex1["title"].startswith("Exercise 1")
    assert "negative numbers" in ex1["failures"][0], "the hidden test ran and its message is shown"
    assert report["exercises"][1]["points"] == 1
    assert main(args + [str(course / "absent.ipynb")]) == 2
    assert "absent.ipynb" in capsys.readouterr().err


def test_cli_bad_usage_exits_2(course, tmp_path, capsys):
    assert main(["exercises", "release", "--exercises", str(course), "--chapters", "42", "--out", str(tmp_path / "r")]) == 2
    assert "'42'" in capsys.readouterr().err
    stray = _student(course, "homework.ipynb", _course_notebook())
    assert main(["exercises", "check", "--exercises", str(course), str(stray)]) == 2
    assert "--instructor" in capsys.readouterr().err
    not_nb = tmp_path / "99_tiny_exercises.ipynb"
    not_nb.write_text("this is not a notebook")
    assert main(["exercises", "check", "--exercises", str(course), str(not_nb)]) == 2
    with pytest.raises(DataNotFoundError):
        check(tmp_path / "nothing.ipynb", instructor=course / "99_tiny_exercises.ipynb")


def test_cli_release_writes_student_versions(course, tmp_path, capsys):
    out = tmp_path / "release"
    assert main(["exercises", "release", "--exercises", str(course), "--out", str(out)]) == 0
    assert "99_tiny_exercises.ipynb" in capsys.readouterr().out
    text = "\n".join(c.source for c in nbformat.read(out / "99_tiny_exercises.ipynb", as_version=4).cells)
    assert "x * x" not in text and "negative numbers" not in text and "raise NotImplementedError()" in text
    assert [p.name for p in discover_exercises(course, ["99_tiny"])] == ["99_tiny_exercises.ipynb"]


@pytest.mark.slow
def test_students_cannot_edit_tests_and_a_crash_costs_only_its_exercise(course):
    nb = _course_notebook(square="0", crash=True)
    nb.cells[4].source = "pass  # the student emptied the test"
    del nb.cells[7]  # ... and deleted another
    res = check(_student(course, "99_tiny_exercises.ipynb", nb), exercises_dir=course)
    by_name = {e.name: e for e in res.exercises}
    assert by_name["ex1"].points == 0 and "square(k) is not k times k" in by_name["ex1"].failures[0]
    assert by_name["ex2"].points == 0, "the deleted test was restored and run"
    assert any("student crash" in f for f in by_name["ex2"].failures), "the solution cell's error is shown"
    assert any("ex2_tests" in n for n in res.notes)
    # the released version is the same notebook with stubs: restoring its tests is a no-op
    released = student_version(_course_notebook())
    restored, notes = restore_tests(released, _course_notebook())
    assert notes == [] and "negative numbers" in restored.cells[4].source


@pytest.mark.slow
def test_a_cell_that_runs_too_long_fails_and_the_rest_still_run(course):
    nb = _course_notebook()
    nb.cells[3].source = "import time\ntime.sleep(30)\ndef square(x):\n    return x * x"
    res = check(_student(course, "99_tiny_exercises.ipynb", nb), exercises_dir=course, timeout=3)
    by_name = {e.name: e for e in res.exercises}
    assert by_name["ex1"].points == 0 and any("longer than 3 s" in f or "Interrupt" in f for f in by_name["ex1"].failures)
    assert by_name["ex2"].points == 1
