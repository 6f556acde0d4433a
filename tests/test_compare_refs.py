"""`runner compare` names runs by MLflow id, spec_hash (or a unique prefix of either), or run folder."""

import pytest

from runner.cli import main
from runner.specs.resolve import resolve
from runner.tracking import runs

from conftest import TINY_OVERRIDES, TINY_RECIPE


@pytest.fixture
def tracked(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    made = {}
    for size in (16, 48):
        experiment = resolve(TINY_RECIPE, TINY_OVERRIDES + [f"hparams.hidden_size={size}"])
        out = tmp_path / f"out{size}"
        run = runs.start_or_resume(experiment, str(out), uri, "fp")
        runs.finish(run, str(out))
        made[size] = (run.run_id, experiment.spec_hash, out)
    return uri, made


def _columns(capsys):
    out = capsys.readouterr().out
    return out.split("metrics")[0]


def test_compare_by_hash_prefix_and_folder(tracked, capsys, monkeypatch, tmp_path):
    uri, made = tracked
    (id16, hash16, out16), (id48, hash48, out48) = made[16], made[48]
    assert main(["compare", hash16[:12], str(out48), "--tracking-uri", uri]) == 0
    shown = _columns(capsys)
    assert id16[:12] in shown and id48[:12] in shown and "hparams.hidden_size" in shown
    (out48 / runs.RUN_FILE).unlink()  # a folder that lost its mlflow_run.json is found by its tag
    monkeypatch.chdir(tmp_path)
    assert main(["compare", id16[:8], "out48", "--tracking-uri", uri]) == 0
    assert id48[:12] in _columns(capsys)


def test_ambiguous_or_unknown_refs_are_named(tracked, capsys, tmp_path):
    uri, made = tracked
    (id16, hash16, out16) = made[16]
    again = runs.start_or_resume(resolve(TINY_RECIPE, TINY_OVERRIDES + ["hparams.hidden_size=16"]),
                                 str(tmp_path / "again"), uri, "fp")  # the same spec, another folder
    runs.finish(again, str(tmp_path / "again"))
    assert main(["compare", hash16[:12], "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert f"'{hash16[:12]}' matches 2 runs" in err and str(out16) in err and "the run folder" in err
    assert main(["compare", str(tmp_path), "--tracking-uri", uri]) == 2  # a folder no run was tracked from
    assert "was tracked from the folder" in capsys.readouterr().err
