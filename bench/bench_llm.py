"""Generator LLM speed: BatchedEngine at 1, 4 and 16 concurrent conversations vs model.generate.

Prints decode tokens/s and time to first token (TTFT) for:
  - transformers `model.generate`, batch 1 (the baseline, same model object, same run);
  - `LLMEngine.generate`, one request alone;
  - `BatchedEngine` with N conversations submitted at once (aggregate tokens/s over the wall
    time of the whole group, per-conversation TTFT), and the ratio to the baseline.
Every request generates exactly --max-new-tokens tokens (end of turn ignored) so the paths
do the same work.

  python bench/bench_llm.py                               # converted Qwen 0.5B, CPU int8 on CPU
  python bench/bench_llm.py --no-int8 --concurrency 1     # fp32 on CPU, for the int8 comparison
  python bench/bench_llm.py --random-init qwen2.5-7b      # GPU: random weights of a real config
  python bench/bench_llm.py --arrival-gap-s 0.25 --passages 3 --concurrency 1 16

With --arrival-gap-s the N conversations arrive one every that many seconds instead of all at once,
so newcomers prefill while others decode; for each --prefill-chunk (0: whole prompts, the engine as
before chunked prefill) it prints tokens/s, TTFT p50/p90 and the gap between one conversation's
consecutive text deltas (what a customer sees stall) p50/p90/max, all in the same process.
--passages puts that many knowledge-base passages in every prompt (~80 tokens each), as the
generator's answers have. Three runs here (2026-12-03, the 2-core CPU shared with another job, so
noisy; --arrival-gap-s 0.25 --passages 3 --concurrency 16, 16 tokens): whole prompts stalled running
conversations 9-19 s (max gap), chunks of 128 tokens 0.95-1.14 s; TTFT p50 10-22 s whole vs 9.4-10.7 s,
p90 11-25 s vs 16-18 s; tokens/s 9.0-15.0 whole vs 10.2-11.5. Alone (--concurrency 1) a ~350-token
prompt's TTFT is 1.0-1.2 s either way. The generator's default (512) was chosen through the whole pipeline
(bench/load_test.py, README "Chunked prefill"), where 128 cost replies/s and tail latency.

Real weights cannot travel to a GPU machine (64 MiB per call), so --random-init builds the
named architecture with random weights: speed is right, the text is noise, and the output
says so. It needs only the tokenizer files (--tokenizer, default: the converted model folder;
tokenizer.json, tokenizer_config.json and chat_template.jinja, ~11 MB, can be carried).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import os
import pathlib
import statistics
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import torch

from services.common.ml.model_store import ModelStore
from services.generator.llm.batched import BatchedEngine
from services.generator.llm.engine import LLMEngine
from services.generator.llm.weights import ensure_converted
from services.generator.prompt import Persona, PromptPassage, build_messages

# Architectures by their published numbers, so a random-weight run needs no weight files.
CONFIGS = {
    "qwen2.5-0.5b": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "qwen2.5-1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "qwen2.5-7b": dict(
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        vocab_size=152064,
        tie_word_embeddings=False,
    ),
}
QUESTIONS = [
    ("en", "How do I reset my password?"),
    ("zh", "我想修改收货地址"),
    ("en", "Can I change my shipping address?"),
    ("zh", "怎么退货？"),
    ("en", "My parcel has not arrived yet, what should I do?"),
    ("zh", "优惠券为什么用不了？"),
    ("en", "Do you ship to Canada?"),
    ("zh", "可以开发票吗？"),
]


# Help-centre-like passages, so a prompt is as long as one the generator builds with its knowledge.
PASSAGES = [
    PromptPassage(
        str(i + 1),
        "Orders can be changed or cancelled free of charge until they are packed, usually within two hours "
        "of payment. After that, refuse the delivery or start a return from your account page; refunds go "
        "back to the original payment method within five to seven working days once the parcel arrives.",
        f"Changing an order ({i + 1})",
    )
    for i in range(8)
]


def main() -> None:
    args = _parse_args()
    engine, label = _load(args)
    print(f"model: {label}")
    print(
        f"device: {engine.device}, dtype: {next(engine.model.parameters()).dtype}, "
        f"int8 linear: {_has_int8(engine.model)}, torch threads: {torch.get_num_threads()}, "
        f"max_new_tokens: {args.max_new_tokens}"
    )
    passages = PASSAGES[: args.passages]
    conversations = [build_messages(Persona("Acme Shop"), lang, None, [], q, passages) for lang, q in QUESTIONS]
    lengths = [len(engine.encode_chat(c)) for c in conversations]
    print(f"prompt tokens: {min(lengths)}-{max(lengths)}")
    if args.arrival_gap_s is not None:
        _staggered(engine, conversations, args)
        return
    print(
        f"{'path':<28}{'convs':>6}{'tok/s total':>13}{'tok/s per conv':>16}{'TTFT mean':>11}{'TTFT max':>10}{'x baseline':>12}"
    )
    first = conversations[0]
    with BatchedEngine(engine, max_batch_size=max(args.concurrency)) as batched:
        paths = [
            ("model.generate batch 1", 1, lambda: _bench_hf_generate(engine, first, args.max_new_tokens)),
            ("LLMEngine.generate", 1, lambda: _measure([engine.generate(first, args.max_new_tokens, ignore_eos=True)])),
        ] + [
            ("BatchedEngine", n, lambda n=n: _bench_group(batched, conversations, n, args.max_new_tokens))
            for n in args.concurrency
        ]
        # Round-robin over the paths, so every path samples the same moments of a shared machine.
        runs: list[list[Measurement]] = [[] for _ in paths]
        for _ in range(args.repeats):
            for measured, (_, _, run) in zip(runs, paths):
                measured.append(run())
    medians = [sorted(m, key=lambda x: x.total)[len(m) // 2] for m in runs]
    for (name, n, _), median in zip(paths, medians):
        _row(name, n, median, medians[0].total)
    print(
        "tok/s total: generated tokens / wall time (all conversations, first token included); "
        "per conv: one conversation's decode rate after its first token; x baseline compares tok/s total."
    )
    if args.random_init:
        print(f"NOTE: randomly initialised weights ({args.random_init}); speed only, the text is meaningless.")


def _load(args) -> tuple[LLMEngine, str]:
    if args.random_init:
        return _load_random(args)
    version, path = ensure_converted(ModelStore())
    engine = LLMEngine.load(path, device=args.device, quantize_int8_on_cpu=not args.no_int8, threads=args.threads)
    return engine, f"{version} (real weights, {path})"


def _load_random(args) -> tuple[LLMEngine, str]:
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    if args.random_init not in CONFIGS:
        raise SystemExit(f"--random-init must be one of {', '.join(CONFIGS)}")
    tokenizer_dir = args.tokenizer or _converted_path()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    config = Qwen2Config(
        **CONFIGS[args.random_init],
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        bos_token_id=151643,
        eos_token_id=151645,
        pad_token_id=151643,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    engine = LLMEngine.from_model(
        model,
        tokenizer,
        f"random-{args.random_init}",
        device=device,
        quantize_int8_on_cpu=not args.no_int8,
        threads=args.threads,
    )
    return engine, f"{args.random_init} with RANDOM weights (tokenizer from {tokenizer_dir})"


def _converted_path() -> pathlib.Path:
    current = ModelStore().current("llm")
    if current is None:
        raise SystemExit("no tokenizer: pass --tokenizer DIR or run `python -m services.generator.llm.weights`")
    return current[1]


@dataclass(frozen=True)
class Measurement:
    total: float  # generated tokens / wall time, all conversations together
    per_conv: float  # mean decode rate of one conversation after its first token
    ttft_mean: float
    ttft_max: float


def _measure(results, wall: float | None = None) -> Measurement:
    wall = wall if wall is not None else max(r.total_seconds for r in results)
    ttfts = [r.first_token_seconds for r in results]
    return Measurement(
        total=sum(r.tokens for r in results) / wall,
        per_conv=statistics.mean(_decode_rate(r) for r in results),
        ttft_mean=statistics.mean(ttfts),
        ttft_max=max(ttfts),
    )


def _bench_group(batched: BatchedEngine, conversations, n: int, max_new_tokens: int) -> Measurement:
    started = time.perf_counter()
    futures = [batched.submit(conversations[i % len(conversations)], max_new_tokens, ignore_eos=True) for i in range(n)]
    results = [f.result() for f in concurrent.futures.as_completed(futures)]
    return _measure(results, time.perf_counter() - started)


@torch.inference_mode()
def _bench_hf_generate(engine: LLMEngine, messages, max_new_tokens: int) -> Measurement:
    """model.generate batch 1: TTFT from a 1-token call, decode rate from the rest."""
    ids = torch.tensor([engine.encode_chat(messages)], device=engine.device)
    kwargs = dict(
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        repetition_penalty=engine.repetition_penalty,
        pad_token_id=engine.pad_id,
    )
    engine.model.generate(ids, max_new_tokens=2, min_new_tokens=2, **kwargs)
    started = time.perf_counter()
    engine.model.generate(ids, max_new_tokens=1, min_new_tokens=1, **kwargs)
    ttft = time.perf_counter() - started
    started = time.perf_counter()
    engine.model.generate(ids, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, **kwargs)
    total = time.perf_counter() - started
    decode = (max_new_tokens - 1) / max(total - ttft, 1e-9)
    return Measurement(total=max_new_tokens / total, per_conv=decode, ttft_mean=ttft, ttft_max=ttft)


@dataclass(frozen=True)
class Staggered:
    tokens_per_s: float
    ttfts: list[float]
    gaps: list[float]  # seconds between consecutive text deltas of one conversation, all conversations
    prefill_passes: int


def _staggered(engine: LLMEngine, conversations, args) -> None:
    print(
        f"arrivals one every {args.arrival_gap_s} s; gap: between consecutive text deltas of one conversation; "
        f"median of {args.repeats} runs per row (interleaved), by tok/s"
    )
    print(
        f"{'chunk':>6}{'convs':>6}{'tok/s':>8}{'TTFT p50':>10}{'p90':>7}{'gap p50':>9}{'p90':>7}{'max':>7}"
        f"{'prefill passes':>16}"
    )
    for n in args.concurrency:
        runs: dict[int, list[Staggered]] = {chunk: [] for chunk in args.prefill_chunk}
        for _ in range(args.repeats):
            for chunk in args.prefill_chunk:
                runs[chunk].append(_bench_staggered(engine, conversations, n, args, chunk))
        for chunk, measured in runs.items():
            m = sorted(measured, key=lambda x: x.tokens_per_s)[len(measured) // 2]
            print(
                f"{chunk:>6}{n:>6}{m.tokens_per_s:>8.1f}{_pct(m.ttfts, 50):>9.2f}s{_pct(m.ttfts, 90):>6.2f}s"
                f"{_pct(m.gaps, 50):>8.3f}s{_pct(m.gaps, 90):>6.3f}s{max(m.gaps, default=0):>6.3f}s"
                f"{m.prefill_passes:>16}",
                flush=True,
            )


def _bench_staggered(engine: LLMEngine, conversations, n: int, args, chunk: int) -> Staggered:
    passes = []
    stamps: list[list[float]] = [[] for _ in range(n)]
    on_work = lambda kind, _s, _rows: passes.append(kind)  # noqa: E731
    with BatchedEngine(engine, max_batch_size=n, prefill_chunk=chunk, on_model_work=on_work) as batched:
        started = time.perf_counter()
        futures = []
        for i in range(n):
            time.sleep(max(0.0, started + i * args.arrival_gap_s - time.perf_counter()))
            futures.append(
                batched.submit(
                    conversations[i % len(conversations)],
                    args.max_new_tokens,
                    on_delta=lambda _, got=stamps[i]: got.append(time.perf_counter()),
                    ignore_eos=True,
                )
            )
        results = [f.result() for f in futures]
        wall = time.perf_counter() - started
    return Staggered(
        tokens_per_s=sum(r.tokens for r in results) / wall,
        ttfts=[r.first_token_seconds for r in results],
        gaps=[b - a for got in stamps for a, b in itertools.pairwise(got)],
        prefill_passes=passes.count("prefill"),
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _decode_rate(result) -> float:
    return (result.tokens - 1) / max(result.total_seconds - result.first_token_seconds, 1e-9)


def _row(path: str, n: int, m: Measurement, base_total: float) -> None:
    print(
        f"{path:<28}{n:>6}{m.total:>13.1f}{m.per_conv:>16.1f}{m.ttft_mean:>10.2f}s{m.ttft_max:>9.2f}s"
        f"{m.total / base_total:>11.2f}x",
        flush=True,
    )


def _has_int8(model) -> bool:
    from services.generator.llm.int8 import Int8Linear

    return any(isinstance(m, Int8Linear) for m in model.modules())


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs per row, interleaved; the median is printed")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-int8", action="store_true", help="on CPU, keep fp32 Linear layers")
    parser.add_argument("--random-init", metavar="CONFIG", help=f"random weights of: {', '.join(CONFIGS)}")
    parser.add_argument("--tokenizer", type=pathlib.Path, help="folder with the Qwen tokenizer files")
    parser.add_argument(
        "--arrival-gap-s", type=float, help="staggered arrivals, one conversation every this many seconds"
    )
    parser.add_argument(
        "--prefill-chunk", type=int, nargs="+", default=[0, 128], help="with --arrival-gap-s: chunk sizes to compare"
    )
    parser.add_argument("--passages", type=int, default=0, help=f"knowledge passages per prompt, 0-{len(PASSAGES)}")
    return parser.parse_args()


if __name__ == "__main__":
    main()
