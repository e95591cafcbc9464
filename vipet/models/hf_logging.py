"""Quiet transformers once for every module that loads weights (VLM, Gemma converter, encoders)."""

from __future__ import annotations


def quiet_transformers() -> None:
    """Weight-loading progress bars would flood logs and test output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
