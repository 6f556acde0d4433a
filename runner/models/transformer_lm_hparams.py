"""Hparams of the decoder-only Transformer language model (torch-free)."""

from typing import Literal

from pydantic import Field, model_validator

from runner.models.hparams_base import TrainingHparams, added_field
from runner.models.transformer_hparams import TransformerArchitecture


class TransformerLMHparams(TransformerArchitecture, TrainingHparams):
    """Decoder-only Transformer; architecture fields shared with TransformerHparams."""

    prepend_mode: Literal["none", "prepend_inputs_full_attention", "prepend_inputs_masked_attention"] = Field(
        "none",
        description="T2T's names. 'none': a plain LM over targets. 'prepend_inputs_*': one sequence "
        "inputs + [separator] + targets, loss on the targets only (T2T's transformer_prepend, e.g. "
        "summarization); 'full_attention' lets input positions attend to each other both ways, "
        "'masked_attention' keeps the whole sequence causal.",
    )
    prepend_loss: Literal["targets", "sequence"] = added_field(
        "targets",
        description="What training scores in prepend mode. 'targets': the targets only. 'sequence': the "
        "whole inputs + separator + targets sequence, as T2T trains prepend_inputs_masked_attention "
        "(weights_nonzero over its concatenated targets); eval scores the targets only either way.",
    )

    masking: Literal["causal", "permutation"] = added_field(
        "causal",
        description="Plain-LM training objective (prepend_mode none). 'causal': left to right (GPT). "
        "'permutation': XLNet's permutation language modelling: each training sequence gets a random "
        "factorization order, expressed as attention masks over two streams that share every layer "
        "(content: a token and those before it in the order; query: the positions before it only, plus "
        "its own position, which predicts it). Eval and decoding use the left-to-right order, so the "
        "reported perplexity is a true likelihood, comparable with the causal LM's.",
    )

    @model_validator(mode="after")
    def _permutation_is_a_plain_lm(self) -> "TransformerLMHparams":
        if self.masking == "permutation" and self.prepend_mode != "none":
            raise ValueError(f"masking='permutation' is a plain-LM objective; it needs prepend_mode='none' "
                             f"(got '{self.prepend_mode}')")
        return self

    @model_validator(mode="after")
    def _sequence_loss_needs_masked_prepend(self) -> "TransformerLMHparams":
        if self.prepend_loss == "sequence" and self.prepend_mode != "prepend_inputs_masked_attention":
            raise ValueError(
                f"prepend_loss='sequence' needs prepend_mode='prepend_inputs_masked_attention' (got "
                f"'{self.prepend_mode}'): with full attention an input position sees the inputs after it, "
                "so T2T trains that mode on the targets only; set prepend_loss: targets")
        return self
