"""Greedy and beam-search decoding over the model contract, T2T's beam search vectorised.

Model contract used here (docs/ARCHITECTURE.md):
  memory = model.encode(batch)            dict of tensors, batch dimension first
  logits = model.decode(memory, prefix)   prefix[:, 0] == 0 (start symbol); logits[:, t]
                                          predicts token t + 1; EOS (1) ends a hypothesis.

Beam search follows T2T's `beam_search.py`: each step scores the 2K best extensions of the K
alive hypotheses; those ending in EOS compete for the K "finished" slots (scored with the
length penalty ((5 + length) / 6) ** alpha), the others become the next K alive ones. A
sentence is done once its best finished score beats the best score any alive hypothesis could
still reach (its log-probability under the largest length penalty), or at max_length. All
sentences x beams run as one batch; there is no Python loop over sentences.

With beam_size 1 `decode_batch` runs greedy decoding, as T2T does.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from runner.training.decode_progress import decode_progress
from runner.training.stream import collate

PAD_ID = 0  # also the decoder's start symbol
EOS_ID = 1
_NEG_INF = float("-inf")


def length_penalty(length: int | float, alpha: float) -> float:
    """T2T / GNMT length penalty ((5 + length) / 6) ** alpha."""
    return ((5.0 + float(length)) / 6.0) ** alpha


def encoder_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # The targets never reach the encoder while decoding: decoded metrics must not peek.
    return {k: v for k, v in batch.items() if k != "targets"}


def _repeat_rows(memory: dict[str, torch.Tensor], times: int) -> dict[str, torch.Tensor]:
    """Each row of every memory tensor repeated `times` times (row b -> rows b*times ... b*times+times-1)."""
    expanded = {}
    for key, value in memory.items():
        rows = torch.arange(value.shape[0], device=value.device).repeat_interleave(times)
        expanded[key] = value.index_select(0, rows)
    return expanded


def strip_ids(sequence: list[int]) -> list[int]:
    """Tokens before the first EOS, without pads (the start symbol is removed by the caller)."""
    out = []
    for token in sequence:
        if token == EOS_ID:
            break
        if token != PAD_ID:
            out.append(token)
    return out


def memory_rows(memory: dict[str, torch.Tensor]) -> int:
    if not memory:
        raise ValueError("model.encode(batch) returned an empty memory dict; the decoding contract needs "
                         "a dict of tensors with the batch dimension first")
    return next(iter(memory.values())).shape[0]


class NextTokenLogits:
    """Next-token logits for a batch of growing prefixes, incrementally (the model's
    start_decoding / decode_step, with a cache) or by re-running the whole prefix through
    decode(memory, prefix) (`cached=False`, or a model without the step functions)."""

    def __init__(self, model: Any, memory: dict[str, torch.Tensor], rows_per_sentence: int, cached: bool):
        self.model, self.cached = model, cached and supports_incremental(model)
        if self.cached:
            logits, state = model.start_decoding(memory)
            self.state = state.repeat_rows(rows_per_sentence)
            self.first = logits.repeat_interleave(rows_per_sentence, dim=0) if rows_per_sentence > 1 else logits
        else:
            self.memory = _repeat_rows(memory, rows_per_sentence) if rows_per_sentence > 1 else memory
            size = memory_rows(self.memory)
            device = next(iter(self.memory.values())).device
            self.first = model.decode(self.memory, torch.full((size, 1), PAD_ID, dtype=torch.long, device=device))[:, -1]

    def next_logits(self, prefixes: torch.Tensor, parents: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [N, V] after `prefixes` [N, T] (start symbol first), whose rows extend the
        rows `parents` [N] of the previous call's prefixes (None: row i extends row i). N may
        shrink: rows of finished sentences are dropped by leaving them out of `parents`."""
        if not self.cached:
            if parents is not None and parents.shape[0] != memory_rows(self.memory):
                self.memory = {key: value.index_select(0, parents) for key, value in self.memory.items()}
            return self.model.decode(self.memory, prefixes)[:, -1]
        if parents is not None:
            self.state = self.state.select(parents)
        logits, self.state = self.model.decode_step(self.state, prefixes[:, -1])
        return logits


@torch.no_grad()
def greedy_decode(model: Any, batch: dict[str, torch.Tensor], max_length: int, cached: bool = True) -> list[list[int]]:
    """Argmax decoding of up to `max_length` tokens per sentence; ids without start symbol and EOS.
    A sentence leaves the batch when it ends, so the others' steps get cheaper."""
    memory = model.encode(encoder_inputs(batch))
    size = memory_rows(memory)
    device = next(iter(memory.values())).device
    stepper = NextTokenLogits(model, memory, 1, cached)
    logits = stepper.first
    prefix = torch.full((size, 1), PAD_ID, dtype=torch.long, device=device)
    active = torch.arange(size, device=device)  # the sentence of each row still decoding
    results: list[list[int]] = [[] for _ in range(size)]
    for step in range(max_length):
        next_token = logits.argmax(dim=-1)
        prefix = torch.cat([prefix, next_token[:, None]], dim=1)
        ended = next_token == EOS_ID
        ending = int(ended.sum())
        if step + 1 == max_length or ending == prefix.shape[0]:
            break
        parents = None
        if ending:
            for sentence, row in zip(active[ended].tolist(), prefix[ended].tolist()):
                results[sentence] = strip_ids(row[1:])
            parents = (~ended).nonzero().squeeze(1)
            active, prefix = active[parents], prefix[parents]
        logits = stepper.next_logits(prefix, parents)
    for sentence, row in zip(active.tolist(), prefix.tolist()):
        results[sentence] = strip_ids(row[1:])
    return results


