"""Fit the passage scorer and the answer gate of services/generator/ranking.py on the help-centre tune split.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/fit_answer_ranker.py [--cost-of-wrong 2] [--curve]

Needs the local stack's database (CS_MONGO_URI, default mongodb://127.0.0.1:27017/); ingests
bench/data/helpcentre/kb with `ingest_documents` into a scratch database (dropped afterwards) and ranks
every passage in the customer's language for each answerable and unanswerable question through the
generator's own code (`Retriever.rank`, the features of ranking.py). A passage "answers" a question when
the answer made of it (`selection.passage_answer`) passes bench/answer_judge.py: every required fact,
no contradiction.

1. The scorer: a linear model over the standardised FEATURES, fitted listwise (per question, a softmax
   over its passages; the target is the passages that answer it) with L-BFGS, tune split only.
2. The gate: a logistic regression (C=3) on the tune split predicting whether the best passage answers,
   from ranking.gate_inputs (its share of the softmax over the scores, its log, Chinese or not, its
   score); with the margin and the best passage's FEATURES as inputs as well, the tune split came out
   no better (correct - 2 x wrong 101-107 against 109). Its threshold is the
   one that maximises correct - cost_of_wrong x wrong on the tune split (a wrong answer costs more than
   a handover to a person).

Prints the constants to paste into ranking.py, and per split and language: the best passage answers
(top-1), and at the chosen threshold correct / wrong / handed over, for answerable and unanswerable
questions. The test split is only reported, never used for a choice. About 4 minutes (embedding).
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
from eval_helpcentre import load_cases  # noqa: E402
from helpcentre_knowledge import scratch_retriever  # noqa: E402

from services.generator.answering import Question, queries_of  # noqa: E402
from services.generator.prompt import Turn  # noqa: E402
from services.generator.ranking import FEATURES, gate_inputs  # noqa: E402
from services.generator.selection import passage_answer  # noqa: E402

TENANT = "fit"
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.2, 0.95, 0.05))


async def rank_cases() -> dict[str, list[tuple[dict, np.ndarray, np.ndarray]]]:
    """Per split, per question: (case, FEATURES of its language's passages, which of them answer it)."""
    async with scratch_retriever(TENANT, "fit_ranker") as retriever:
        out: dict[str, list] = {"tune": [], "test": []}
        for case in load_cases("all", "all"):
            if case["kind"] not in ("answerable", "unanswerable"):
                continue
            history = [Turn("customer", text) for text in case.get("history", [])]
            question = Question(TENANT, case["question"], case["language"], history=history)
            ranked = await retriever.rank(TENANT, queries_of(question), case["language"])
            if ranked is None:
                raise SystemExit("the knowledge was not ranked: is the ranking encoder installed?")
            answers = np.array(
                [
                    case["kind"] == "answerable"
                    and (selection := passage_answer(p, 1.0)) is not None
                    and judge(case, Reply("answer", selection.text)).ok
                    for p in ranked.view.passages
                ]
            )
            out[case["split"]].append((case, ranked.features, answers))
        return out


def fit_scorer(data, l2: float = 0.01):
    from scipy.optimize import minimize

    stacked = np.vstack([x for _, x, _ in data])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-9
    lists = [((x - mean) / scale, y) for _, x, y in data if y.any()]

    def loss(w):
        total, grad = l2 * w @ w, 2 * l2 * w
        for z, y in lists:
            s = z @ w
            e = np.exp(s - s.max())
            p = e / e.sum()
            q = e * y / (e * y).sum()
            total += (np.log(e.sum()) - np.log((e * y).sum())) / len(lists)
            grad += z.T @ (p - q) / len(lists)
        return total, grad

    w = minimize(loss, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B").x
    return w, mean, scale


def tops(data, w, mean, scale):
    """Per question: (case, gate inputs, whether the best passage answers)."""
    rows = []
    for case, x, y in data:
        s = ((x - mean) / scale) @ w
        order = np.argsort(-s, kind="stable")
        best = int(order[0])
        rows.append((case, gate_inputs(s, best, case["language"] == "zh"), bool(y[best])))
    return rows


def outcome(rows, probabilities, threshold, language):
    counts = {"correct": 0, "wrong": 0, "handover": 0, "unanswerable answered": 0, "unanswerable": 0, "answerable": 0}
    for (case, _, ok), p in zip(rows, probabilities):
        if case["language"] != language:
            continue
        counts[case["kind"]] += 1
        if p < threshold:
            counts["handover"] += case["kind"] == "answerable"
        elif case["kind"] == "unanswerable":
            counts["unanswerable answered"] += 1
            counts["wrong"] += 1
        else:
            counts["correct" if ok else "wrong"] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curve", action="store_true", help="also print every threshold's figures")
    parser.add_argument("--cost-of-wrong", type=float, default=2.0, help="a wrong answer counts as this many handovers")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    ranked = asyncio.run(rank_cases())
    tune, test = ranked["tune"], ranked["test"]
    w, mean, scale = fit_scorer(tune)
    tune_rows, test_rows = tops(tune, w, mean, scale), tops(test, w, mean, scale)
    gate = LogisticRegression(C=3.0, max_iter=5000).fit([r[1] for r in tune_rows], [r[2] for r in tune_rows])
    p_tune = gate.predict_proba([r[1] for r in tune_rows])[:, 1]
    p_test = gate.predict_proba([r[1] for r in test_rows])[:, 1]

    def value(threshold):
        both = [outcome(tune_rows, p_tune, threshold, lang) for lang in ("en", "zh")]
        return sum(c["correct"] - args.cost_of_wrong * c["wrong"] for c in both)

    threshold = max(THRESHOLDS, key=value)
    print("\n# ranking.py constants (fitted on the tune split)")
    print(f"SCORER = PassageScorer(\n    weights={tuple(round(float(v), 4) for v in w)},")
    print(
        f"    mean={tuple(round(float(v), 4) for v in mean)},\n    scale={tuple(round(float(v), 4) for v in scale)},\n)"
    )
    print(
        f"GATE = AnswerGate(\n    coef={tuple(round(float(v), 4) for v in gate.coef_[0])},\n"
        f"    intercept={round(float(gate.intercept_[0]), 4)},\n    threshold={threshold},\n)"
    )
    print("\nfeatures:", ", ".join(FEATURES))
    for name, rows, probabilities in (("tune", tune_rows, p_tune), ("test", test_rows, p_test)):
        for lang in ("en", "zh"):
            for t in THRESHOLDS if args.curve else ():
                c = outcome(rows, probabilities, t, lang)
                print(f"  {name} {lang} >= {t}: correct {c['correct']}, wrong {c['wrong']}, handover {c['handover']}")
            answerable = [r for r in rows if r[0]["language"] == lang and r[0]["kind"] == "answerable"]
            c = outcome(rows, probabilities, threshold, lang)
            sent = c["correct"] + c["wrong"]
            print(
                f"{name} {lang}: best passage answers {sum(r[2] for r in answerable)}/{len(answerable)}; "
                f"gate >= {threshold}: correct {c['correct']}/{c['answerable']}, wrong {c['wrong']} "
                f"({c['wrong'] / max(sent, 1):.0%} of {sent} sent), handover {c['handover']}, "
                f"unanswerable answered {c['unanswerable answered']}/{c['unanswerable']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
