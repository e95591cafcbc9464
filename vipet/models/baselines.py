"""Baselines every honest benchmark needs: what a model scores without looking, or by copying.

- `TemplateBaseline` writes, for every study, the standard normal report of its region: the
  normal training report made of the most frequent sentences. Any model that "writes fluent
  reports" but never sees the lesions scores about this.
- `RetrievalBaseline` returns the report of the nearest training sample by image statistics (or
  by any image embedding passed in): it uses the image, but only as a lookup.
- `MajorityVQABaseline` answers each question with its most frequent training answer.

Each is `fit(train_items)` then `predict(item) -> str`, over the dataset item dicts
(`image`, `text`, `task`, `region`, `question`), and names itself: `name`, the `tasks` it answers,
and whether `fit` needs the training images (`uses_images`; the others fit on text only, which
skips loading every training volume). `BASELINES` is the one list of them, by name.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from typing import Any, Callable, ClassVar, Iterable, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vipet.errors import TrainError

class Baseline(Protocol):
    """What `vipet generate` and the benchmark need of a baseline."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    uses_images: ClassVar[bool]

    def fit(self, items: Iterable[dict[str, Any]]) -> "Baseline": ...

    def predict(self, item: dict[str, Any]) -> str: ...


def _sentences(text: str) -> list[str]:
    from vipet.reports.segment import split_sentences

    return [s.strip() for s in split_sentences(text) if s.strip()]


def _is_normal(text: str) -> bool:
    from vipet.reports.extract import extract_lesions

    return not extract_lesions(text, scope="all")


class TemplateBaseline:
    """Per region, the normal training report whose sentences are the most common ones."""

    name = "template"
    tasks = ("report",)
    uses_images = False

    def __init__(self, is_normal: Callable[[str], bool] | None = None, sentences: Callable[[str], list[str]] | None = None):
        self.is_normal = is_normal or _is_normal
        self.sentences = sentences or _sentences
        self.report_by_region: dict[str, str] = {}
        self.fallback = ""

    def fit(self, items: Iterable[dict[str, Any]]) -> "TemplateBaseline":
        texts: dict[str, list[str]] = defaultdict(list)
        for item in items:
            if item.get("task", "report") == "report" and item.get("text"):
                texts[item.get("region") or "whole"].append(item["text"])
        if not texts:
            raise TrainError("template baseline: no training reports")
        for region, region_texts in texts.items():
            normal = [t for t in region_texts if self.is_normal(t)] or region_texts
            self.report_by_region[region] = self._most_typical(normal)
        self.fallback = self._most_typical([t for ts in texts.values() for t in ts])
        return self

    def _most_typical(self, texts: Sequence[str]) -> str:
        """The text whose sentences are, on average, the most frequent (ties: shortest, then alphabetical)."""
        split = [self.sentences(t) for t in texts]
        counts = Counter(s for sents in split for s in set(sents))

        def score(i: int) -> tuple[float, int, str]:
            sents = split[i] or [""]
            return (-sum(counts[s] for s in sents) / len(sents), len(texts[i]), texts[i])

        return texts[min(range(len(texts)), key=score)]

    def predict(self, item: dict[str, Any]) -> str:
        return self.report_by_region.get(item.get("region") or "whole", self.fallback)


