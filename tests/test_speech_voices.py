"""Unseen voices (issue 16), on real FSDD recordings: feature normalisation, the train-time voice
augmentations (speed, pitch, volume, noise, reverberation), their determinism and resumption,
leave-one-speaker-out splits, and espeak-ng's synthetic voices in the training split only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from runner import api
from runner.problems import speech, synthetic_voices
from runner.problems import voice_augment as va
from runner.problems.audio import log_mel, read_wav
from runner.problems.speech_spec import VoiceAugmentation
from runner.specs.errors import SpecError

REPO = Path(__file__).resolve().parents[1]
# ../shared/data/fsdd beside the checkout (as CI has it); $RUNNER_SHARED_DATA/fsdd from a worktree elsewhere.
FSDD = next((p for p in (REPO.parent / "shared" / "data" / "fsdd",
                         Path(os.environ.get("RUNNER_SHARED_DATA", "/nonexistent")) / "fsdd") if p.is_dir()), None)
pytestmark = pytest.mark.skipif(FSDD is None, reason="../shared/data/fsdd (the shared FSDD copy) is not present")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="the espeak-ng program is not installed (apt-get install -y espeak-ng)")
SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")
RATE = 8000


def take(name: str = "3_theo_5.wav") -> torch.Tensor:
    return torch.from_numpy(read_wav(FSDD / name, expected_rate=RATE)[0]).double()


def pitch_hz(samples: torch.Tensor) -> float:
    """The fundamental of a voiced take: the autocorrelation's peak between 60 and 400 Hz."""
    s = samples.numpy() - samples.numpy().mean()
    ac = np.correlate(s, s, "full")[s.size - 1:]
    low, high = RATE // 400, RATE // 60
    return RATE / (low + int(np.argmax(ac[low:high])))


def power_db(samples: torch.Tensor) -> float:
    return 10 * float(torch.log10(samples.square().mean()))


# ----------------------------------------------------------------------------- normalisation

def test_per_bin_normalisation_gives_each_mel_bin_zero_mean_unit_variance_over_time():
    a, b = take("3_theo_5.wav"), take("7_jackson_12.wav")
    batch = torch.zeros(2, max(a.numel(), b.numel()))
    batch[0, : a.numel()], batch[1, : b.numel()] = a, b
    lengths = torch.tensor([a.numel(), b.numel()])
    assert a.numel() != b.numel()  # one row is padded
    features, frames = log_mel(batch, lengths, RATE, num_mel_bins=40, normalize="per_bin")
    for row in range(2):
        real = features[row, : frames[row]]
        assert real.mean(dim=0).abs().max() < 1e-4
        assert (real.var(dim=0, unbiased=False) - 1).abs().max() < 1e-2
        assert features[row, frames[row]:].abs().sum() == 0  # padding stays zero
    # per utterance, one mean/variance over every bin: zero mean, unit variance overall
    whole, frames = log_mel(batch, lengths, RATE, num_mel_bins=40, normalize="utterance")
    real = whole[0, : frames[0]]
    assert abs(float(real.mean())) < 1e-4 and abs(float(real.var(unbiased=False)) - 1) < 1e-2
    # what normalisation is for: a louder recording of the same take gives the same features (with a
    # floor below every real frame's energy, so that the gain is a constant added to each log energy)
    quiet, _ = log_mel(batch, lengths, RATE, num_mel_bins=40, normalize="per_bin", log_floor=1e-20)
    louder, _ = log_mel(batch * 4.0, lengths, RATE, num_mel_bins=40, normalize="per_bin", log_floor=1e-20)
    assert torch.allclose(louder, quiet, atol=1e-3)


# ----------------------------------------------------------------------------- each augmentation

def test_speed_changes_the_length_and_the_pitch_together():
    x = take()
    faster = va.speed(x, 1.25)
    assert abs(faster.numel() - x.numel() / 1.25) <= 1
    assert pitch_hz(faster) == pytest.approx(1.25 * pitch_hz(x), rel=0.05)
    assert va.speed(x, 1.0) is x


