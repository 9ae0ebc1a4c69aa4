"""Attention computed row by row on each row's own tokens, so batching never changes a reply.

With left padding, the stock kernels attend over the padded width and pick different code
paths for a padded batch than for a row alone. In fp32 that moves logits only by rounding noise;
with the int8 Linear layers a one-ulp change can flip one activation's rounding, and the reply of a
conversation would change with whoever shared its batch. Here each row attends only over its
own cache columns with exactly the call it would make alone. On CPU the loop over rows costs
little next to the matrix products; on GPU it would cost one kernel launch per row and layer,
so the engine uses it on CPU only.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "cs_row_sdpa"


def row_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    row_starts: list[int] | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """query [rows, heads, q, dim], key/value [rows, kv_heads, kv, dim] -> [rows, q, heads, dim].

    row_starts[i] is the first cache column that holds a real token of row i (left padding
    before it); the model forward passes it through from `DecodeBatch`. A query of several tokens is
    either a whole prompt on an empty cache or a prompt chunk after its own past (chunked prefill,
    one row, no padding). Calls that do not
    (`model.generate` in the benchmark) get the stock sdpa path with its mask.
    """
    if row_starts is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    _rows, _, q_len, _ = query.shape
    kv_len = key.shape[2]
    out = query.new_zeros(query.shape)
    for row, start in enumerate(row_starts):
        first_query = max(0, start - (kv_len - q_len))
        q = query[row : row + 1, :, first_query:]
        k = key[row : row + 1, :, start:]
        v = value[row : row + 1, :, start:]
        mask = _chunk_mask(q.shape[2], k.shape[2])
        out[row : row + 1, :, first_query:] = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, scale=scaling, is_causal=_prompt(q, k), enable_gqa=True
        )
    return out.transpose(1, 2).contiguous(), None


def _prompt(q: torch.Tensor, k: torch.Tensor) -> bool:
    """A whole prompt on an empty cache: causal, the call a row makes alone."""
    return q.shape[2] > 1 and q.shape[2] == k.shape[2]


def _chunk_mask(q_len: int, kv_len: int) -> torch.Tensor | None:
    """A prompt chunk after the row's cached tokens: query i sees the past and the chunk up to itself.

    sdpa's is_causal aligns the diagonal top-left, which is wrong once the cache holds a past, so the
    chunk gets an explicit mask aligned bottom-right. None for a whole prompt and a one-token step.
    """
    if q_len == 1 or q_len == kv_len:
        return None
    return torch.ones(q_len, kv_len, dtype=torch.bool).tril(diagonal=kv_len - q_len)


def use_row_attention(model) -> None:
    AttentionInterface.register(NAME, row_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)


def uses_row_attention(model) -> bool:
    return getattr(model.config, "_attn_implementation", None) == NAME
