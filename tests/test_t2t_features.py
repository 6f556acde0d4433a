"""What the T2T sets needed from the shared code: pre-activation ResNet, T2T's initializers,
the legacy exponential warmup and T2T's own cosdecay factor, Nesterov momentum, and hparams
added without moving recorded spec hashes."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from runner import api
from runner.models import resnet, shake_shake
from runner.models.hparams_base import unhashed_defaults
from runner.models.image_input import init_conv_net
from runner.models.resnet_hparams import ResNetHparams
from runner.models.shake_shake_hparams import ShakeShakeHparams
from runner.problems.images import ImageDataInfo
from runner.training.optim import build_optimizer
from runner.training.schedules import learning_rate_fn

INFO = ImageDataInfo(input_vocab_size=256, target_vocab_size=10, target_pad_id=-1, input_kind="pixels",
                     image_shape=(8, 8, 3), levels=256)


def _images(n=4):
    return torch.randint(0, 256, (n, 8, 8, 3), dtype=torch.uint8)


@pytest.mark.parametrize("block_fn", ["residual", "bottleneck"])
def test_preactivation_resnet_blocks(block_fn):
    hp = ResNetHparams(resnet_version="v2", stem="cifar", block_fn=block_fn, layer_sizes=[2, 1],
                       filter_sizes=[8, 8, 16], initializer="normal_unit_scaling")
    model = resnet.build(hp, INFO)
    first, second, third = model.stages
    # T2T's block_layer: the first block of every stage projects its pre-activated input, the rest add x itself.
    assert isinstance(first, resnet.PreActBlock) and first.shortcut is not None and second.shortcut is None
    assert third.shortcut[0].stride == (2, 2)
    # v2: the branch is BN-ReLU-conv ...; nothing follows the sum, and no conv is followed by a BN in the branch's tail.
    assert isinstance(first.pre[0], nn.BatchNorm2d) and isinstance(first.branch[-1], nn.Conv2d)
    assert model.stem[0][0].kernel_size == (7, 7) and model.stem[0][0].stride == (1, 1)  # is_cifar stem
    out = model({"inputs": _images(), "targets": torch.tensor([1, 2, 3, 4])})
    assert out.logits.shape == (4, 10)
    out.logits.sum().backward()
    # A block's output is the branch plus the shortcut, with no activation after the sum.
    second.eval()
    x = torch.randn(2, 8 * (4 if block_fn == "bottleneck" else 1), 8, 8)
    with torch.no_grad():
        assert torch.allclose(second(x), second.branch(second.pre(x)) + x)


def test_v1_resnet_is_unchanged_by_the_new_fields():
    torch.manual_seed(0)
    before = resnet.build(ResNetHparams(layer_sizes=[1, 1], filter_sizes=[8, 8, 16], block_fn="residual",
                                        stem="small"), INFO)
    assert not any(isinstance(m, resnet.PreActBlock) for m in before.modules())


@pytest.mark.parametrize("initializer, check", [
    # TF1 variance_scaling(fan_avg): uniform limit sqrt(3 * gain / fan_avg)
    ("uniform_unit_scaling", lambda w, fan_avg, gain: w.abs().max() <= math.sqrt(3 * gain / fan_avg) + 1e-6
     and w.std() == pytest.approx(math.sqrt(gain / fan_avg), rel=0.05)),
    ("normal_unit_scaling", lambda w, fan_avg, gain: w.std() == pytest.approx(math.sqrt(gain / fan_avg), rel=0.05)),
])
def test_t2t_initializers_use_fan_avg(initializer, check):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 128, 3), nn.BatchNorm2d(128))
    net[1].zero_init = True
    init_conv_net(net, 2.0, initializer)
    fan_avg = (64 * 9 + 128 * 9) / 2
    assert check(net[0].weight.detach(), fan_avg, 2.0)
    assert torch.all(net[1].weight == 1.0)  # T2T starts every BatchNorm at 1


def test_shake_shake_takes_its_initializer():
    hp = ShakeShakeHparams(num_hidden_layers=8, hidden_size=16, initializer="uniform_unit_scaling", initializer_gain=1.0)
    model = shake_shake.build(hp, INFO)
    conv = model.stem[0]
    fan_avg = (conv.in_channels * 9 + conv.out_channels * 9) / 2
    assert conv.weight.abs().max() <= math.sqrt(3 / fan_avg) + 1e-6


def _hp(schedule, warmup=100, decay=1000, constant=1.0):
    return SimpleNamespace(learning_rate_schedule=schedule, learning_rate_constant=constant,
                           learning_rate_warmup_steps=warmup, learning_rate_decay_steps=decay, hidden_size=64)


def test_exp_warmup_is_t2ts_legacy_warmup():
    rate = learning_rate_fn(_hp("constant*exp_warmup", constant=2e-4), 10_000)
    # _learning_rate_warmup: exp(log(0.01) / warmup) ** (warmup - step)
    for step in (0, 1, 50, 99):
        assert rate(step) == pytest.approx(2e-4 * math.exp(math.log(0.01) / 100) ** (100 - step), rel=1e-12)
    assert rate(100) == rate(5000) == pytest.approx(2e-4)


def test_cosdecay_is_t2ts_factor_and_rises_past_its_period():
    t2t = learning_rate_fn(_hp("cosdecay"), 10_000)
    ours = learning_rate_fn(_hp("cosine_decay"), 10_000)
    assert t2t(50) == 1.0 and t2t(500) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert t2t(1500) == pytest.approx(0.5 * (1 + math.cos(math.pi * 1.5)))  # T2T's: no min(), rises again
    assert ours(1500) == pytest.approx(0.0, abs=1e-12)


def test_sgd_nesterov_comes_from_hparams():
    hp = api.hparams("resnet_50")
    assert hp.optimizer_momentum_nesterov
    optimizer = build_optimizer(nn.Linear(2, 2), hp)
    assert optimizer.param_groups[0]["nesterov"] and optimizer.param_groups[0]["momentum"] == 0.9


def test_added_fields_leave_recorded_hashes_alone():
    recipe = "catalog/recipes/digits_cpu.yaml"
    plain = api.resolve(recipe)
    assert "resnet_version" in unhashed_defaults(type(plain.hparams))
    assert "optimizer_momentum_nesterov" in unhashed_defaults(type(plain.hparams))
    # the default leaves the hash alone; any other value is a different experiment
    same = api.resolve(recipe, ["hparams.resnet_version=v1"])
    other = api.resolve(recipe, ["hparams.resnet_version=v2"])
    assert plain.spec_hash == same.spec_hash != other.spec_hash


def _t2t_adafactor_reference(param, grads, lr, decay_type="pow", beta2=0.999, beta1=0.0, factored=True):
    """T2T's AdafactorOptimizer._resource_apply_dense in numpy, for a TF-layout matrix [in, out]."""
    import numpy as np

    p = param.astype(np.float64).copy()
    vr, vc, v, m = np.zeros(p.shape[0]), np.zeros(p.shape[1]), np.zeros(p.shape), np.zeros(p.shape)
    for step_num, g in enumerate(grads):  # T2T's global step before the update
        t = step_num + 1.0
        decay = 1 - t**-0.8 if decay_type == "pow" else beta2 * (1 - beta2 ** (t - 1)) / (1 - beta2**t)
        g2 = g * g + 1e-30
        scale = lr * max(np.sqrt((p * p).mean()), 1e-3)
        if factored:
            vr = decay * vr + (1 - decay) * g2.mean(-1)
            vc = decay * vc + (1 - decay) * g2.mean(-2)
            x = g / np.sqrt(vr / vr.mean())[:, None] / np.sqrt(vc)[None, :]
        else:
            v = decay * v + (1 - decay) * g2
            x = g / np.sqrt(v)
        x = x / max(1.0, np.sqrt((x * x).mean()) / 1.0)
        sub = scale * x
        if beta1:
            m = beta1 * m + (1 - beta1) * sub
            sub = m
        p = p - sub
    return p


