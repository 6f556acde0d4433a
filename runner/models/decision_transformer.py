"""Decision Transformer (Chen et al. 2021): offline RL as sequence modelling, on blocks.py.

Each timestep t of a window becomes three tokens, (return-to-go R_t, state s_t, action a_t),
each linearly embedded (the action through an embedding table) plus a learned embedding of the
episode timestep t; the 3K tokens go through the causal `DecoderStack`, and the output at the
state token s_t predicts a_t (it sees R_<=t, s_<=t and a_<t, never a_t itself). With
`condition_on_return: false` the R tokens are left out: behaviour cloning, same blocks.

Batches (runner/problems/offline_rl.py): states [B, K, S], returns_to_go [B, K], timesteps
[B, K], targets [B, K] = action + 1 (0 = padding). Logits [B, K, A + 1]; class 0 is never the
answer (`act` masks it).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runner.models.batch_checks import require
from runner.models.blocks import DecoderStack, LayerConfig, init_weights
from runner.models.output import ModelOutput


class DecisionTransformer(nn.Module):
    def __init__(self, hparams: Any, state_dim: int, num_actions: int, max_timestep: int):
        super().__init__()
        hp, width = hparams, hparams.hidden_size
        self.condition_on_return = hp.condition_on_return
        self.tokens_per_step = 3 if hp.condition_on_return else 2
        self.embed_return = nn.Linear(1, width) if hp.condition_on_return else None
        self.embed_state = nn.Linear(state_dim, width)
        self.embed_action = nn.Embedding(num_actions + 1, width)  # 0: no action (padding, or not taken yet)
        self.embed_timestep = nn.Embedding(max_timestep + 1, width)
        self.embed_norm = nn.LayerNorm(width)
        self.dropout = hp.layer_prepostprocess_dropout
        self.decoder = DecoderStack(LayerConfig.from_hparams(hp), hp.num_decoder_layers, cross_attention=False)
        self.predict_action = nn.Linear(width, num_actions + 1)
        init_weights(self, hp.initializer_gain)

    def forward(self, batch: dict[str, Tensor]) -> ModelOutput:
        states = require(batch, "states", "decision_transformer").float()
        actions, timesteps = require(batch, "targets", "decision_transformer"), require(batch, "timesteps", "decision_transformer")
        b, k, _ = states.shape
        time = self.embed_timestep(timesteps)
        tokens = [self.embed_state(states) + time, self.embed_action(actions) + time]
        if self.condition_on_return:
            rtg = require(batch, "returns_to_go", "decision_transformer").float()
            tokens.insert(0, self.embed_return(rtg[..., None]) + time)
        x = torch.stack(tokens, dim=2).reshape(b, k * self.tokens_per_step, -1)  # R1 s1 a1 R2 s2 a2 ...
        x = F.dropout(self.embed_norm(x), self.dropout, self.training)
        hidden, _ = self.decoder(x)
        at_states = hidden.reshape(b, k, self.tokens_per_step, -1)[:, :, self.tokens_per_step - 2]
        return ModelOutput(self.predict_action(at_states))

    @torch.no_grad()
    def act(self, batch: dict[str, Tensor]) -> Tensor:
        """The greedy action (0-based) at each row's last timestep; that step's target is ignored."""
        logits = self(batch).logits[:, -1].float()
        logits[:, 0] = float("-inf")
        return logits.argmax(dim=-1) - 1


def build(hparams: Any, info: Any) -> DecisionTransformer:
    if getattr(info, "input_kind", None) != "trajectories":
        raise ValueError(f"decision_transformer learns from trajectories, but the problem's input_kind is "
                         f"'{getattr(info, 'input_kind', None)}'; use an offline_rl problem")
    if hparams.shared_embedding_and_softmax_weights:
        raise ValueError("decision_transformer: shared_embedding_and_softmax_weights must be false")
    return DecisionTransformer(hparams, info.state_dim, info.num_actions, info.max_timestep)
