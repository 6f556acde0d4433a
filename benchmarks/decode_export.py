"""Our trained (or seeded) `transformer` exported, weight for weight, to the two peers of the decode
benchmark, so all three compute the SAME function and differ only in how they decode.

- Hugging Face: `M2M100ForConditionalGeneration`. MarianMTModel cannot hold our weights (it is
  post-norm); M2M100 is the BART-family model with T2T's layout: pre-norm layers, a final
  LayerNorm on each stack, sinusoidal positions (T2T's formula, sines then cosines), embeddings
  scaled by sqrt(d_model), ReLU. Our projections have no bias (its biases are set to zero), its
  LayerNorm epsilon is set to ours (1e-6), its position table is overwritten with ours and its
  positions' "padding id" is moved to an id that never occurs, so our start symbol (0, the pad
  id, embedded as zeros) sits at position 0 as in our decoder. The softmax keeps our full
  matrix (untied from the input embedding, whose pad row is zero in ours).
- CTranslate2: a `TransformerSpec` (pre-norm) filled by CTranslate2's own OpenNMT-py converter
  functions from our weights under OpenNMT-py's names, the same position table, saved with
  `Converter.convert`. Token ids travel as strings "<s>" (0: start), "</s>" (1: EOS), "t2", ...

`check_same_function` decodes a few sentences greedily with all three and reports whether the
outputs agree token for token: the evidence that the benchmark compares like with like.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from runner.models.blocks import sinusoidal_positions

POSITIONS = 1024  # longest sequence either peer may see (source or target)


def _split_qkv(weight: torch.Tensor, parts: int) -> list[torch.Tensor]:
    return list(weight.detach().clone().split(weight.shape[0] // parts, dim=0))


def _input_embedding(model: Any) -> torch.Tensor:
    weight = model.target_embedding.weight.detach().clone()
    weight[model.pad_id] = 0.0  # TokenEmbedding embeds the pad / start symbol as zeros
    return weight


def _check_exportable(model: Any) -> None:
    if model.input_embedding is not model.target_embedding:
        raise ValueError("the decode benchmark exports models with one shared vocabulary "
                         "(shared_embedding_and_softmax_weights: true)")
    if any(getattr(layer.feed_forward.sublayer, "num_experts", 0) for layer in model.decoder.layers):
        raise ValueError("mixture-of-experts layers have no equivalent in the peers")


# ----------------------------------------------------------------------------- Hugging Face


def to_hf(model: Any, hparams: Any) -> nn.Module:
    """An M2M100ForConditionalGeneration computing exactly our model's function (eval mode)."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    _check_exportable(model)
    vocab = model.softmax.weight.shape[0]
    config = M2M100Config(
        vocab_size=vocab, d_model=hparams.hidden_size, encoder_layers=hparams.num_encoder_layers,
        decoder_layers=hparams.num_decoder_layers, encoder_attention_heads=hparams.num_heads,
        decoder_attention_heads=hparams.num_heads, encoder_ffn_dim=hparams.filter_size,
        decoder_ffn_dim=hparams.filter_size, activation_function="relu", dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0, scale_embedding=True,
        max_position_embeddings=POSITIONS, pad_token_id=0, bos_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, tie_word_embeddings=False,
    )
    hf = M2M100ForConditionalGeneration(config).eval()
    with torch.no_grad():
        for module in hf.modules():
            if isinstance(module, nn.LayerNorm):
                module.eps = 1e-6
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.zero_()
        # Copied into each table: whether this transformers version ties them to `shared` or not.
        for table in {id(t): t for t in (hf.model.shared, hf.model.encoder.embed_tokens,
                                         hf.model.decoder.embed_tokens)}.values():
            table.weight.copy_(_input_embedding(model))
        hf.lm_head.weight.copy_(model.softmax.weight)
        for stack, ours in ((hf.model.encoder, model.encoder), (hf.model.decoder, model.decoder)):
            # Positions: row padding_idx + 1 + p holds our timing signal of position p; the padding
            # id is one no token has, so every token (our start symbol 0 too) gets its position.
            never = vocab
            stack.embed_positions.padding_idx = never
            table = torch.zeros(never + 1 + POSITIONS, hparams.hidden_size)
            table[never + 1:] = sinusoidal_positions(POSITIONS, hparams.hidden_size)
            stack.embed_positions.weights = table
            stack.layer_norm.load_state_dict(ours.final_norm.state_dict())
            for theirs, layer in zip(stack.layers, ours.layers):
                attention = layer.self_attention.sublayer
                theirs.self_attn_layer_norm.load_state_dict(layer.self_attention.norm.state_dict())
                for proj, weight in zip((theirs.self_attn.q_proj, theirs.self_attn.k_proj, theirs.self_attn.v_proj),
                                        _split_qkv(attention.qkv_proj.weight, 3)):
                    proj.weight.copy_(weight)
                theirs.self_attn.out_proj.weight.copy_(attention.out_proj.weight)
                if layer.cross_attention is not None:
                    cross = layer.cross_attention.sublayer
                    theirs.encoder_attn_layer_norm.load_state_dict(layer.cross_attention.norm.state_dict())
                    theirs.encoder_attn.q_proj.weight.copy_(cross.q_proj.weight)
                    keys, values = _split_qkv(cross.kv_proj.weight, 2)
                    theirs.encoder_attn.k_proj.weight.copy_(keys)
                    theirs.encoder_attn.v_proj.weight.copy_(values)
                    theirs.encoder_attn.out_proj.weight.copy_(cross.out_proj.weight)
                ffn = layer.feed_forward.sublayer
                theirs.final_layer_norm.load_state_dict(layer.feed_forward.norm.state_dict())
                theirs.fc1.load_state_dict(ffn.dense_in.state_dict())
                theirs.fc2.load_state_dict(ffn.dense_out.state_dict())
    return hf


