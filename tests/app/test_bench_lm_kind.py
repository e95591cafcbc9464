"""A bench with a local few-shot LM row (`kind: lm`, a tiny random-weight LLaMA folder) and a model whose
encoder comes from an earlier one (`encoder_from`), on a tiny synthetic cohort."""

from __future__ import annotations

import json

import pytest
import yaml
from safetensors.torch import load_file

from test_bench import TINY_TRAIN
from vipet.bench import BenchConfig, ModelEntry, leaderboard_groups, run_bench, validate_config
from vipet.errors import BenchError
from vipet.models.fewshot_lm import FewShotLM, FewShotLMConfig
from vipet.models.small_lm import train_bpe_tokenizer
from vipet.models.testing_lms import create_random_lm

TEXTS = ["Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim.", "Nốt mờ thùy trên phổi phải, tăng chuyển hóa FDG.",
         "Hãy mô tả hình ảnh PET/CT vùng lồng ngực và nêu nhận định."]
FROZEN_ENCODER = {**TINY_TRAIN, "model.train_encoder": False, "model.aux_weight": 0.0, "model.aux_tag_token": False}


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("lm_kind")
    lm = create_random_lm("llama", "tiny", train_bpe_tokenizer(TEXTS * 5, vocab_size=300, min_frequency=1),
                          folder / "tiny-llama", seed=2)
    spec = folder / "few.yaml"
    spec.write_text(yaml.safe_dump({"lm": str(lm), "k_shots": 2, "max_new_tokens": 6}), encoding="utf-8")
    models = [ModelEntry("tiny-vlm", "small_vlm.yaml", TINY_TRAIN),
              ModelEntry("tiny-second", "small_vlm.yaml", FROZEN_ENCODER, encoder_from="tiny-vlm"),
              ModelEntry("lm-few", str(spec), kind="lm"),
              ModelEntry("lm-zero", str(spec), {"k_shots": 0}, kind="lm")]
    config = BenchConfig(seed=0, cohort_n=6, workers=1, target_shape=(16, 32, 32), n_resamples=20, cases=1,
                         max_test_samples=4, models=models, baselines=["template"], tasks=["report"],
                         leaderboard_groups=True)
    lines: list[str] = []
    run_bench(config, folder / "run", log=lines.append)
    first = len(lines)
    run_bench(config, folder / "run", log=lines.append)
    return folder, config, lm, lines[:first], lines[first:]


def read(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_lm_rows_answer_the_same_samples_once_per_prompt(lm_run):
    folder, config, lm, _, _ = lm_run
    out = folder / "run"
    template = read(out / "predictions" / "template.jsonl")
    for name, k in (("lm-few", 2), ("lm-zero", 0)):
        records = read(out / "predictions" / f"{name}.jsonl")
        assert [r["id"] for r in records] == [r["id"] for r in template] and {r["model"] for r in records} == {name}
        assert len({r["prediction"] for r in records}) == 1  # one chest prompt, no image: one answer for every study
        info = json.loads((out / "predictions" / f"{name}.lm.json").read_text(encoding="utf-8"))
        assert info["distinct_prompts"] == 1 and info["k_shots"] == k and info["layout"] == "plain"
    # The row's answer is the model's own greedy answer to the prompt of a fresh FewShotLM (an independent run).
    from vipet.train.config import DataConfig
    from vipet.train.data import open_split

    data_config = DataConfig(build=str(out / "build"), tasks=["report"], regions=["chest"])
    model = FewShotLM(FewShotLMConfig(lm=str(lm), k_shots=2, max_new_tokens=6))
    model.fit(open_split(data_config, data_config.train_split, training=False, seed=0).text_items())
    test = open_split(data_config, "test", training=False, seed=0)
    assert model.predict(test[0]) == read(out / "predictions" / "lm-few.jsonl")[0]["prediction"]
    assert leaderboard_groups(config) == {"tiny-vlm": "fine-tuned", "tiny-second": "fine-tuned", "lm-few": "few-shot",
                                          "lm-zero": "zero-shot", "template": "baseline"}
    board = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert "#### Zero-shot" in board and "| lm-zero |" in board.split("#### Zero-shot")[1].split("####")[0]
    assert yaml.safe_load((out / "models" / "lm-few" / "lm.yaml").read_text(encoding="utf-8"))["lm"] == str(lm)


def test_encoder_from_starts_from_the_earlier_models_encoder(lm_run):
    folder, _, _, _, _ = lm_run
    models = folder / "run" / "models"
    source = load_file(str(models / "tiny-vlm" / "final" / "vision.safetensors"))
    trained = load_file(str(models / "tiny-second" / "final" / "vision.safetensors"))
    encoder = sorted(k for k in source if k.startswith("encoder."))
    assert encoder and all(trained[k].equal(source[k]) for k in encoder)  # frozen: exactly the earlier encoder
    assert not all(trained[k].equal(source[k]) for k in source if k.startswith("projector."))  # its own projector
    stamp = json.loads((folder / "run" / "steps" / "train-tiny-second.json").read_text(encoding="utf-8"))
    first = json.loads((folder / "run" / "steps" / "train-tiny-vlm.json").read_text(encoding="utf-8"))
    assert stamp["inputs"]["encoder_from"] == first["result"]["model"]  # keyed by the weights it starts from
    assert stamp["inputs"]["config"]["model"]["encoder"]["pretrained"] == "<tiny-vlm>"  # never the run's path


def test_rerun_is_cached(lm_run):
    _, _, _, _, rerun = lm_run
    assert any("predict-lm-few: cached" in line for line in rerun)
    assert not any(line.endswith(" ...") for line in rerun)


def test_lm_and_encoder_from_are_validated(tmp_path):
    spec = tmp_path / "few.yaml"
    spec.write_text(yaml.safe_dump({"lm": "x"}), encoding="utf-8")
    with pytest.raises(BenchError, match="an lm model trains nothing"):
        validate_config(BenchConfig(models=[ModelEntry("v", "small_vlm.yaml"),
                                            ModelEntry("a", str(spec), kind="lm", init_from="v")]))
    with pytest.raises(BenchError, match="takes its encoder from 'a', which is not an earlier model"):
        validate_config(BenchConfig(models=[ModelEntry("a", str(spec), kind="lm"),
                                            ModelEntry("v", "small_vlm.yaml", encoder_from="a")]))
    with pytest.raises(BenchError, match="drop encoder_from"):
        validate_config(BenchConfig(models=[ModelEntry("v", "small_vlm.yaml"),
                                            ModelEntry("w", "small_vlm.yaml", init_from="v", encoder_from="v")]))
