"""Optimizers built from the shared hparams."""

from types import SimpleNamespace

import pytest
import torch

from runner.training.adafactor import T2TAdafactor
from runner.training.optim import build_optimizer, parameter_groups
from test_training_fakes import TinySeq2Seq, tiny_hparams


def test_norms_and_biases_are_not_decayed():
    model = TinySeq2Seq()
    decayed, plain = parameter_groups(model, 0.01)
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"])
    assert any(p is model.norm.weight for p in plain["params"])
    assert any(p is model.out.bias for p in plain["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                       ("adafactor", T2TAdafactor), ("sgd", torch.optim.SGD)])
def test_each_optimizer_builds_with_unit_lr_and_takes_a_step(name, cls):
    model = TinySeq2Seq(dropout=0.0)
    optimizer = build_optimizer(model, tiny_hparams(optimizer=name, weight_decay=0.01))
    assert type(optimizer) is cls
    assert all(group["lr"] == 1.0 for group in optimizer.param_groups)
    before = model.out.weight.detach().clone()
    for group in optimizer.param_groups:
        group["lr"] = 1e-2
    model.out.weight.sum().backward()
    optimizer.step()
    assert not torch.equal(before, model.out.weight)


def test_adam_uses_t2t_betas_and_epsilon():
    optimizer = build_optimizer(TinySeq2Seq(), tiny_hparams(optimizer="adam"))
    group = optimizer.param_groups[0]
    assert group["betas"] == (0.9, 0.997) and group["eps"] == 1e-9


def test_sgd_momentum_from_hparams():
    optimizer = build_optimizer(TinySeq2Seq(), tiny_hparams(optimizer="sgd", optimizer_momentum_momentum=0.7))
    assert optimizer.param_groups[0]["momentum"] == 0.7


def test_unknown_optimizer_is_a_clear_error():
    hparams = SimpleNamespace(optimizer="lamb", weight_decay=0.0)
    with pytest.raises(ValueError, match="hparams.optimizer.*lamb"):
        build_optimizer(TinySeq2Seq(), hparams)