def image_statistics(image: torch.Tensor, grid: tuple[int, int, int] = (2, 4, 4)) -> np.ndarray:
    """A fixed-length description of a (2, D, H, W) volume: global intensity quantiles and a coarse map.

    PET contributes per-block maxima (a hot lesion is a local peak) and means; CT contributes
    per-block means (anatomy, effusions). Cheap enough to compute for a whole training split.
    """
    volume = image.detach().float()
    if volume.ndim != 4 or volume.shape[0] != 2:
        raise TrainError(f"retrieval expects (2, D, H, W) [PET, CT] volumes, got {tuple(volume.shape)}")
    quantiles = torch.tensor([0.5, 0.9, 0.99])
    parts: list[torch.Tensor] = []
    for channel in volume:
        flat = channel.flatten()
        sample = flat[:: max(1, flat.numel() // 200_000)]
        parts += [flat.mean()[None], flat.std()[None], torch.quantile(sample, quantiles), flat.max()[None]]
    pet, ct = volume[0:1][None], volume[1:2][None]
    parts += [F.adaptive_max_pool3d(pet, grid).flatten(), F.adaptive_avg_pool3d(pet, grid).flatten()]
    parts += [F.adaptive_avg_pool3d(ct, grid).flatten()]
    return torch.cat(parts).numpy().astype(np.float64)


class RetrievalBaseline:
    """Nearest training report (same region) by z-scored image features; `embed` swaps in any embedding."""

    name = "retrieval"
    tasks = ("report",)
    uses_images = True

    def __init__(self, embed: Callable[[torch.Tensor], np.ndarray] | None = None):
        self.embed = embed or image_statistics
        self.features: dict[str, np.ndarray] = {}
        self.reports: dict[str, list[str]] = {}
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, items: Iterable[dict[str, Any]]) -> "RetrievalBaseline":
        rows: dict[str, list[np.ndarray]] = defaultdict(list)
        for item in items:
            if item.get("task", "report") == "report" and item.get("text"):
                region = item.get("region") or "whole"
                rows[region].append(self.embed(item["image"]))
                self.reports.setdefault(region, []).append(item["text"])
        if not rows:
            raise TrainError("retrieval baseline: no training reports")
        everything = np.concatenate([np.stack(v) for v in rows.values()])
        self.mean = everything.mean(axis=0)
        self.std = everything.std(axis=0) + 1e-8
        self.features = {r: (np.stack(v) - self.mean) / self.std for r, v in rows.items()}
        return self

    def predict(self, item: dict[str, Any]) -> str:
        if self.mean is None:
            raise TrainError("retrieval baseline used before fit")
        region = item.get("region") or "whole"
        if region not in self.features:
            region = next(iter(self.features))
        query = (self.embed(item["image"]) - self.mean) / self.std
        distances = ((self.features[region] - query) ** 2).sum(axis=1)
        return self.reports[region][int(np.argmin(distances))]


def _question_key(question: str) -> str:
    return " ".join(unicodedata.normalize("NFC", question or "").lower().split())


class MajorityVQABaseline:
    """Most frequent training answer for the same question text, else the most frequent answer overall."""

    name = "majority-vqa"
    tasks = ("vqa",)
    uses_images = False

    def __init__(self) -> None:
        self.by_question: dict[str, str] = {}
        self.fallback = ""

    def fit(self, items: Iterable[dict[str, Any]]) -> "MajorityVQABaseline":
        counts: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for item in items:
            if item.get("task") == "vqa" and item.get("question"):
                answer = (item.get("text") or "").strip()
                counts[_question_key(item["question"])][answer] += 1
                overall[answer] += 1
        if not overall:
            raise TrainError("majority VQA baseline: no training questions")
        # Ties break alphabetically so reruns give the same file.
        self.by_question = {q: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for q, c in counts.items()}
        self.fallback = min(overall.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        return self

    def predict(self, item: dict[str, Any]) -> str:
        return self.by_question.get(_question_key(item.get("question") or ""), self.fallback)


# The one list of baselines: name -> class (its `tasks` and `uses_images` say how to run it).
BASELINES: dict[str, type[Baseline]] = {cls.name: cls for cls in (TemplateBaseline, RetrievalBaseline, MajorityVQABaseline)}


def baseline_class(name: str) -> type[Baseline]:
    """The class registered under `name`; `TrainError` naming the known ones otherwise."""
    if name not in BASELINES:
        raise TrainError(f"unknown baseline {name!r}; known: {list(BASELINES)}")
    return BASELINES[name]


def build_baseline(name: str) -> Baseline:
    return baseline_class(name)()


def baseline_tasks(name: str) -> tuple[str, ...]:
    """The tasks the baseline `name` answers (a report baseline is not asked questions)."""
    return baseline_class(name).tasks
