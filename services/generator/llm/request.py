"""One generation request and what it produced: the part of decoding that is per conversation."""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.generator.llm.decoding import IncrementalDetokenizer, StopScanner


@dataclass(frozen=True)
class GenerationResult:
    """A finished reply.

    tokens counts generated tokens (the end-of-turn token excluded); first_token_seconds is the
    time from submission to the first token, queueing included, which is what a customer waits.
    finish_reason is "stop" (end of turn or a stop string), "length" (max_new_tokens reached)
    or "cancelled" (the consumer went away).
    """

    text: str
    tokens: int
    first_token_seconds: float
    total_seconds: float
    prompt_tokens: int
    finish_reason: str


class Request:
    """Mutable decoding state of one request; driven by a decode loop one token at a time.

    `future` resolves to the result (or the error) once the request ends, from whichever thread
    decodes it; cancelling the future asks the decode loop to drop the request at its next step.
    """

    def __init__(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        detokenizer: IncrementalDetokenizer,
        stop_token_ids: frozenset[int],
        stop: Sequence[str] | None = None,
        on_delta: Callable[[str], None] | None = None,
        ignore_eos: bool = False,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if not prompt_ids:
            raise ValueError("the prompt is empty: pass at least one message")
        self.prompt_ids = list(prompt_ids)
        self.max_new_tokens = max_new_tokens
        self._detokenizer = detokenizer
        self._stop_token_ids = stop_token_ids
        self._scanner = StopScanner(stop)
        self._on_delta = on_delta
        self._ignore_eos = ignore_eos
        self._parts: list[str] = []
        self._generated = 0
        self._submitted = time.perf_counter()
        self._first_token_at: float | None = None
        self.cancelled = False
        self.result: GenerationResult | None = None
        self.error: BaseException | None = None
        self.future: concurrent.futures.Future[GenerationResult] = concurrent.futures.Future()
        self.future.add_done_callback(self._on_future_done)

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def accept(self, token_id: int) -> None:
        """Take the next generated token: emit its text, finish on end of turn, stop string or length."""
        if self._first_token_at is None:
            self._first_token_at = time.perf_counter()
        if token_id in self._stop_token_ids and not self._ignore_eos:
            self.finish("stop")
            return
        self._generated += 1
        self._emit(self._scanner.feed(self._detokenizer.push(token_id)))
        if self._scanner.stopped:
            self.finish("stop")
        elif self._generated >= self.max_new_tokens:
            self.finish("length")

    def finish(self, reason: str) -> None:
        if self.done:
            return
        self._emit(self._scanner.flush())
        now = time.perf_counter()
        first = self._first_token_at if self._first_token_at is not None else now
        self.result = GenerationResult(
            text="".join(self._parts),
            tokens=self._generated,
            first_token_seconds=first - self._submitted,
            total_seconds=now - self._submitted,
            prompt_tokens=len(self.prompt_ids),
            finish_reason=reason,
        )
        _settle(self.future.set_result, self.result)

    def fail(self, error: BaseException) -> None:
        """The decode loop could not finish this request (e.g. out of memory)."""
        if self.done:
            return
        self.error = error
        _settle(self.future.set_exception, error)

    def _emit(self, text: str) -> None:
        if not text:
            return
        self._parts.append(text)
        if self._on_delta is not None:
            self._on_delta(text)

    def _on_future_done(self, future: concurrent.futures.Future) -> None:
        if future.cancelled():
            self.cancelled = True


def _settle(setter: Callable[[object], None], value: object) -> None:
    """Resolve a request's future, unless its consumer cancelled it first (from another thread)."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        setter(value)
