"""Hparams of the Perceiver (torch-free); one shape for images and for log-mel audio.

Jaegle et al. 2021: a latent array of `num_latents` x `hidden_size` cross-attends to the input
array (each element's features + Fourier position features), then `num_self_attention_layers`
Transformer layers self-attend in latent space; the block repeats `num_blocks` times, the
repeats sharing weights after the first (the paper's ImageNet model: 512 latents, 8 blocks of
1 cross-attention + 6 self-attention layers, 64 Fourier bands, LAMB at 4e-3; these defaults are
a CPU-sized Perceiver on the same plan: 64 latents, 2 blocks of 2, 16 bands, AdamW 1e-3).
"""

from typing import ClassVar, Literal

from pydantic import Field

from runner.models.hparams_base import TrainingHparams
from runner.models.transformer_hparams import TransformerArchitecture


class PerceiverHparams(TransformerArchitecture, TrainingHparams):
    """Latents cross-attend to the input array, then self-attend; output queries read the latents."""

    # The problem's own unit: image problems batch examples, speech problems feature frames.
    batch_unit: ClassVar[str] = "examples or frames"

    batch_size: int = Field(64, gt=0, description="Per-worker micro-batch size in the problem's unit: EXAMPLES for "
                            "images, FEATURE FRAMES (rows x longest utterance) for speech.")
    max_length: int = Field(0, ge=0, description="Not used: every input element is attended to.")
    num_latents: int = Field(64, gt=0, le=4096, description="Rows of the latent array (the paper's N).")
    hidden_size: int = Field(128, gt=0, description="Width of the latents (the paper's D).")
    filter_size: int = Field(256, gt=0)
    num_heads: int = Field(4, gt=0, description="Heads of the latent self-attention.")
    num_cross_heads: int = Field(1, gt=0, le=4096, description="Heads of the cross-attention (the paper: 1).")
    num_self_attention_layers: int = Field(2, ge=1, description="Latent Transformer layers per block.")
    num_blocks: int = Field(2, ge=1, le=64, description="Cross-attend + latent layers, repeated (weights shared after the first).")
    num_decoder_layers: int = Field(1, ge=1, le=1, description="Unused by the Perceiver; must stay 1.")
    num_frequency_bands: int = Field(16, ge=1, le=1024, description="Fourier position bands per input axis.")
    max_frequency: float = Field(
        0.0, ge=0.0, description="Highest Fourier frequency (the paper's sampling rate mu); 0 = the axis "
        "length (Nyquist for images; audio frames use max_input_positions).")
    max_input_positions: int = Field(
        1024, gt=0, description="Audio: frame positions are scaled so this many frames span [-1, 1].")
    max_output_positions: int = Field(
        16, gt=0, le=4096, description="Sequence targets (audio transcripts): one learned output query per target "
        "position, read out of the latents in parallel; longer targets are an error.")
    shared_embedding_and_softmax_weights: bool = Field(False, description="Must be false: inputs are not tokens.")
    layer_prepostprocess_dropout: float = Field(0.1, ge=0.0, le=1.0)
    attention_dropout: float = Field(0.0, ge=0.0, le=1.0)
    relu_dropout: float = Field(0.0, ge=0.0, le=1.0)

    optimizer: Literal["adam", "adamw", "adafactor", "sgd"] = "adamw"
    optimizer_adam_beta2: float = Field(0.999, ge=0.0, lt=1.0)
    optimizer_adam_epsilon: float = Field(1e-8, gt=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    learning_rate_schedule: str = "constant*linear_warmup*cosine_decay"
    learning_rate_constant: float = Field(1e-3, gt=0.0)
    learning_rate_warmup_steps: int = Field(200, ge=0)
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
