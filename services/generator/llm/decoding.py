"""Per-token bookkeeping shared by every decode path: text deltas, stop strings, token choice.

Kept apart from the model loop so the batched and the one-at-a-time paths produce text the
same way, token for token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

REPLACEMENT_CHAR = "\ufffd"


class IncrementalDetokenizer:
    """Turns a growing list of token ids into text deltas that never split a character.

    Byte-level BPE tokens can end in the middle of a UTF-8 sequence (most Chinese characters
    take three bytes and often span two tokens); decoding such a prefix yields U+FFFD. We hold
    those bytes back until the character completes, decoding only a short window of recent
    tokens so the cost per token stays constant. Bytes of a character that never completes
    (generation stopped mid-character) are dropped rather than sent as U+FFFD.
    """

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0

    def push(self, token_id: int) -> str:
        """Add one token; return the text it completes (often "", never a partial character)."""
        self._ids.append(token_id)
        prefix_text = self._decode(self._ids[self._prefix_offset : self._read_offset])
        new_text = self._decode(self._ids[self._prefix_offset :])
        if len(new_text) <= len(prefix_text) or new_text.endswith(REPLACEMENT_CHAR):
            return ""
        self._prefix_offset = self._read_offset
        self._read_offset = len(self._ids)
        return new_text[len(prefix_text) :]

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


class StopScanner:
    """Cuts streamed text at the first stop string, even when it arrives split across deltas.

    Text that could be the start of a stop string is held back until it is known not to be.
    """

    def __init__(self, stops: Sequence[str] | None) -> None:
        self._stops = [s for s in (stops or ()) if s]
        self._holdback = max((len(s) for s in self._stops), default=1) - 1
        self._pending = ""
        self.stopped = False

    def feed(self, delta: str) -> str:
        """Text that is safe to emit now; sets `stopped` once a stop string appears."""
        if self.stopped:
            return ""
        if not self._stops:
            return delta
        self._pending += delta
        cut = min((i for i in (self._pending.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self._pending = self._pending[:cut], ""
            return out
        safe = max(0, len(self._pending) - self._holdback)
        out, self._pending = self._pending[:safe], self._pending[safe:]
        return out

    def flush(self) -> str:
        """Held-back text once generation has ended without a stop string."""
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out


def choose_greedy(logits: torch.Tensor, seen: torch.Tensor, repetition_penalty: float) -> torch.Tensor:
    """Greedy token per row after penalising tokens that row has already generated.

    logits: [batch, vocab] float; seen: [batch, vocab] bool. The penalty follows the CTRL
    rule transformers uses (divide positive logits, multiply negative ones). Only generated
    tokens count as seen, not the prompt: a reply should reuse the customer's own words
    (an order term, a product name) freely, but not loop on itself.
    """
    if repetition_penalty != 1.0:
        penalised = torch.where(logits > 0, logits / repetition_penalty, logits * repetition_penalty)
        logits = torch.where(seen, penalised, logits)
    return logits.argmax(dim=-1)
