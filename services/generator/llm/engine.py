"""The generator's language model: load the converted Qwen folder and generate replies.

CUDA with bf16 when a GPU is present; otherwise CPU, where int8 Linear layers (see int8.py)
decode much faster than fp32. Replies are greedy with a mild repetition penalty: customer
service wants the same answer to the same question, and a 0.5B model that samples wanders.

`LLMEngine` decodes one request at a time in the caller's thread (tests, CLIs, a worker with
no concurrency). Concurrent conversations go through `BatchedEngine`, which drives the same
decode steps (`LLMEngine.prefill`, `LLMEngine.step`) for many rows at once. Both take requests
through the same calls (`ChatFront`), so a reply does not depend on which of them made it.
"""

from __future__ import annotations

import concurrent.futures
import pathlib
from collections.abc import Callable, Iterator, Sequence

import torch

from services.generator.llm.attention import use_row_attention
from services.generator.llm.batch import DecodeBatch, PromptChunks
from services.generator.llm.decoding import IncrementalDetokenizer
from services.generator.llm.int8 import quantize_linear_int8
from services.generator.llm.request import GenerationResult, Request

Message = dict[str, str]
END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>")


class ChatFront:
    """The calls that start a reply, the same whether requests decode alone or batched.

    A front builds every request the same way from `engine` and hands it to `_run`: LLMEngine
    decodes it at once in the caller's thread, BatchedEngine queues it for its decode thread.
    """

    engine: LLMEngine

    def submit(
        self,
        messages: Sequence[Message],
        max_new_tokens: int,
        stop: Sequence[str] | None = None,
        on_delta: Callable[[str], None] | None = None,
        ignore_eos: bool = False,
    ) -> concurrent.futures.Future[GenerationResult]:
        """Start a request; the future resolves to its result, on_delta gets its text as it comes.

        ignore_eos is for benchmarks that need fixed lengths.
        """
        self._received(messages)
        request = self._new_request(messages, max_new_tokens, stop, on_delta, ignore_eos)
        self._run(request)
        return request.future

    def generate(
        self,
        messages: Sequence[Message],
        max_new_tokens: int,
        stop: Sequence[str] | None = None,
        ignore_eos: bool = False,
    ) -> GenerationResult:
        """The whole reply, waiting for it; stop strings are cut off the text."""
        return self.submit(messages, max_new_tokens, stop, ignore_eos=ignore_eos).result()

    def _new_request(
        self,
        messages: Sequence[Message],
        max_new_tokens: int,
        stop: Sequence[str] | None,
        on_delta: Callable[[str], None] | None,
        ignore_eos: bool,
    ) -> Request:
        engine = self.engine
        return Request(
            engine.encode_chat(messages),
            max_new_tokens,
            IncrementalDetokenizer(engine.tokenizer),
            engine.stop_token_ids,
            stop=stop,
            on_delta=on_delta,
            ignore_eos=ignore_eos,
        )

    def _received(self, messages: Sequence[Message]) -> None:
        """Called with every chat submitted, before its request is built (BatchedEngine logs the prompt)."""

    def _run(self, request: Request) -> None:
        """Decode the request, or hand it to whatever decodes it; errors in doing so propagate to `submit`."""
        raise NotImplementedError


