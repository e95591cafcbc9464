"""The expert-review screens: sign in by name, worklist, lesion table and sentence labels, export, agreement.

Storage, validation, export and agreement are `vipet.review` (one SQLite file in WAL mode, every
save a new revision); these handlers only turn forms into `Review` objects and back. A reviewer
is whoever signed in to this session (name, plus the server password when one is set); the name
in a saved review always comes from the session, never from the request body.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from fastapi import Request

from vipet.errors import UnsafePathError, VipetError
from vipet.fsutil import safe_name
from vipet.schema import ABSENT, Lesion
from vipet.serve.security import SESSION_COOKIE, resolve_inside, verify_password

# The lesion table's columns: (field of vipet.schema.Lesion, title shown); the 6-field expert format.
LESION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("size", "size"), ("type", "type / appearance"), ("location", "location"), ("suv_max", "SUVmax"),
    ("uptake", "FDG uptake"), ("invasion", "invasion"), ("stage", "judgement"),
)


def parse_suv(text: str) -> float | int | str:
    """SUVmax as the expert files hold it: a number (decimal comma accepted), else the text as written.

    The official files hold numbers (40, 4.78) and texts ("Không có", "Không có giá trị xác định");
    a number is stored as a number, so the clinical metric and SUV comparisons can read it.
    """
    value = str(text).strip()
    if not value:
        return ABSENT
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        return str(text)
    if number != number or number in (float("inf"), float("-inf")):
        return str(text)
    return int(number) if number.is_integer() and "." not in value and "," not in value else number


def lesion_from_row(row: list[Any]) -> dict[str, Any]:
    """One table row (7 cells in LESION_COLUMNS order) as an expert-format lesion dict."""
    if not isinstance(row, list) or len(row) != len(LESION_COLUMNS):
        raise VipetError(f"a lesion row needs {len(LESION_COLUMNS)} cells, got {row!r}")
    cells = {name: (str(cell) if str(cell).strip() else ABSENT) for (name, _), cell in zip(LESION_COLUMNS, row)}
    lesion = Lesion(**{k: v for k, v in cells.items() if k != "suv_max"}).to_expert()
    from vipet.schema import FDG_KEY, SUVMAX_KEY

    lesion[FDG_KEY][SUVMAX_KEY] = parse_suv(cells["suv_max"])
    return lesion


def row_from_lesion(lesion: dict[str, Any]) -> list[str]:
    """An expert-format lesion as the 7 cells of the table (SUVmax shown as written)."""
    from vipet.schema import FDG_KEY, SUVMAX_KEY

    parsed = Lesion.from_expert(lesion)
    fdg = {k.replace("hóa", "hoá"): v for k, v in (lesion.get(FDG_KEY) or {}).items()} if isinstance(lesion.get(FDG_KEY), dict) else {}
    suv = fdg.get(SUVMAX_KEY, ABSENT)
    return [parsed.size, parsed.type, parsed.location, str(suv), parsed.uptake, parsed.invasion, parsed.stage]


def add_review_routes(app, state, page: Callable[..., Any], error: Callable[..., Any]) -> None:
    from fastapi.responses import FileResponse, RedirectResponse

    from vipet.review.store import CATEGORY_TITLES, ERROR_CATEGORIES, LABEL_TITLES, LABELS, Review, SentenceLabel, WorkItem

    config = state.config

    def reviewer_of(request: Request) -> str | None:
        return request.state.session.reviewer

    @app.get("/login")
    def login_page(request: Request, problem: str = ""):
        return page(request, "login.html", problem=problem)

    @app.post("/login")
    async def login(request: Request):
        form = await request.form()
        name = str(form.get("name") or "").strip()
        if config.password_hash and not verify_password(str(form.get("password") or ""), config.password_hash):
            return RedirectResponse("/login?problem=wrong+name+or+password", status_code=303)
        try:
            state.store.add_reviewer(name)
        except VipetError as exc:
            from urllib.parse import quote

            return RedirectResponse(f"/login?problem={quote(str(exc))}", status_code=303)
        old = request.state.session
        state.sessions.drop(old.token)  # a new token at sign-in: a planted cookie cannot ride along
        session = state.sessions.new()
        session.reviewer = name
        response = RedirectResponse("/review", status_code=303)
        response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="strict", path="/")
        return response

    @app.post("/logout")
    def logout(request: Request):
        state.sessions.drop(request.state.session.token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/review")
    def worklist(request: Request):
        reviewer = reviewer_of(request)
        if reviewer is None:
            return RedirectResponse("/login", status_code=303)
        return page(request, "worklist.html", rows=state.store.worklist(reviewer), reviewer=reviewer)

    @app.get("/review/item/{item_id}")
    def review_item(request: Request, item_id: str):
        from vipet.reports.extract import extract_lesions
        from vipet.reports.segment import split_sentences

        reviewer = reviewer_of(request)
        if reviewer is None:
            return RedirectResponse("/login", status_code=303)
        item = state.store.item(item_id)
        latest = state.store.latest(item_id, reviewer)
        if latest is not None:
            rows = [row_from_lesion(lesion) for lesion in latest.lesions]
        else:  # start from what the reference report states (thorax scope, the expert set's)
            rows = [row_from_lesion(l.to_expert()) for l in extract_lesions(item.reference or "", scope="thorax")]
        labels = {s.index: s for s in (latest.sentences if latest else [])}
        sentences = [(i, s, labels.get(i)) for i, s in enumerate(split_sentences(item.report))]
        history = state.store.history(item_id, reviewer)
        return page(request, "review_item.html", item=item, rows=rows, columns=LESION_COLUMNS, sentences=sentences,
                    labels=LABELS, label_titles=LABEL_TITLES, categories=ERROR_CATEGORIES,
                    category_titles=CATEGORY_TITLES, revision=latest.revision if latest else 0, history=history,
                    reviewer=reviewer, in_catalog=item.study in state.catalog.entries)

    @app.post("/api/review/{item_id}")
    async def save_review(request: Request, item_id: str):
        reviewer = reviewer_of(request)
        if reviewer is None:
            return error("sign in first", 403)
        body = await request.json()
        item = state.store.item(item_id)
        from vipet.reports.segment import split_sentences

        sentences = split_sentences(item.report)
        labels = []
        for entry in body.get("sentences") or []:
            index = int(entry.get("index"))
            if not 0 <= index < len(sentences):
                return error(f"sentence {index} is not in this report")
            if not entry.get("label"):
                continue  # not labelled yet
            category = entry.get("category") or None
            labels.append(SentenceLabel(index, sentences[index], str(entry["label"]),
                                        None if entry["label"] == "correct" else category))
        lesions = [lesion_from_row(row) for row in body.get("lesions") or []]
        expect = body.get("expect_revision")
        saved = state.store.save(Review(item_id, reviewer, lesions, labels),
                                 expect_revision=int(expect) if expect is not None else None)
        return {"revision": saved.revision, "saved_at": saved.saved_at, "lesions": len(lesions), "labels": len(labels)}

    @app.post("/api/study/{key}/to-review")
    def to_review(request: Request, key: str):
        if reviewer_of(request) is None:
            return error("sign in first (Review, top right) to add a draft to the worklist", 403)
        draft = state.drafts.get(key)
        if draft is None:
            return error("draft this study first")
        digest = hashlib.sha1(draft["text"].encode("utf-8")).hexdigest()[:8]
        item_id = f"{key}:{safe_name(draft['model'])}:{digest}"
        state.store.add_items([WorkItem(item_id, key, draft["text"], state.catalog.entry(key).report_text, draft["model"])])
        return {"item_id": item_id, "url": f"/review/item/{item_id}"}

    @app.post("/api/review-export")
    def export(request: Request):
        from vipet.review.export import export_expert, export_sentence_labels

        reviewer = reviewer_of(request)
        if reviewer is None:
            return error("sign in first", 403)
        problems: list[str] = []
        folder = state.export_dir / safe_name(reviewer) / "expert"
        written = export_expert(state.store, folder, reviewer, on_problem=problems.append)
        csv_path = export_sentence_labels(state.store, state.export_dir / "sentence_labels.csv")
        base = state.export_dir.resolve()
        files = [p.resolve().relative_to(base).as_posix() for p in [*written, csv_path]]
        return {"files": files, "folder": str(folder), "problems": problems}

    @app.get("/review/exports/{name:path}")
    def download(request: Request, name: str):
        if reviewer_of(request) is None:
            return error("sign in first", 403)
        try:
            target = resolve_inside(state.export_dir, name)
        except UnsafePathError:  # the reason names server folders: keep it off the page
            return error("refused: not a file of the export folder", 403)
        return FileResponse(target)

    @app.get("/review/agreement")
    def agreement_page(request: Request):
        from vipet.review.agreement import agreement

        return page(request, "agreement.html", result=agreement(state.store), reviewer=reviewer_of(request))
