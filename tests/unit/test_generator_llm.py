"""The generator's LLM engine on the real converted Qwen model (CPU, int8).

The model loads once per session (ensure_converted builds it on first use, which is slow).
Replies are greedy, and on CPU each row is computed exactly as it would be alone (int8
with per-token scales, attention over the row's own tokens), so batched replies must
equal sequential ones token for token.
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time

import pytest

from services.generator.llm.decoding import IncrementalDetokenizer, StopScanner

CJK = re.compile(r"[\u4e00-\u9fff]")
MAX_TOKENS = 24


@pytest.fixture(scope="session")
def engine():
    from services.common.ml.model_store import ModelStore
    from services.generator.llm.engine import LLMEngine
    from services.generator.llm.weights import ensure_converted

    _, path = ensure_converted(ModelStore())
    return LLMEngine.load(path, device="cpu", threads=2)


@pytest.fixture(scope="session")
def batched(engine):
    from services.generator.llm.batched import BatchedEngine

    with BatchedEngine(engine, max_batch_size=8, wait_window_s=0.01) as running:
        yield running


def ask(language: str, question: str):
    from services.generator.prompt import Persona, build_messages

    return build_messages(Persona("Acme Shop"), language, None, [], question)


QUESTIONS = [
    ask("en", "How do I reset my password?"),
    ask("zh", "我想修改收货地址"),
    ask("en", "Can I change my shipping address after I placed the order yesterday evening?"),
]


@pytest.fixture(scope="session")
def sequential_texts(engine):
    return [engine.generate(messages, MAX_TOKENS).text for messages in QUESTIONS]


def test_stop_scanner_cuts_a_stop_string_split_across_deltas():
    scanner = StopScanner(["\nCustomer:"])
    out = [scanner.feed(d) for d in ["Sure, done.", "\nCust", "omer: more"]]
    assert "".join(out) == "Sure, done."
    assert scanner.stopped


def test_stop_scanner_releases_held_back_text_at_the_end():
    scanner = StopScanner(["###"])
    out = scanner.feed("a #") + scanner.feed("#") + scanner.flush()
    assert out == "a ##"
    assert not scanner.stopped


@pytest.mark.models
def test_characters_split_across_tokens_stream_whole(engine):
    text = "您好！龘靐齉 😀🎉 谢谢。"  # rare characters and emoji take several byte-level tokens
    ids = engine.tokenizer.encode(text, add_special_tokens=False)
    detokenizer = IncrementalDetokenizer(engine.tokenizer)
    deltas = [detokenizer.push(i) for i in ids]
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)
    assert "" in deltas  # some tokens completed no character and were held back


@pytest.mark.models
def test_streamed_deltas_join_to_the_generated_text(engine, sequential_texts):
    deltas = list(engine.stream(QUESTIONS[1], MAX_TOKENS))
    assert len(deltas) > 1
    assert "".join(deltas) == sequential_texts[1]


@pytest.mark.models
def test_chinese_question_gets_a_chinese_reply(engine):
    result = engine.generate(ask("zh", "怎么退货？"), 32)
    assert CJK.search(result.text), result.text
    assert result.tokens > 0 and result.first_token_seconds <= result.total_seconds


@pytest.mark.models
def test_english_question_gets_a_helpful_english_reply(engine, sequential_texts):
    text = sequential_texts[0]
    assert "password" in text.lower(), text
    assert not CJK.search(text)
    assert "can't assist" not in text.lower()


@pytest.mark.models
def test_reply_stops_at_a_stop_string(engine):
    result = engine.generate(QUESTIONS[0], MAX_TOKENS, stop=[" "])
    assert " " not in result.text
    assert result.finish_reason == "stop"


@pytest.mark.models
def test_concurrent_requests_get_the_same_replies_as_sequential_ones(batched, sequential_texts):
    futures = [batched.submit(messages, MAX_TOKENS) for messages in QUESTIONS]
    assert [f.result(timeout=120).text for f in futures] == sequential_texts


@pytest.mark.models
def test_requests_joining_a_running_batch_get_the_same_replies(batched, sequential_texts):
    first_token = threading.Event()
    first = batched.submit(QUESTIONS[0], MAX_TOKENS, on_delta=lambda _: first_token.set())
    assert first_token.wait(timeout=60)
    later = [batched.submit(messages, MAX_TOKENS) for messages in QUESTIONS[1:]]
    assert [f.result(timeout=120).text for f in [first, *later]] == sequential_texts


@pytest.mark.models
def test_cancelled_request_stops_generating(batched):
    deltas: list[str] = []
    first_token = threading.Event()
    future = batched.submit(QUESTIONS[0], 200, on_delta=lambda d: (deltas.append(d), first_token.set()))
    assert first_token.wait(timeout=60)
    assert future.cancel()
    batched.generate(QUESTIONS[1], 4)
    produced = len(deltas)
    batched.generate(QUESTIONS[1], 4)
    assert len(deltas) == produced < 20


@pytest.mark.models
async def test_async_stream_yields_the_same_reply(batched, sequential_texts):
    deltas = [delta async for delta in batched.stream(QUESTIONS[2], MAX_TOKENS)]
    assert len(deltas) > 1
    assert "".join(deltas) == sequential_texts[2]


def test_row_attention_of_prompt_chunks_equals_the_whole_prompt():
    import torch

    from services.generator.llm.attention import row_attention

    torch.manual_seed(0)
    query, key, value = torch.randn(1, 4, 10, 8), torch.randn(1, 2, 10, 8), torch.randn(1, 2, 10, 8)
    whole, _ = row_attention(None, query, key, value, None, row_starts=[0])
    chunks = [
        row_attention(None, query[:, :, start:end], key[:, :, :end], value[:, :, :end], None, row_starts=[0])[0]
        for start, end in ((0, 4), (4, 8), (8, 10))
    ]
    assert torch.allclose(torch.cat(chunks, dim=1), whole, atol=1e-6)


class ModelWork:
    """Every forward pass a BatchedEngine reports: (kind, rows), in order."""

    def __init__(self) -> None:
        self.passes: list[tuple[str, int]] = []

    def __call__(self, kind: str, seconds: float, rows: int) -> None:
        assert seconds >= 0
        self.passes.append((kind, rows))


@pytest.fixture(scope="session")
def chunked(engine):
    from services.generator.llm.batched import BatchedEngine

    work = ModelWork()
    with BatchedEngine(engine, max_batch_size=8, prefill_chunk=CHUNK, on_model_work=work) as running:
        running.work = work
        yield running


CHUNK = 16


@pytest.mark.models
def test_chunked_prefill_reads_a_prompt_into_the_same_cache_as_a_whole_prefill(engine):
    import torch

    from services.generator.llm.batch import DecodeBatch, PromptChunks

    request = engine._new_request(QUESTIONS[2], MAX_TOKENS, None, None, False)
    whole, logits = DecodeBatch.prefill(engine.model, [request], engine.pad_id)
    prompt = PromptChunks(request, engine.model, CHUNK)
    while not prompt.done:
        chunk_logits = prompt.feed(engine.model)
    assert torch.equal(chunk_logits, logits)
    assert all(torch.equal(a.keys, b.keys) for a, b in zip(whole.cache.layers, prompt.cache.layers))


@pytest.mark.models
def test_chunked_prefill_gives_the_same_replies_as_sequential_ones(chunked, sequential_texts):
    futures = [chunked.submit(messages, MAX_TOKENS) for messages in QUESTIONS]
    assert [f.result(timeout=120).text for f in futures] == sequential_texts


def chunks_of(chunked, messages) -> int:
    return -(-len(chunked.engine.encode_chat(messages)) // CHUNK)


def start_a_long_reply(chunked) -> concurrent.futures.Future:
    """A reply that is still decoding when the test's newcomer arrives; cancel it when done.

    Returns once the engine has reported one of the reply's decode steps: its prompt's last pass is
    reported after the pass returns, so a test that counted passes at the first token could count it
    as the newcomer's (the flake this wait removes)."""
    first_token = threading.Event()
    before = len(chunked.work.passes)
    future = chunked.submit(QUESTIONS[0], 200, on_delta=lambda _: first_token.set(), ignore_eos=True)
    assert first_token.wait(timeout=60)
    chunks, deadline = chunks_of(chunked, QUESTIONS[0]), time.monotonic() + 60

    def stepped() -> bool:  # every chunk of its prompt reported, and a decode step after the last one
        passes = chunked.work.passes[before:]
        read = [i for i, p in enumerate(passes) if p == ("prefill", 1)]
        return len(read) >= chunks and any(p[0] == "decode" for p in passes[read[chunks - 1] + 1 :])

    while not stepped():
        assert time.monotonic() < deadline, "the long reply took no decode step"
        threading.Event().wait(0.005)
    return future


