"""Leaderboard records -> pages: byte-identical rebuilds, drift detection, and malformed records.

Records here are built from a real resolved experiment (a test-local catalog) with chosen
metric values: these tests exercise the record format and the pages, not training (see
test_leaderboard_reproduce.py for records of real runs).
"""

from pathlib import Path

import pytest
import yaml

from runner import api
from runner.cli import main
from runner.leaderboard import build
from runner.leaderboard.record import Hardware, Record, dump_record, load_record, write_record
from runner.specs.errors import SpecError

PROBLEM = """\
family: algorithmic
generator: reverse
num_symbols: 2
train_length: 6
eval_length: 6
train_size: 64
eval_size: 16
test_size: 16
metrics: [accuracy_per_sequence, accuracy]
"""

RECIPE = """\
problem: lb_reverse_tiny
model: transformer
hparams: transformer_tiny
train: {steps: 2, eval_steps: 1, eval_every: 2, seed: 1}
decode: {beam_size: 1}
"""


@pytest.fixture
def board(tmp_path):
    """A repository root holding a tiny catalog and an empty leaderboard folder."""
    (tmp_path / "catalog" / "problems").mkdir(parents=True)
    (tmp_path / "catalog" / "recipes").mkdir()
    (tmp_path / "catalog" / "problems" / "lb_reverse_tiny.yaml").write_text(PROBLEM)
    (tmp_path / "catalog" / "recipes" / "lb_reverse_tiny.yaml").write_text(RECIPE)
    (tmp_path / "leaderboard").mkdir()
    return tmp_path / "leaderboard"


def make_record(board: Path, steps: int = 2, metric: str = "accuracy_per_sequence", value: float = 0.5,
                seconds: float = 12.5, tier: str = "cpu", mlflow_url: str | None = None) -> Record:
    recipe = board.parent / "catalog" / "recipes" / "lb_reverse_tiny.yaml"
    experiment = api.resolve(str(recipe), [f"train.steps={steps}"])
    return Record(
        format=1, problem=experiment.problem.name, family="algorithmic", model="transformer",
        hparams_set="transformer_tiny", recipe="lb_reverse_tiny", spec_hash=experiment.spec_hash,
        experiment=experiment.to_dict(), metric=metric, value=value, signature="exact match (decode: greedy)",
        tier=tier, tolerance=0.0 if tier == "cpu-ci" else 0.02, steps=steps, wall_time_seconds=seconds,
        code_commit=None, code_dirty=None, data_fingerprint="ab" * 32,
        hardware=Hardware(cpu="Test CPU", cores=2, gpu=None, gpu_count=0), packages={"python": "3.11.0"},
        mlflow_run_id="0123abcd" if mlflow_url else None, mlflow_url=mlflow_url, command=f"runner run {recipe} -o train.steps={steps} --output-dir runs/lb{steps}",
    )


def add(board: Path, record: Record) -> Path:
    return write_record(record, board / "records")


