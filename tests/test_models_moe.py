"""Switch mixture-of-experts feed-forward: top-1 routing, capacity, load-balancing loss."""


import pytest
import torch

from runner.models import transformer
from runner.models.moe import SwitchFeedForward
from runner.models.transformer_hparams import TransformerHparams
from runner.problems.base import DataInfo


def expert_output(moe, e, x):
    return torch.relu(x @ moe.w_in[e] + moe.b_in[e, 0]) @ moe.w_out[e] + moe.b_out[e, 0]


def test_each_token_gets_its_top1_expert_scaled_by_its_gate():
    torch.manual_seed(0)
    moe = SwitchFeedForward(8, 16, num_experts=4).eval()
    x = torch.randn(2, 5, 8)
    out, _ = moe(x)
    probs, expert, _ = moe.route(x.reshape(-1, 8))
    for i, token in enumerate(x.reshape(-1, 8)):
        e = int(expert[i])
        assert e == int(probs[i].argmax())
        torch.testing.assert_close(out.reshape(-1, 8)[i], probs[i, e] * expert_output(moe, e, token),
                                   rtol=1e-5, atol=1e-6)


def test_capacity_drops_overflow_in_training_only():
    torch.manual_seed(0)
    moe = SwitchFeedForward(8, 16, num_experts=4, capacity_factor=1.0)
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.weight[2, 0] = 10.0  # every token with x[0] > 0 prefers expert 2
    x = torch.randn(16, 8).abs()  # all 16 tokens want expert 2; capacity = 16 / 4 * 1.0 = 4
    assert moe.capacity(16) == 4
    out, _ = moe(x)
    kept = (out.abs().sum(-1) > 0)
    assert kept.tolist() == [True] * 4 + [False] * 12, "the first 4 tokens fill expert 2; the rest overflow"
    moe.eval()
    assert (moe(x)[0].abs().sum(-1) > 0).all(), "eval drops no token"


def test_load_balancing_loss_is_one_when_uniform_and_experts_when_collapsed():
    moe = SwitchFeedForward(4, 8, num_experts=4)
    with torch.no_grad():
        moe.router.weight.copy_(torch.eye(4) * 30.0)
    balanced = torch.eye(4).repeat(3, 1)  # 3 tokens confidently routed to each expert
    assert moe(balanced)[1].item() == pytest.approx(1.0, abs=1e-3)
    collapsed = torch.eye(4)[[0] * 12]  # all tokens confidently to expert 0
    assert moe(collapsed)[1].item() == pytest.approx(4.0, abs=1e-3)
    with torch.no_grad():
        moe.router.weight.zero_()  # uniform probabilities: the loss is 1 whatever the argmax
    assert moe(torch.randn(12, 4))[1].item() == pytest.approx(1.0, abs=1e-6)
    torch.manual_seed(0)
    random = SwitchFeedForward(4, 8, num_experts=4)
    assert random(torch.randn(40, 4))[1].item() > 0


def test_router_and_experts_receive_gradients():
    torch.manual_seed(0)
    moe = SwitchFeedForward(8, 16, num_experts=4)
    out, aux = moe(torch.randn(3, 7, 8))
    (out.sum() + aux).backward()
    assert moe.router.weight.grad.abs().sum() > 0
    assert moe.w_in.grad.abs().sum() > 0 and moe.w_out.grad.abs().sum() > 0


def test_model_aux_loss_is_scaled_by_coefficient():
    info = DataInfo(input_vocab_size=11, target_vocab_size=11, pad_id=0)
    batch = {"inputs": torch.randint(2, 11, (2, 4)), "targets": torch.randint(2, 11, (2, 3))}
    outs = []
    for coef in (0.01, 0.02):
        torch.manual_seed(0)
        hp = TransformerHparams(hidden_size=16, filter_size=32, num_heads=2, num_encoder_layers=1,
                                num_decoder_layers=1, moe_num_experts=2, moe_loss_coef=coef)
        outs.append(transformer.build(hp, info).eval()(batch).aux_loss)
    # two MoE layers (encoder + decoder), each >= ~1 near uniform routing
    assert 0.01 <= outs[0].item() < 0.1
    assert outs[1].item() == pytest.approx(2 * outs[0].item(), rel=1e-5)


@pytest.mark.parametrize("bad", [dict(num_experts=0), dict(num_experts=2, capacity_factor=0.0)])
def test_bad_moe_arguments(bad):
    with pytest.raises(ValueError):
        SwitchFeedForward(4, 8, **bad)