@pytest.mark.models
def test_a_running_reply_gets_a_decode_step_between_the_chunks_of_a_newcomers_prompt(chunked, sequential_texts):
    running = start_a_long_reply(chunked)
    seen = len(chunked.work.passes)
    later = chunked.submit(QUESTIONS[2], MAX_TOKENS)
    assert later.result(timeout=120).text == sequential_texts[2]
    running.cancel()
    passes = chunked.work.passes[seen:]
    chunks = chunks_of(chunked, QUESTIONS[2])
    reading = passes[passes.index(("prefill", 1)) :][: 2 * chunks]
    # chunk, a step of the running row, chunk, step, ..., the last chunk, then steps of both rows
    assert reading == [("prefill", 1), ("decode", 1)] * (chunks - 1) + [("prefill", 1), ("decode", 2)]


@pytest.mark.models
def test_a_request_cancelled_while_its_prompt_is_read_stops_there(chunked, sequential_texts):
    running = start_a_long_reply(chunked)
    seen = len(chunked.work.passes)
    deltas: list[str] = []
    cancelled = chunked.submit(QUESTIONS[2], MAX_TOKENS, on_delta=deltas.append)
    while ("prefill", 1) not in chunked.work.passes[seen:]:
        threading.Event().wait(0.005)
    assert cancelled.cancel()
    assert chunked.generate(QUESTIONS[1], MAX_TOKENS).text == sequential_texts[1]
    running.cancel()
    read = chunked.work.passes[seen:].count(("prefill", 1)) - chunks_of(chunked, QUESTIONS[1])
    assert 1 <= read <= 3 < chunks_of(chunked, QUESTIONS[2])  # cancelled one or two chunks in
    assert deltas == []


