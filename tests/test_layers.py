"""Dependencies point one way (DESIGN.md, README "Layout"): a module imports only its own layer or
the layers below it, so a network, a metric or a reader never depends on a chapter's pipeline."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import medbench

#: Layer of each top-level part of the package: low numbers are imported by high ones, never the reverse.
LAYERS = {
    "errors": 0, "settings": 0, "record": 0,
    "data": 1, "transforms": 1,
    "training": 2, "metrics": 2, "models": 2, "privacy": 2, "teaching": 2,
    "tasks": 3,
    "plots": 4, "widgets": 4, "reports": 4,
    "cli": 5, "__init__": 5,
}
PACKAGE = Path(medbench.__file__).parent


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "medbench" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every medbench import in ``path``, lazy ones inside functions included."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [f"{module}.{a.name}" for a in node.names] if module == "medbench" else [module]
            found += [(node.lineno, m) for m in names]
    return found


def layer_violations() -> list[str]:
    """One line per import of a higher layer, naming the file, the line and both layers."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        first = path.relative_to(PACKAGE).parts[0]
        src = first[:-3] if first.endswith(".py") else first
        for line, module in _imports(path):
            dst = _part(module)
            if dst in LAYERS and dst != src and LAYERS[dst] > LAYERS[src]:
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({src}, layer {LAYERS[src]}) imports "
                           f"{module} ({dst}, layer {LAYERS[dst]})")
    return out


def test_every_top_level_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert parts <= set(LAYERS), f"give {sorted(parts - set(LAYERS))} a layer in LAYERS (see DESIGN.md)"


def test_no_module_imports_a_layer_above_its_own():
    assert layer_violations() == []


def test_the_check_sees_lazy_imports(tmp_path, monkeypatch):
    """A lazy import of a task inside a data function is a violation too."""
    fake = tmp_path / "medbench"
    (fake / "data").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "data" / "reader.py").write_text(
        "def f():\n    from medbench.tasks import disease\n    from ..metrics import auroc\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert [v.split(" imports ")[1].split(" ")[0] for v in layer_violations()] == ["medbench.tasks", "medbench.metrics"]
