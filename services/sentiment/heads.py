"""Linear softmax classifiers over sentence embeddings, stored as plain arrays.

The heads are trained with scikit-learn but saved as weight matrices in `.npz` files (no pickle),
so a worker loads them with numpy alone, a model folder can be inspected, and loading never runs
code from disk.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np


@dataclasses.dataclass(frozen=True)
class LinearHead:
    """softmax(X @ coef.T + intercept) over `classes`."""

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray

    def __post_init__(self) -> None:
        if self.coef.ndim != 2 or self.coef.shape[0] != len(self.classes) or self.intercept.shape != (len(self.classes),):
            raise ValueError(f"head has {len(self.classes)} classes but weights of shape {self.coef.shape}")

    @classmethod
    def from_sklearn(cls, model, class_names: dict | None = None) -> "LinearHead":
        """From a fitted multinomial LogisticRegression; `class_names` maps its labels to names."""
        names = tuple(str(class_names[c]) if class_names else str(c) for c in model.classes_)
        if len(names) < 3:
            raise ValueError("LinearHead needs a multinomial model with three or more classes")
        return cls(names, np.asarray(model.coef_, dtype=np.float32), np.asarray(model.intercept_, dtype=np.float32))

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def column(self, name: str) -> int:
        return self.classes.index(name)

    def save(self, path: pathlib.Path) -> None:
        np.savez(path, classes=np.asarray(self.classes), coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: pathlib.Path) -> "LinearHead":
        if not path.exists():
            raise FileNotFoundError(
                f"classifier weights {path} are missing; rebuild the model with "
                "`python -m services.sentiment.training --promote --force`"
            )
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(str(c) for c in data["classes"]), data["coef"], data["intercept"])
