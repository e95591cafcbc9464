"""Evaluation: language metrics right for Vietnamese and exact against their references, clinical F1, VQA, intervals.

Pure Python + numpy; never imports torch or transformers (an import-linter contract). The optional
BERTScore-style score (`vipet.eval.embedding`) takes an embedder callable; the torch one that reads a
local encoder folder is `vipet.models.token_embeddings.LocalTokenEmbedder`.

Entry points:
- `score_nlg(predictions, references, profile="default") -> {metric: score}`
- `clinical_f1(pred_lesions, ref_lesions) -> dict` (F1-T/TP/TF/TPF and side scores)
- `evaluate_predictions(records, profile, clinical, expert_dir=..., n_resamples=..., seed=..., embedder=...) -> metrics JSON`
- `compare_predictions(records_a, records_b, ...) -> paired bootstrap JSON`
- `load_predictions(path, pred_key, ref_key)`, `write_metrics(metrics, path)`

Metrics JSON layout (schema_version 1):
  {"schema_version", "input": {file, sha256, pred_key, ref_key, n_records},
   "profile": {name, tokenizer, lowercase, punctuation, scale, metrics, libraries, ...},
   "bootstrap": {n_resamples, seed, level, unit, interval, ...},
   "results": {<model>: {"report": {"nlg": {n, n_empty_predictions, scores},
                                    "clinical": {reference, n_patients, counts, per_patient, ..., scores}},
                         "vqa": {"closed": {n, scores: {accuracy}}, "open": {n, scores}}}}}
  where every score is {"value": float, "ci95": [low, high]}.
"""

from __future__ import annotations

from vipet.eval.clinical import clinical_f1
from vipet.eval.evaluate import compare_predictions, evaluate_predictions
from vipet.eval.io import load_predictions
from vipet.eval.nlg import score_nlg
from vipet.eval.report import write_metrics

__all__ = [
    "clinical_f1",
    "compare_predictions",
    "evaluate_predictions",
    "load_predictions",
    "score_nlg",
    "write_metrics",
]
