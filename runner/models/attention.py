"""Multi-head attention on torch's fused `scaled_dot_product_attention` (self and cross).

Masks are boolean and say where attention is ALLOWED (True = may attend), the SDPA convention;
they broadcast against [batch, heads, query, key], so a key-padding mask is [B, 1, 1, S] and
never materialises a [B, T, S] tensor. Projections have no bias, as in T2T's
`common_attention.compute_qkv`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    """Self-attention (one fused QKV projection) or cross-attention (Q from the query stream,
    one fused KV projection from `memory`)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0, cross: bool = False):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size={hidden_size} is not divisible by num_heads={num_heads}")
        self.hidden_size, self.num_heads, self.dropout, self.cross = hidden_size, num_heads, dropout, cross
        if cross:
            self.q_proj = nn.Linear(hidden_size, hidden_size, bias=False)
            self.kv_proj = nn.Linear(hidden_size, 2 * hidden_size, bias=False)
        else:
            self.qkv_proj = nn.Linear(hidden_size, 3 * hidden_size, bias=False)
        self.out_proj = nn.Linear(hidden_size, hidden_size, bias=False)

    def init_with_gain(self, gain: float) -> None:
        """Xavier-initialise the fused projections chunk by chunk, so each of Q, K, V gets the
        fan of a separate [hidden, hidden] matrix, as T2T's separate dense layers do."""
        for proj in (self.q_proj, self.kv_proj) if self.cross else (self.qkv_proj,):
            for chunk in proj.weight.data.split(self.hidden_size, dim=0):
                nn.init.xavier_uniform_(chunk, gain=gain)
        nn.init.xavier_uniform_(self.out_proj.weight, gain=gain)

    def _heads(self, x: Tensor, parts: int) -> tuple[Tensor, ...]:
        # [B, L, parts*H] -> parts tensors of [B, heads, L, head_dim] (views, no copies).
        batch, length, _ = x.shape
        x = x.view(batch, length, parts, self.num_heads, self.hidden_size // self.num_heads)
        return x.permute(2, 0, 3, 1, 4).unbind(0)

    def memory_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention keys and values of `memory`, [B, heads, S, head_dim] each. Decoding
        computes them once per sentence and reuses them at every step."""
        return self._heads(self.kv_proj(memory), 2)

    def forward(
        self, query: Tensor, memory: Tensor | None = None, mask: Tensor | None = None, is_causal: bool = False
    ) -> Tensor:
        if self.cross:
            if memory is None:
                raise ValueError("cross-attention needs `memory` (the encoder output)")
            return self.attend_memory(query, *self.memory_kv(memory), mask)
        return self.extend(query, None, None, mask, is_causal)[0]

    def attend_memory(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None) -> Tensor:
        """Cross-attention of `query` [B, L, H] over precomputed `memory_kv` keys and values."""
        (q,) = self._heads(self.q_proj(query), 1)
        return self._attend(q, keys, values, mask, False)

    def extend(
        self, query: Tensor, past_keys: Tensor | None, past_values: Tensor | None, mask: Tensor | None = None,
        is_causal: bool = False, parents: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Self-attention of the new positions `query` [B, L, H] over the cached keys/values of
        the positions before them ([B, heads, P, head_dim], None = none) and over themselves.
        Returns (output, keys, values) with the caches extended by the L new positions: the
        incremental-decoding step. `mask` is [.., L, P + L]; `is_causal` only without a cache.
        `parents` [B]: row i of the new caches continues row parents[i] of the past ones (beam
        search's reordering, done here in the same copy as the append)."""
        q, k, v = self._heads(self.qkv_proj(query), 3)
        if past_keys is not None:
            if is_causal:
                raise ValueError("is_causal applies to a whole sequence, not to new positions after a cache")
            k, v = append_positions(past_keys, k, parents), append_positions(past_values, v, parents)
        return self._attend(q, k, v, mask, is_causal), k, v

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool) -> Tensor:
        if is_causal and mask is not None:  # the fast path only applies without another mask
            mask, is_causal = mask & causal_mask(q.shape[-2], q.device), False
        if q.shape[-2] == 1 and q.device.type == "cpu" and not self.training:
            # One query per row (a decoding step): two batched matmuls beat SDPA's CPU flash
            # kernel here (measured ~7 % of a beam-4 decode); on GPUs SDPA's kernels stay.
            scores = torch.matmul(q, k.transpose(-1, -2)) * q.shape[-1] ** -0.5
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            out = torch.matmul(scores.softmax(dim=-1), v)
        else:  # SDPA scales by head_dim**-0.5, T2T's query scaling.
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=is_causal,
                dropout_p=self.dropout if self.training else 0.0,
            )
        batch, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, self.hidden_size))


def append_positions(past: Tensor, new: Tensor, parents: Tensor | None = None) -> Tensor:
    """cat([past[parents], new], dim=2) for caches [B, heads, P, head_dim]. On a CPU the gather
    writes straight into the result (index_select's `out` may be a strided slice), so beam
    search copies each cache once per step instead of twice (gather, then concatenate)."""
    if parents is None:
        return torch.cat([past, new], dim=2)
    if past.device.type != "cpu":
        return torch.cat([past.index_select(0, parents), new], dim=2)
    _, heads, length, head_dim = past.shape
    out = past.new_empty(parents.shape[0], heads, length + new.shape[2], head_dim)
    torch.index_select(past, 0, parents, out=out[:, :, :length])
    out[:, :, length:] = new
    return out


def key_padding_mask(keep: Tensor) -> Tensor:
    """[B, S] True-at-real-token -> [B, 1, 1, S] attention mask. A row with no real token at
    all (an empty source) may attend everywhere, so no softmax row is empty (NaN on some
    backends); its keys are pad embeddings and the result is discarded downstream anyway."""
    keep = keep | ~keep.any(dim=-1, keepdim=True)
    return keep[:, None, None, :]


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """[L, L] True where key position <= query position."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()