class LLMEngine(ChatFront):
    """A loaded chat model plus the settings every request shares."""

    def __init__(
        self,
        model,
        tokenizer,
        version: str,
        repetition_penalty: float = 1.1,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.version = version
        self.repetition_penalty = repetition_penalty
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stop_token_ids = _end_of_turn_ids(model, tokenizer)

    @classmethod
    def load(
        cls,
        path: str | pathlib.Path,
        device: str = "auto",
        dtype: str = "auto",
        quantize_int8_on_cpu: bool = True,
        threads: int | None = 2,
        repetition_penalty: float = 1.1,
        version: str | None = None,
        warmup: bool = True,
    ) -> LLMEngine:
        """Load a converted model folder (see `weights.ensure_converted`).

        device: "auto" (cuda when available), "cuda" or "cpu". dtype: "auto" (bf16 on cuda,
        fp32 on cpu), "bfloat16", "float16" or "float32". threads sets torch's intra-op threads
        for the whole process (CPU decoding only scales to the physical cores it gets).
        version defaults to the ModelStore version the folder was built as. warmup runs one
        short generation so the first customer does not pay for lazy kernel setup.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = pathlib.Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"no converted model in {path}: run `python -m services.generator.llm.weights` first"
            )
        resolved_device = _resolve_device(device)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=_resolve_dtype(dtype, resolved_device))
        return cls.from_model(
            model,
            tokenizer,
            version or _store_version(path),
            device=resolved_device,
            quantize_int8_on_cpu=quantize_int8_on_cpu,
            threads=threads,
            repetition_penalty=repetition_penalty,
            warmup=warmup,
        )

    @classmethod
    def from_model(
        cls,
        model,
        tokenizer,
        version: str,
        device: str = "auto",
        quantize_int8_on_cpu: bool = True,
        threads: int | None = 2,
        repetition_penalty: float = 1.1,
        warmup: bool = True,
    ) -> LLMEngine:
        """Prepare a built model for serving: device, CPU int8 and row attention, warm-up.

        load() ends here; benchmarks call it directly with randomly initialised weights.
        """
        if threads is not None:
            torch.set_num_threads(threads)
        resolved_device = _resolve_device(device)
        model = model.to(resolved_device).eval()
        if resolved_device == "cpu":
            use_row_attention(model)
            if quantize_int8_on_cpu and model.dtype == torch.float32:
                model = quantize_linear_int8(model)
        engine = cls(model, tokenizer, version, repetition_penalty)
        if warmup:
            engine.generate([{"role": "user", "content": "Hello"}], max_new_tokens=4, ignore_eos=True)
        return engine

    @property
    def engine(self) -> LLMEngine:
        """The engine that decodes requests: this one (a BatchedEngine's is the engine it drives)."""
        return self

    @property
    def device(self) -> torch.device:
        return self.model.device

    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of the chat prompt, ending where the assistant's reply begins."""
        if not messages:
            raise ValueError("no messages to answer: pass at least a user message")
        ids = self.tokenizer.apply_chat_template(list(messages), tokenize=True, add_generation_prompt=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    def prefill(self, requests: Sequence[Request]) -> DecodeBatch:
        """A decode batch of these requests, their prompts read and each one's first token chosen."""
        batch, logits = DecodeBatch.prefill(self.model, requests, self.pad_id)
        batch.advance(logits, self.repetition_penalty)
        return batch

    def prefill_chunk(self, prompt: PromptChunks) -> DecodeBatch | None:
        """Read the next chunk of one newcomer's prompt; once all of it is in, its batch of one, first token chosen."""
        logits = prompt.feed(self.model)
        if not prompt.done:
            return None
        batch = DecodeBatch.of_one(prompt.request, prompt.cache, self.device)
        batch.advance(logits, self.repetition_penalty)
        return batch

    def step(self, batch: DecodeBatch) -> None:
        """Choose the next token of every row in `batch`; rows that end leave it."""
        batch.advance(batch.forward(self.model), self.repetition_penalty)

    def stream(
        self, messages: Sequence[Message], max_new_tokens: int, stop: Sequence[str] | None = None
    ) -> Iterator[str]:
        """Text deltas of the reply as tokens are produced, in the caller's thread; whole characters only."""
        deltas: list[str] = []
        request = self._new_request(messages, max_new_tokens, stop, deltas.append, ignore_eos=False)
        for _ in self._decode_alone(request):
            yield from deltas
            deltas.clear()

    def _run(self, request: Request) -> None:
        """Decode `request` to its end now, in the caller's thread (a model error propagates as it is)."""
        for _ in self._decode_alone(request):
            pass
        if request.result is None:
            raise RuntimeError("the decode loop ended without a result; this is a bug in DecodeBatch")

    def _decode_alone(self, request: Request) -> Iterator[None]:
        """The batched decode loop with a batch of one: yields after every token."""
        batch = self.prefill([request])
        yield
        while not request.done:
            self.step(batch)
            yield


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch sees no CUDA GPU; use device='cpu'")
    return device


def _resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    except KeyError:
        raise ValueError(f"dtype must be auto, bfloat16, float16 or float32, got {dtype!r}") from None


def _store_version(path: pathlib.Path) -> str:
    marker = path / ".complete"
    return marker.read_text().strip() if marker.exists() else path.name


def _end_of_turn_ids(model, tokenizer) -> frozenset[int]:
    ids = set()
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    for token in END_OF_TURN_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return frozenset(ids)
