"""The one secret behind every de-identified value: UIDs, patient pseudonyms and date offsets.

Every replacement is an HMAC-SHA256 of the original under the run's secret, so it is

- consistent within a run (PET and CT of a study map to the same new StudyInstanceUID, a
  ReferencedSOPInstanceUID to the same new SOPInstanceUID as the file it points at),
- the same in a rerun with the same secret (an interrupted run resumes; a study added later
  pairs with its earlier series), and
- not reversible or guessable without the secret (a plain hash of a PatientID could be
  recomputed by anyone holding a list of candidate ids).

The secret is never stored: audit logs and outputs record only that one was used.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from vipet.errors import InteropError

UID_ROOT = "2.25."  # UUID-derived UIDs (PS3.5 B.2): no registered org root needed
PSEUDONYM_PREFIX = "VP"
# Dates move back by 1 to 10 years (whole days): far enough that the real date cannot be read off,
# near enough that age-related reasoning over the cohort stays sensible.
MIN_SHIFT_DAYS = 365
SHIFT_SPAN_DAYS = 3287


class DeidError(InteropError):
    """A file or study cannot be de-identified safely (interop layer); the reason names the file."""


@dataclass(frozen=True)
class DeidKeys:
    """Keyed, deterministic replacements derived from one secret."""

    secret: bytes

    def __post_init__(self) -> None:
        if not self.secret:
            raise DeidError("an empty de-identification secret would make every pseudonym guessable")

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self.secret, f"{purpose}\x00{value}".encode("utf-8"), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """A new UID under 2.25 (128 bits of the HMAC as a decimal integer; at most 44 characters)."""
        original = str(original).strip().rstrip("\x00")
        return UID_ROOT + str(int.from_bytes(self._digest("uid", original)[:16], "big"))

    def patient_pseudonym(self, patient_id: str) -> str:
        """A stable id for a patient (`VP` + 12 hex digits): same patient, same pseudonym, across runs."""
        return PSEUDONYM_PREFIX + self._digest("patient", _norm(patient_id)).hex()[:12].upper()

    def day_offset(self, patient_id: str) -> int:
        """Whole days (negative) that every date of this patient moves by; times of day are kept."""
        value = int.from_bytes(self._digest("date", _norm(patient_id))[:8], "big")
        return -(MIN_SHIFT_DAYS + value % SHIFT_SPAN_DAYS)

    def token(self, purpose: str, value: str, length: int = 10) -> str:
        """A short stable hex token for anything else that needs a consistent replacement."""
        return self._digest(purpose, str(value)).hex()[:length].upper()


def _norm(patient_id: str) -> str:
    return str(patient_id or "").strip()
