"""The evaluation report's pictures: confusion matrices and reliability diagrams, as PNG files.

Separate from `eval_understanding.py` so that the command reads as a list of measurements, and so
matplotlib (a tooling dependency, not a service one) is imported only when pictures are drawn.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np

from services.intent.classifier import OUT_OF_SCOPE
from services.intent.evaluation import Predictions, confusion_counts, reliability_bins


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _heatmap(ax, counts: np.ndarray, rows: Sequence[str], columns: Sequence[str], title: str) -> None:
    totals = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(counts / totals, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=6)
    ax.set_yticks(range(len(rows)), rows, fontsize=6)
    ax.set_xlabel("answered")
    ax.set_ylabel("true intent")
    ax.set_title(title, fontsize=9)
    for i, j in zip(*np.nonzero(counts)):
        ax.text(
            j,
            i,
            str(counts[i, j]),
            ha="center",
            va="center",
            fontsize=4.5,
            color="white" if counts[i, j] / totals[i, 0] > 0.5 else "black",
        )


def draw_confusions(path: pathlib.Path, panels: Sequence[tuple[str, Predictions]]) -> None:
    """Full confusion matrices (rows normalised, cells show counts) for small label sets."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(9 * len(panels), 9), squeeze=False)
    for ax, (title, p) in zip(axes[0], panels):
        labels = sorted(set(p.gold)) + ([OUT_OF_SCOPE] if OUT_OF_SCOPE not in p.gold else [])
        counts = confusion_counts(p.gold, p.decided, labels)
        _heatmap(ax, counts[: len(set(p.gold))], labels[: len(set(p.gold))], labels, title)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def draw_worst_confusions(path: pathlib.Path, panels: Sequence[tuple[str, Predictions, list[dict]]]) -> None:
    """For large label sets: the worst intents' rows, against every label they were confused with."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(8 * len(panels), 7), squeeze=False)
    for ax, (title, p, worst) in zip(axes[0], panels):
        rows = [w["label"] for w in worst]
        columns = list(dict.fromkeys(rows + [label for w in worst for label, _ in w["mistaken_for"]]))
        counts = confusion_counts(p.gold, p.decided, columns)[: len(rows)]
        _heatmap(ax, counts, rows, columns, title)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def draw_reliability(path: pathlib.Path, panels: Sequence[tuple[str, Predictions]]) -> None:
    """Confidence against accuracy of the best in-scope intent, before and after temperature scaling."""
    plt = _pyplot()
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (title, p) in zip(axes.flat, panels):
        gold, best = np.asarray(p.gold), np.asarray(p.best_in_scope)
        inside = gold != OUT_OF_SCOPE
        correct = (best == gold)[inside]
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for confidence, name, style in (
            (p.confidence_uncalibrated, "temperature 1", "o-"),
            (p.confidence, "calibrated", "s-"),
        ):
            bins = reliability_bins(confidence[inside], correct)
            x, y = [b["confidence"] for b in bins], [b["accuracy"] for b in bins]
            line = ax.plot(x, y, style[1:], lw=1, label=name)[0]
            # Marker area grows with the bin's size: a bin of three messages should not look like one of 3,000.
            ax.scatter(
                x,
                y,
                s=[6 + 60 * np.sqrt(b["n"] / len(correct)) for b in bins],
                marker=style[0],
                color=line.get_color(),
                zorder=3,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence of the best intent")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title} (n={int(inside.sum())})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
