"""Imports flow one way (docs/ARCHITECTURE.md): cli -> launch/tracking/leaderboard -> training ->
problems/models -> specs. Every `import` in runner/, at the top of a file or inside a function,
is read here; one that points up the layers, or a circle of modules, fails with its file and line."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "runner"

# Each top-level module or package of runner/ and its layer; a module may import its own layer
# or any lower one. The layers as ARCHITECTURE.md draws them, the small top-level modules placed
# where their imports put them.
LAYERS = {
    "cli": 6, "__main__": 6,
    "launch": 5, "leaderboard": 5, "export": 5,
    "tracking": 4, "predict": 4, "inference": 4, "api": 4, "export_loader": 4, "run_plots": 4,
    "training": 3,
    "problems": 2, "models": 2, "metrics": 2,
    # torch-free, importable from anywhere: specs and the registry of names, the run folder,
    # provenance, the run flags, the sweep space
    "specs": 1, "registry": 1, "run_dir": 1, "provenance": 1, "run_flags": 1, "tune_space": 1,
    "runner": 1,  # the package itself (__version__)
}
# Within one layer, some rooms never import each other in this direction.
FORBIDDEN_SIDEWAYS = {
    ("tracking", "launch"),        # launch drives tracking, never the reverse
    ("tracking", "leaderboard"),   # both read provenance.py
    ("leaderboard", "launch"),     # reproduce runs `runner run` as a process
    ("problems", "models"),        # models may use the data's feature code (SpecAugment), not the reverse
    ("problems", "metrics"), ("models", "metrics"),
    ("specs", "run_dir"), ("specs", "provenance"), ("specs", "run_flags"), ("specs", "tune_space"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in RUNNER.rglob("*.py"):
        parts = list(path.relative_to(RUNNER.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _target(name: str) -> str | None:
    """The runner module an imported name lives in (`runner.x.y.Thing` -> `runner.x.y`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[tuple[str, int]]:
    """(imported runner module, line) for every import statement in the module, lazy ones included."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = _target(name) if name.startswith("runner.") or name == "runner" else None
            if target and target != module and not module.startswith(target + "."):
                found.append((target, node.lineno))
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "runner"


def test_every_room_has_a_layer():
    assert {_room(m) for m in MODULES} <= set(LAYERS), "a new top-level module: give it a layer in LAYERS"


def test_no_import_runs_against_the_documented_direction():
    wrong = []
    for module in sorted(MODULES):
        for target, line in _imports(module):
            here, there = _room(module), _room(target)
            if here == there:
                continue
            if LAYERS[there] > LAYERS[here] or (here, there) in FORBIDDEN_SIDEWAYS:
                path = MODULES[module]
                where = path.relative_to(RUNNER.parent) if path.is_relative_to(RUNNER.parent) else path
                wrong.append(f"{where}:{line}: {module} imports {target} ({here} -> {there})")
    assert not wrong, "imports against the direction in docs/ARCHITECTURE.md:\n" + "\n".join(wrong)


def test_no_import_circle():
    graph = defaultdict(set)
    for module in MODULES:
        for target, _ in _imports(module):
            graph[module].add(target)
    circles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("source, bad", [
    ("from runner.cli import build_parser\n", "runner.cli"),
    ("def f():\n    from runner.launch import run_on_ray\n", "runner.launch"),
])
def test_an_upward_import_would_be_caught(tmp_path, monkeypatch, source, bad):
    """The check itself can fail: a specs module importing the CLI or launch (lazily too) is reported."""
    fake = tmp_path / "fake_upward.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, "runner.specs.fake_upward", fake)
    assert [t for t, _ in _imports("runner.specs.fake_upward")] == [bad]
    with pytest.raises(AssertionError, match="runner.specs.fake_upward imports " + bad):
        test_no_import_runs_against_the_documented_direction()
