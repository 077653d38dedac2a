"""Every committed chapter keeps the chapter contract (DESIGN.md)."""
from __future__ import annotations

import re

import nbformat
import pytest

from medbench.reports import PROFILES, discover_chapters, load_profile

from conftest import NOTEBOOKS

CHAPTER_PATHS = sorted(NOTEBOOKS.glob("[0-9]*_*.ipynb"))


def test_there_are_chapters():
    assert CHAPTER_PATHS, "no chapters found in notebooks/"


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_has_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), "first cell: markdown title"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.cells[1] is tagged[0], "second cell must be the parameters cell"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"outputs left in a cell of {path.name}: strip them"
            assert cell.execution_count is None


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.stem)
def test_jupytext_twin_in_sync(path):
    twin = path.with_suffix(".py")
    if not twin.exists():
        pytest.skip("no .py twin")
    import jupytext

    py = jupytext.read(twin)
    ipynb = nbformat.read(path, as_version=4)
    assert [(c.cell_type, c.source) for c in py.cells] == [(c.cell_type, c.source) for c in ipynb.cells], (
        f"{path.name} and {twin.name} differ: run `jupytext --sync {twin}`")


@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_name_only_existing_chapters_and_parameters(profile):
    chapters = {c.id: c for c in discover_chapters(NOTEBOOKS)}
    prof = load_profile(profile, NOTEBOOKS)
    assert set(prof) <= set(chapters), f"{profile}.yaml names unknown chapters"
    for cid, entry in prof.items():
        assert set(entry) <= {"parameters", "expect", "tolerance"}
        # a tolerance (how far a metric may move between runs) names a metric the chapter checks:
        # a typo would otherwise leave the metric silently unjudged in reports/index.html
        untracked = set(entry.get("tolerance") or {}) - set(entry.get("expect") or {})
        assert not untracked, f"{profile}.yaml, chapter {cid}: tolerance for metrics without expect: {untracked}"
        unknown = set(entry.get("parameters") or {}) - set(chapters[cid].parameters)
        assert not unknown, f"{profile}.yaml, chapter {cid}: unknown parameters {unknown}"


def test_every_chapter_has_smoke_expectations():
    prof = load_profile("smoke", NOTEBOOKS)
    for ch in discover_chapters(NOTEBOOKS):
        assert prof.get(ch.id, {}).get("expect"), f"chapter {ch.id} has no metric expectations in smoke.yaml"


# A teacher's page (DESIGN.md, issue 11 item 5). The wording varies between chapters; these are the
# variants in use ("Learning objectives." / "What you will learn"; "Expected run time:" / "Run time at
# the `default` parameters"; "## References"; "**Exercises** ..." / "## Exercises").
_OBJECTIVES = re.compile(r"learning objectives|what you will learn", re.I)
_PREREQUISITES = re.compile(r"\*\*prerequisites:?\*\*", re.I)
_RUN_TIME = re.compile(r"run time\b.*?(?:\n\s*\n|$)", re.I | re.S)  # the paragraph that states it
_REFERENCES = re.compile(r"^#{2,3}\s*references\b", re.I | re.M)


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.stem)
def test_chapter_has_a_teachers_page(path):
    """First cell: objectives (a list), prerequisites, run time at default; a references section; exercises last."""
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source
    assert _OBJECTIVES.search(first), f"{path.name}: first cell states no learning objectives"
    objectives = first[_OBJECTIVES.search(first).end():]
    assert sum(line.startswith("- ") for line in objectives.splitlines()) >= 3, (
        f"{path.name}: the learning objectives are not a list of (at least 3) bullet points")
    assert _PREREQUISITES.search(first), f"{path.name}: first cell states no **Prerequisites:**"
    run_time = _RUN_TIME.search(first)
    assert run_time and "default" in run_time.group(0) and re.search(r"minute|second", run_time.group(0)), (
        f"{path.name}: first cell states no expected run time (in minutes or seconds) at the `default` profile")

    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any(_REFERENCES.search(s) for s in markdown), f"{path.name}: no '## References' section"

    last = nb.cells[-1]
    exercises = f"notebooks/exercises/{path.stem}_exercises.ipynb"
    assert last.cell_type == "markdown" and re.search(r"exercises", last.source, re.I), (
        f"{path.name}: the last cell must point to the chapter's exercises")
    assert exercises in last.source, f"{path.name}: the last cell must name {exercises}"
    assert (NOTEBOOKS / "exercises" / f"{path.stem}_exercises.ipynb").is_file(), f"{exercises} does not exist"
