"""The `medbench` command: list, report, failure isolation and validation."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from medbench.cli import main

from conftest import write_chapter_notebook


@pytest.fixture
def fixture_notebooks(tmp_path) -> Path:
    """A good chapter (widget, figure, metric) and one that fails in its third cell."""
    root = tmp_path / "notebooks"
    (root / "profiles").mkdir(parents=True)
    write_chapter_notebook(root / "10_good.ipynb", "n = 2  # how many\nlabel = 'x'\nscale = 1.5\nverbose = False", [
        "import ipywidgets as W, matplotlib.pyplot as plt, medbench\nW.IntSlider(value=n, description='n')",
        "plt.plot([0, n], [0, scale]); plt.show()",
        "medbench.record('n_squared', n * n)\nmedbench.record('label_len', len(label))",
    ])
    write_chapter_notebook(root / "11_bad.ipynb", "x = 1", [
        "import medbench\nmedbench.record('before_failure', x)",
        "raise RuntimeError('deliberate failure for the test')",
        "medbench.record('never', 1)",
    ])
    (root / "profiles" / "smoke.yaml").write_text(
        'chapters:\n  "10":\n    parameters: {n: 3}\n    expect:\n      n_squared: {min: 9, max: 9}\n'
        '  "11":\n    parameters: {x: 5}\n')
    return root


def _run(args, nb_dir=None):
    argv = (["--notebooks", str(nb_dir)] if nb_dir else []) + args
    return main(argv)


def test_list_shows_titles_and_typed_parameters(fixture_notebooks, capsys):
    assert _run(["list"], fixture_notebooks) == 0
    out = capsys.readouterr().out
    assert "10  10_good: 10_good title" in out
    assert "n: int = 2  # how many" in out
    assert "scale: float = 1.5" in out and "verbose: bool = False" in out and "label: str = 'x'" in out


def test_list_of_the_real_chapters_through_the_console_script():
    exe = Path(sys.executable).with_name("medbench")
    out = subprocess.run([str(exe), "list"], capture_output=True, text=True, check=True).stdout
    assert "00  00_foundations" in out and "seed: int = 0" in out


@pytest.mark.slow
def test_failing_chapter_is_kept_and_does_not_stop_the_other(fixture_notebooks, tmp_path, capsys, monkeypatch):
    out = tmp_path / "report"
    monkeypatch.setenv("MPLBACKEND", "Agg")  # a user's non-inline backend must not cost the report its figures
    code = _run(["report", "--profile", "smoke", "--out", str(out), "--jobs", "2", "-p", "10.scale=2"], fixture_notebooks)
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    good, bad = summary["chapters"]
    assert good["status"] == "ok" and good["metrics"] == {"n_squared": 9, "label_len": 1}
    assert good["parameters"] == {"n": 3, "scale": 2.0}
    assert good["checks"] == [{"metric": "n_squared", "rule": ">= 9", "value": 9, "passed": True},
                              {"metric": "n_squared", "rule": "<= 9", "value": 9, "passed": True}]
    assert bad["status"] == "failed" and "deliberate failure" in bad["error"]
    assert bad["metrics"] == {"before_failure": 5}  # partial results survive
    bad_html = (out / "11_bad.html").read_text()
    assert "deliberate failure for the test" in bad_html and "RuntimeError" in bad_html
    good_html = (out / "10_good.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" in good_html
    assert "_static/embed-amd.js" in good_html and "_static/require.js" in good_html
    assert "cdn.jsdelivr" not in good_html and "unpkg.com" not in good_html
    assert "mathjax" not in good_html.lower()  # no TeX in the notebook: no CDN request for MathJax
    assert (out / "_static" / "embed-amd.js").stat().st_size > 1_000_000
    assert re.search(r'<img[^>]+src="data:image/png;base64', good_html), "the static figure is not embedded"
    index = (out / "index.html").read_text()
    assert "10_good.html" in index and "failed" in index and "deliberate failure" in index
    assert str(out / "index.html") in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--chapters", "99"], "unknown chapter(s) 99"),
    (["-p", "nope=1"], "unknown parameter 'nope' (-p); valid parameters: label, n, scale, verbose, x"),
    (["--chapters", "10", "-p", "n=1.5"], "parameter 'n' (-p) must be int"),
    (["--chapters", "10", "-p", "verbose=3"], "parameter 'verbose' (-p) must be bool"),
    (["--chapters", "10", "-p", "10.zzz=3"], "valid parameters: n (int), label (str), scale (float), verbose (bool)"),
    (["--profile", "huge"], "unknown profile 'huge'"),
])
def test_bad_requests_exit_2_before_any_kernel(fixture_notebooks, tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert _run(["report", "--profile", "smoke", "--out", str(out)] + args, fixture_notebooks) == 2
    assert message in capsys.readouterr().err
    assert not out.exists(), "nothing may be written before validation passes"


def test_report_refuses_a_non_empty_out_folder_unless_forced(fixture_notebooks, tmp_path, capsys):
    out = tmp_path / "old_report"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier report")
    assert _run(["report", "--profile", "smoke", "--chapters", "10", "--out", str(out)], fixture_notebooks) == 2
    err = capsys.readouterr().err
    assert f"--out {out} already exists and is not empty" in err and "keep.txt" in err and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"], "nothing may be written when refusing"
    afile = tmp_path / "a_file"
    afile.write_text("x")
    assert _run(["report", "--profile", "smoke", "--out", str(afile)], fixture_notebooks) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_report_writes_into_an_empty_out_folder_and_timestamped_dirs_do_not_collide(tmp_path):
    from medbench.reports import check_out_dir, timestamped_dir

    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty")  # an existing but empty folder is fine
    check_out_dir(tmp_path / "missing")
    first = timestamped_dir(tmp_path)
    first.mkdir()
    second = timestamped_dir(tmp_path)
    assert second != first and not second.exists()


@pytest.mark.slow
def test_forced_report_overwrites_and_kernel_tcp_warning_is_not_shown(fixture_notebooks, tmp_path):
    """Through the console script, as a user runs it: --force writes into a used folder, and
    stderr carries no 'Kernel is running over TCP without encryption' from ipykernel."""
    out = tmp_path / "rep"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    exe = Path(sys.executable).with_name("medbench")
    cmd = [str(exe), "--notebooks", str(fixture_notebooks), "report", "--profile", "smoke", "--chapters", "10",
           "--out", str(out)]
    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 2 and "already exists and is not empty" in refused.stderr
    done = subprocess.run(cmd + ["--force"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "summary.json").read_text())["chapters"][0]["metrics"] == {"n_squared": 9,
                                                                                       "label_len": 1}
    assert "without encryption" not in done.stderr and "IPKernelApp" not in done.stderr, done.stderr


def test_bad_profile_value_type(fixture_notebooks, tmp_path, capsys):
    (fixture_notebooks / "profiles" / "smoke.yaml").write_text('chapters:\n  "10":\n    parameters: {n: "many"}\n')
    assert _run(["report", "--profile", "smoke", "--out", str(tmp_path / "o")], fixture_notebooks) == 2
    assert "parameter 'n' (profile 'smoke') must be int" in capsys.readouterr().err


def test_values_parse_like_python_literals_and_yaml(fixture_notebooks):
    from medbench.reports import discover_chapters, resolve_parameters

    (good, _) = discover_chapters(fixture_notebooks)
    resolved = resolve_parameters([good], {}, {"scale": "2e-3", "verbose": "true", "label": "2e-3", "n": "7"})
    assert resolved["10"] == {"scale": 0.002, "verbose": True, "label": "2e-3", "n": 7}
    # A YAML profile value written 2e-3 (a string in YAML 1.1) is still a float parameter.
    resolved = resolve_parameters([good], {"10": {"parameters": {"scale": "2e-3"}}}, {})
    assert resolved["10"]["scale"] == 0.002


def test_html_export_keeps_mathjax_only_for_notebooks_with_tex(tmp_path):
    from medbench.reports import export_html

    for name, text, wanted in [("plain", "Dice = 2|P∩T| / (|P|+|T|), costs $5", False),
                               ("tex", "Dice $= 2|P \\cap T| / (|P|+|T|)$", True)]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
        export_html(tmp_path / f"{name}.ipynb", tmp_path / f"{name}.html")
        html = (tmp_path / f"{name}.html").read_text()
        assert ("mathjax" in html.lower()) == wanted, name
        assert "P∩T" in html or "\\cap" in html
