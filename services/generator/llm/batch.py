"""Rows that decode together: one shared KV cache, left padding, rows joining and leaving.

A manual loop over `model(...)` with `past_key_values` instead of `model.generate`, because
generate only returns when the whole batch is done: here every row streams its own tokens,
a finished row leaves at once, and new rows merge into a running batch between steps.

Rows are left-padded so that every row's newest token sits in the last column: one forward
pass then appends one column for all rows. Each row keeps its own position ids (padding
does not count), so a padded row sees exactly the positions it would see alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache

from services.generator.llm.attention import uses_row_attention
from services.generator.llm.decoding import choose_greedy
from services.generator.llm.request import Request


class DecodeBatch:
    """The running rows of one decode loop and their tensors; used from one thread at a time."""

    def __init__(
        self,
        requests: list[Request],
        cache: DynamicCache,
        mask: torch.Tensor,
        positions: torch.Tensor,
    ) -> None:
        self.requests = requests
        self.cache = cache
        self.mask = mask  # [rows, columns] 1 where the cache holds a real token
        self.positions = positions  # [rows] position id of the next token
        self.pending: torch.Tensor | None = None  # [rows] chosen, not yet fed to the model
        self.seen: torch.Tensor | None = None  # [rows, vocab] tokens each row has generated

    def __len__(self) -> int:
        return len(self.requests)

    @classmethod
    @torch.inference_mode()
    def prefill(cls, model, requests: Sequence[Request], pad_id: int) -> tuple[DecodeBatch, torch.Tensor]:
        """Run the prompts of new rows together; return the batch and its next-token logits."""
        device = model.device
        width = max(len(r.prompt_ids) for r in requests)
        ids = torch.full((len(requests), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(requests), width), dtype=torch.long)
        for row, request in enumerate(requests):
            n = len(request.prompt_ids)
            ids[row, width - n :] = torch.tensor(request.prompt_ids, dtype=torch.long)
            mask[row, width - n :] = 1
        ids, mask = ids.to(device), mask.to(device)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=model.config)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
            **_row_kwargs(model, mask),
        )
        batch = cls(list(requests), out.past_key_values, mask, mask.sum(-1))
        return batch, out.logits[:, -1, :].float()

    @classmethod
    def of_one(cls, request: Request, cache: DynamicCache, device: torch.device) -> DecodeBatch:
        """A batch of one row whose whole prompt is already in `cache` (see `PromptChunks`)."""
        n = len(request.prompt_ids)
        mask = torch.ones((1, n), dtype=torch.long, device=device)
        return cls([request], cache, mask, torch.tensor([n], dtype=torch.long, device=device))

    @torch.inference_mode()
    def forward(self, model) -> torch.Tensor:
        """Feed every row's pending token; return next-token logits [rows, vocab]."""
        if self.pending is None:
            raise RuntimeError("forward() before advance(): no token is pending")
        ones = torch.ones((len(self), 1), dtype=self.mask.dtype, device=self.mask.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        out = model(
            input_ids=self.pending[:, None],
            attention_mask=self.mask,
            position_ids=self.positions[:, None],
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,
            **_row_kwargs(model, self.mask),
        )
        self.cache = out.past_key_values
        self.positions = self.positions + 1
        return out.logits[:, -1, :].float()

    @torch.inference_mode()
    def advance(self, logits: torch.Tensor, repetition_penalty: float) -> None:
        """Choose each row's next token, hand it to its request, and drop rows that are done."""
        if self.seen is None:
            self.seen = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
        tokens = choose_greedy(logits, self.seen, repetition_penalty)
        self.seen.scatter_(1, tokens[:, None], True)
        self.pending = tokens
        for request, token in zip(self.requests, tokens.tolist()):
            if request.cancelled:
                request.finish("cancelled")
            else:
                request.accept(token)
        finished = [i for i, r in enumerate(self.requests) if r.done]
        if finished:
            self.keep([i for i, r in enumerate(self.requests) if not r.done])

    @torch.inference_mode()
    def keep(self, rows: list[int]) -> None:
        """Keep only these rows, and drop leading columns that are padding in all of them."""
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        self.requests = [self.requests[i] for i in rows]
        self.mask = self.mask[index]
        self.positions = self.positions[index]
        self.pending = self.pending[index] if self.pending is not None else None
        self.seen = self.seen[index] if self.seen is not None else None
        if not rows:
            return
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else self.mask.shape[1]
        for layer in self.cache.layers:
            layer.keys = layer.keys[index, :, first:, :]
            layer.values = layer.values[index, :, first:, :]
        self.mask = self.mask[:, first:]

    @torch.inference_mode()
    def merge(self, other: DecodeBatch) -> None:
        """Append other's rows, left-padding whichever cache is shorter so columns line up."""
        if other.pending is None or self.pending is None:
            raise RuntimeError("merge() needs both batches advanced once")
        width = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.keys = torch.cat([_pad_left(mine.keys, width, 2), _pad_left(theirs.keys, width, 2)], dim=0)
            mine.values = torch.cat([_pad_left(mine.values, width, 2), _pad_left(theirs.values, width, 2)], dim=0)
        self.mask = torch.cat([_pad_left(self.mask, width, 1), _pad_left(other.mask, width, 1)], dim=0)
        self.positions = torch.cat([self.positions, other.positions])
        self.pending = torch.cat([self.pending, other.pending])
        self.seen = torch.cat([self.seen, other.seen])
        self.requests = self.requests + other.requests


class PromptChunks:
    """One newcomer's prompt read into its own cache a chunk at a time (chunked prefill).

    Chunks start at the row's own positions 0, C, 2C, ..., whoever else is waiting or running, so
    how a prompt is cut depends only on its length and C. The row has no padding; once the whole
    prompt is in, `DecodeBatch.of_one` makes it a batch that merges into the running one.

    On CPU the chunks leave exactly the cache and last logits a whole prefill leaves (the unit tests
    check it): the int8 products are exact whatever the number of rows, and row attention gives each
    query the same keys, the masked ones adding exact zeros. So the reply does not depend on C.
    """

    def __init__(self, request: Request, model, chunk: int) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1 token, got {chunk}")
        self.request = request
        self.chunk = chunk
        self.cache = DynamicCache(config=model.config)
        self.read = 0  # prompt tokens already in the cache

    @property
    def done(self) -> bool:
        return self.read == len(self.request.prompt_ids)

    @torch.inference_mode()
    def feed(self, model) -> torch.Tensor:
        """Read the next chunk; return the logits of its last token ([1, vocab])."""
        device = model.device
        start, end = self.read, min(self.read + self.chunk, len(self.request.prompt_ids))
        ids = torch.tensor([self.request.prompt_ids[start:end]], dtype=torch.long, device=device)
        mask = torch.ones((1, end), dtype=torch.long, device=device)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=torch.arange(start, end, device=device)[None],
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,
            **_row_kwargs(model, mask),
        )
        self.cache = out.past_key_values
        self.read = end
        return out.logits[:, -1, :].float()


def _row_kwargs(model, mask: torch.Tensor) -> dict:
    """Where each row's real tokens start, for row attention (left padding is leading zeros)."""
    if not uses_row_attention(model):
        return {}
    return {"row_starts": (mask.shape[1] - mask.sum(dim=1)).tolist()}


def _pad_left(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - t.shape[dim]
    if missing == 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)
