"""One exception type per layer, each carrying the file and the reason.

The CLI turns any `VipetError` into a single line on stderr and a non-zero exit, so the
message must make sense on its own: name the file and say what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path


class VipetError(Exception):
    """Base of every error the toolkit raises on purpose (bad input, missing tags, ...)."""

    def __init__(self, reason: str, path: str | Path | None = None):
        self.reason = reason
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class UnsafePathError(VipetError):
    """A name or path from the input would reach outside the folder it must stay in (any layer)."""


class ReadError(VipetError):
    """A source file or folder cannot be read as a study (io layer)."""


class SUVUnavailableError(VipetError):
    """A step needs PET in SUV but the study only has activity or counts; the reason names the tag."""


class ImagingError(VipetError):
    """A transform got a volume it cannot handle (imaging layer)."""


class ReportError(VipetError):
    """A report cannot be parsed or a lesion list is malformed (reports layer)."""


class SynthError(VipetError):
    """Bad synthetic-cohort arguments (synth layer)."""


class BuildError(VipetError):
    """A dataset build step failed for a study or a whole run (data layer)."""


class EvalError(VipetError):
    """Predictions or references cannot be scored (eval layer)."""


class TrainError(VipetError):
    """A training or generation config or run folder is invalid (models/train layers)."""


class BenchError(VipetError):
    """The end-to-end benchmark cannot run or verify (app layer)."""


class InteropError(VipetError):
    """A hospital output (JSON, DICOM SR, FHIR) cannot be written or a PACS cannot be used (interop layer)."""


class ReviewError(VipetError):
    """A review, reviewer or work item is invalid or unknown, or the review database is unusable (review layer)."""