def _gather_beams(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """tensor[b, index[b, j], ...] for every b, j (tensor is [B, N, ...], index [B, M])."""
    view = index.view(*index.shape, *([1] * (tensor.dim() - 2))).expand(*index.shape, *tensor.shape[2:])
    return tensor.gather(1, view)


@torch.no_grad()
def beam_search(
    model: Any, batch: dict[str, torch.Tensor], beam_size: int, alpha: float, max_length: int, cached: bool = True,
) -> list[list[int]]:
    """T2T beam search; returns the best hypothesis per sentence (ids without start symbol and EOS).
    With a cache, the alive hypotheses' caches follow their parents: one index_select per step.
    A sentence leaves the batch once it is done (no alive hypothesis can beat its best finished
    one), so the steps of the sentences still decoding get cheaper."""
    memory = model.encode(encoder_inputs(batch))
    size, k = memory_rows(memory), beam_size
    device = next(iter(memory.values())).device
    stepper = NextTokenLogits(model, memory, k, cached)
    logits = stepper.first

    alive_seq = torch.full((size, k, 1), PAD_ID, dtype=torch.long, device=device)
    # Only the first beam is live at the start, so the first expansion is not counted K times.
    alive_logp = torch.full((size, k), _NEG_INF, device=device)
    alive_logp[:, 0] = 0.0
    finished_seq = alive_seq.clone()
    finished_score = torch.full((size, k), _NEG_INF, device=device)
    finished_flag = torch.zeros((size, k), dtype=torch.bool, device=device)
    best_possible_penalty = length_penalty(max_length, alpha)
    active = torch.arange(size, device=device)  # the sentence of each row of the tensors above
    results: list[list[int]] = [[] for _ in range(size)]

    for i in range(max_length):
        size = active.shape[0]
        vocab = logits.shape[-1]
        logp = alive_logp[:, :, None] + torch.log_softmax(logits.float(), dim=-1).view(size, k, vocab)
        penalty = length_penalty(i + 1, alpha)
        n_candidates = min(2 * k, k * vocab)
        top_logp, top_index = logp.view(size, k * vocab).topk(n_candidates, dim=1)
        top_score = top_logp / penalty
        top_token = top_index % vocab
        top_parent = top_index // vocab
        top_seq = torch.cat([_gather_beams(alive_seq, top_parent), top_token[:, :, None]], dim=2)
        # Slots that extend an impossible (-inf) hypothesis are padding, never real candidates.
        ends = (top_token == EOS_ID) & (top_logp > _NEG_INF)
        possible_alive = (top_token != EOS_ID) & (top_logp > _NEG_INF)

        # The K best candidates that did not end become the alive hypotheses.
        alive_candidates = torch.where(possible_alive, top_logp, torch.full_like(top_logp, _NEG_INF))
        alive_logp, pick = alive_candidates.topk(k, dim=1)
        alive_seq = _gather_beams(top_seq, pick)
        alive_parent = _gather_beams(top_parent, pick)

        # Candidates that ended compete with the already finished ones for the K finished slots.
        pad_column = torch.full((size, k, 1), PAD_ID, dtype=torch.long, device=device)
        pool_seq = torch.cat([torch.cat([finished_seq, pad_column], dim=2), top_seq], dim=1)
        pool_score = torch.cat([finished_score, torch.where(ends, top_score, torch.full_like(top_score, _NEG_INF))], dim=1)
        pool_flag = torch.cat([finished_flag, ends], dim=1)
        finished_score, pick = pool_score.topk(k, dim=1)
        finished_seq = _gather_beams(pool_seq, pick)
        finished_flag = _gather_beams(pool_flag, pick)

        # A sentence is done once no alive hypothesis can still beat its best finished one.
        best_alive_bound = alive_logp[:, 0] / best_possible_penalty
        best_finished = torch.where(finished_flag.any(dim=1), finished_score.max(dim=1).values,
                                    torch.full_like(best_alive_bound, _NEG_INF))
        done = best_finished > best_alive_bound
        done_count = int(done.sum())
        if i + 1 == max_length or done_count == size:
            break
        parents = (alive_parent + (torch.arange(size, device=device) * k)[:, None]).view(-1)
        if done_count:  # done sentences leave the batch with their best finished hypothesis
            for sentence, row in zip(active[done].tolist(), finished_seq[done, 0].tolist()):
                results[sentence] = strip_ids(row[1:])
            keep = (~done).nonzero().squeeze(1)
            active, alive_seq, alive_logp = active[keep], alive_seq[keep], alive_logp[keep]
            finished_seq, finished_score, finished_flag = finished_seq[keep], finished_score[keep], finished_flag[keep]
            parents = parents.view(size, k)[keep].view(-1)
        logits = stepper.next_logits(alive_seq.view(-1, alive_seq.shape[-1]), parents)

    has_finished = finished_flag.any(dim=1)
    best = torch.where(has_finished[:, None], finished_seq[:, 0], alive_seq[:, 0])
    for sentence, row in zip(active.tolist(), best.tolist()):
        results[sentence] = strip_ids(row[1:])
    return results


def decode_batch(
    model: Any, batch: dict[str, torch.Tensor], beam_size: int, alpha: float, max_length: int, cached: bool = True,
) -> list[list[int]]:
    """Decode one collated batch: greedy for beam_size 1, else beam search. Best ids per row.
    `cached=False` re-runs the whole prefix at every step (the reference the cache must match)."""
    if beam_size < 1:
        raise ValueError(f"decode.beam_size must be >= 1, got {beam_size}")
    if beam_size == 1:
        return greedy_decode(model, batch, max_length, cached)
    return beam_search(model, batch, beam_size, alpha, max_length, cached)


def supports_decoding(model: Any) -> bool:
    return callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))


