"""VQA scoring: yes/no accuracy for closed questions, language metrics for open ones.

Closed or open: a record's explicit `closed` flag wins. Otherwise a question is closed when it is
a Vietnamese yes/no question (ends with "không?", "chưa?", "phải không?", "đúng không?", "hay
không?") and its reference answer reads as yes or no; with no question text, when the reference
is a bare yes/no ("Có.", "Không,", "Chưa") followed by punctuation or nothing.

Yes/no reading of an answer: NFC, lower case, leading punctuation and spaces dropped; the first
word decides: "có", "đúng", "phải", "yes" -> yes; "không", "chưa", "no" -> no ("Có, có hạch..."
-> yes; "Không. Chưa phát hiện..." -> no; "Chưa phát hiện..." -> no). Anything else is neither,
and a prediction that is neither counts as wrong.
"""

from __future__ import annotations

import re
import unicodedata

_FIRST_WORD = re.compile(r"[^\W_]+")
_YES = frozenset({"có", "đúng", "phải", "yes"})
_NO = frozenset({"không", "chưa", "no"})
_YES_NO_QUESTION = re.compile(r"(?:không|chưa|phải không|đúng không|hay không|có phải)\s*\?\s*$")
_BARE_ANSWER = re.compile(r"^\W*(?:có|không|chưa|đúng|yes|no)\s*(?:[.,;:!]|$)")


def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text or "").strip().lower()


def yes_no(answer: str) -> str | None:
    """"yes", "no", or None when the answer does not start with a yes/no word."""
    match = _FIRST_WORD.search(_normal(answer))
    if match is None:
        return None
    word = match.group(0)
    return "yes" if word in _YES else "no" if word in _NO else None


def is_closed(question: str | None, reference: str, closed: bool | None = None) -> bool:
    """Whether a question is scored as yes/no (see the module docstring)."""
    if closed is not None:
        return closed
    if yes_no(reference) is None:
        return False
    if question:
        return bool(_YES_NO_QUESTION.search(_normal(question)))
    return bool(_BARE_ANSWER.match(_normal(reference)))


def closed_correct(prediction: str, references: tuple[str, ...] | list[str]) -> bool:
    """A closed answer is right when its yes/no equals that of any reference."""
    predicted = yes_no(prediction)
    return predicted is not None and any(predicted == yes_no(ref) for ref in references)