@pytest.mark.parametrize("options", [{}, {"decay_type": "adam"}, {"beta1": 0.9}, {"factored": False}])
def test_adafactor_is_t2ts_update(options):
    import numpy as np

    rng = np.random.default_rng(0)
    weight_tf = rng.normal(size=(3, 5))              # TF layout [in, out]
    grads_tf = [rng.normal(size=(3, 5)) * s for s in (1.0, 0.01, 3.0)]
    layer = nn.Linear(3, 5, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight_tf.T))  # torch layout [out, in]
    from runner.training.adafactor import T2TAdafactor

    optimizer = T2TAdafactor(layer.parameters(), lr=0.05, **options)
    for g in grads_tf:
        layer.weight.grad = torch.tensor(g.T, dtype=torch.float32)
        optimizer.step()
    expected = _t2t_adafactor_reference(weight_tf, grads_tf, 0.05, **options)
    np.testing.assert_allclose(layer.weight.detach().numpy().T, expected, rtol=2e-5, atol=1e-6)


def test_adafactor_factors_a_conv_over_in_and_out():
    from runner.training.adafactor import T2TAdafactor

    conv = nn.Conv2d(4, 6, 3)
    optimizer = T2TAdafactor([conv.weight], lr=0.01)
    conv.weight.grad = torch.randn_like(conv.weight)
    optimizer.step()
    state = optimizer.state[conv.weight]
    assert state["v_row"].shape == (9, 4) and state["v_col"].shape == (9, 6)  # per kernel position: in, out


