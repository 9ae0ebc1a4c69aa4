"""Entry point: `cs-generator`."""

from __future__ import annotations

import asyncio
import contextlib

from services.common import lifecycle
from services.common.model_store import ModelStore
from services.common.repositories import Repositories
from services.common.runtime import WorkerContext, run_worker
from services.common.settings import CommonSettings, ConfigError, Env
from services.common.topics import ENRICHED
from services.common.worker import WorkerSpec
from services.generator.policy import PolicyConfig, RoutingPolicy
from services.generator.pusher import ReplyPusher
from services.generator.worker import Generator, GeneratorDeps

# One agent per partition (isolated partitions): conversations on different partitions are
# generated concurrently, which is what lets the LLM engine batch them.
SPEC = WorkerSpec(service="generator", source=ENRICHED, group_id="cs-generator", isolated_partitions=True)


def main() -> None:
    env = Env()
    settings = CommonSettings.from_env("generator", 9104, env)
    health_port = env.int("CS_HEALTH_PORT", 50063)
    max_new_tokens = env.int("CS_GENERATOR_MAX_NEW_TOKENS")
    device = env.str("CS_GENERATOR_DEVICE")
    if device not in ("auto", "cpu", "cuda"):
        raise SystemExit(f"cs-generator: cannot start: CS_GENERATOR_DEVICE={device!r} must be auto, cpu or cuda")
    threads = env.int("CS_TORCH_THREADS")
    window_s = env.float("CS_GENERATOR_BATCH_WINDOW_MS") / 1000
    max_batch = env.int("CS_GENERATOR_MAX_BATCH")
    try:
        policy = RoutingPolicy(PolicyConfig.from_env())
    except (ValueError, ConfigError) as exc:
        raise SystemExit(f"cs-generator: cannot start: {exc}") from None
    unknown = sorted(set(policy.config.queues()) - set(settings.escalation_queues))
    if unknown:
        raise SystemExit(
            f"cs-generator: cannot start: the routing policy sends to queues {unknown} that are not in "
            f"CS_ESCALATION_QUEUES ({','.join(settings.escalation_queues)}); add them or change CS_POLICY_*_QUEUE"
        )
    store = ModelStore()

    async def run(stop) -> None:
        from services.generator.llm.batched import BatchedEngine
        from services.generator.llm.engine import LLMEngine
        from services.generator.llm.weights import ensure_converted

        pusher = ReplyPusher()
        engine_box: list[BatchedEngine] = []

        async def setup(ctx: WorkerContext):
            _, path = await asyncio.to_thread(ensure_converted, store)
            engine = await asyncio.to_thread(LLMEngine.load, path, device=device, threads=threads)
            batched = BatchedEngine(engine, max_batch_size=max_batch, wait_window_s=window_s).start()
            engine_box.append(batched)
            deps = GeneratorDeps(ctx, Repositories.of(ctx.db), batched, policy, pusher, max_new_tokens)
            return Generator(deps).handle

        try:
            await run_worker(stop, settings, SPEC, health_port, setup)
        finally:
            await pusher.close()
            for batched in engine_box:
                with contextlib.suppress(Exception):
                    batched.close(timeout=10)

    lifecycle.run(run, "cs-generator")


if __name__ == "__main__":
    main()
