"""Hparams of the LSTM encoder-decoder with attention (torch-free).

Defaults come from T2T's lstm_seq2seq / lstm_attention_base (hidden 128, 2 layers, batch 1024,
uniform_unit_scaling gain 1.0, no weight decay) on top of basic_params1 (dropout 0.2, adam
beta1 0.85 / beta2 0.997 / eps 1e-6, clip_grad_norm 2.0, label smoothing 0.1, warmup 100).
basic_params1's "legacy" schedule (learning_rate 0.1, no decay) warms up exponentially from 1%
over 100 steps and then stays constant; legacy_learning_rate_schedule multiplies Adam rates by
0.002, so T2T trains at 2e-4: constant 2e-4 * exp_warmup. T2T's lstm_attention (the catalog's
lstm_attention_base) uses Bahdanau attention; the schema's default score function is Luong's.
"""

from typing import Literal

from pydantic import Field

from runner.models.hparams_base import TrainingHparams


class LSTMSeq2SeqHparams(TrainingHparams):
    """LSTM encoder, LSTM decoder attending over the encoder outputs (Luong et al. 2015)."""

    hidden_size: int = Field(128, gt=0, description="LSTM size, embedding size and attention size.")
    num_hidden_layers: int = Field(2, ge=1, description="LSTM layers in the encoder and in the decoder.")
    dropout: float = Field(0.2, ge=0.0, le=1.0, description="Dropout on every LSTM layer's input, in [0, 1].")
    attention_mechanism: Literal["luong", "bahdanau"] = Field(
        "luong", description="Score function: 'luong' multiplicative h_t.W.h_s, 'bahdanau' additive "
        "v.tanh(W1 h_t + W2 h_s).")
    shared_embedding_and_softmax_weights: bool = Field(
        False, description="Tie the target embedding and the softmax (T2T's meaning; basic_params1 default).")

    batch_size: int = Field(1024, gt=0, description="Tokens per worker micro-batch (T2T lstm_seq2seq).")
    optimizer_adam_beta1: float = Field(0.85, ge=0.0, lt=1.0)
    optimizer_adam_epsilon: float = Field(1e-6, gt=0.0)
    learning_rate_schedule: str = "constant*exp_warmup"
    learning_rate_constant: float = Field(2e-4, gt=0.0)
    learning_rate_warmup_steps: int = Field(100, ge=0)
    clip_grad_norm: float = Field(2.0, ge=0.0)
