"""Tiny random-weight LMs (GPT-2, LLaMA, Qwen2 with a chat template) and fake region volumes."""

from __future__ import annotations

import pytest
import torch

from vipet.models.testing_lms import CHATML_TEMPLATE, create_random_lm
from vipet.models.small_lm import train_bpe_tokenizer

from model_texts import TEXTS  # tests/models is on sys.path, as for every conftest folder


def make_tokenizer():
    return train_bpe_tokenizer(TEXTS * 5, vocab_size=400, min_frequency=1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine spinning OpenMP
    workers make them several times slower; other test folders keep torch's default."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_lms(tmp_path_factory) -> dict[str, str]:
    """family -> saved folder; Qwen2's tokenizer carries a ChatML template, the others none."""
    root = tmp_path_factory.mktemp("tiny_lms")
    out = {}
    for family in ("gpt2", "llama", "qwen2"):
        template = CHATML_TEMPLATE if family == "qwen2" else None
        out[family] = str(create_random_lm(family, "tiny", make_tokenizer(), root / family, seed=1, chat_template=template))
    return out


def fake_items(n: int, seed: int = 0, size=(8, 16, 16)) -> list[dict]:
    """Report and VQA items whose text depends on where a hot voxel sits in the PET channel."""
    gen = torch.Generator().manual_seed(seed)
    texts = [TEXTS[1], TEXTS[3], TEXTS[2]]
    items = []
    for i in range(n):
        kind = i % 3
        image = torch.rand(2, *size, generator=gen) * 0.1
        if kind != 1:
            image[0, size[0] // 2, size[1] // 4 * (1 + kind), size[2] // 2] = 1.0
        if i % 2:
            items.append({"sample_id": f"r{seed}_{i}", "image": image, "text": texts[kind], "question": None,
                          "task": "report", "region": "chest"})
        else:
            items.append({"sample_id": f"q{seed}_{i}", "image": image, "text": "không" if kind == 1 else "có",
                          "question": "Có tổn thương tăng chuyển hóa không?", "task": "vqa", "region": "chest"})
    return items


@pytest.fixture(scope="session")
def make_items():
    return fake_items


@pytest.fixture
def texts() -> list[str]:
    return list(TEXTS)
