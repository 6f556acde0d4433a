"""Checkpoints: complete round trip, atomic persist, keep-last-K, averaging."""

import json
import os
import random

import numpy as np
import pytest
import torch

from runner.training import checkpoint as ckpt
from runner.training.optim import build_optimizer
from runner.training.schedules import build_scheduler
from test_training_fakes import TinySeq2Seq, tiny_hparams


def _state(seed=0):
    torch.manual_seed(seed)
    model = TinySeq2Seq()
    hparams = tiny_hparams()
    optimizer = build_optimizer(model, hparams)
    scheduler = build_scheduler(optimizer, hparams, 10)
    return model, optimizer, scheduler


def _save(directory, step, seed=0):
    model, optimizer, scheduler = _state(seed)
    return ckpt.save_checkpoint(directory, model=model, optimizer=optimizer, scheduler=scheduler,
                                step=step, position=ckpt.DataPosition(1, step), spec_hash="abc")


def test_round_trip_restores_everything(tmp_path):
    model, optimizer, scheduler = _state()
    model(_batch()).logits.sum().backward()
    optimizer.step()
    scheduler.step()
    random.seed(5), np.random.seed(6), torch.manual_seed(7)
    ckpt.save_checkpoint(str(tmp_path / "c"), model=model, optimizer=optimizer, scheduler=scheduler,
                         step=1, position=ckpt.DataPosition(2, 9), spec_hash="abc")
    expected_draws = (random.random(), np.random.rand(), torch.rand(1))

    other, other_opt, other_sched = _state(seed=1)
    step, position = ckpt.load_checkpoint(str(tmp_path / "c"), model=other, optimizer=other_opt, scheduler=other_sched)
    assert (step, position) == (1, ckpt.DataPosition(2, 9))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    assert other_sched.last_epoch == scheduler.last_epoch
    assert torch.equal(other_opt.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert (random.random(), np.random.rand()) == expected_draws[:2]
    assert torch.equal(torch.rand(1), expected_draws[2])
    assert ckpt.read_meta(str(tmp_path / "c")) == {"step": 1, "epoch": 2, "index": 9, "spec_hash": "abc"}


def test_the_fp16_loss_scale_is_restored(tmp_path):
    # GradScaler("cpu") has the state of CUDA's: its scale and growth tracker move as training goes.
    model, optimizer, scheduler = _state()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    scaler.scale(torch.ones(()))  # the scaler's state exists from its first scale()
    scaler.update(new_scale=37.0)
    ckpt.save_checkpoint(str(tmp_path / "c"), model=model, optimizer=optimizer, scheduler=scheduler, step=3,
                         position=ckpt.DataPosition(0, 3), scaler=scaler)
    other, other_opt, other_sched = _state(seed=1)
    restored = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)
    ckpt.load_checkpoint(str(tmp_path / "c"), model=other, optimizer=other_opt, scheduler=other_sched, scaler=restored)
    assert restored.get_scale() == 37.0
    fresh = torch.amp.GradScaler("cpu", init_scale=5.0)  # a checkpoint saved without a scaler leaves it alone
    ckpt.load_checkpoint(_save(str(tmp_path / "d"), 1), model=other, optimizer=other_opt, scheduler=other_sched,
                         scaler=fresh)
    assert fresh.get_scale() == 5.0


def _batch():
    ids = torch.tensor([[2, 3, 1], [4, 1, 0]])
    return {"inputs": ids, "targets": ids}


def test_persist_keeps_the_last_k(tmp_path):
    root = str(tmp_path / "checkpoints")
    for step in (10, 20, 30, 40, 50):
        final = ckpt.persist(_save(str(tmp_path / f"staged{step}"), step), root, keep=3)
        assert os.path.basename(final) == f"step_{step:08d}"
        assert not os.path.exists(tmp_path / f"staged{step}")  # the session took ownership
    assert [os.path.basename(p) for p in ckpt.list_checkpoints(root)] == ["step_00000030", "step_00000040", "step_00000050"]
    assert ckpt.latest_checkpoint(root).endswith("step_00000050")


def test_unfinished_checkpoints_are_never_picked(tmp_path):
    root = tmp_path / "checkpoints"
    ckpt.persist(_save(str(tmp_path / "s"), 10), str(root), keep=5)
    (root / ".partial-step_00000020-123").mkdir()          # a crash mid-copy
    (root / "step_00000030").mkdir()                        # a directory without meta.json
    assert ckpt.latest_checkpoint(str(root)).endswith("step_00000010")


def test_a_crash_during_persist_leaves_the_previous_checkpoints(tmp_path, monkeypatch):
    root = str(tmp_path / "checkpoints")
    ckpt.persist(_save(str(tmp_path / "a"), 10), root, keep=5)
    staged = _save(str(tmp_path / "b"), 20)

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.os, "replace", crash)
    with pytest.raises(OSError):
        ckpt.persist(staged, root, keep=5)
    monkeypatch.undo()
    assert ckpt.latest_checkpoint(root).endswith("step_00000010")
    assert [os.path.basename(p) for p in ckpt.list_checkpoints(root)] == ["step_00000010"]


def test_persist_across_filesystems_copies_then_renames(tmp_path, monkeypatch):
    staged = _save(str(tmp_path / "s"), 7)
    real_rename = os.rename

    def cross_device(src, dst):
        if src == staged:
            raise OSError(18, "Invalid cross-device link")
        return real_rename(src, dst)

    monkeypatch.setattr(ckpt.os, "rename", cross_device)
    final = ckpt.persist(staged, str(tmp_path / "root"), keep=2)
    assert os.path.isfile(os.path.join(final, ckpt.MODEL_FILE)) and not os.path.exists(staged)


def test_average_checkpoints(tmp_path):
    paths = [_save(str(tmp_path / f"c{i}"), i, seed=i) for i in range(3)]
    states = [ckpt.load_model_state(p) for p in paths]
    averaged = ckpt.average_checkpoints(paths)
    for key, value in averaged.items():
        expected = sum(s[key].double() for s in states) / 3
        assert torch.allclose(value.double(), expected, atol=1e-7)
        assert value.dtype == states[0][key].dtype


def test_average_keeps_integer_buffers_from_the_last(tmp_path):
    paths = []
    for i in range(2):
        model = torch.nn.BatchNorm1d(3)
        model.num_batches_tracked += i + 1
        directory = tmp_path / f"b{i}"
        directory.mkdir()
        torch.save(model.state_dict(), directory / ckpt.MODEL_FILE)
        paths.append(str(directory))
    assert ckpt.average_checkpoints(paths)["num_batches_tracked"].item() == 2


def test_average_rejects_different_models(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir(), b.mkdir()
    torch.save({"w": torch.zeros(2)}, a / ckpt.MODEL_FILE)
    torch.save({"v": torch.zeros(2)}, b / ckpt.MODEL_FILE)
    with pytest.raises(ckpt.CheckpointError, match="only checkpoints of one model"):
        ckpt.average_checkpoints([str(a), str(b)])
    with pytest.raises(ValueError, match="no checkpoint"):
        ckpt.average_checkpoints([])


def test_missing_files_are_named(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / ckpt.META_FILE).write_text(json.dumps({"step": 1}))
    model, optimizer, scheduler = _state()
    with pytest.raises(ckpt.CheckpointError, match="missing model.pt"):
        ckpt.load_checkpoint(str(tmp_path / "x"), model=model, optimizer=optimizer, scheduler=scheduler)
