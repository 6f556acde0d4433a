"""Hparams of the Decision Transformer (torch-free). Defaults are the paper's OpenAI-Gym
settings (Chen et al. 2021, Table 8): 3 layers, 1 head, width 128, dropout 0.1, AdamW at 1e-4
with weight decay 1e-4, linear warmup over 10^4 steps, gradient-norm clip 0.25, batch 64
windows. The window length K is the problem's `context_length` (the paper's K = 20).

`condition_on_return: false` is the behaviour-cloning baseline: the same blocks over (state,
action) tokens only, with no returns-to-go.
"""

from typing import ClassVar, Literal

from pydantic import Field

from runner.models.hparams_base import TrainingHparams
from runner.models.transformer_hparams import TransformerArchitecture


class DecisionTransformerHparams(TransformerArchitecture, TrainingHparams):
    """(return-to-go, state, action) tokens per timestep -> causal Transformer -> action at each state."""

    batch_unit: ClassVar[str] = "examples"

    condition_on_return: bool = Field(
        True, description="true: the Decision Transformer; false: behaviour cloning on the same blocks.")
    batch_size: int = Field(64, gt=0, description="Per-worker micro-batch size in trajectory WINDOWS.")
    max_length: int = Field(0, ge=0, description="Not used: windows have the problem's context_length.")
    hidden_size: int = Field(128, gt=0)
    filter_size: int = Field(512, gt=0, description="Feed-forward width (GPT-2's 4 x hidden_size).")
    num_heads: int = Field(1, gt=0)
    num_decoder_layers: int = Field(3, ge=1)
    layer_prepostprocess_dropout: float = Field(0.1, ge=0.0, le=1.0)
    attention_dropout: float = Field(0.1, ge=0.0, le=1.0)
    relu_dropout: float = Field(0.1, ge=0.0, le=1.0)
    shared_embedding_and_softmax_weights: bool = Field(False, description="Must be false: actions are not tokens of a vocabulary shared with the output.")

    optimizer: Literal["adam", "adamw", "adafactor", "sgd"] = "adamw"
    optimizer_adam_beta2: float = Field(0.999, ge=0.0, lt=1.0)
    optimizer_adam_epsilon: float = Field(1e-8, gt=0.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    learning_rate_schedule: str = "constant*linear_warmup"
    learning_rate_constant: float = Field(1e-4, gt=0.0)
    learning_rate_warmup_steps: int = Field(10000, ge=0)
    clip_grad_norm: float = Field(0.25, ge=0.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
