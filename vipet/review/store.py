"""Expert reviews in one SQLite file: reviewers, work items, and every saved revision of a review.

Why SQLite and how it is used: several reviewers (browser sessions, worker processes) save at the
same time and none may lose a save. The database runs in WAL mode, so readers never block the one
writer; every save is one `BEGIN IMMEDIATE` transaction, which takes the write lock before it reads
the previous revision number, so two saves of one (item, reviewer) can never both become revision
N; `busy_timeout` makes a writer wait for the lock instead of failing. Each call opens its own
short connection, so one `ReviewStore` may be shared by threads and each process may open its own.

Nothing is overwritten: a save adds revision previous+1 with its UTC time, so a reviewer's edit
history is kept and the latest revision is the current review.

Lesions are kept exactly as given (key order, `hoá`/`hóa` spelling, SUVmax as int, float or text),
so a lesion list loaded from an official expert file comes back, and is exported, unchanged. They
are checked against the six-field expert format of `vipet.schema` (see `check_lesions`).
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from vipet.errors import ReviewError, VipetError
from vipet.schema import FDG_KEY, INVASION_KEY, LOCATION_KEY, SIZE_KEY, STAGE_KEY, SUVMAX_KEY, TYPE_KEY, UPTAKE_KEY

LABELS: tuple[str, ...] = ("correct", "significant", "insignificant")
ERROR_CATEGORIES: tuple[str, ...] = (
    "false_finding", "missed_finding", "wrong_location", "wrong_size_suv", "wrong_judgement",
)
# What a page shows for each value (the wording).
LABEL_TITLES: dict[str, str] = {
    "correct": "correct",
    "significant": "clinically significant error",
    "insignificant": "clinically insignificant error",
}
CATEGORY_TITLES: dict[str, str] = {
    "false_finding": "false finding",
    "missed_finding": "missed finding",
    "wrong_location": "wrong location or laterality",
    "wrong_size_suv": "wrong size or SUV",
    "wrong_judgement": "wrong judgement",
}

# The lesion fields (top level) and the FDG fields, by their English role, spelled as in `vipet.schema`.
LESION_FIELDS: dict[str, str] = {
    SIZE_KEY: "size", TYPE_KEY: "type", LOCATION_KEY: "location", FDG_KEY: "FDG",
    INVASION_KEY: "invasion", STAGE_KEY: "judgement",
}
FDG_FIELDS: dict[str, str] = {SUVMAX_KEY: "SUVmax", UPTAKE_KEY: "FDG uptake"}
# One official lesion (patient 1658) lacks invasion and judgement; it must load unchanged, so only
# these two may be absent. Every field the clinical matcher reads (type, location, FDG) is required.
OPTIONAL_FIELDS = frozenset({INVASION_KEY, STAGE_KEY})
MAX_LESIONS = 1000
MAX_SENTENCES = 5000
MAX_TEXT = 20000
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60000


@dataclass(frozen=True)
class WorkItem:
    """One (study, report) pair to review; `reference` is the study's own report, `model` who wrote `report`."""

    item_id: str
    study: str
    report: str
    reference: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class SentenceLabel:
    """A reviewer's verdict on sentence `index` of the item's report; `category` iff it is an error."""

    index: int
    sentence: str
    label: str
    category: str | None = None

    def __post_init__(self) -> None:
        check_sentence(self)


@dataclass(frozen=True)
class Review:
    """A reviewer's lesion list (expert format) and sentence labels for one item, at one revision."""

    item_id: str
    reviewer: str
    lesions: list[dict] = field(default_factory=list)
    sentences: list[SentenceLabel] = field(default_factory=list)
    revision: int = 0
    saved_at: str = ""


def _spelling(key: str) -> str:
    """A key with the two tone-mark placements of `hoá` made one (the real files use both)."""
    return unicodedata.normalize("NFC", key).replace("hóa", "hoá").replace("Hóa", "Hoá")


