"""One finding of the dataset doctor: what is wrong, with which study, and how sure the check is.

Findings are plain records (JSON-ready) so a per-study cache, the JSON output and the HTML report
all hold the same thing; the severity of each kind is the policy's (`vipet.doctor.policy`), never
the check's own choice, so one table says what fails a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """`kind` is a key of `policy.POLICY`; `key` the study (empty for a table-wide finding);
    `related` the other studies involved (the duplicate, the other visits of a leaking person)."""

    kind: str
    key: str
    message: str
    path: str = ""
    related: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        from vipet.doctor.policy import severity

        out: dict[str, Any] = {"kind": self.kind, "severity": severity(self.kind), "key": self.key,
                               "message": self.message}
        if self.path:
            out["path"] = self.path
        if self.related:
            out["related"] = list(self.related)
        if self.detail:
            out["detail"] = self.detail
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Finding":
        return cls(kind=obj["kind"], key=obj.get("key", ""), message=obj["message"], path=obj.get("path", ""),
                   related=tuple(obj.get("related", ())), detail=dict(obj.get("detail", {})))

    def sort_key(self) -> tuple[Any, ...]:
        from vipet.doctor.policy import ERROR, severity

        return (severity(self.kind) != ERROR, self.kind, self.key, self.path, self.message)