def check_cli(board: Path, capsys) -> tuple[int, str]:
    status = main(["leaderboard", "check", "--dir", str(board)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


# -- round trip and determinism ------------------------------------------------------------------

def test_record_round_trips_through_its_file(board):
    record = make_record(board)
    path = add(board, record)
    assert path.name == f"lb_reverse_tiny.accuracy_per_sequence.cpu.{record.spec_hash[:12]}.yaml"
    assert load_record(path) == record
    text = path.read_text()
    assert text == dump_record(record)
    assert list(yaml.safe_load(text)) == sorted(yaml.safe_load(text))  # sorted keys


def test_build_is_byte_identical_and_check_passes(board, tmp_path, capsys):
    for steps, value, seconds in ((2, 0.5, 12.5), (3, 0.75, 30.0), (4, 0.25, 3.0)):
        add(board, make_record(board, steps=steps, value=value, seconds=seconds))
    written = build.write_pages(board)
    assert {p.name for p in written} == {"README.md", "index.html"}
    first = {name: (board / name).read_bytes() for name in ("README.md", "index.html")}
    assert build.write_pages(board) == []  # a second build changes nothing
    assert {name: (board / name).read_bytes() for name in first} == first
    assert build.check(board) == []
    assert check_cli(board, capsys)[0] == 0

    # Best first (accuracy_per_sequence is 'max'), and every record is in both pages.
    readme = first["README.md"].decode()
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "lb_reverse_tiny" in line]
    assert [row.split(" | ")[4] for row in rows] == ["75.00 %", "50.00 %", "25.00 %"]
    html = first["index.html"].decode()
    assert html.count("<svg") == 1 and html.count("</title></circle>") == 3  # one plot, three points
    assert "Date" not in html and "20" + "26" not in readme  # no timestamps


def test_same_records_in_another_folder_give_the_same_bytes(board, tmp_path):
    records = [make_record(board, steps=s, value=v) for s, v in ((2, 0.1), (3, 0.9))]
    for record in records:
        add(board, record)
    other = tmp_path / "copy" / "leaderboard"
    (other / "records").mkdir(parents=True)
    for record in reversed(records):  # written in the other order
        write_record(record, other / "records")
    build.write_pages(board)
    build.write_pages(other)
    for name in ("README.md", "index.html"):
        assert (board / name).read_bytes() == (other / name).read_bytes()


def test_min_metrics_rank_lowest_first(board):
    for steps, value in ((2, 0.9), (3, 0.3)):
        add(board, make_record(board, steps=steps, metric="loss", value=value))
    readme = build.render(board)["README.md"]
    rows = [line for line in readme.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert "0.3000" in rows[0] and "0.9000" in rows[1]


def test_reference_rows_are_shown_apart_with_their_source(board):
    (board / "references.yaml").write_text(
        "references:\n  - {family: algorithmic, metric: accuracy_per_sequence, dataset: D, model: M, value: 0.99,\n"
        "     reported_as: '99%', source: 'Someone 2020, Table 1', url: 'https://example.org/paper'}\n")
    add(board, make_record(board))
    readme = build.render(board)["README.md"]
    ours, refs = readme.split("Published reference figures")
    assert "99.00 %" in refs and "[Someone 2020, Table 1](https://example.org/paper)" in refs
    assert "99.00 %" not in ours


def test_cpu_ci_records_are_checks_apart_from_the_ranked_results(board):
    add(board, make_record(board, steps=2, value=0.9, tier="cpu-ci"))
    add(board, make_record(board, steps=3, value=0.5, mlflow_url="http://mlflow.example:5000/#/experiments/1/runs/0123abcd"))
    add(board, make_record(board, steps=4, value=0.25, tier="gpu"))
    pages = build.render(board)
    ranked, checks = pages["README.md"].split("## Reproducibility checks (cpu-ci)")
    ranks = [line.split(" | ")[4] for line in ranked.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert ranks == ["50.00 %", "25.00 %"] and "90.00 %" not in ranked  # the cpu-ci 90 % is not ranked first
    assert "| lb_reverse_tiny | per-sequence accuracy | 90.00 % |" in checks
    assert "[run](http://mlflow.example:5000/#/experiments/1/runs/0123abcd)" in ranked
    html = pages["index.html"]
    assert html.count("</title></circle>") == 2  # the plot shows results only
    assert '<a href="http://mlflow.example:5000/#/experiments/1/runs/0123abcd">run</a>' in html
    assert '<table class="checks">' in html


# -- drift ---------------------------------------------------------------------------------------

def test_check_detects_an_edited_page(board, capsys):
    add(board, make_record(board))
    build.write_pages(board)
    readme = board / "README.md"
    readme.write_text(readme.read_text().replace("50.00 %", "60.00 %"))
    drifts = build.check(board)
    assert [d.path for d in drifts] == ["README.md"]
    status, output = check_cli(board, capsys)
    assert status == 1
    diff = [line for line in output.splitlines() if line.startswith(("-| 1 |", "+| 1 |"))]
    assert "README.md: differs from a fresh build (2 lines)" in output
    assert len(diff) == 2 and "60.00 %" in diff[0] and "50.00 %" in diff[1]


def test_check_detects_a_record_changed_without_rebuilding(board):
    add(board, make_record(board, value=0.5))
    build.write_pages(board)
    add(board, make_record(board, value=0.625))  # a valid record, but the pages were not rebuilt
    assert {d.path for d in build.check(board)} == {"README.md", "index.html"}


def test_check_detects_missing_pages_and_non_canonical_records(board):
    path = add(board, make_record(board))
    build.write_pages(board)
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(data, sort_keys=False))  # same content, keys out of order
    (board / "index.html").unlink()
    paths = {d.path for d in build.check(board)}
    assert paths == {"index.html", f"records/{path.name}"}


def test_check_detects_a_command_that_no_longer_gives_the_recorded_spec(board):
    add(board, make_record(board))
    build.write_pages(board)
    assert build.check(board) == []
    recipe = board.parent / "catalog" / "recipes" / "lb_reverse_tiny.yaml"
    recipe.write_text(RECIPE.replace("seed: 1", "seed: 2"))  # the recipe moved on
    drifts = build.check(board)
    assert len(drifts) == 1 and "resolves to spec_hash" in drifts[0].summary
    assert build.check(board, verify_commands=False) == []


# -- malformed records: exit 2 with the file and the field -------------------------------------

def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=True))


