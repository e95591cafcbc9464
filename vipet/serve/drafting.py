"""Drafting and asking with the chosen model, and the draft compared with the reference lesion by lesion.

The model is named as `vipet generate` names it: a baseline (`template`, `retrieval`,
`majority-vqa`, fitted on the served build's training split the first time it is used), a run
folder from `vipet train` (its `final/` model and `config.yaml`), or an OpenAI-compatible
endpoint, `api:CONFIG.yaml` or `api:URL#MODEL` (`vipet.models.api_chat`, its examples taken from
the served build's training split). Each study is given to the
model as the build gives it to training: the cached model-ready volume of the run's region, in a
dataset-item dict, so what the workstation drafts is what `vipet generate` would write.

The comparison is the bench report's (`vipet.eval.html_report`): lesions are extracted offline
(thorax scope, the clinical metric's), expanded to units and matched greedily on type and
position (`vipet.eval.clinical`); a draft lesion with no match is hallucinated, a reference lesion
with no match is missed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vipet.data.cache import open_array, study_dir
from vipet.errors import VipetError
from vipet.schema import WHOLE
from vipet.serve.sources import Catalog

Progress = Callable[[float, str], None]
MATCH_FIELDS = (0, 1)  # type + position, the fields the bench report highlights by


class Drafter:
    """A model the workstation can run: `draft(key)` writes a report, `answer(key, question)` answers."""

    def __init__(self, spec: str, catalog: Catalog):
        from vipet.models.registry import baseline_names, is_api_spec, is_baseline

        self.spec = spec
        self.catalog = catalog
        self._lock = threading.Lock()
        self._models: dict[str, Any] = {}
        self.api = None
        if is_api_spec(spec):  # an OpenAI-compatible endpoint, shown examples from the build's training split
            from vipet.models.api_chat import parse_api_spec

            self.api = parse_api_spec(spec)
            if catalog.kind != "build":
                raise VipetError("an api model takes its examples from a build's training split; serve a build folder "
                                 "(`vipet build DATA OUT`, then `vipet serve OUT`)", catalog.path)
            self.is_baseline, self.name, self.region = False, f"api-{self.api.model}", WHOLE
            self.tasks, self.report_baseline, self.answer_model = tuple(self.api.tasks), None, self.name
            return
        self.is_baseline = is_baseline(spec) and not Path(spec).is_dir()
        if self.is_baseline:
            self.name = spec
            self.region = WHOLE
            from vipet.models.baselines import BASELINES, MajorityVQABaseline

            self.tasks = ("report", "vqa") if spec != MajorityVQABaseline.name else ("vqa",)
            self.report_baseline = spec if "report" in BASELINES[spec].tasks else None
            self.answer_model = MajorityVQABaseline.name  # report baselines do not answer; this one does
            if catalog.kind != "build":
                raise VipetError(f"the {spec} baseline learns from a build's training split; serve a build folder "
                                 "(`vipet build DATA OUT`, then `vipet serve OUT`)", catalog.path)
        else:
            run = Path(spec)
            if not (run / "config.yaml").is_file():
                raise VipetError(f"--model must be a run folder (with config.yaml) or a baseline: {', '.join(baseline_names())}", run)
            from vipet.train.config import load_config

            self.config = load_config(run / "config.yaml")
            self.name = self.config.name
            self.tasks = tuple(self.config.data.tasks)
            self.region = (self.config.data.regions or [WHOLE])[0]
            self.report_baseline = None
            self.answer_model = self.name

    def _baseline(self, name: str, progress: Progress) -> Any:
        """The baseline `name`, fitted once on the training split of the served build."""
        with self._lock:
            if name in self._models:
                return self._models[name]
            from vipet.models.baselines import baseline_class
            from vipet.train.config import DataConfig
            from vipet.train.data import open_split

            baseline = baseline_class(name)()
            progress(0.2, f"fitting the {name} baseline on the training split")
            config = DataConfig(build=str(self.catalog.build), tasks=list(baseline.tasks), regions=[WHOLE])
            items = open_split(config, config.train_split, training=False, seed=0)
            train = (items[i] for i in range(len(items))) if baseline.uses_images else items.text_items()
            baseline.fit(item for item in train if (item.get("task") or "report") in baseline.tasks)
            self._models[name] = baseline
            return baseline

    def _api_model(self, progress: Progress) -> Any:
        """The endpoint client, given its examples from the served build's training split once;
        replies cached in the workstation's work folder, images from the build's renders."""
        with self._lock:
            if "api" not in self._models:
                from vipet.data.cache import study_renders
                from vipet.models.api_chat import ApiChatModel
                from vipet.train.config import DataConfig
                from vipet.train.data import open_split
                from vipet.train.generate import study_key

                def images(item: dict[str, Any]) -> dict[str, bytes]:
                    renders = study_renders(self.catalog.cache_of(study_key(str(item["sample_id"]))),
                                            study_key(str(item["sample_id"])))
                    return {view: path.read_bytes() for view, path in renders.items()}

                model = ApiChatModel(self.api, self.catalog.work / "api_cache", images=images)
                progress(0.2, f"taking {self.api.k_shots} examples from the training split")
                config = DataConfig(build=str(self.catalog.build), tasks=list(self.tasks), regions=[WHOLE])
                items = open_split(config, config.train_split, training=False, seed=0)
                model.fit((items[i] for i in range(len(items))) if model.uses_images else items.text_items())
                self._models["api"] = model
            return self._models["api"]

    def _run_model(self, progress: Progress) -> Any:
        with self._lock:
            if "run" not in self._models:
                import torch

                from vipet.train.predict import load_run_model

                if self.config.model.hf_vlm is not None and self.catalog.build is None:
                    # Its pictures are calibrated to a build's channel scales (meta.json of its studies).
                    raise VipetError(f"run {self.spec} is a Hugging Face VLM: serve a build folder to draft with it")
                progress(0.2, f"loading {self.spec}")
                model = load_run_model(self.spec, self.catalog.build, self.config)
                model.to("cuda" if torch.cuda.is_available() else "cpu")
                self._models["run"] = model
            return self._models["run"]

    def item(self, key: str, task: str = "report", question: str | None = None) -> dict[str, Any]:
        """The dataset item of a study, as `vipet.data.dataset` builds it (image (C, D, H, W) float32)."""
        import torch

        volumes = self.catalog.open(key)
        arrays = volumes.meta.get("arrays") or {}
        if self.region not in arrays:
            raise VipetError(f"study {key} has no cached {self.region!r} volume for this model")
        image = np.array(open_array(study_dir(self.catalog.cache_of(key), key) / arrays[self.region]["file"]), dtype=np.float32)
        return {"sample_id": f"{key}:{self.region}", "image": torch.from_numpy(image), "task": task,
                "region": self.region, "question": question, "text": self.catalog.entry(key).report_text}

    def _generate(self, item: dict[str, Any], progress: Progress) -> str:
        from vipet.train.config import GenerationConfig
        from vipet.train.generate import generate_records

        model = self._run_model(progress)
        progress(0.6, "generating")
        generation = GenerationConfig(**{**self.config.generation.__dict__, "batch_size": 1})
        return generate_records(model, [item], generation, self.name)[0]["prediction"]

    def draft(self, key: str, progress: Progress | None = None) -> str:
        report = progress or (lambda fraction, message: None)
        if "report" not in self.tasks:
            raise VipetError(f"model {self.name} does not write reports (tasks: {', '.join(self.tasks)})")
        report(0.05, "opening the study")
        item = self.item(key)
        if self.is_baseline:
            text = self._baseline(self.report_baseline, report).predict(item)
        elif self.api is not None:
            text = self._ask(item, report)
        else:
            text = self._generate(item, report)
        report(1.0, "done")
        return text

    def answer(self, key: str, question: str, progress: Progress | None = None) -> str:
        report = progress or (lambda fraction, message: None)
        if "vqa" not in self.tasks:
            raise VipetError(f"model {self.name} does not answer questions (tasks: {', '.join(self.tasks)})")
        item = self.item(key, task="vqa", question=question)
        if self.is_baseline:
            return self._baseline("majority-vqa", report).predict(item)
        if self.api is not None:
            return self._ask(item, report)
        return self._generate(item, report)

    def _ask(self, item: dict[str, Any], progress: Progress) -> str:
        model = self._api_model(progress)
        progress(0.6, f"asking {self.api.model}")
        with self._lock:  # one request at a time: the rate limit and the usage counts are the model's
            return model.predict(item)


@dataclass
class MarkedLesion:
    """One extracted lesion in the expert format with what the matcher made of it."""

    expert: dict[str, Any]
    status: str  # matched | hallucinated (draft only) | missed (reference only)


def compare_lesions(draft: str, reference: str) -> dict[str, Any]:
    """Draft and reference lesions marked by greedy type+position matching, and both texts highlighted."""
    from vipet.eval.clinical import greedy_match, lesion_units
    from vipet.eval.html_report import highlighted_sentences
    from vipet.reports.extract import extract_lesions

    draft_lesions = extract_lesions(draft, scope="thorax") if draft.strip() else []
    ref_lesions = extract_lesions(reference, scope="thorax") if reference.strip() else []
    pred_units, ref_units = lesion_units(draft_lesions), lesion_units(ref_lesions)
    pairs = greedy_match(pred_units, ref_units, MATCH_FIELDS)
    matched_pred = {pred_units[i][0] for i, _ in pairs}
    matched_ref = {ref_units[j][0] for _, j in pairs}
    return {
        "draft": [MarkedLesion(lesion.to_expert(), "matched" if i in matched_pred else "hallucinated")
                  for i, lesion in enumerate(draft_lesions)],
        "reference": [MarkedLesion(lesion.to_expert(), "matched" if i in matched_ref else "missed")
                      for i, lesion in enumerate(ref_lesions)],
        "draft_html": highlighted_sentences(draft, reference, "hallucinated"),
        "reference_html": highlighted_sentences(reference, draft, "missed"),
    }


def suggested_questions(report_text: str, region: str = WHOLE) -> list[dict[str, str]]:
    """One question per question type of the toolkit (`vipet.reports.vqa`), from the study's report.

    Only the questions are offered (never the answers); a study without a report still gets the
    region question, which every report yields.
    """
    from vipet.reports.vqa import QUESTION_TYPES, generate_vqa

    try:
        pairs = generate_vqa(report_text or "", region=region)
    except VipetError:
        pairs = []
    first: dict[str, str] = {}
    for pair in pairs:
        first.setdefault(pair["type"], pair["question"])
    return [{"type": t, "question": first[t]} for t in QUESTION_TYPES if t in first]