def _text(value: Any, what: str, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ReviewError(f"{what} must be text, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise ReviewError(f"{what} is longer than {MAX_TEXT} characters")
    if not empty and not value.strip():
        raise ReviewError(f"{what} is empty")
    return value


def _fields(obj: dict, known: dict[str, str], where: str) -> dict[str, Any]:
    """`obj`'s values by canonical key; unknown keys and one field given in both spellings are refused."""
    canonical = {_spelling(k): k for k in known}
    found: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or _spelling(key) not in canonical:
            raise ReviewError(f"{where}: unknown field {key!r} (expected the expert fields {', '.join(map(repr, known))})")
        name = canonical[_spelling(key)]
        if name in found:
            raise ReviewError(f"{where}: field {name!r} ({known[name]}) given twice (both hoá and hóa spellings)")
        found[name] = value
    return found


def check_lesion(lesion: Any, number: int) -> None:
    """Refuse a lesion that is not in the six-field expert format, naming the lesion and the field.

    Keys must be the expert keys (either `hoá`/`hóa` spelling, any order); text fields must be text;
    SUVmax a finite number >= 0 or a text such as "Không có" or "7,4" (both occur in the official
    files); invasion and judgement may be absent (see OPTIONAL_FIELDS), every other field is required.
    """
    where = f"lesion {number}"
    if not isinstance(lesion, dict):
        raise ReviewError(f"{where} must be an object with the six expert fields, got {type(lesion).__name__}")
    found = _fields(lesion, LESION_FIELDS, where)
    for key, role in LESION_FIELDS.items():
        if key not in found:
            if key in OPTIONAL_FIELDS:
                continue
            raise ReviewError(f"{where}: missing field {key!r} ({role})")
        if key != FDG_KEY:
            _text(found[key], f"{where}: field {key!r} ({role})")
    fdg = found[FDG_KEY]
    if not isinstance(fdg, dict):
        raise ReviewError(f"{where}: field {FDG_KEY!r} must be an object with {SUVMAX_KEY!r} and {UPTAKE_KEY!r}")
    fdg_found = _fields(fdg, FDG_FIELDS, f"{where}, {FDG_KEY!r}")
    for key, role in FDG_FIELDS.items():
        if key not in fdg_found:
            raise ReviewError(f"{where}: missing field {FDG_KEY!r}.{key!r} ({role})")
    suv = fdg_found[SUVMAX_KEY]
    if isinstance(suv, bool) or not isinstance(suv, (int, float, str)):
        raise ReviewError(f"{where}: SUVmax must be a number or a text such as 'Không có', got {type(suv).__name__}")
    if isinstance(suv, (int, float)) and not (math.isfinite(suv) and suv >= 0):
        raise ReviewError(f"{where}: SUVmax must be a finite number >= 0, got {suv!r}")
    if isinstance(suv, str):
        _text(suv, f"{where}: SUVmax")
    _text(fdg_found[UPTAKE_KEY], f"{where}: field {UPTAKE_KEY!r} (FDG uptake)")


def check_lesions(lesions: Any) -> None:
    """Refuse a lesion list that is not a list of expert-format lesions (`check_lesion`)."""
    if not isinstance(lesions, list):
        raise ReviewError(f"lesions must be a list of expert-format objects, got {type(lesions).__name__}")
    if len(lesions) > MAX_LESIONS:
        raise ReviewError(f"{len(lesions)} lesions in one review; at most {MAX_LESIONS}")
    for number, lesion in enumerate(lesions, start=1):
        check_lesion(lesion, number)


def check_sentence(label: SentenceLabel) -> None:
    """Refuse a bad sentence label: unknown label, missing/unknown category, category on a correct sentence."""
    if isinstance(label.index, bool) or not isinstance(label.index, int) or label.index < 0:
        raise ReviewError(f"sentence index must be an integer >= 0, got {label.index!r}")
    where = f"sentence {label.index}"
    _text(label.sentence, f"{where}: text")
    if label.label not in LABELS:
        raise ReviewError(f"{where}: unknown label {label.label!r} (expected one of {', '.join(LABELS)})")
    if label.label == "correct":
        if label.category is not None:
            raise ReviewError(f"{where}: a correct sentence takes no error category, got {label.category!r}")
    elif label.category not in ERROR_CATEGORIES:
        what = "needs an error category" if label.category is None else f"has unknown error category {label.category!r}"
        raise ReviewError(f"{where}: a {label.label!r} error {what} (one of {', '.join(ERROR_CATEGORIES)})")


def check_review(review: Review) -> None:
    """Refuse a review with bad lesions or sentence labels (the item and reviewer are checked by `save`)."""
    if not isinstance(review, Review):
        raise ReviewError(f"expected a Review, got {type(review).__name__}")
    _text(review.item_id, "item_id", empty=False)
    _text(review.reviewer, "reviewer", empty=False)
    check_lesions(review.lesions)
    if not isinstance(review.sentences, list):
        raise ReviewError(f"sentences must be a list of SentenceLabel, got {type(review.sentences).__name__}")
    if len(review.sentences) > MAX_SENTENCES:
        raise ReviewError(f"{len(review.sentences)} sentence labels in one review; at most {MAX_SENTENCES}")
    seen: set[int] = set()
    for label in review.sentences:
        if not isinstance(label, SentenceLabel):
            raise ReviewError(f"sentences must be SentenceLabel objects, got {type(label).__name__}")
        check_sentence(label)
        if label.index in seen:
            raise ReviewError(f"sentence {label.index} labelled twice in one review")
        seen.add(label.index)


def check_name(name: Any, what: str = "reviewer name") -> str:
    """A reviewer name: non-empty text without control characters, at most 100 characters."""
    if not isinstance(name, str) or not name.strip():
        raise ReviewError(f"{what} must be non-empty text, got {name!r}")
    if len(name) > 100 or any(unicodedata.category(c).startswith("C") for c in name):
        raise ReviewError(f"{what} {name!r} is longer than 100 characters or holds control characters")
    return name


_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviewers (
    name TEXT PRIMARY KEY,
    password_hash TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL UNIQUE,
    study TEXT NOT NULL,
    report TEXT NOT NULL,
    reference TEXT,
    model TEXT
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL REFERENCES items(item_id),
    reviewer TEXT NOT NULL REFERENCES reviewers(name),
    revision INTEGER NOT NULL CHECK (revision >= 1),
    saved_at TEXT NOT NULL,
    lesions TEXT NOT NULL,
    UNIQUE (item_id, reviewer, revision)
);
CREATE TABLE IF NOT EXISTS sentence_labels (
    review_id INTEGER NOT NULL REFERENCES reviews(id),
    idx INTEGER NOT NULL CHECK (idx >= 0),
    sentence TEXT NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('correct', 'significant', 'insignificant')),
    category TEXT CHECK ((label = 'correct') = (category IS NULL)),
    PRIMARY KEY (review_id, idx)
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class ReviewStore:
    """The review database at `db_path` (created with its schema when absent)."""

    def __init__(self, db_path: str | Path):
        self.path = Path(db_path)
        if self.path.is_dir():
            raise ReviewError("review database path is a folder", self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Switching a new file to WAL can answer "locked" at once, without waiting on busy_timeout,
        # while another process creates the same file: retry until the timeout instead.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._create_schema()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise ReviewError(f"review database error ({exc})", self.path) from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                raise ReviewError(f"review database error ({exc})", self.path) from None

    def _create_schema(self) -> None:
        """WAL mode, the tables and the schema version, refusing a database written by a newer vipet."""
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ReviewError(f"review database has schema version {version}; this vipet reads {SCHEMA_VERSION}", self.path)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ReviewError(f"cannot switch the review database to WAL mode (got {mode!r})", self.path)
            conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        finally:
            conn.close()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A short connection in autocommit mode (transactions are explicit); closed on exit.

        A file that is not a SQLite database (or is locked past the timeout) is a ReviewError naming it.
        """
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise ReviewError(f"cannot open the review database ({exc})", self.path) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
            if conn.in_transaction:
                conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise ReviewError(f"review database error ({exc})", self.path) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    # reviewers

    def add_reviewer(self, name: str, password_hash: str | None = None) -> dict:
        """Add a reviewer; adding an existing one again is a no-op, but never replaces a password hash.

        A name that exists with another (or no) hash is refused: re-adding must not let anyone set a
        new password on someone else's name. Returns the reviewer as `reviewer()` does.
        """
        check_name(name)
        if password_hash is not None:
            _text(password_hash, "password hash", empty=False)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT password_hash FROM reviewers WHERE name = ?", (name,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO reviewers (name, password_hash, created_at) VALUES (?, ?, ?)",
                             (name, password_hash, _now()))
            elif password_hash is not None and row[0] != password_hash:
                raise ReviewError(f"reviewer {name!r} already exists with another password; refused", self.path)
        return {"name": name, "password_hash": password_hash if row is None else row[0]}

    def reviewer(self, name: str) -> dict | None:
        """`{"name", "password_hash"}` of a reviewer, or None when there is none of that name."""
        with self._connect() as conn:
            row = conn.execute("SELECT name, password_hash FROM reviewers WHERE name = ?", (name,)).fetchone()
        return None if row is None else {"name": row[0], "password_hash": row[1]}

    def reviewers(self) -> list[str]:
        """Every reviewer name, sorted."""
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM reviewers ORDER BY name")]

    # items

    def add_items(self, items: list[WorkItem]) -> int:
        """Add work items (in order); return how many were new.

        An item_id already present with the same content is skipped. With other content it is
        refused: reviews of the old report would otherwise silently describe a report they never saw.
        """
        items = list(items)
        for item in items:
            if not isinstance(item, WorkItem):
                raise ReviewError(f"expected WorkItem objects, got {type(item).__name__}")
            _text(item.item_id, "item_id", empty=False)
            _text(item.study, f"item {item.item_id!r}: study", empty=False)
            _text(item.report, f"item {item.item_id!r}: report")
            for what, value in (("reference", item.reference), ("model", item.model)):
                if value is not None:
                    _text(value, f"item {item.item_id!r}: {what}")
        added = 0
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            for item in items:
                row = conn.execute("SELECT item_id, study, report, reference, model FROM items WHERE item_id = ?",
                                   (item.item_id,)).fetchone()
                if row is None:
                    conn.execute("INSERT INTO items (item_id, study, report, reference, model) VALUES (?, ?, ?, ?, ?)",
                                 (item.item_id, item.study, item.report, item.reference, item.model))
                    added += 1
                elif WorkItem(*row) != item:
                    raise ReviewError(f"item {item.item_id!r} already exists with another study, report, reference "
                                      "or model; give the new one another item_id", self.path)
        return added

    def items(self) -> list[WorkItem]:
        """Every work item, in the order they were added."""
        with self._connect() as conn:
            rows = conn.execute("SELECT item_id, study, report, reference, model FROM items ORDER BY position").fetchall()
        return [WorkItem(*row) for row in rows]

    def item(self, item_id: str) -> WorkItem:
        """One work item; an unknown id is a ReviewError."""
        with self._connect() as conn:
            self._require_item(conn, item_id)
            row = conn.execute("SELECT item_id, study, report, reference, model FROM items WHERE item_id = ?",
                               (item_id,)).fetchone()
        return WorkItem(*row)

    # reviews

    def worklist(self, reviewer: str) -> list[tuple[WorkItem, Review | None]]:
        """Every item, in order, with this reviewer's latest review of it (None when not reviewed yet)."""
        with self._connect() as conn:
            self._require_reviewer(conn, reviewer)
            rows = conn.execute(
                "SELECT i.item_id, i.study, i.report, i.reference, i.model, r.id FROM items i "
                "LEFT JOIN reviews r ON r.item_id = i.item_id AND r.reviewer = ? AND r.revision = "
                "(SELECT MAX(revision) FROM reviews WHERE item_id = i.item_id AND reviewer = ?) "
                "ORDER BY i.position", (reviewer, reviewer)).fetchall()
            reviews = self._load(conn, [row[5] for row in rows if row[5] is not None])
        return [(WorkItem(*row[:5]), reviews.get(row[5])) for row in rows]

    def save(self, review: Review, expect_revision: int | None = None) -> Review:
        """Store `review` as the next revision of (item, reviewer) in one transaction; return it as stored.

        The given `revision` and `saved_at` are ignored: the revision is previous + 1 and the time is
        now (UTC). With `expect_revision` (the revision the editor started from), a save made on top of
        a newer revision (another tab, another session of the same reviewer) is refused instead of
        silently replacing it.
        """
        check_review(review)
        lesions_json = json.dumps(review.lesions, ensure_ascii=False, allow_nan=False)
        sentences = sorted(review.sentences, key=lambda s: s.index)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._require_item(conn, review.item_id)
            self._require_reviewer(conn, review.reviewer)
            previous = conn.execute("SELECT COALESCE(MAX(revision), 0) FROM reviews WHERE item_id = ? AND reviewer = ?",
                                    (review.item_id, review.reviewer)).fetchone()[0]
            if expect_revision is not None and expect_revision != previous:
                raise ReviewError(f"item {review.item_id!r}: {review.reviewer!r} saved revision {previous} meanwhile "
                                  f"(this edit started from revision {expect_revision}); reload and save again", self.path)
            saved_at = _now()
            cursor = conn.execute(
                "INSERT INTO reviews (item_id, reviewer, revision, saved_at, lesions) VALUES (?, ?, ?, ?, ?)",
                (review.item_id, review.reviewer, previous + 1, saved_at, lesions_json))
            conn.executemany("INSERT INTO sentence_labels (review_id, idx, sentence, label, category) VALUES (?, ?, ?, ?, ?)",
                             [(cursor.lastrowid, s.index, s.sentence, s.label, s.category) for s in sentences])
        return Review(review.item_id, review.reviewer, json.loads(lesions_json), sentences, previous + 1, saved_at)

    def latest(self, item_id: str, reviewer: str) -> Review | None:
        """The reviewer's current review of the item (its highest revision), None when there is none."""
        history = self.history(item_id, reviewer, last_only=True)
        return history[-1] if history else None

    def history(self, item_id: str, reviewer: str, last_only: bool = False) -> list[Review]:
        """Every revision the reviewer saved of the item, oldest first (the edit history)."""
        with self._connect() as conn:
            self._require_item(conn, item_id)
            self._require_reviewer(conn, reviewer)
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM reviews WHERE item_id = ? AND reviewer = ? ORDER BY revision", (item_id, reviewer))]
            if last_only:
                ids = ids[-1:]
            reviews = self._load(conn, ids)
        return [reviews[i] for i in ids]

    def latest_reviews(self, reviewer: str | None = None) -> list[tuple[WorkItem, Review]]:
        """(item, latest review) of every reviewed item, for one reviewer or all, items in order then reviewer."""
        with self._connect() as conn:
            if reviewer is not None:
                self._require_reviewer(conn, reviewer)
            rows = conn.execute(
                "SELECT i.item_id, i.study, i.report, i.reference, i.model, r.id FROM reviews r "
                "JOIN items i ON i.item_id = r.item_id "
                "WHERE (? IS NULL OR r.reviewer = ?) AND r.revision = "
                "(SELECT MAX(revision) FROM reviews WHERE item_id = r.item_id AND reviewer = r.reviewer) "
                "ORDER BY i.position, r.reviewer", (reviewer, reviewer)).fetchall()
            reviews = self._load(conn, [row[5] for row in rows])
        return [(WorkItem(*row[:5]), reviews[row[5]]) for row in rows]

    def _load(self, conn: sqlite3.Connection, review_ids: list[int]) -> dict[int, Review]:
        """Reviews by database id, with their sentence labels in index order."""
        out: dict[int, Review] = {}
        for start in range(0, len(review_ids), 500):
            chunk = review_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            labels: dict[int, list[SentenceLabel]] = {i: [] for i in chunk}
            for rid, idx, sentence, label, category in conn.execute(
                f"SELECT review_id, idx, sentence, label, category FROM sentence_labels WHERE review_id IN ({marks}) "
                "ORDER BY review_id, idx", chunk):
                labels[rid].append(SentenceLabel(idx, sentence, label, category))
            for rid, item_id, reviewer, revision, saved_at, lesions in conn.execute(
                f"SELECT id, item_id, reviewer, revision, saved_at, lesions FROM reviews WHERE id IN ({marks})", chunk):
                out[rid] = Review(item_id, reviewer, json.loads(lesions), labels[rid], revision, saved_at)
        return out

    def _require_item(self, conn: sqlite3.Connection, item_id: str) -> None:
        if conn.execute("SELECT 1 FROM items WHERE item_id = ?", (item_id,)).fetchone() is None:
            raise ReviewError(f"unknown item {item_id!r}", self.path)

    def _require_reviewer(self, conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM reviewers WHERE name = ?", (name,)).fetchone() is None:
            raise ReviewError(f"unknown reviewer {name!r}", self.path)
