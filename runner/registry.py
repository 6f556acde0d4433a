"""The whole registry in one file: model implementations and problem families.

Each entry names its config class (the hparams schema of a model, the spec schema of a
problem family) and a builder, both as "module:attribute" strings imported on first use.
Config classes are torch-free, so validating specs never imports torch; builders import torch.

A user's own model or problem family lives in their own module, listed under `plugins:` in a
recipe. Importing it calls `register_model` / `register_problem_family`; nothing else in YAML
ever runs code.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable

from runner.specs.errors import SpecError, did_you_mean


@dataclass(frozen=True)
class Entry:
    name: str
    config: str | type  # "module:Class" or the class itself (plugins)
    builder: str | Callable[..., Any]
    description: str = ""

    def config_class(self) -> type:
        return _resolve(self.config)

    def build_fn(self) -> Callable[..., Any]:
        return _resolve(self.builder)


def _resolve(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


_M = "runner.models."
_P = "runner.problems."

MODELS: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("transformer", _M + "transformer_hparams:TransformerHparams", _M + "transformer:build",
              "Encoder-decoder Transformer (Vaswani et al. 2017), T2T semantics: pre-norm, shared embeddings"),
        Entry("transformer_lm", _M + "transformer_lm_hparams:TransformerLMHparams", _M + "transformer_lm:build",
              "Decoder-only Transformer language model; prepend mode puts inputs and targets in one sequence"),
        Entry("lstm_seq2seq_attention", _M + "lstm_seq2seq_attention_hparams:LSTMSeq2SeqHparams",
              _M + "lstm_seq2seq_attention:build", "LSTM encoder-decoder with attention (baseline)"),
        Entry("speech_transformer", _M + "speech_transformer_hparams:SpeechTransformerHparams",
              _M + "speech_transformer:build", "Conv subsampling over log-mel frames + Transformer encoder-decoder"),
        Entry("resnet", _M + "resnet_hparams:ResNetHparams", _M + "resnet:build", "Residual network image classifier"),
        Entry("shake_shake", _M + "shake_shake_hparams:ShakeShakeHparams", _M + "shake_shake:build",
              "Shake-Shake regularized ResNet (Gastaldi 2017) image classifier"),
        Entry("vit", _M + "vit_hparams:ViTHparams", _M + "vit:build",
              "Vision Transformer classifier: patches + the shared Transformer encoder"),
        Entry("image_transformer", _M + "image_transformer_hparams:ImageTransformerHparams",
              _M + "image_transformer:build", "Autoregressive pixel model with local attention (Parmar et al. 2018)"),
        Entry("masked_lm", _M + "masked_lm_hparams:MaskedLMHparams", _M + "masked_lm:build",
              "Encoder-only Transformer trained with masked-token prediction (BERT-style)"),
        Entry("decision_transformer", _M + "decision_transformer_hparams:DecisionTransformerHparams",
              _M + "decision_transformer:build",
              "Decision Transformer: (return-to-go, state, action) tokens, causal; or behaviour cloning"),
        Entry("perceiver", _M + "perceiver_hparams:PerceiverHparams", _M + "perceiver:build",
              "Perceiver: latents cross-attend to pixels or log-mel frames (Fourier positions), then self-attend"),
    ]
}

FAMILIES: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("text2text", _P + "text_spec:Text2TextProblem", _P + "text:build",
              "Sequence-to-sequence text: translation, summarization"),
        Entry("language_model", _P + "text_spec:LanguageModelProblem", _P + "text:build",
              "Text language modelling"),
        Entry("algorithmic", _P + "algorithmic_spec:AlgorithmicProblem", _P + "algorithmic:build",
              "Generated symbol-sequence tasks: reverse, addition, copy"),
        Entry("speech", _P + "speech_spec:SpeechProblem", _P + "speech:build",
              "Speech recognition from WAV audio (log-mel features)"),
        Entry("image_classification", _P + "image_spec:ImageClassificationProblem", _P + "images:build",
              "Image classification"),
        Entry("image_generation", _P + "image_spec:ImageGenerationProblem", _P + "images:build",
              "Autoregressive image generation (bits per dimension)"),
        Entry("masked_lm", _P + "masked_lm_spec:MaskedLMProblem", _P + "masked_lm:build",
              "Masked language modelling (BERT-style masks over a language-model text problem)"),
        Entry("offline_rl", _P + "offline_rl_spec:OfflineRLProblem", _P + "offline_rl:build",
              "Offline RL: trajectories of scripted policies in a gymnasium environment (or Minari/D4RL files)"),
    ]
}


class UnknownName(KeyError):
    """A name that is not registered; the message lists what is."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.message = f"unknown {kind} '{name}'{did_you_mean(name, known)} (available: {', '.join(sorted(known))})"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def model(name: str) -> Entry:
    if name not in MODELS:
        raise UnknownName("model implementation", name, list(MODELS))
    return MODELS[name]


def model_for(spec: Any) -> Entry:
    """The one lookup from a model spec (an Experiment's `.model`, or its dict) to its registry entry:
    `implementation` when set, else the model's own name (resolve fills it in; fakes may not)."""
    if isinstance(spec, dict):
        return model(spec.get("implementation") or spec.get("name") or "")
    return model(getattr(spec, "implementation", "") or spec.name)


def build_model(experiment: Any, info: Any) -> Any:
    """The one model builder: the experiment's registry entry called with its hparams and the data's info.
    Imports torch (through the builder); a torch.nn.Module comes back."""
    return model_for(experiment.model).build_fn()(experiment.hparams, info)


def family(name: str) -> Entry:
    if name not in FAMILIES:
        raise UnknownName("problem family", name, list(FAMILIES))
    return FAMILIES[name]


def register_model(name: str, hparams: type, builder: Callable[..., Any] | None = None, description: str = ""):
    """Register a model implementation. Use directly, or as a decorator on the builder/class."""

    def _register(fn: Callable[..., Any]) -> Callable[..., Any]:
        MODELS[name] = Entry(name, hparams, fn, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return _register(builder) if builder is not None else _register


def register_problem_family(name: str, spec: type, builder: Callable[..., Any] | None = None, description: str = ""):
    """Register a problem family (its spec class and its `build(spec, data_dir)` function)."""

    def _register(fn: Callable[..., Any]) -> Callable[..., Any]:
        FAMILIES[name] = Entry(name, spec, fn, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return _register(builder) if builder is not None else _register


_IMPORTED_PLUGINS: set[str] = set()


def import_plugins(modules: list[str], where: Any = None) -> None:
    """Import each plugin module once per process, so that its registrations take effect.

    A module that cannot be imported is the user's to fix: a SpecError (exit 2) at `where`
    (the `plugins:` line that names it, when known)."""
    for module in modules:
        if module in _IMPORTED_PLUGINS and module in sys.modules:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
            raise SpecError(
                f"cannot import plugin module '{module}': {type(exc).__name__}: {exc}; "
                "is it installed or on PYTHONPATH?",
                where,
                "plugins",
            ) from None
        _IMPORTED_PLUGINS.add(module)