@pytest.mark.parametrize("semitones", [3.0, -4.0])
def test_pitch_shift_moves_the_pitch_and_keeps_the_length(semitones):
    x = take()
    shifted = va.pitch_shift(x, semitones)
    assert shifted.numel() == x.numel()
    assert pitch_hz(shifted) == pytest.approx(2 ** (semitones / 12) * pitch_hz(x), rel=0.05)
    assert power_db(shifted) == pytest.approx(power_db(x), abs=1e-6)  # the same loudness


def test_gain_scales_the_power_by_its_decibels():
    x = take()
    assert power_db(va.gain(x, 6.0)) - power_db(x) == pytest.approx(6.0, abs=1e-6)


@pytest.mark.parametrize("snr_db, slope", [(5.0, 0.0), (20.0, 1.0), (0.0, 2.0)])
def test_added_noise_has_the_asked_signal_to_noise_ratio(snr_db, slope):
    x = take()
    torch.manual_seed(0)
    noise = va.add_noise(x, snr_db, slope) - x
    assert power_db(x) - power_db(noise) == pytest.approx(snr_db, abs=1e-6)
    spectrum = torch.fft.rfft(noise).abs().square()
    low, high = spectrum[1: spectrum.numel() // 8].mean(), spectrum[-spectrum.numel() // 8:].mean()
    if slope == 0.0:
        assert 0.5 < float(low / high) < 2.0  # white: flat
    else:
        assert float(low / high) > 10.0  # pink or brown: the low frequencies dominate


def test_reverberation_leaves_a_decaying_tail_and_keeps_the_length():
    x = take()
    padded = torch.cat([x, torch.zeros(RATE // 2)])  # half a second of silence after the word
    torch.manual_seed(0)
    wet = va.reverberate(padded, va.room_response(0.4, RATE))
    assert wet.numel() == padded.numel()
    tail = wet[x.numel():]
    early, late = tail[: RATE // 20].square().mean(), tail[RATE // 5: RATE // 4].square().mean()
    assert early > 1e-6 and late < early / 10  # sound goes on after the word ends, and dies away
    torch.manual_seed(0)
    short = va.reverberate(padded, va.room_response(0.05, RATE))[x.numel():]
    assert short[RATE // 20:].square().mean() < 1e-3 * tail[RATE // 20:].square().mean()


def test_augmentation_is_deterministic_under_a_seed_and_differs_across_seeds():
    options = VoiceAugmentation(speed=0.1, pitch_semitones=2.0, volume_db=6.0, noise_snr_db=(10.0, 30.0),
                                reverb_rt60_s=(0.1, 0.5))
    x = take()
    before = torch.get_rng_state()
    first = va.augment(x, options, RATE, torch.Generator().manual_seed(7))
    again = va.augment(x, options, RATE, torch.Generator().manual_seed(7))
    other = va.augment(x, options, RATE, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert first.numel() != other.numel() or not torch.equal(first, other)
    assert torch.equal(torch.get_rng_state(), before)  # a given generator leaves torch's global RNG alone


# ----------------------------------------------------------------------------- problem options

def fold_spec(test_speaker: str, *overrides: str):
    return api.resolve(str(REPO / "catalog" / "recipes" / "spoken_digits_cpu_ci.yaml"), [
        f"problem.source.path={FSDD}", f"problem.test_speakers=[{test_speaker}]", "problem.utterances.train=12",
        "problem.utterances.eval=4", "problem.utterances.test=4", *overrides])


def test_the_recorded_spoken_digits_spec_keeps_its_hash_with_the_new_options_at_their_defaults():
    from runner.leaderboard.record import load_record

    [recorded] = sorted((REPO / "leaderboard" / "records").glob("spoken_digits.wer.cpu.*.yaml"))
    experiment = api.resolve(str(REPO / "catalog" / "recipes" / "spoken_digits_cpu.yaml"), [])
    assert experiment.problem.augmentation is None and experiment.problem.synthetic_voices is None
    assert experiment.spec_hash in {run.spec_hash for run in load_record(recorded).seeds}  # its theo fold
    changed = api.resolve(str(REPO / "catalog" / "recipes" / "spoken_digits_cpu.yaml"),
                          ["problem.augmentation.volume_db=6"])
    assert changed.spec_hash != experiment.spec_hash
    # the data cache does not depend on augmentation (applied when batches are made)
    assert speech.fingerprint_data(changed.problem, "fsdd") == speech.fingerprint_data(experiment.problem, "fsdd")


@pytest.mark.parametrize("test_speaker", SPEAKERS)
def test_leave_one_speaker_out_never_trains_or_evaluates_on_the_test_speaker(test_speaker, tmp_path):
    data = speech.build(fold_spec(test_speaker).problem, tmp_path)
    assert set(data.speakers("test")) == {test_speaker}
    heard = set(data.speakers("train")) | set(data.speakers("eval"))
    assert test_speaker not in heard and heard <= set(SPEAKERS)


def test_training_batches_are_augmented_and_eval_batches_are_not(tmp_path):
    experiment = fold_spec("theo", "problem.augmentation.noise_snr_db=[0,0]", "problem.augmentation.speed=0.2")
    data = speech.build(experiment.problem, tmp_path)
    plain = speech.build(fold_spec("theo").problem, tmp_path)  # the same cache: augmentation is not in it
    assert data.folder == plain.folder
    assert data.collate_ahead and not plain.collate_ahead
    examples = [data.split("train")[i] for i in range(4)]
    a = data.collate(examples, rng=torch.Generator().manual_seed(3))
    b = data.collate(examples, rng=torch.Generator().manual_seed(3))
    assert torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["targets"], b["targets"])
    unchanged = plain.collate([plain.split("train")[i] for i in range(4)])
    assert not torch.equal(a["input_lengths"], unchanged["input_lengths"])  # speed changed the lengths
    assert torch.equal(a["targets"], unchanged["targets"])
    before = torch.get_rng_state()
    evaluated = data.collate([data.split("eval")[i] for i in range(2)])
    assert torch.equal(torch.get_rng_state(), before)  # eval batches draw nothing and change nothing
    assert torch.equal(evaluated["inputs"], plain.collate([plain.split("eval")[i] for i in range(2)])["inputs"])
    assert not any(data.split("test")[i]["augment"] for i in range(2))


def test_plain_batches_are_the_features_of_float64_waveforms_bit_for_bit(tmp_path):
    """Waveforms are float32 from the start (augmentation's FFTs run twice as fast): int16 / 2^15 is
    exact in float32, so a batch without augmentation is the one float64 waveforms gave, bit for bit,
    and the records trained on such batches still reproduce."""
    data = speech.build(fold_spec("theo").problem, tmp_path)
    examples = [data.split("train")[i] for i in range(6)]
    as_float64 = data._batch([torch.from_numpy(ex["audio"] / 32768.0) for ex in examples], examples)
    batch = data.collate(examples)
    assert all(torch.equal(batch[k], as_float64[k]) for k in ("inputs", "input_lengths", "targets"))


def test_batches_are_planned_on_the_longest_a_slowed_utterance_can_be(tmp_path):
    """Speed augmentation lengthens an utterance by up to 1/(1 - speed): the batch plan counts that,
    so no augmented batch is longer than its frame budget says (nor an utterance than max_length)."""
    experiment = fold_spec("theo", "problem.augmentation.speed=0.2")
    data = speech.build(experiment.problem, tmp_path)
    plain = speech.build(fold_spec("theo").problem, tmp_path)
    planned, actual = data.split("train").frame_lengths, plain.split("train").frame_lengths
    assert (planned >= actual).all() and (planned > actual * 1.2).any()
    assert torch.equal(torch.from_numpy(data.split("eval").frame_lengths),
                       torch.from_numpy(plain.split("eval").frame_lengths))  # eval is never augmented
    examples = [data.split("train")[i] for i in range(8)]
    for seed in range(20):
        frames = data.collate(examples, rng=torch.Generator().manual_seed(seed))["input_lengths"].numpy()
        assert (frames <= planned[:8]).all()


def test_a_run_with_augmentation_resumes_bit_identically(tmp_path):
    from tests.test_training_loop import Crash, CrashingSession, final_weights, rows
    from runner.training.loop import train
    from runner.training.session import InProcessSession

    experiment = fold_spec("theo", "problem.augmentation.speed=0.1", "problem.augmentation.pitch_semitones=2",
                           "problem.augmentation.noise_snr_db=[10,30]", "problem.augmentation.reverb_rt60_s=[0.1,0.3]",
                           "problem.augmentation.volume_db=6", "train.steps=4", "train.eval_every=2",
                           "train.checkpoint_every=2", "train.log_every=1", "decode.max_examples=2")
    data = speech.build(experiment.problem, tmp_path / "cache")
    straight = str(tmp_path / "straight")
    train(experiment, data, InProcessSession(straight, device="cpu", verbose=False))
    crashed = str(tmp_path / "crashed")
    with pytest.raises(Crash):
        train(experiment, data, CrashingSession(crashed, crash_at=2, device="cpu", verbose=False))
    train(experiment, data, InProcessSession(crashed, device="cpu", verbose=False))
    a, b = final_weights(straight), final_weights(crashed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = [{r["step"]: r["train_loss"] for r in rows(out) if "train_loss" in r} for out in (straight, crashed)]
    assert losses[0] == losses[1] and len(losses[0]) == 4


def _augmented_steps(data, steps: int, rank: int = 0, world: int = 1, thread: bool = True):
    from runner.training.step_batches import StepBatches
    from runner.training.stream import BatchStream

    collator = StepBatches(data, BatchStream(data, 400, 0, seed=5), seed=5, rank=rank, world=world,
                           accumulation=1, thread=thread)
    try:
        return [collator.next_step() for _ in range(steps)]
    finally:
        collator.close()


def test_collating_a_step_ahead_on_a_thread_draws_exactly_what_the_training_thread_would(tmp_path):
    """The loop collates augmented speech one step ahead on a second thread (step_batches.py): every
    micro-batch draws from a generator fixed by its place in the stream, so the tensors are the same
    as collating each step when it comes, across an epoch boundary, and torch's global RNG (dropout's)
    is never touched."""
    experiment = fold_spec("theo", "problem.augmentation.speed=0.1", "problem.augmentation.noise_snr_db=[10,30]",
                           "problem.augmentation.volume_db=6")
    data = speech.build(experiment.problem, tmp_path)
    epoch_length = len(data.batch_plan("train", 400, 0, 5, 0, True))
    steps = epoch_length + 3
    before = torch.get_rng_state()
    ahead = _augmented_steps(data, steps, thread=True)
    assert torch.equal(torch.get_rng_state(), before)
    inline = _augmented_steps(data, steps, thread=False)
    for (indices_a, a), (indices_b, b) in zip(ahead, inline):
        assert indices_a == indices_b and a.keys() == b.keys() == {0}
        assert all(torch.equal(a[0][k], b[0][k]) for k in a[0])
    # the same utterances in the next epoch are drawn afresh, not replayed
    first = {tuple(i[0]): batch[0]["inputs"] for i, batch in ahead[:epoch_length]}
    again = [(tuple(i[0]), batch[0]["inputs"]) for i, batch in ahead[epoch_length:]]
    assert any(key in first and not (first[key].shape == x.shape and torch.equal(first[key], x)) for key, x in again)


def test_with_several_workers_each_collates_the_whole_step_alike(tmp_path):
    """Each worker counts the whole step's target tokens, so it collates the other workers'
    micro-batches too: with per-place draws they are the tensors those workers train on."""
    data = speech.build(fold_spec("theo", "problem.augmentation.speed=0.1").problem, tmp_path)
    rank0, rank1 = (_augmented_steps(data, 3, rank=r, world=2) for r in (0, 1))
    for (_, a), (_, b) in zip(rank0, rank1):
        assert a.keys() == b.keys() == {0, 1}
        assert all(torch.equal(a[i][k], b[i][k]) for i in a for k in a[i])


# ----------------------------------------------------------------------------- synthetic voices

@needs_espeak
def test_synthetic_voices_are_added_to_training_only(tmp_path):
    experiment = fold_spec("nicolas", "problem.synthetic_voices.utterances=3",
                           "problem.synthetic_voices.voices=[en+f2,en-us]")
    data = speech.build(experiment.problem, tmp_path)
    train_speakers = data.speakers("train")
    synthetic = [i for i, s in enumerate(train_speakers) if s.startswith(synthetic_voices.SPEAKER_PREFIX)]
    assert len(train_speakers) == 12 + 3 and len(synthetic) == 3
    assert {train_speakers[i] for i in synthetic} <= {"espeak-ng:en+f2", "espeak-ng:en-us"}
    for split in ("eval", "test"):
        assert not any(s.startswith(synthetic_voices.SPEAKER_PREFIX) for s in data.speakers(split))
    references = data.reference_texts("train")
    for i in synthetic:
        seconds = len(data.split("train")[i]["audio"]) / RATE
        assert 0.3 < seconds < 8.0 and 1 <= len(references[i].split()) <= 3  # the CI recipe's max_digits
    # another espeak-ng option is other data: its own cache folder
    assert data.folder != speech.build(fold_spec("nicolas").problem, tmp_path).folder


def test_synthetic_voices_without_espeak_ng_is_one_clear_error(tmp_path):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "runner", "datagen", str(REPO / "catalog/recipes/spoken_digits_cpu_ci.yaml"),
                           "-o", f"problem.source.path={FSDD}", "-o", "problem.synthetic_voices.utterances=2",
                           "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "apt-get install -y espeak-ng" in done.stderr and "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir()) or not any(p.name.startswith("spoken_digits") for p in tmp_path.iterdir())


def test_resampling_keeps_a_tone_below_nyquist():
    t = np.arange(22050) / 22050
    out = synthetic_voices.resample(np.sin(2 * np.pi * 440 * t).astype(np.float32), 22050, RATE)
    assert out.size == RATE
    peak = np.argmax(np.abs(np.fft.rfft(out)))
    assert peak == 440  # 1 Hz per bin over one second


def test_bad_synthetic_voice_options_are_refused():
    with pytest.raises(SpecError, match="rate_wpm"):
        fold_spec("theo", "problem.synthetic_voices.rate_wpm=[300,100]")
    with pytest.raises(SpecError, match="voice name"):
        fold_spec("theo", "problem.synthetic_voices.voices=[en;rm]")
    with pytest.raises(SpecError, match="noise_snr_db"):
        fold_spec("theo", "problem.augmentation.noise_snr_db=[30,10]")


# ----------------------------------------------------------------------------- the LOSO figure

def test_the_leave_one_speaker_out_figure_runs_each_fold_and_resumes_finished_ones(tmp_path, capsys, monkeypatch):
    import json

    import mlflow

    from benchmarks import figures_speech_loso as loso

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    common = ["--quick", "--speakers", "theo,nicolas", "-o", f"problem.source.path={FSDD}",
              "--runs-dir", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data")]
    assert loso.main(common + ["--json", str(tmp_path / "a.json")]) == 0
    result = json.loads((tmp_path / "a.json").read_text())
    assert [f["test_speaker"] for f in result["folds"]] == ["theo", "nicolas"]
    for fold in result["folds"]:
        assert f"problem.test_speakers=[{fold['test_speaker']}]" in fold["command"]
        assert fold["command"].startswith("OMP_NUM_THREADS=1 runner run catalog/recipes/spoken_digits_cpu_ci.yaml")
        assert fold["load_average"]["samples"] >= 2 and 0 <= fold["wer"]
        tracked = mlflow.MlflowClient(store).get_run(fold["mlflow_run_id"])  # each fold tracked as `runner run` is
        assert tracked.info.status == "FINISHED" and tracked.data.metrics["wer"] == fold["wer"]
    wers = [f["wer"] for f in result["folds"]]
    assert result["mean_wer"] == pytest.approx(sum(wers) / 2) and result["per_speaker_wer"]["theo"] == wers[0]
    # a finished result is never overwritten; finished folds are read back, not trained again
    assert loso.main(common + ["--json", str(tmp_path / "a.json")]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert loso.main(common + ["--json", str(tmp_path / "b.json")]) == 0
    again = json.loads((tmp_path / "b.json").read_text())
    assert [f["wer"] for f in again["folds"]] == wers and [f["steps"] for f in again["folds"]] == [4, 4]
    assert again["folds"] == result["folds"]  # as measured when trained: load and wall time included
    from runner.leaderboard.capture import run_provenance
    from runner.run_dir import RunDir
    for fold in result["folds"]:  # each fold names the code it trained at, as its record would
        assert (fold["code_commit"], fold["code_dirty"]) == run_provenance(Path(fold["run_dir"]), REPO)[:2]
        assert len(RunDir(fold["run_dir"]).starts()) == 1
    capsys.readouterr()
    theo_entry = loso.fold_entry_path(Path(result["folds"][0]["run_dir"]))
    old_code = json.loads(theo_entry.read_text())
    theo_entry.write_text(json.dumps({**old_code, "code_commit": "0" * 40, "code_dirty": False}))
    assert loso.main(common + ["--json", str(tmp_path / "b1.json")]) == 0  # read back, not trained again
    said = capsys.readouterr().out
    assert "note: this fold was trained at 0000000; the code is now" in said and "move " in said
    theo_entry.write_text(json.dumps(old_code))
    for entry in (tmp_path / "runs").glob("*.fold.json"):  # folds finished before entries were kept
        entry.unlink()
    assert loso.main(common + ["--json", str(tmp_path / "b2.json")]) == 0
    unknown = json.loads((tmp_path / "b2.json").read_text())["folds"]
    assert [f["wer"] for f in unknown] == wers and [f["load_average"] for f in unknown] == [None, None]
    assert "unknown" in capsys.readouterr().out  # not a read-back's load passed off as the fold's
    # a test speaker the recordings lack: one message, exit 2, before anything trains
    assert loso.main(common[:1] + ["--speakers", "nobody", "-o", f"problem.source.path={FSDD}", "--json",
                                   str(tmp_path / "c.json"), "--data-dir", str(tmp_path / "data")]) == 2
    assert "nobody" in capsys.readouterr().err and not (tmp_path / "c.json").exists()


def test_the_ablation_runs_each_variant_by_leave_one_speaker_out_and_says_what_to_keep(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")

    from benchmarks import figures_speech_ablation as ablation

    assert ablation.VARIANTS["all"] == [o for name, options in ablation.VARIANTS.items()
                                        if name not in ("baseline", "all", *ablation.NOISE_VARIANTS) for o in options]
    assert "train.seed=2" not in ablation.VARIANTS["all"]  # a seed is not an option to combine
    quick_all = ablation.variant_overrides("all", quick=True)
    assert ablation.QUICK_SYNTHETIC in quick_all and "problem.synthetic_voices.utterances=2000" not in quick_all
    out = tmp_path / "ablation.json"
    argv = ["--quick", "--variants", "baseline,speed", "--speakers", "theo,nicolas", "-o",
            f"problem.source.path={FSDD}", "--runs-dir", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"),
            "--json", str(out)]
    assert ablation.main(argv) == 0
    result = json.loads(out.read_text())
    baseline, speed = result["table"]
    assert (baseline["variant"], speed["variant"]) == ("baseline", "speed")
    assert set(speed["per_speaker_wer"]) == {"theo", "nicolas"}
    assert speed["change_vs_baseline"] == pytest.approx(speed["mean_wer"] - baseline["mean_wer"])
    assert speed["keep"] == (speed["mean_wer"] < baseline["mean_wer"] - 0.02) and result["keep_margin"] == 0.02
    better = sum(speed["per_speaker_wer"][s] < baseline["per_speaker_wer"][s] for s in ("theo", "nicolas"))
    assert speed["folds_better"] == better
    rows = {"baseline": {"mean_wer": 0.30, "per_speaker_wer": {"a": 0.4, "b": 0.2}},
            "slightly": {"mean_wer": 0.29, "per_speaker_wer": {"a": 0.1, "b": 0.48}},
            "clearly": {"mean_wer": 0.20, "per_speaker_wer": {"a": 0.3, "b": 0.1}},
            "seed2": {"mean_wer": 0.25, "per_speaker_wer": {"a": 0.3, "b": 0.2}}}
    judged = {r["variant"]: r for r in ablation.judge(rows, ["a", "b"])}
    assert judged["seed2"]["keep"] is None and judged["seed2"]["change_vs_baseline"] == pytest.approx(-0.05)
    assert not judged["slightly"]["keep"] and judged["slightly"]["folds_better"] == 1  # within noise: not kept
    assert judged["clearly"]["keep"] and judged["clearly"]["folds_better"] == 2
    assert ablation.main(argv) == 2 and "never overwritten" in capsys.readouterr().err
    assert ablation.main(["--quick", "--variants", "baseline,louder"]) == 2
    assert "unknown variant(s) ['louder']" in capsys.readouterr().err
