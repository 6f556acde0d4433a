"""A record of folds: each voice held out in turn (leave-one-speaker-out), the row's value the mean
over the folds, each fold keeping its own data fingerprint and reproduced against its own value.
Three real (tiny) speech runs on an FSDD look-alike, each made by its own `runner run` command."""

import subprocess
import sys

import pytest

from runner.cli import main
from runner.leaderboard import build
from runner.leaderboard.metric_info import DEFAULT_TOLERANCE
from runner.leaderboard.record import TOLERANCE_SDS, load_record, spread, write_record
from runner.leaderboard.seeds import record_from_seeds
from runner.specs.errors import SpecError

from test_leaderboard_reproduce import _env
from test_speech_spoken_digits import SPEAKERS, make_fsdd

pytestmark = pytest.mark.slow

RECIPE = """\
problem: lb_digits_micro
model: speech_transformer
hparams: speech_transformer_digits
overrides:
  hparams.hidden_size: 16
  hparams.filter_size: 32
  hparams.num_heads: 2
  hparams.num_encoder_layers: 1
  hparams.num_decoder_layers: 1
  hparams.subsampling_channels: 4
  hparams.learning_rate_warmup_steps: 2
train: {steps: 3, eval_steps: 1, eval_every: 3, seed: 1}
decode: {beam_size: 1, max_examples: 4}
"""


def _problem(fsdd) -> str:
    return f"""\
family: speech
metrics: [wer, cer, accuracy]
source: {{path: {fsdd}, layout: fsdd}}
sample_rate: 8000
vocab: words
test_speakers: [{SPEAKERS[0]}]
utterances: {{train: 24, eval: 4, test: 6, eval_takes_per_digit: 1, max_digits: 3}}
"""


def _command(speaker: str) -> str:
    return (f"OMP_NUM_THREADS=1 runner run catalog/recipes/lb_digits_micro.yaml -o problem.test_speakers=[{speaker}] "
            f"--in-process --output-dir runs/fold-{speaker}")


@pytest.fixture(scope="module")
def fold_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / "catalog" / "problems").mkdir(parents=True)
    (root / "catalog" / "recipes").mkdir()
    fsdd = make_fsdd(root / "fsdd")
    (root / "catalog" / "problems" / "lb_digits_micro.yaml").write_text(_problem(fsdd))
    (root / "catalog" / "recipes" / "lb_digits_micro.yaml").write_text(RECIPE)
    data_dir = root / "data"
    commands = [_command(speaker) for speaker in SPEAKERS]
    for command in commands:
        _, _, *args = command.split()
        done = subprocess.run([sys.executable, "-m", "runner", *args], cwd=root, capture_output=True, text=True,
                              env={**_env(data_dir), "OMP_NUM_THREADS": "1"}, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    dirs = [root / "runs" / f"fold-{speaker}" for speaker in SPEAKERS]
    return root, data_dir, dirs, commands


def test_a_record_of_folds_holds_each_voice_its_data_and_their_mean(fold_runs, capsys):
    root, data_dir, dirs, commands = fold_runs
    board = root / "board"
    # Given out of order: the record lists folds by held-out value, the first being the record's own run.
    path = record_from_seeds([dirs[2], dirs[0], dirs[1]], "cpu", [commands[2], commands[0], commands[1]],
                             data_dir=str(data_dir), leaderboard_dir=board)
    record = load_record(path)
    assert record.metric == "wer" and record.folds
    assert [run.fold for run in record.seeds] == [{"problem.test_speakers": [s]} for s in SPEAKERS]
    assert [run.label for run in record.seeds] == [f"problem.test_speakers=[{s}]" for s in SPEAKERS]
    assert record.experiment["problem"]["test_speakers"] == [SPEAKERS[0]] and record.command == commands[0]
    # Each fold tests on another voice, so each has its own data; the first fold's is the record's.
    assert record.seeds[0].data_fingerprint is None
    fingerprints = {record.data_fingerprint, *(run.data_fingerprint for run in record.seeds[1:])}
    assert len(fingerprints) == 3
    mean, sd, tolerance = spread([run.value for run in record.seeds])
    assert record.value == mean and record.sd == sd
    assert record.tolerance == DEFAULT_TOLERANCE["wer"] != TOLERANCE_SDS * sd  # voices differ; not noise
    page = (board / "README.md").read_text()
    assert f"(3 folds: {SPEAKERS[0]} " in page
    assert build.check(board) == []  # every fold's command resolves to its own spec_hash

    status = main(["leaderboard", "reproduce", "--dir", str(board), "--tier", "cpu", "--data-dir", str(data_dir)])
    err = capsys.readouterr().err
    assert status == 0, err
    for speaker in SPEAKERS:  # each fold re-made on its own held-out voice and judged against its own value
        assert f"ok: {path.name}#problem.test_speakers=[{speaker}]" in err


def test_a_hand_edited_fold_is_refused_on_load(fold_runs):
    root, data_dir, dirs, commands = fold_runs
    path = record_from_seeds(dirs, "cpu", commands, data_dir=str(data_dir), leaderboard_dir=root / "board-edit",
                             rebuild=False)
    record = load_record(path)

    def refused(**changes) -> str:
        seeds = [record.seeds[0], record.seeds[1].model_copy(update=changes), record.seeds[2]]
        write_record(record.model_copy(update={"seeds": seeds}), path.parent)
        with pytest.raises(SpecError) as err:
            load_record(path)
        return str(err.value)

    # Another voice named without the hash that goes with it: not the run that was recorded.
    assert "is not the record's spec with problem.test_speakers=[nobody]" in refused(
        fold={"problem.test_speakers": ["nobody"]})
    assert "every fold must hold out the same keys" in refused(fold={"hparams.hidden_size": 64})
    assert "a fold appears twice" in refused(fold=record.seeds[2].fold, spec_hash=record.seeds[2].spec_hash)
    assert "must give its data_fingerprint" in refused(data_fingerprint=None)
    # The folds' spread as tolerance: any replay of a fold would pass.
    write_record(record.model_copy(update={"tolerance": spread([r.value for r in record.seeds])[2]}), path.parent)
    with pytest.raises(SpecError, match="a record of folds does not take its tolerance from it"):
        load_record(path)


def test_folds_of_other_specs_or_a_repeated_voice_are_refused(fold_runs, capsys):
    root, data_dir, dirs, commands = fold_runs

    def refused(*args):
        status = main(["leaderboard", "add", *map(str, args), "--tier", "cpu", "--dir", str(root / "board-refuse"),
                       "--data-dir", str(data_dir)])
        assert status == 2
        return capsys.readouterr().err

    assert "with problem.test_speakers=['alice'] again" in refused(
        dirs[0], dirs[1], dirs[0], *[f"--command={c}" for c in (commands[0], commands[1], commands[0])])
    assert not (root / "board-refuse" / "records").exists()  # nothing half-written