def _prepend_model(prepend_loss):
    from runner.models import transformer_lm
    from runner.models.transformer_lm_hparams import TransformerLMHparams
    from runner.problems.base import DataInfo

    hp = TransformerLMHparams(hidden_size=16, filter_size=32, num_heads=2, num_decoder_layers=1,
                              prepend_mode="prepend_inputs_masked_attention", prepend_loss=prepend_loss,
                              layer_prepostprocess_dropout=0.0, attention_dropout=0.0, relu_dropout=0.0)
    torch.manual_seed(0)
    return transformer_lm.build(hp, DataInfo(input_vocab_size=12, target_vocab_size=12))


def test_prepend_sequence_loss_scores_inputs_separator_and_targets():
    batch = {"inputs": torch.tensor([[5, 6, 1], [7, 1, 0]]), "targets": torch.tensor([[8, 9, 1], [4, 1, 0]])}
    model = _prepend_model("sequence")
    labels = model.training_targets(batch)
    # position p of inputs + [separator] + targets[:-1] predicts the token after it; the separator
    # (and padding) are pad and not scored
    assert labels.tolist() == [[6, 1, 0, 8, 9, 1], [1, 0, 0, 4, 1, 0]]
    model.train()
    logits = model(batch).logits
    assert logits.shape[:2] == labels.shape
    model.eval()
    evaluated = model(batch).logits
    assert evaluated.shape[:2] == batch["targets"].shape  # eval scores the targets alone
    # the target part is the same computation either way
    torch.testing.assert_close(logits[:, 3:], evaluated)
    targets_only = _prepend_model("targets")
    assert targets_only.training_targets(batch) is batch["targets"]


def test_sequence_loss_needs_masked_prepend_mode():
    from runner.models.transformer_lm_hparams import TransformerLMHparams

    with pytest.raises(ValueError, match="prepend_loss='sequence' needs prepend_mode"):
        TransformerLMHparams(prepend_mode="prepend_inputs_full_attention", prepend_loss="sequence")


def test_loop_counts_and_scores_the_models_training_targets():
    from runner.training.loop import micro_step_loss
    from runner.training.loss import smoothed_loss_sum

    batch = {"inputs": torch.tensor([[5, 6, 1], [7, 1, 0]]), "targets": torch.tensor([[8, 9, 1], [4, 1, 0]])}
    model = _prepend_model("sequence")
    model.train()
    labels = model.training_targets(batch)
    tokens = int((labels != 0).sum())
    assert tokens == 8  # input tokens after the first of each row (2 + 1), target tokens (3 + 2)
    torch.manual_seed(1)
    loss, share, _ = micro_step_loss(model, batch, global_tokens=tokens, world_size=1, accumulation=1,
                                     pad_id=0, label_smoothing=0.1, labels=labels)
    torch.manual_seed(1)
    expected = smoothed_loss_sum(model(batch).logits, labels, 0, 0.1) / tokens
    torch.testing.assert_close(loss, expected)


