"""The generator's own settings: how many messages it admits at once and how many it batches."""

from __future__ import annotations

import pytest

from services.common.platform.settings import ConfigError, Env
from services.generator.settings import VARIABLES, GeneratorOptions


def test_the_generators_batch_follows_its_admitted_concurrency_unless_set():
    def options(**env: str) -> GeneratorOptions:
        return GeneratorOptions.from_env(Env(env, variables=VARIABLES))

    assert (options().max_in_flight, options().max_batch) == (16, 16)
    assert options(CS_GENERATOR_MAX_IN_FLIGHT="32").max_batch == 32
    assert options(CS_GENERATOR_MAX_IN_FLIGHT="32", CS_GENERATOR_MAX_BATCH="8").max_batch == 8


def test_prefill_chunk_is_read_and_zero_means_whole_prompts():
    def options(**env: str) -> GeneratorOptions:
        return GeneratorOptions.from_env(Env(env, variables=VARIABLES))

    assert options().prefill_chunk == 512
    assert options(CS_GENERATOR_PREFILL_CHUNK="0").prefill_chunk == 0
    with pytest.raises(ConfigError, match="CS_GENERATOR_PREFILL_CHUNK"):
        options(CS_GENERATOR_PREFILL_CHUNK="-1")


def test_the_prefix_cache_is_on_by_default_and_zero_turns_it_off():
    def options(**env: str) -> GeneratorOptions:
        return GeneratorOptions.from_env(Env(env, variables=VARIABLES))

    assert options().prefix_cache == 8192
    assert options(CS_GENERATOR_PREFIX_CACHE="0").prefix_cache == 0
    with pytest.raises(ConfigError, match="CS_GENERATOR_PREFIX_CACHE"):
        options(CS_GENERATOR_PREFIX_CACHE="-2")
