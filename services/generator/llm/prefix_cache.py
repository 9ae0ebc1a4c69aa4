"""Key/value caches of prompt beginnings that other prompts share (prefix caching, as vLLM does it).

Every answer's prompt starts with the same instructions for the tenant and language (role, task, the
rule against inventing order data, the knowledge base's heading: 126-132 tokens of a ~160-350 token
grounded prompt, measured with the Qwen tokenizer on build_messages' output), and a question asked
again starts with the same passages too. Reading those tokens again for every newcomer is most of a
prefill that the running conversations wait for on CPU.

Prompts are cut into blocks of `block` tokens. After a prompt is read, its cache up to its last whole
block (never its last token: the next token's logits must come from a pass) is kept, and every block
boundary of it that no kept cache has yet is indexed by the hash of the tokens up to there. A newcomer
looks up its longest indexed beginning and starts reading after it, from a copy of those keys and values
(PromptChunks). Keys and values of a position depend only on the tokens up to it, and reading the rest
after a cached beginning is a chunked prefill with its first chunk already done: on CPU the reply is the
same token for token (tests/unit/test_generator_llm.py). What is kept is bounded by `budget` tokens in
all (a token of Qwen2.5-0.5B in fp32 is 24 KB: 24 layers, 2 key/value heads of 64); the least recently
used kept cache goes first, with its boundaries.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import torch
from transformers import DynamicCache

Layers = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer (keys, values), [1, heads, tokens, dim]


def _key(ids: Sequence[int]) -> bytes:
    return hashlib.blake2b(torch.tensor(list(ids), dtype=torch.int64).numpy().tobytes(), digest_size=16).digest()


class PrefixCache:
    def __init__(self, block: int = 32, budget: int = 8192) -> None:
        if block < 1 or budget < 1:
            raise ValueError(f"block and budget must be at least 1, got {block} and {budget}")
        self.block = block
        self.budget = budget
        self._kept: OrderedDict[int, tuple[Layers, list[bytes]]] = OrderedDict()  # id -> (cache, its boundaries)
        self._index: dict[bytes, int] = {}  # a beginning's hash -> the kept cache holding it (and maybe more)
        self._tokens = 0  # kept in all
        self._next_id = 0
        self.hits = 0
        self.reused_tokens = 0

    def __len__(self) -> int:
        """Block boundaries indexed."""
        return len(self._index)

    @property
    def tokens(self) -> int:
        return self._tokens

    def _usable(self, length: int) -> int:
        """The longest beginning of a prompt of `length` tokens that may come from here: whole blocks,
        at least one token left to read."""
        return (length - 1) // self.block * self.block

    def lookup(self, ids: Sequence[int], config) -> tuple[int, DynamicCache] | None:
        """(tokens already in it, a cache of its own) for the longest kept beginning of `ids`, or None."""
        for n in range(self._usable(len(ids)), 0, -self.block):
            kept_id = self._index.get(_key(ids[:n]))
            if kept_id is None:
                continue
            self._kept.move_to_end(kept_id)
            layers, _ = self._kept[kept_id]
            cache = DynamicCache(config=config)
            for i, (k, v) in enumerate(layers):
                cache.update(k[:, :, :n].clone(), v[:, :, :n].clone(), i)
            self.hits += 1
            self.reused_tokens += n
            return n, cache
        return None

    def keep(self, ids: Sequence[int], cache: DynamicCache) -> None:
        """Keep the beginning of a prompt just read into `cache` (its cache holds exactly `ids`)."""
        n = min(self._usable(len(ids)), self.budget // self.block * self.block)
        new = []
        for end in range(self.block, n + 1, self.block):
            key = _key(ids[:end])
            if key in self._index:
                self._kept.move_to_end(self._index[key])  # kept already, by a prompt that began the same
            else:
                new.append((key, end))
        if not new:
            return
        n = new[-1][1]
        layers: Layers = tuple((layer.keys[:, :, :n].clone(), layer.values[:, :, :n].clone()) for layer in cache.layers)
        kept_id, self._next_id = self._next_id, self._next_id + 1
        self._kept[kept_id] = (layers, [key for key, _ in new])
        self._index.update(dict.fromkeys((key for key, _ in new), kept_id))
        self._tokens += n
        while self._tokens > self.budget:
            _, (old, keys) = self._kept.popitem(last=False)
            self._tokens -= old[0][0].shape[2]
            for key in keys:
                del self._index[key]
