"""Entry point: `cs-generator`."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from services.common.platform import lifecycle
from services.common.ml.model_store import ModelStore
from services.common.storage.repositories import Repositories
from services.common.worker.runtime import WorkerContext, run_worker
from services.common.platform.settings import CommonSettings, ConfigError, Env
from services.common.storage.tenants import TenantSettingsRepo
from services.common.platform.tls import read_pem
from services.common.platform.topics import ENRICHED
from services.common.worker.loop import WorkerSpec
from services.generator.policy import PolicyConfig, RoutingPolicy
from services.generator.pusher import ReplyPusher
from services.generator.retrieval import RetrievalSettings, Retriever
from services.generator.worker import Generator, GeneratorDeps

# One agent per partition (isolated partitions): conversations on different partitions are
# generated concurrently, which is what lets the LLM engine batch them.
SPEC = WorkerSpec(service="generator", source=ENRICHED, isolated_partitions=True)


@dataclass(frozen=True)
class GeneratorOptions:
    health_port: int
    max_new_tokens: int
    device: str
    threads: int
    batch_window_s: float
    max_batch: int
    retrieval: RetrievalSettings
    require_knowledge: bool

    @classmethod
    def from_env(cls, env: Env) -> GeneratorOptions:
        device = env.str("CS_GENERATOR_DEVICE")
        if device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"CS_GENERATOR_DEVICE={device!r} must be auto, cpu or cuda")
        options = cls(
            health_port=env.int("CS_HEALTH_PORT", 50063),
            max_new_tokens=env.int("CS_GENERATOR_MAX_NEW_TOKENS"),
            device=device,
            threads=env.int("CS_TORCH_THREADS"),
            batch_window_s=env.float("CS_GENERATOR_BATCH_WINDOW_MS") / 1000,
            max_batch=env.int("CS_GENERATOR_MAX_BATCH"),
            retrieval=RetrievalSettings(
                k=env.int("CS_KNOWLEDGE_TOP_K"), min_score=env.float("CS_KNOWLEDGE_MIN_SCORE"),
                refresh_s=env.float("CS_KNOWLEDGE_REFRESH_S"),
            ),
            require_knowledge=env.bool("CS_GENERATOR_REQUIRE_KNOWLEDGE"),
        )
        if options.max_new_tokens < 1 or options.max_batch < 1 or options.threads < 1 or options.retrieval.k < 1:
            raise ConfigError(
                "CS_GENERATOR_MAX_NEW_TOKENS, CS_GENERATOR_MAX_BATCH, CS_TORCH_THREADS and CS_KNOWLEDGE_TOP_K must be positive"
            )
        if not -1.0 <= options.retrieval.min_score <= 1.0:
            raise ConfigError(f"CS_KNOWLEDGE_MIN_SCORE={options.retrieval.min_score} must be a cosine between -1 and 1")
        return options


def main() -> None:
    env = Env()
    name = "cs-generator"
    settings = lifecycle.configure(name, lambda: CommonSettings.from_env("generator", 9104, env))
    options = lifecycle.configure(name, lambda: GeneratorOptions.from_env(env))
    policy = lifecycle.configure(name, lambda: RoutingPolicy(PolicyConfig.from_env()))
    unknown = sorted(set(policy.config.queues()) - set(settings.escalation_queues))
    if unknown:
        lifecycle.fail(name, f"the routing policy sends to queues {unknown} that are not in CS_ESCALATION_QUEUES "
                             f"({','.join(settings.escalation_queues)}); add them or change CS_POLICY_*_QUEUE")
    ca_path = env.optional("CS_GATEWAY_TLS_CA")
    gateway_ca = lifecycle.configure(name, lambda: read_pem(ca_path, "CS_GATEWAY_TLS_CA")) if ca_path else None
    store = ModelStore()

    async def run(stop) -> None:
        from services.common.ml.embeddings import SentenceEncoder
        from services.common.knowledge.repo import KnowledgeRepo
        from services.generator.answering import Answerer
        from services.generator.grounding import GroundingChecker
        from services.generator.llm.batched import BatchedEngine
        from services.generator.llm.engine import LLMEngine
        from services.generator.llm.weights import ensure_converted

        pusher = ReplyPusher(gateway_ca)
        engine_box: list[BatchedEngine] = []

        async def setup(ctx: WorkerContext):
            _, path = await asyncio.to_thread(ensure_converted, store)
            engine = await asyncio.to_thread(LLMEngine.load, path, device=options.device, threads=options.threads)
            batched = BatchedEngine(engine, max_batch_size=options.max_batch, wait_window_s=options.batch_window_s).start()
            engine_box.append(batched)
            encoder = await asyncio.to_thread(SentenceEncoder, options.threads)
            retriever = Retriever(KnowledgeRepo(ctx.db), encoder, options.retrieval)
            answerer = Answerer(batched, retriever, GroundingChecker(encoder), options.max_new_tokens, options.require_knowledge)
            deps = GeneratorDeps(ctx, Repositories.of(ctx.db), answerer, policy, pusher, TenantSettingsRepo(ctx.db))
            return Generator(deps).handle

        try:
            await run_worker(stop, settings, SPEC, options.health_port, setup)
        finally:
            await pusher.close()
            for batched in engine_box:
                with contextlib.suppress(Exception):
                    batched.close(timeout=10)

    lifecycle.run(run, "cs-generator")


if __name__ == "__main__":
    main()