BAD_EDITS = {
    "missing field": (lambda d: d.pop("value"), "value: required field is missing"),
    "value not a number": (lambda d: d.update(value="high"), "value: expected a number, got the text 'high'"),
    "value as a string": (lambda d: d.update(value="0.5"), "value: '0.5' is quoted, so it is a string, not a number"),
    "spec_hash edited": (lambda d: d.update(spec_hash="0" * 64), "spec_hash: 0000"),
    "experiment edited": (lambda d: d["experiment"]["hparams"].update(hidden_size=64),
                          "experiment: the embedded resolved spec does not verify"),
    "experiment edited (message)": (lambda d: d["experiment"]["hparams"].update(hidden_size=64),
                                    "so it was edited by hand"),
    "unknown key": (lambda d: d.update(valeu=1.0), "unknown key 'valeu'"),
    "unknown metric": (lambda d: d.update(metric="blue"), "metric: unknown metric 'blue'"),
    "bad tier": (lambda d: d.update(tier="laptop"), "tier: Input should be 'cpu-ci', 'cpu' or 'gpu'"),
    "cpu-ci with a tolerance": (lambda d: d.update(tier="cpu-ci", tolerance=0.1), "tolerance: cpu-ci records are reproduced"),
    "summary disagrees with spec": (lambda d: d.update(model="lstm"), "model: 'lstm' disagrees"),
    "not a runner run command": (lambda d: d.update(command="python train.py"), "command: expected `runner run ...`"),
}


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_malformed_record_fails_build_and_check_with_path_and_field(board, capsys, case):
    path = add(board, make_record(board))
    build.write_pages(board)
    change, expected = BAD_EDITS[case]
    _edit(path, change)
    with pytest.raises(SpecError) as err:
        build.render(board)
    assert path.name in str(err.value) and expected in str(err.value), str(err.value)
    status, output = check_cli(board, capsys)
    assert status == 2 and path.name in output and expected in output, output
    assert main(["leaderboard", "build", "--dir", str(board)]) == 2


def test_yaml_errors_and_stray_files_are_reported_with_their_path(board):
    path = add(board, make_record(board))
    path.write_text(path.read_text() + "value: [unclosed\n")
    stray = board / "records" / "notes.txt"
    stray.write_text("hello")
    with pytest.raises(SpecError) as err:
        build.load_entries(board)
    message = str(err.value)
    assert f"{path.name}:" in message and "YAML syntax error" in message
    assert "notes.txt: not a record" in message


def test_a_renamed_record_file_is_refused(board):
    path = add(board, make_record(board))
    path.rename(path.with_name("renamed.yaml"))
    with pytest.raises(SpecError, match="must be named 'lb_reverse_tiny.accuracy_per_sequence.cpu[.]"):
        build.load_entries(board)


def test_malformed_references_fail_with_the_field(board):
    (board / "references.yaml").write_text("references:\n  - {family: speech, metric: wer, value: 0.1}\n")
    with pytest.raises(SpecError) as err:
        build.render(board)
    assert "references.yaml:2" in str(err.value) and "references.0.source: required field is missing" in str(err.value)


def test_a_cpu_ci_record_must_not_depend_on_a_time_budget(board):
    recipe = board.parent / "catalog" / "recipes" / "lb_reverse_tiny.yaml"
    recipe.write_text(RECIPE.replace("seed: 1}", "seed: 1, time_budget_minutes: 1}"))
    path = add(board, make_record(board, tier="cpu-ci"))
    with pytest.raises(SpecError, match="tier: a cpu-ci run must stop at train.steps"):
        load_record(path)


# -- record commands ------------------------------------------------------------------------------

def test_commands_are_parsed_with_their_environment_and_moved_output():
    from runner.leaderboard.commands import parse

    run = parse("OMP_NUM_THREADS=1 runner run catalog/recipes/r.yaml -o 'train.steps=5' --in-process "
                "--output-dir runs/a")
    assert run.env == (("OMP_NUM_THREADS", "1"),) and run.recipe == "catalog/recipes/r.yaml"
    assert run.overrides == ("train.steps=5",) and run.output_dir == "runs/a"
    assert run.with_output_dir("/tmp/x") == ["run", "catalog/recipes/r.yaml", "-o", "train.steps=5",
                                             "--in-process", "--output-dir", "/tmp/x"]
    for bad in ("python train.py", "runner show r.yaml", "runner run r.yaml --no-such-flag", "runner run 'r.yaml"):
        with pytest.raises(SpecError, match="command"):
            parse(bad)


def test_build_and_check_do_not_import_torch(board):
    import subprocess
    import sys

    add(board, make_record(board))
    code = ("import sys\nfrom runner.cli import main\n"
            f"statuses = [main(['leaderboard', action, '--dir', {str(board)!r}]) for action in ('build', 'check')]\n"
            "print(statuses, sorted(m for m in ('torch', 'ray', 'mlflow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[0, 0] []", done.stdout + done.stderr


def test_a_record_made_under_older_schemas_is_told_apart_from_a_hand_edit(board):
    from runner.leaderboard.record import stored_hash

    path = add(board, make_record(board))
    data = yaml.safe_load(path.read_text())
    data["experiment"]["train"]["retired_option"] = 1  # a field today's TrainSpec no longer has
    data["spec_hash"] = data["experiment"]["spec_hash"] = stored_hash(data["experiment"])
    path = path.rename(path.with_name(path.name.replace(path.name.split(".")[-2], data["spec_hash"][:12])))
    path.write_text(yaml.safe_dump(data, sort_keys=True))
    with pytest.raises(SpecError, match="record itself is intact .* so the spec schemas changed"):
        load_record(path)
