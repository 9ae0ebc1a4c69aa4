"""The conversation's sentiment trend over its recent customer turns.

The slope is the least-squares line through the last `window` scores (-1..1, oldest first), in
score per turn. It is "worsening" or "improving" only when the slope passes `threshold` AND the
last score moved the same way as the slope from the first one in the window: one outlier in the
middle of a calm conversation does not make a trend. Two points are a line, not a trend: with
fewer than MIN_TURNS scores the trend is "stable" (the slope is still reported).
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_THRESHOLD = 0.1
MIN_TURNS = 3


def slope(scores: Sequence[float]) -> float:
    n = len(scores)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(scores) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(scores))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def conversation_trend(
    scores: Sequence[float], window: int = 5, threshold: float = DEFAULT_THRESHOLD
) -> tuple[str, float]:
    """(trend, slope) for the scores of a conversation's turns, oldest first."""
    if window < 2:
        raise ValueError(f"trend window must be at least 2 turns, got {window}")
    for s in scores:
        if not -1.0 <= s <= 1.0:
            raise ValueError(f"sentiment score {s!r} is outside -1..1")
    recent = list(scores)[-window:]
    k = slope(recent)
    if len(recent) < MIN_TURNS:
        return "stable", k
    change = recent[-1] - recent[0]
    if k <= -threshold and change < 0:
        return "worsening", k
    if k >= threshold and change > 0:
        return "improving", k
    return "stable", k