def supports_incremental(model: Any) -> bool:
    """The step contract of runner/models/incremental.py: start_decoding + decode_step."""
    return callable(getattr(model, "start_decoding", None)) and callable(getattr(model, "decode_step", None))


def _input_length(batch: dict[str, torch.Tensor]) -> int:
    inputs = batch.get("inputs")
    return int(inputs.shape[1]) if inputs is not None and inputs.dim() > 1 else 0


def decode_autocast(device: torch.device) -> Any:
    """On a GPU, bf16 autocast (attention then runs on SDPA's flash / memory-efficient kernels,
    which need half precision); on a CPU, full precision."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def token_packed_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Example indices in batches, sorted by input length (less padding, tighter max lengths) and
    packed by tokens: a batch holds as many sentences as fit in batch_size x the mean input
    length, counting each row at the batch's longest input, so short sentences share larger
    batches and long ones smaller. Without input lengths (language models) batches have
    batch_size rows."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    budget = batch_size * max(1.0, sum(lengths) / max(len(lengths), 1))
    batches: list[list[int]] = []
    for index in order:
        if batches and (len(batches[-1]) + 1) * max(lengths[index], 1) <= budget:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def decode_examples(model: Any, data: Any, examples: Any, decode_spec: Any, *, cached: bool = True,
                    progress: bool | None = None) -> list[list[int]]:
    """Decoded ids for each example (anything `data.collate` accepts), in the given order.

    Examples are decoded in token-packed batches of similar input length (`token_packed_batches`)
    and put back in their original order. `progress` (default: when stderr is a terminal) shows
    a bar on stderr; `cached=False` is the uncached reference path.
    """
    if not supports_decoding(model):
        raise ValueError(f"{type(model).__name__} has no encode()/decode(); decoded metrics (bleu, rouge, "
                         "accuracy_per_sequence, ...) need a sequence-output model")
    count = len(examples)
    lengths = [_input_length(data.collate([examples[i]])) for i in range(count)]
    device = next(model.parameters()).device
    hypotheses: list[list[int] | None] = [None] * count
    was_training = model.training
    model.eval()
    autocast = decode_autocast(device)
    try:
        with decode_progress(count, enabled=progress) as update:
            for chunk in token_packed_batches(lengths, decode_spec.batch_size):
                batch = {k: v.to(device) for k, v in data.collate([examples[i] for i in chunk]).items()}
                with autocast:
                    decoded = decode_batch(model, batch, decode_spec.beam_size, decode_spec.alpha,
                                           _input_length(batch) + decode_spec.extra_length, cached)
                for row, index in enumerate(chunk):
                    hypotheses[index] = decoded[row]
                update(len(chunk), sum(len(ids) for ids in decoded))
    finally:
        model.train(was_training)
    return hypotheses  # type: ignore[return-value]


def decode_split_ids(model: Any, data: Any, split: str, decode_spec: Any) -> tuple[list[list[int]], list[list[int]]]:
    """(decoded ids, reference target ids) for the split's examples, in the split's order.

    `decode_spec.max_examples` > 0 keeps only the first N.
    """
    examples = data.split(split)
    count = len(examples)
    if getattr(decode_spec, "max_examples", 0):
        count = min(count, decode_spec.max_examples)
    chosen = [examples[i] for i in range(count)]
    hypotheses = decode_examples(model, data, chosen, decode_spec)
    references = [strip_ids(collate(data, split, [i])["targets"][0].tolist()) for i in range(count)]
    return hypotheses, references


def decode_dataset(model: Any, data: Any, split: str, decode_spec: Any) -> list[str]:
    """Detokenized decoded output (data.decode_text) for the split, in its original order."""
    hypotheses, _ = decode_split_ids(model, data, split, decode_spec)
    return [data.decode_text(ids) for ids in hypotheses]
