"""Many conversations on one model: continuous batching in one background thread.

Requests that arrive within a short window (10 ms by default) are prefilled together; after
that every decode step advances all running rows at once, so many conversations cost
little more per step than one on a GPU, where a step is bound by reading the weights. New
requests join the running batch between steps (their caches are left-padded to line up),
finished or cancelled ones leave at once, and each row's text goes to its own consumer as
soon as its token is chosen.

With `prefill_chunk` set, a newcomer's prompt is read instead a chunk of that many tokens at a
time, one newcomer after another, and the running rows take a decode step between chunks: a long
prompt or a burst of newcomers no longer stops every running conversation's stream for the whole
prefill. Chunks start at each prompt's own position 0, so how a prompt is cut never depends on who
else is waiting or running.

`on_model_work(kind, seconds, rows)` is told of every forward pass ("prefill" or "decode") and how
long it took, so the server can export how busy the engine is (`cs_engine_busy_seconds_total`).

All model work happens in the engine's thread; callers in any thread or event loop talk to
it through futures, callbacks and (for asyncio) `stream()`. `submit` and `generate` are those of
every front (`ChatFront`); the decode steps are the engine's own (`LLMEngine.prefill`, `.step`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence

from services.common.platform.pii import find_pii
from services.generator.llm.batch import DecodeBatch, PromptChunks
from services.generator.llm.engine import ChatFront, LLMEngine, Message
from services.generator.llm.prefix_cache import PrefixCache
from services.generator.llm.request import Request

log = logging.getLogger(__name__)
_END = object()
ModelWork = Callable[[str, float, int], None]


class BatchedEngine(ChatFront):
    """Thread-safe front of an `LLMEngine` that decodes concurrent requests together.

    Use as a context manager, or call start() and close(). close() stops taking requests and
    returns once those already submitted have finished (so a pod's streams drain on SIGTERM).
    A submitted request's on_delta runs in the engine thread: keep it short (hand the text to a
    queue). Cancelling its future drops the request from the batch at the next step.
    """

    def __init__(
        self,
        engine: LLMEngine,
        max_batch_size: int = 16,
        wait_window_s: float = 0.01,
        prefill_chunk: int = 0,
        on_model_work: ModelWork | None = None,
        prefix_cache: PrefixCache | None = None,
        on_prompt: Callable[[int, int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if prefill_chunk < 0:
            raise ValueError(f"prefill_chunk must be 0 (whole prompts) or a number of tokens, got {prefill_chunk}")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.wait_window_s = wait_window_s
        self.prefill_chunk = prefill_chunk
        self._on_model_work = on_model_work
        # Prompt beginnings read before (prefix_cache.py); only chunked prefill (prefill_chunk > 0) reads from it.
        self.prefix_cache = prefix_cache
        self._on_prompt = on_prompt  # (tokens from the prefix cache, prompt tokens) of every chunked newcomer
        self._waiting: collections.deque[Request] = collections.deque()
        self._reading: collections.deque[PromptChunks] = collections.deque()  # engine thread only
        self._wakeup = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def version(self) -> str:
        return self.engine.version

    def start(self) -> BatchedEngine:
        if self._thread is None:
            self._thread = threading.Thread(target=self._decode, name="llm-batched-engine", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float | None = None) -> None:
        with self._wakeup:
            self._closing = True
            self._wakeup.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> BatchedEngine:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    async def stream(
        self, messages: Sequence[Message], max_new_tokens: int, stop: Sequence[str] | None = None
    ) -> AsyncIterator[str]:
        """Text deltas for asyncio callers; leaving the loop early cancels the request."""
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[object] = asyncio.Queue()

        def post(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the consumer's loop has closed; nobody is listening any more
                loop.call_soon_threadsafe(deltas.put_nowait, item)

        future = self.submit(messages, max_new_tokens, stop, on_delta=post)
        future.add_done_callback(lambda _: post(_END))
        try:
            while (item := await deltas.get()) is not _END:
                yield item  # type: ignore[misc]
            if not future.cancelled():
                future.result()
        finally:
            future.cancel()

    def _received(self, messages: Sequence[Message]) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("llm input", extra=prompt_record(messages))

    def _run(self, request: Request) -> None:
        """Queue a submitted request for the decode thread, which takes it in at its next step."""
        with self._wakeup:
            if self._closing:
                raise RuntimeError("the LLM engine is shutting down: no new requests are taken")
            if self._thread is None:
                raise RuntimeError("the batched LLM engine is not started: call start() or use it in a with block")
            self._waiting.append(request)
            self._wakeup.notify_all()

    def _decode(self) -> None:
        batch: DecodeBatch | None = None
        while True:
            newcomers = self._take_newcomers(running=len(batch) if batch else 0)
            if newcomers is None:
                return
            if newcomers and self.prefill_chunk:
                self._reading.extend(self._prompt_chunks(r) for r in newcomers)
            elif newcomers:
                batch = self._admit(batch, newcomers)
            if self._reading:
                batch = self._read_chunk(batch)
            if batch is not None:
                batch = self._step(batch)

    def _prompt_chunks(self, request: Request) -> PromptChunks:
        """A newcomer's prompt to read, from after its longest beginning in the prefix cache."""
        prompt = PromptChunks(request, self.engine.model, self.prefill_chunk)
        if self.prefix_cache is not None:
            found = self.prefix_cache.lookup(request.prompt_ids, self.engine.model.config)
            if found is not None:
                prompt.read, prompt.cache = found
        if self._on_prompt is not None:
            self._on_prompt(prompt.read, len(request.prompt_ids))
        return prompt

    def _take_newcomers(self, running: int) -> list[Request] | None:
        """Requests to add now; None once closing with nothing left to do.

        When idle, block for the first request, then wait up to the window for others so
        they share one prefill. When busy (rows running or prompts being read), take what is
        queued without waiting.
        """
        busy = running + len(self._reading)
        capacity = self.max_batch_size - busy
        with self._wakeup:
            if busy == 0:
                while not self._waiting and not self._closing:
                    self._wakeup.wait()
                if not self._waiting:
                    return None
                deadline = time.monotonic() + self.wait_window_s
                while len(self._waiting) < capacity and (left := deadline - time.monotonic()) > 0:
                    self._wakeup.wait(left)
            taken = [self._waiting.popleft() for _ in range(min(capacity, len(self._waiting)))]
        for request in taken:
            if request.cancelled:
                request.finish("cancelled")
        return [r for r in taken if not r.done]

    def _admit(self, batch: DecodeBatch | None, newcomers: list[Request]) -> DecodeBatch | None:
        try:
            fresh = self._timed("prefill", len(newcomers), self.engine.prefill, newcomers)
        except Exception as exc:
            log.exception("LLM prefill failed for %d requests", len(newcomers))
            for request in newcomers:
                request.fail(RuntimeError(f"LLM prefill failed: {exc}"))
            return batch
        return _joined(batch, fresh)

    def _read_chunk(self, batch: DecodeBatch | None) -> DecodeBatch | None:
        """One chunk of the first waiting prompt; the newcomer joins `batch` once its prompt is read."""
        prompt = self._reading[0]
        if prompt.request.cancelled:
            self._reading.popleft()
            prompt.request.finish("cancelled")
            return batch
        try:
            fresh = self._timed("prefill", 1, self.engine.prefill_chunk, prompt)
        except Exception as exc:
            self._reading.popleft()
            log.exception("LLM prefill failed at prompt token %d of %d", prompt.read, len(prompt.request.prompt_ids))
            prompt.request.fail(RuntimeError(f"LLM prefill failed: {exc}"))
            return batch
        if fresh is None:
            return batch
        self._reading.popleft()
        if self.prefix_cache is not None:  # its cache holds the prompt and nothing else until the next step
            self.prefix_cache.keep(prompt.request.prompt_ids, prompt.cache)
        return _joined(batch, fresh)

    def _step(self, batch: DecodeBatch) -> DecodeBatch | None:
        try:
            self._timed("decode", len(batch), self.engine.step, batch)
        except Exception as exc:
            log.exception("LLM decode step failed for %d requests", len(batch))
            for request in batch.requests:
                request.fail(RuntimeError(f"LLM decode step failed: {exc}"))
            return None
        return batch if len(batch) else None

    def _timed(self, kind: str, rows: int, work: Callable, *args):
        """Run one forward pass and tell `on_model_work` how long it took (failed passes too)."""
        started = time.perf_counter()
        try:
            return work(*args)
        finally:
            if self._on_model_work is not None:
                self._on_model_work(kind, time.perf_counter() - started, rows)


def _joined(batch: DecodeBatch | None, fresh: DecodeBatch) -> DecodeBatch | None:
    """The running batch with freshly prefilled rows merged in (rows already done are gone)."""
    if not len(fresh):
        return batch
    if batch is None:
        return fresh
    batch.merge(fresh)
    return batch


def prompt_record(messages: Sequence[Message]) -> dict[str, object]:
    """The prompt exactly as the model gets it, for a DEBUG line, and how much PII it still holds.

    Callers mask customer PII before they build a prompt. The log filter masks the line again, so
    the logged text can't show whether they did; `pii_spans` is counted here, before logging, on
    what the model is given, and must be 0 (the PII end-to-end test reads it).
    """
    return {
        "prompt": json.dumps(list(messages), ensure_ascii=False),
        "pii_spans": sum(len(find_pii(m.get("content", ""))) for m in messages),
    }
