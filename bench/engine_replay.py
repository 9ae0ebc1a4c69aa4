"""The load test's prompts replayed straight through the batched engine, to set the pipeline beside the model alone.

The generator logs each prompt it gives the LLM at DEBUG ("llm input", services/generator/llm/batched.py),
exactly as the model gets it; the load test runs its generator at DEBUG with --engine-replay, notes where
each step's lines begin and end in the log, and after the pipeline has stopped (so the engine has the
machine to itself, as the generator had its share of it) sends every step's prompts to a BatchedEngine
of its own: the same model, the same max_new_tokens, greedy as in the generator (so the same lengths),
N requests in flight for a step of N conversations, no think time between them. Replies/s of the engine
is what the pipeline could deliver at that concurrency if everything around the model were free.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

PROMPT_LINE = '"llm input"'


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def recorded_prompts(log_path: Path, start: int, end: int) -> list[list[dict[str, str]]]:
    """The prompts the generator logged between byte offsets `start` and `end` of its log, in order."""
    with log_path.open("rb") as handle:
        handle.seek(start)
        chunk = handle.read(end - start).decode("utf-8", errors="replace")
    prompts = []
    for line in chunk.splitlines():
        if PROMPT_LINE in line:
            prompts.append(json.loads(json.loads(line)["prompt"]))
    return prompts


@dataclass
class Replay:
    n: int
    prompts: int
    seconds: float
    tokens: int

    @property
    def replies_per_s(self) -> float:
        return self.prompts / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def load_engine(max_batch: int):
    """The generator's model as its worker loads it (services/generator/main.py), behind a started BatchedEngine
    configured from the same environment variables (device, threads, chunked prefill, prefix cache)."""
    from services.common.ml.model_store import ModelStore
    from services.common.platform.settings import Env
    from services.generator.llm.batched import BatchedEngine
    from services.generator.llm.engine import LLMEngine
    from services.generator.llm.prefix_cache import PrefixCache
    from services.generator.llm.weights import ensure_converted
    from services.generator.settings import VARIABLES, GeneratorOptions

    options = GeneratorOptions.from_env(Env(variables=VARIABLES))
    _, path = ensure_converted(ModelStore())
    engine = LLMEngine.load(path, device=options.device, threads=options.threads)
    return BatchedEngine(
        engine,
        max_batch_size=max_batch,
        prefill_chunk=options.prefill_chunk,
        prefix_cache=PrefixCache(budget=options.prefix_cache) if options.prefix_cache else None,
    ).start()


async def replay(batched, prompts: list[list[dict[str, str]]], n: int, max_new_tokens: int) -> Replay:
    """`prompts` through `batched`, `n` in flight at a time, in order; wall time from the first to the last."""
    pending = list(reversed(prompts))
    tokens = 0

    async def one_at_a_time() -> None:
        nonlocal tokens
        while pending:
            result = await asyncio.wrap_future(batched.submit(pending.pop(), max_new_tokens))
            tokens += result.tokens

    started = time.perf_counter()
    await asyncio.gather(*(one_at_a_time() for _ in range(n)))
    return Replay(n, len(prompts), time.perf_counter() - started, tokens)
