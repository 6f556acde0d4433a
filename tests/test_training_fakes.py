"""Tiny stand-ins honouring the data and model contracts, shared by the training tests.

(No tests here; pytest collects nothing from this file.)
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from runner.models.hparams_base import TrainingHparams
from runner.models.output import ModelOutput
from runner.problems.base import DataInfo

PAD, EOS = 0, 1


class TinyCopyData:
    """A copy task in memory: targets equal inputs; symbols 2..vocab-1, every sequence ends in EOS.

    batch_plan groups a fixed number of EXAMPLES (batch_size // 8, at least 1) in length order,
    shuffled per (seed, epoch): deterministic, like the real token-bucketed plan.
    """

    def __init__(self, vocab: int = 8, sizes=(64, 16, 12), max_len: int = 6, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.info = DataInfo(input_vocab_size=vocab, target_vocab_size=vocab)
        self.fingerprint = f"tiny-copy-{vocab}-{seed}"
        self._splits = {}
        for name, n in zip(("train", "eval", "test"), sizes):
            examples = []
            for _ in range(n):
                body = rng.integers(2, vocab, size=int(rng.integers(1, max_len + 1)))
                ids = np.append(body, EOS).astype(np.int64)
                examples.append({"inputs": ids, "targets": ids.copy()})
            self._splits[name] = examples

    def split(self, name):
        return self._splits[name]

    def batch_plan(self, split, batch_size, max_length, seed, epoch, shuffle):
        examples = self._splits[split]
        rows = max(1, batch_size // 8)
        order = sorted(range(len(examples)), key=lambda i: (len(examples[i]["targets"]), i))
        if max_length and split == "train":
            order = [i for i in order if len(examples[i]["targets"]) <= max_length]
        batches = [order[i:i + rows] for i in range(0, len(order), rows)]
        if shuffle:
            permutation = np.random.default_rng([seed, epoch]).permutation(len(batches))
            batches = [batches[i] for i in permutation]
        return batches

    def collate(self, examples):
        out = {}
        for side in ("inputs", "targets"):
            width = max(len(e[side]) for e in examples)
            padded = np.zeros((len(examples), width), dtype=np.int64)
            for i, e in enumerate(examples):
                padded[i, :len(e[side])] = e[side]
            out[side] = torch.from_numpy(padded)
        return out

    def decode_text(self, ids):
        out = []
        for t in ids:
            if t == EOS:
                break
            if t != PAD:
                out.append(f"w{int(t)}")
        return " ".join(out)

    def reference_texts(self, split):
        return [self.decode_text(e["targets"].tolist()) for e in self._splits[split]]


class TinySeq2Seq(nn.Module):
    """A GRU encoder-decoder honouring the model contract (forward / encode / decode), with
    dropout so that resuming must restore the RNG to be bit-identical."""

    def __init__(self, vocab: int = 8, hidden: int = 16, dropout: float = 0.1, aux_weight: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.decoder = nn.GRU(hidden, hidden, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, vocab)
        self.dropout = nn.Dropout(dropout)
        self.aux_weight = aux_weight

    def encode(self, batch):
        _, state = self.encoder(self.dropout(self.embed(batch["inputs"])))
        return {"state": state[0]}

    def decode(self, memory, prefix):
        hidden, _ = self.decoder(self.dropout(self.embed(prefix)), memory["state"][None].contiguous())
        return self.out(self.norm(hidden))

    def forward(self, batch):
        targets = batch["targets"]
        prefix = torch.cat([torch.zeros_like(targets[:, :1]), targets[:, :-1]], dim=1)
        logits = self.decode(self.encode(batch), prefix)
        aux = (self.out.weight ** 2).mean() * self.aux_weight if self.aux_weight else None
        return ModelOutput(logits, aux)


def tiny_hparams(**changes) -> TrainingHparams:
    values = dict(batch_size=32, max_length=0, optimizer="adam", learning_rate_schedule="constant*linear_warmup",
                  learning_rate_constant=0.01, learning_rate_warmup_steps=4, label_smoothing=0.1, clip_grad_norm=1.0)
    values.update(changes)
    return TrainingHparams(**values)


def tiny_experiment(steps=12, metrics=("accuracy_per_sequence", "accuracy", "neg_log_perplexity"), hparams=None, **train):
    train_values = dict(steps=steps, eval_steps=0, eval_every=4, seed=3, checkpoint_every=0, keep_checkpoints=3,
                        gradient_accumulation_steps=1, time_budget_minutes=0, log_every=1)
    train_values.update(train)
    return SimpleNamespace(
        recipe="tiny",
        problem=SimpleNamespace(name="tiny_copy", family="algorithmic", metrics=list(metrics)),
        model=SimpleNamespace(name="tiny", implementation="tiny"),
        hparams=hparams or tiny_hparams(),
        train=SimpleNamespace(**train_values),
        decode=SimpleNamespace(beam_size=2, alpha=0.6, extra_length=3, batch_size=5, max_examples=0),
        resources=SimpleNamespace(workers=1, gpus_per_worker=0, cpus_per_worker=1, accelerator="cpu"),
        plugins=[],
        spec_hash="0" * 64,
        replay_steps=None,
    )


def fresh_model(seed: int = 3, **kwargs) -> TinySeq2Seq:
    """The tiny model built under the experiment's seed, as `train()` builds registry models."""
    torch.manual_seed(seed)
    return TinySeq2Seq(**kwargs)


def build_tiny(hparams, info) -> TinySeq2Seq:
    """A registry builder for the tiny model: `build(hparams, info) -> nn.Module`."""
    return TinySeq2Seq(vocab=info.target_vocab_size)


def register_tiny(monkeypatch) -> None:
    """Make `experiment.model.implementation == "tiny"` buildable for one test only."""
    from runner import registry

    monkeypatch.setitem(registry.MODELS, "tiny", registry.Entry("tiny", TrainingHparams, build_tiny))


def train_in_folder(experiment, data, session, **kwargs) -> dict:
    """What a host does around the loop: train, then write the returned results into the run folder
    once (runner/run_dir.py); returns the final metrics, as `api.train` does."""
    from runner.run_dir import RunDir
    from runner.training.loop import train

    results = train(experiment, data, session, **kwargs)
    RunDir(session.output_dir).write_results(results)
    return results.metrics
