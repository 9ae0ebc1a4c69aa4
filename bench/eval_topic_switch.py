"""A new question in an ongoing conversation: is it answered from its own passages, or the previous topic's?

    HF_HUB_OFFLINE=1 .venv/bin/python bench/eval_topic_switch.py [--seed 7]

Needs the local stack's database (CS_MONGO_URI, default mongodb://127.0.0.1:27017/); ingests
bench/data/helpcentre/kb into a scratch database (dropped afterwards). Two kinds of conversation:
- switch: every answerable help-centre question without a history, preceded by another such question of
  the same language about a different article (drawn with --seed; eval_helpcentre.topic_switches, the
  conversations `bench/eval_helpcentre.py --topic-switches` asks through the whole pipeline): a customer
  asking a second, unrelated question;
- follow-up: the set's own questions that depend on the message before them ("and gold?").
For each, the passages in the customer's language are ranked three ways, and the best one is sent when
the answer gate (ranking.GATE) lets it: the message alone; pooled with the previous message, each signal
the larger of the two (what the generator did before 2026-12-03); and the generator's rule today
(`Retriever.rank`, ranking.LanguageView.question_features). An answer is judged by bench/answer_judge.py
(every required fact, no contradiction) against the question's own case. Prints correct / wrong /
handover per kind and split; FOLLOW_UP_RANK was chosen on the tune split, test is only reported.
About 4 minutes on an idle machine, most of it embedding the knowledge (12 with the 2 cores busy).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from answer_judge import Reply, judge  # noqa: E402
from eval_helpcentre import SWITCH_SEED, load_cases, topic_switches  # noqa: E402
from helpcentre_knowledge import scratch_retriever  # noqa: E402

from services.generator.ranking import GATE, SCORER, gate_inputs  # noqa: E402
from services.generator.selection import article_answer  # noqa: E402

TENANT = "switch"
WAYS = ("alone", "pooled (before)", "rule (today)")


def outcome(case: dict, view, scores: np.ndarray) -> str:
    order = np.argsort(-scores)
    if GATE.probability(gate_inputs(scores, int(order[0]), case["language"] == "zh")) < GATE.threshold:
        return "handover"
    selection = article_answer([view.passages[int(i)] for i in order[:2]], 1.0)  # what the generator sends
    return "correct" if selection is not None and judge(case, Reply("answer", selection.text)).ok else "wrong"


async def evaluate(seed: int) -> dict:
    async with scratch_retriever(TENANT, "topic_switch") as retriever:
        cases = [c for c in load_cases("all", "all") if c["kind"] == "answerable"]
        conversations = [(c, c["history"][-1], "follow-up") for c in cases if c.get("history")]
        conversations += [(c, c["history"][-1], "switch") for c in topic_switches(cases, seed)]
        counts: dict = {}
        for case, earlier, kind in conversations:
            question, language = case["question"], case["language"]
            alone = await retriever.rank(TENANT, [question], language)
            together = await retriever.rank(TENANT, [f"{earlier} {question}"], language)
            today = await retriever.rank(TENANT, [question, f"{earlier} {question}"], language)
            if alone is None or together is None or today is None:
                raise SystemExit("the knowledge was not ranked: is the ranking encoder installed?")
            pooled = np.maximum(alone.features, together.features)
            ways = (SCORER.scores(alone.features), SCORER.scores(pooled), today.scores)
            for way, scores in zip(WAYS, ways):
                key = (kind, case["split"], way)
                row = counts.setdefault(key, {"correct": 0, "wrong": 0, "handover": 0})
                row[outcome(case, alone.view, scores)] += 1
        return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=SWITCH_SEED, help="draws the previous question of each switch")
    args = parser.parse_args()
    counts = asyncio.run(evaluate(args.seed))
    print(
        f"\n{'kind':<10} {'split':<5} {'ranked by':<16} {'n':>4} {'correct':>8} {'wrong':>6} {'handover':>9}  wrong/sent"
    )
    for (kind, split, way), row in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1], WAYS.index(kv[0][2]))):
        n, sent = sum(row.values()), row["correct"] + row["wrong"]
        print(
            f"{kind:<10} {split:<5} {way:<16} {n:>4} {row['correct']:>8} {row['wrong']:>6} {row['handover']:>9}"
            f"  {row['wrong'] / max(sent, 1):.0%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