def test_speech_split_joins_folders_in_order(tmp_path):
    from test_speech_sources import LINES, local_spec, make_librispeech

    from runner.problems import speech

    root = make_librispeech(tmp_path / "ls")
    spec = local_spec(root, source={"path": str(root), "splits": {"train": "train+dev", "eval": "dev",
                                                                     "test": "test+dev"}})
    data = speech.build(spec, tmp_path / "cache")
    assert data.reference_texts("train") == ["hello world", "good morning", "yes", "no"]
    assert data.reference_texts("test") == ["hello", "world", "no"]
    assert len(LINES["eval"]) == 1


def test_librispeech_960h_is_t2ts_splits():
    from runner.specs import catalog as catalog_mod
    from runner.specs.resolve import load_problem

    spec = load_problem(catalog_mod.Catalog.for_file(None), "librispeech")
    assert spec.source.splits == {"train": "train-clean-100+train-clean-360+train-other-500",
                                  "eval": "dev-clean+dev-other", "test": "test-clean+test-other"}
    assert spec.source.hub.splits["train"] == "train.clean.100+train.clean.360+train.other.500"


def test_speech_hub_split_joins_hub_splits(tmp_path, monkeypatch):
    import datasets
    from test_speech_sources import RATE, _wav_bytes, tone

    from runner.problems import speech
    from runner.problems.speech_spec import SpeechProblem

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    repo = tmp_path / "hub_like"
    repo.mkdir()
    for split, texts in (("train", ["a b"]), ("validation", ["c"]), ("test", ["d", "e"])):
        rows = {"audio": [{"bytes": _wav_bytes(tone()), "path": f"{split}{i}.wav"} for i in range(len(texts))],
                "text": texts, "speaker_id": list(range(len(texts)))}
        datasets.Dataset.from_dict(rows).to_parquet(str(repo / f"{split}.parquet"))
    problem = SpeechProblem.model_validate(dict(
        name="joined", family="speech", sample_rate=RATE,
        source={"hub": {"dataset": str(repo), "splits": {"train": "train+validation", "eval": "validation",
                                                          "test": "test"}}}))
    data = speech.build(problem, tmp_path / "cache")
    assert data.reference_texts("train") == ["a b", "c"]
    bad = SpeechProblem.model_validate(dict(
        name="bad", family="speech", sample_rate=RATE,
        source={"hub": {"dataset": str(repo), "splits": {"train": "train+nope", "eval": "validation",
                                                          "test": "test"}}}))
    with pytest.raises(Exception, match="has no split 'nope'"):
        speech.build(bad, tmp_path / "cache2")


def test_t2t_resnet_initializer():
    torch.manual_seed(0)
    hp = ResNetHparams(layer_sizes=[2, 2], filter_sizes=[64, 64, 64], block_fn="bottleneck", stem="imagenet",
                       initializer="t2t_resnet", initializer_gain=2.0)
    model = resnet.build(hp, INFO)
    conv = model.stages[0].branch[2][0]  # 3x3, 64 -> 64
    # tf.variance_scaling_initializer(): fan_in, truncated normal, scale 1 (the gain does not reach the convs)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(1 / (64 * 9)), rel=0.05)
    last_bns = [block.branch[-1][1] for block in model.stages]
    # init_zero=final_block: only the last block of each stage starts its last BatchNorm at 0
    assert [bool(torch.all(bn.weight == 0)) for bn in last_bns] == [False, True, False, True]


def test_weight_decay_skips_only_layer_biases_the_t2t_way():
    from runner.training.optim import parameter_groups

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    decayed, plain = parameter_groups(net, 1e-4, "biases")
    names = {id(p): n for n, p in net.named_parameters()}
    assert sorted(names[id(p)] for p in plain["params"]) == ["0.bias", "3.bias"]
    assert "1.weight" in {names[id(p)] for p in decayed["params"]} and "1.bias" in {names[id(p)] for p in decayed["params"]}
    ours_decayed, ours_plain = parameter_groups(net, 1e-4)
    assert sorted(names[id(p)] for p in ours_plain["params"]) == ["0.bias", "1.bias", "1.weight", "3.bias"]