def hf_generation_config(beam_size: int, alpha: float, max_new_tokens: int, min_new_tokens: int = 0):
    """Plain beam search: nothing forced, nothing blocked, the same stopping rule for every sentence."""
    from transformers import GenerationConfig

    return GenerationConfig(
        num_beams=beam_size, do_sample=False, length_penalty=alpha, max_new_tokens=max_new_tokens,
        min_new_tokens=min_new_tokens, early_stopping=False, no_repeat_ngram_size=0, repetition_penalty=1.0,
        pad_token_id=0, eos_token_id=1, bos_token_id=0, decoder_start_token_id=0, forced_bos_token_id=None,
        forced_eos_token_id=None, use_cache=True, num_return_sequences=1,
    )


# ----------------------------------------------------------------------------- CTranslate2


def token_names(vocab: int) -> list[str]:
    return ["<s>", "</s>"] + [f"t{i}" for i in range(2, vocab)]


def to_ctranslate2(model: Any, hparams: Any, output_dir: str) -> str:
    """Convert with CTranslate2's own OpenNMT-py converter functions; returns the model folder."""
    import ctranslate2
    from ctranslate2.converters import opennmt_py

    _check_exportable(model)
    variables: dict[str, Any] = {}
    table = sinusoidal_positions(POSITIONS, hparams.hidden_size)
    embedding = _input_embedding(model)
    for side, ours, layer_scope in (("encoder", model.encoder, "encoder.transformer"),
                                    ("decoder", model.decoder, "decoder.transformer_layers")):
        variables[f"{side}.embeddings.make_embedding.emb_luts.0.weight"] = embedding
        variables[f"{side}.embeddings.make_embedding.pe.pe"] = table
        variables[f"{side}.layer_norm.weight"] = ours.final_norm.weight
        variables[f"{side}.layer_norm.bias"] = ours.final_norm.bias
        for index, layer in enumerate(ours.layers):
            scope = f"{layer_scope}.{index}"
            self_norm = f"{scope}.layer_norm" if side == "encoder" else f"{scope}.layer_norm_1"
            _attention(variables, f"{scope}.self_attn", layer.self_attention.sublayer, self_attention=True)
            _norm(variables, self_norm, layer.self_attention.norm)
            if layer.cross_attention is not None:
                _attention(variables, f"{scope}.context_attn", layer.cross_attention.sublayer, self_attention=False)
                _norm(variables, f"{scope}.layer_norm_2", layer.cross_attention.norm)
            ffn = layer.feed_forward.sublayer
            _norm(variables, f"{scope}.feed_forward.layer_norm", layer.feed_forward.norm)
            for name, linear in (("w_1", ffn.dense_in), ("w_2", ffn.dense_out)):
                variables[f"{scope}.feed_forward.{name}.weight"] = linear.weight
                variables[f"{scope}.feed_forward.{name}.bias"] = linear.bias
    variables["generator.weight"] = model.softmax.weight
    variables = {name: value.detach().float().numpy().copy() for name, value in variables.items()}

    vocab = token_names(model.softmax.weight.shape[0])
    opt = SimpleNamespace(enc_layers=hparams.num_encoder_layers, dec_layers=hparams.num_decoder_layers,
                          heads=hparams.num_heads, decoder_start_token="<s>")

    class _FromOurWeights(ctranslate2.converters.Converter):
        def _load(self):
            spec = opennmt_py._get_model_spec_seq2seq(opt, variables, [vocab], [vocab], 1)
            spec.config.layer_norm_epsilon = 1e-6
            spec.config.unk_token = vocab[2]  # a name it requires; no id is unknown here
            return spec

    _FromOurWeights().convert(output_dir, force=True)
    return output_dir


def _attention(variables: dict[str, Any], scope: str, attention: Any, self_attention: bool) -> None:
    if self_attention:
        names, weights = ("linear_query", "linear_keys", "linear_values"), _split_qkv(attention.qkv_proj.weight, 3)
    else:
        names, weights = ("linear_query", "linear_keys", "linear_values"), [
            attention.q_proj.weight, *_split_qkv(attention.kv_proj.weight, 2)]
    for name, weight in zip(names, weights):
        variables[f"{scope}.{name}.weight"] = weight
    variables[f"{scope}.final_linear.weight"] = attention.out_proj.weight


def _norm(variables: dict[str, Any], scope: str, norm: nn.LayerNorm) -> None:
    variables[f"{scope}.weight"], variables[f"{scope}.bias"] = norm.weight, norm.bias


def ctranslate2_translator(model_dir: str, threads: int):
    import ctranslate2

    return ctranslate2.Translator(model_dir, device="cpu", inter_threads=1, intra_threads=threads)


def ct2_tokens(ids: list[int], names: list[str]) -> list[str]:
    return [names[i] for i in ids]


def ct2_ids(tokens: list[str]) -> list[int]:
    return [0 if t == "<s>" else 1 if t == "</s>" else int(t[1:]) for t in tokens]


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
