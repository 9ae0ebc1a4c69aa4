"""Entry point: `cs-generator`."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from services.common.ml.model_store import ModelStore
from services.common.platform import lifecycle, metrics
from services.common.platform.topics import ENRICHED
from services.common.storage.repositories import Repositories
from services.common.storage.tenant_models import TenantRulesCache
from services.common.storage.tenants import PersonaCache, TenantSettingsRepo
from services.common.worker.loop import WorkerSpec
from services.common.worker.runtime import WorkerContext, serve
from services.generator.pusher import ReplyPusher
from services.generator.retrieval import Retriever
from services.generator.settings import GeneratorSettings
from services.generator.tenant_routing import TenantRouting
from services.generator.worker import Generator, GeneratorDeps

# Concurrent admission (services/common/worker/admission.py): up to CS_GENERATOR_MAX_IN_FLIGHT
# conversations at once per replica, whatever partitions it owns, which is what fills the engine's batch.
SPEC = WorkerSpec(service="generator", source=ENRICHED)


def count_model_work(kind: str, seconds: float, rows: int) -> None:
    """The engine thread's forward passes as metrics: busy seconds by kind, rows per decode step."""
    metrics.ENGINE_BUSY.labels(service="generator", work=kind).inc(seconds)
    if kind == "decode":
        metrics.ENGINE_BATCH_ROWS.labels(service="generator").observe(rows)


def count_prompt(cached: int, total: int) -> None:
    """A newcomer's prompt tokens: those its prefill starts with from the prefix cache, and those it reads."""
    metrics.PROMPT_TOKENS.labels(service="generator", source="cache").inc(cached)
    metrics.PROMPT_TOKENS.labels(service="generator", source="read").inc(total - cached)


def main() -> None:
    settings = lifecycle.configure("cs-generator", GeneratorSettings.from_env)
    options = settings.options
    store = ModelStore()

    async def setup(ctx: WorkerContext):
        from services.common.knowledge.repo import KnowledgeRepo
        from services.common.ml.embeddings import RankingEncoder, SentenceEncoder
        from services.generator.answering import Answerer
        from services.generator.grounding import GroundingChecker
        from services.generator.llm.batched import BatchedEngine
        from services.generator.llm.engine import LLMEngine
        from services.generator.llm.prefix_cache import PrefixCache
        from services.generator.llm.weights import ensure_converted

        pusher = ReplyPusher(settings.gateway_ca)
        ctx.on_close(pusher.close)
        _, path = await asyncio.to_thread(ensure_converted, store)
        engine = await asyncio.to_thread(LLMEngine.load, path, device=options.device, threads=options.threads)
        batched = BatchedEngine(
            engine,
            max_batch_size=options.max_batch,
            wait_window_s=options.batch_window_s,
            prefill_chunk=options.prefill_chunk,
            on_model_work=count_model_work,
            prefix_cache=PrefixCache(budget=options.prefix_cache) if options.prefix_cache else None,
            on_prompt=count_prompt,
        ).start()

        async def close_engine() -> None:
            with contextlib.suppress(Exception):
                batched.close(timeout=10)

        ctx.on_close(close_engine)
        encoder = await asyncio.to_thread(SentenceEncoder, options.threads)
        ranker = await asyncio.to_thread(RankingEncoder, options.threads)
        retriever = Retriever(KnowledgeRepo(ctx.db), encoder, options.retrieval, ranker)
        answerer = Answerer(
            batched,
            retriever,
            GroundingChecker(encoder),
            options.max_new_tokens,
            options.require_knowledge,
            options.answer_style,
        )
        routing = TenantRouting(settings.policy, TenantRulesCache(ctx.db, settings.worker.common.tenant_reload_s))
        personas = PersonaCache(TenantSettingsRepo(ctx.db), options.persona_cache_s)
        deps = GeneratorDeps(ctx, Repositories.of(ctx.db), answerer, settings.policy, pusher, personas, routing)
        generator = Generator(deps)
        ctx.on_give_up(generator.fail_safe)
        return generator.handle

    serve(replace(SPEC, max_in_flight=options.max_in_flight), settings.worker, setup)


if __name__ == "__main__":
    main()
