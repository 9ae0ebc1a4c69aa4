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

Real weights cannot travel to a GPU machine (64 MiB per call), so --random-init builds the
named architecture with random weights: speed is right, the text is noise, and the output
says so. It needs only the tokenizer files (--tokenizer, default: the converted model folder;
tokenizer.json, tokenizer_config.json and chat_template.jinja, ~11 MB, can be carried).
"""

from __future__ import annotations

import argparse
import concurrent.futures
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
from services.generator.prompt import Persona, build_messages

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


def main() -> None:
    args = _parse_args()
    engine, label = _load(args)
    print(f"model: {label}")
    print(
        f"device: {engine.device}, dtype: {next(engine.model.parameters()).dtype}, "
        f"int8 linear: {_has_int8(engine.model)}, torch threads: {torch.get_num_threads()}, "
        f"max_new_tokens: {args.max_new_tokens}"
    )
    conversations = [build_messages(Persona("Acme Shop"), lang, None, [], q) for lang, q in QUESTIONS]
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
    return parser.parse_args()


if __name__ == "__main__":
    main()
