"""`runner describe`, docs/REFERENCE.md (generated from the same schemas) and `runner cp`."""

from pathlib import Path

import yaml

from runner.cli import main
from runner.specs import reference
from runner.specs.schemas import TrainSpec

ROOT = Path(__file__).resolve().parents[1]


def test_reference_page_is_up_to_date():
    page = (ROOT / "docs" / "REFERENCE.md").read_text(encoding="utf-8")
    assert page == reference.markdown(), (
        "docs/REFERENCE.md is stale: a spec schema changed. Regenerate it with "
        "`python -m runner.specs.reference docs/REFERENCE.md` and commit the result")


def test_reference_rows_come_from_the_schema():
    rows = {r.key: r for r in reference.sections(TrainSpec, "train")[0].rows}
    assert set(rows) == set(TrainSpec.model_fields)
    assert rows["steps"].range == "> 0"
    assert {r.key: r for r in reference.recipe_sections()[0].rows}["problem"].default == "required"
    assert rows["eval_every"].default == "1000" and rows["max_failures"].range == ">= -1"
    assert rows["eval_steps"].description == TrainSpec.model_fields["eval_steps"].description
    page = reference.markdown()
    for family in ("text2text", "language_model", "algorithmic", "speech", "image_classification",
                   "image_generation", "masked_lm"):
        assert f"## problem family {family}\n" in page
    for model in ("transformer", "lstm_seq2seq_attention", "resnet", "speech_transformer", "vit"):
        assert f"## hparams of model {model}\n" in page
    assert "## text2text.source.hub (HubSource)" in page and "## recipe.tune.scheduler (SchedulerSpec)" in page


def test_describe_each_kind(capsys):
    assert main(["describe", "recipe"]) == 0
    out = capsys.readouterr().out
    assert "recipe.train (TrainSpec)" in out and "Steps between evals (T2T --local_eval_frequency)." in out
    assert main(["describe", "problem", "translate_deen_multi30k"]) == 0  # a catalog problem: its family's fields
    out = capsys.readouterr().out
    assert out.startswith("problem family text2text") and "text2text.vocab (VocabSpec)" in out
    assert "image_shape" not in out
    assert main(["describe", "hparams", "transformer_tiny"]) == 0  # an hparams set: its model's schema
    out = capsys.readouterr().out
    assert out.startswith("hparams of model transformer") and "num_heads" in out and "default 4096; > 0" in out
    assert main(["describe", "model"]) == 0
    assert "lstm_seq2seq_attention" in capsys.readouterr().out
    assert main(["describe", "problem", "text2txt"]) == 2
    assert "did you mean 'text2text'?" in capsys.readouterr().err


def test_cp_copies_into_a_user_catalog_ready_to_edit(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["cp", "reverse_ci", "mycat"]) == 0
    copied = tmp_path / "mycat" / "recipes" / "reverse_ci.yaml"
    original = (ROOT / "catalog" / "recipes" / "reverse_ci.yaml").read_text()
    assert copied.read_text().endswith(original) and copied.read_text().startswith("# Copied from the shipped")
    assert main(["cp", "transformer_tiny", "mycat"]) == 0
    hparams = tmp_path / "mycat" / "hparams" / "transformer_tiny.yaml"
    data = yaml.safe_load(hparams.read_text())
    data["hparams"]["label_smoothing"] = 0.25
    hparams.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["show", str(copied)]) == 0  # the recipe picks up the edited set from its own catalog first
    assert yaml.safe_load(capsys.readouterr().out)["hparams"]["label_smoothing"] == 0.25
    assert main(["cp", "algorithmic_reverse_binary40", "mycat/problems"]) == 0
    assert (tmp_path / "mycat" / "problems" / "algorithmic_reverse_binary40.yaml").is_file()
    assert main(["cp", "reverse_cpu", "my_reverse.yaml"]) == 0
    assert main(["validate", "mycat", "my_reverse.yaml"]) == 0, capsys.readouterr().err


def test_cp_refuses_to_overwrite_or_guess(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["cp", "reverse_ci", "mine.yaml"]) == 0
    before = (tmp_path / "mine.yaml").read_text()
    (tmp_path / "mine.yaml").write_text(before + "# my edit\n")
    assert main(["cp", "reverse_ci", "mine.yaml"]) == 2
    assert "already exists; runner cp never overwrites" in capsys.readouterr().err
    assert (tmp_path / "mine.yaml").read_text().endswith("# my edit\n")
    (tmp_path / "env" / "problems").mkdir(parents=True)  # a user catalog with a problem named like a recipe
    (tmp_path / "env" / "problems" / "reverse_ci.yaml").write_text(
        (ROOT / "catalog" / "problems" / "algorithmic_reverse_binary40.yaml").read_text())
    monkeypatch.setenv("RUNNER_CATALOG", str(tmp_path / "env"))
    assert main(["cp", "reverse_ci", "cat"]) == 2  # both a recipe and a problem
    assert "--kind recipe" in capsys.readouterr().err and not (tmp_path / "cat").exists()
    assert main(["cp", "reverse_ci", "cat", "--kind", "problem"]) == 0
    assert (tmp_path / "cat" / "problems" / "reverse_ci.yaml").is_file()
    assert main(["cp", "transformer_tiny", "cat/recipes"]) == 2
    assert "is an hparams set" in capsys.readouterr().err
    assert main(["cp", "reverse_cpx", "cat"]) == 2
    assert "did you mean 'reverse_cpu'?" in capsys.readouterr().err


def test_describe_and_cp_are_torch_free(tmp_path):
    import subprocess
    import sys

    probe = ("import sys; from runner.cli import main; status = main(sys.argv[1:]); "
             "print('HEAVY:' + ','.join(m for m in ('torch', 'ray', 'mlflow', 'datasets') if m in sys.modules)); "
             "sys.exit(status)")
    for args in (["describe", "hparams", "transformer_tiny"], ["describe", "problem"], ["cp", "reverse_ci", "c"]):
        result = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.rstrip().endswith("HEAVY:"), result.stdout[-300:]
