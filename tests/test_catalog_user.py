"""The user's side of the catalog: search order, specs outside a catalog, smoke recipes labelled."""

from pathlib import Path

import pytest
import yaml

from runner import __version__
from runner.cli import main
from runner.specs.catalog import Catalog, builtin_root

ROOT = Path(__file__).resolve().parents[1]


def _user_catalog(root: Path, description: str) -> Path:
    (root / "recipes").mkdir(parents=True)
    recipe = yaml.safe_load((ROOT / "catalog" / "recipes" / "reverse_ci.yaml").read_text())
    recipe["description"] = description
    (root / "recipes" / "reverse_ci.yaml").write_text(yaml.safe_dump(recipe))
    return root


def test_runner_catalog_is_searched_before_the_shipped_one(tmp_path, monkeypatch, capsys):
    _user_catalog(tmp_path / "mine", "my own reverse_ci")
    monkeypatch.setenv("RUNNER_CATALOG", str(tmp_path / "mine"))
    cat = Catalog.for_file(None)
    assert cat.roots == [(tmp_path / "mine").resolve(), builtin_root().resolve()]
    assert cat.names("recipe")["reverse_ci"] == (tmp_path / "mine" / "recipes" / "reverse_ci.yaml").resolve()
    assert "ende_big" in cat.names("recipe")  # the shipped ones are still there
    monkeypatch.setenv("COLUMNS", "400")  # one line per row, whatever the path's length
    assert main(["list", "recipes"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert str(tmp_path / "mine") in listed["reverse_ci"] and "shipped" in listed["ende_big"]
    assert main(["show", "reverse_ci"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["description"] == "my own reverse_ci"


def test_a_recipes_own_catalog_comes_first(tmp_path, monkeypatch):
    _user_catalog(tmp_path / "env", "from RUNNER_CATALOG")
    own = _user_catalog(tmp_path / "own", "own")
    monkeypatch.setenv("RUNNER_CATALOG", str(tmp_path / "env"))
    roots = Catalog.for_file(own / "recipes" / "reverse_ci.yaml").roots
    assert roots == [own.resolve(), (tmp_path / "env").resolve(), builtin_root().resolve()]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"runner {__version__} ") and str(builtin_root()) in out


def test_validate_tells_the_kind_from_content_outside_a_catalog(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, kind in (("reverse_ci.yaml", "recipes"), ("algorithmic_reverse_binary40.yaml", "problems"),
                       ("transformer_tiny.yaml", "hparams"), ("transformer_base_range.yaml", "hparams")):
        (tmp_path / f"my_{name}").write_text((ROOT / "catalog" / kind / name).read_text())
    (tmp_path / "my_model.yaml").write_text("description: mine\nimplementation: transformer\n")
    assert main(["validate", *sorted(str(p) for p in tmp_path.glob("my_*.yaml"))]) == 0, capsys.readouterr().err
    assert "5 spec files valid" in capsys.readouterr().out
    # A broken recipe outside a catalog is reported as a recipe error, not "cannot tell what kind".
    (tmp_path / "bad.yaml").write_text("problem: algorithmic_reverse_binary40\nmodel: transformer\n"
                                       "hparams: transformer_tiny\ntrain: {steps: 0}\n")
    (tmp_path / "what.yaml").write_text("description: nothing else\n")
    assert main(["validate", "bad.yaml", "what.yaml"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:4:16: train.steps: Input should be greater than 0" in err
    assert "what.yaml:1:1: cannot tell what kind of spec this is" in err


def test_smoke_recipes_say_so():
    smoke = sorted((ROOT / "catalog" / "recipes").glob("*_ci.yaml"))
    assert smoke
    for path in smoke:
        assert yaml.safe_load(path.read_text())["description"].startswith("Smoke test, not a result"), path.name
    for path in set((ROOT / "catalog" / "recipes").glob("*.yaml")) - set(smoke):
        assert "smoke test" not in yaml.safe_load(path.read_text())["description"].lower(), path.name


def test_validate_without_paths_covers_runner_catalog(tmp_path, monkeypatch, capsys):
    mine = _user_catalog(tmp_path / "mine", "mine")
    (mine / "recipes" / "broken.yaml").write_text("problem: no_such_problem\nmodel: transformer\n"
                                                  "hparams: transformer_tiny\ntrain: {steps: 1}\n")
    monkeypatch.setenv("RUNNER_CATALOG", str(mine))
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "broken.yaml:1:10: problem: unknown problem 'no_such_problem'" in err and "1 of " in err