@pytest.mark.models
def test_a_prefill_that_fails_midway_fails_only_its_own_request(engine, sequential_texts):
    from services.generator.llm.batched import BatchedEngine

    doomed = engine.encode_chat(QUESTIONS[2])

    class FailsOnSecondChunk:
        """The engine, except that reading the doomed prompt's second chunk raises."""

        def __getattr__(self, name):
            return getattr(engine, name)

        def prefill_chunk(self, prompt):
            if prompt.request.prompt_ids == doomed and prompt.read > 0:
                raise RuntimeError("out of memory")
            return engine.prefill_chunk(prompt)

    with BatchedEngine(FailsOnSecondChunk(), max_batch_size=8, prefill_chunk=CHUNK) as failing:
        futures = [failing.submit(messages, MAX_TOKENS) for messages in QUESTIONS]
        with pytest.raises(RuntimeError, match="LLM prefill failed: out of memory"):
            futures[2].result(timeout=120)
        assert [f.result(timeout=120).text for f in futures[:2]] == sequential_texts[:2]


@pytest.mark.models
def test_prompts_that_start_alike_read_only_what_differs_and_reply_the_same(engine, sequential_texts):
    """The prefix cache (services/generator/llm/prefix_cache.py): the questions share the instructions of
    their language; a question asked again shares all but its last block."""
    from services.generator.llm.batched import BatchedEngine
    from services.generator.llm.prefix_cache import PrefixCache

    work, cache, prompts = ModelWork(), PrefixCache(block=8, budget=4096), []
    with BatchedEngine(
        engine,
        max_batch_size=8,
        prefill_chunk=CHUNK,
        on_model_work=work,
        prefix_cache=cache,
        on_prompt=lambda cached, total: prompts.append((cached, total)),
    ) as running:
        texts = [running.submit(messages, MAX_TOKENS).result(timeout=120).text for messages in QUESTIONS]
        assert texts == sequential_texts, "a reply read after a cached beginning is the same"
        assert cache.hits >= 1, "the second English question starts with the first one's instructions"
        reused = cache.reused_tokens
        prompt = running.engine.encode_chat(QUESTIONS[2])
        passes = len(work.passes)
        again = running.submit(QUESTIONS[2], MAX_TOKENS).result(timeout=120).text
    assert again == sequential_texts[2]
    assert cache.reused_tokens - reused == (len(prompt) - 1) // 8 * 8, "asked again: all its whole blocks"
    assert work.passes[passes] == ("prefill", 1), "and the rest in one pass"
    assert prompts[-1] == ((len(prompt) - 1) // 8 * 8, len(prompt)), "reported: (from the cache, in all)"
    assert prompts[0][0] == 0, "the first prompt found nothing"


def test_the_prefix_cache_keeps_whole_blocks_short_of_the_last_token_within_its_budget():
    import torch
    from transformers import DynamicCache, Qwen2Config

    from services.generator.llm.prefix_cache import PrefixCache

    config = Qwen2Config(num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, hidden_size=8)

    def read(ids: list[int]) -> DynamicCache:
        cache = DynamicCache(config=config)
        for layer in range(2):
            positions = torch.tensor(ids, dtype=torch.float32)[None, None, :, None].expand(1, 1, len(ids), 4)
            cache.update(positions + layer, -positions, layer)
        return cache

    cache = PrefixCache(block=4, budget=24)
    first = list(range(10))
    cache.keep(first, read(first))  # boundaries at 4 and 8: 8 tokens kept
    assert (len(cache), cache.tokens) == (2, 8)
    n, found = cache.lookup([*first[:9], 99, 98], config)
    assert n == 8 and found.layers[1].keys[0, 0, :, 0].tolist() == [float(i + 1) for i in range(8)]
    assert cache.lookup(first[:8], config)[0] == 4, "at least one token is left to read"
    assert cache.lookup([5, 6, 7, 8, 9], config) is None
    cache.keep(first, read(first))
    assert (len(cache), cache.tokens) == (2, 8), "kept once"
    twin = [*first[:8], 50, 51, 52, 53, 54]  # shares 8 tokens: only its boundary at 12 is new
    cache.keep(twin, read(twin))
    assert (len(cache), cache.tokens) == (3, 20) and cache.lookup([*twin, 0], config)[0] == 12
    other = [70, 71, 72, 73, 74, 75, 76, 77, 78]
    cache.keep(other, read(other))  # 8 more: 28 over the budget of 24, the least recently used cache goes
    assert cache.tokens == 20 and cache.lookup([*other, 0], config)[0] == 8
    assert cache.lookup([*first, 0], config) is None, "the first prompt's cache went, with its boundaries"
    assert cache.lookup([*twin, 0], config)[0] == 12, "the twin's cache holds the shared beginning too"
