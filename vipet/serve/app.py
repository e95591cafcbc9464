"""The reading-room web app: study list, viewer, draft and ask; review screens in `review_routes`.

FastAPI with server-rendered Jinja2 pages and a little vanilla JavaScript, every asset served
from this package (`static/`), so the app works with no network and passes a strict Content
Security Policy (no inline script, nothing from another origin). State-changing requests are
POSTs that need a session and its CSRF token (`security`); GET requests never change anything.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from vipet.errors import VipetError
from vipet.serve import images
from vipet.serve.jobs import Jobs
from vipet.serve.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_FILES,
    SESSION_COOKIE,
    Session,
    Sessions,
    check_upload_size,
    csrf_ok,
)
from vipet.serve.sources import Catalog

PACKAGE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@dataclass
class ServeConfig:
    """Everything `vipet serve` was told; the app holds one."""

    data: str
    db: Path
    model: str | None = None
    work: Path | None = None  # private cache of raw studies and uploads (default: a temporary folder)
    export_dir: Path | None = None  # expert JSON and sentence CSV exports (default: beside the DB)
    password_hash: str | None = None
    pet_unit: str | None = None
    allowed_hosts: list[str] = field(default_factory=lambda: ["127.0.0.1", "localhost", "testserver"])
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_upload_files: int = MAX_UPLOAD_FILES


class ServeState:
    """What the request handlers share: the catalog, the model, sessions, jobs and the review store."""

    def __init__(self, config: ServeConfig):
        from vipet.review.store import ReviewStore

        self.config = config
        self.work = Path(config.work) if config.work else Path(tempfile.mkdtemp(prefix="vipet-serve-"))
        self.catalog = Catalog(config.data, self.work / "studies", pet_unit=config.pet_unit)
        self.drafter = None
        if config.model:
            from vipet.serve.drafting import Drafter

            self.drafter = Drafter(config.model, self.catalog)
        self.sessions = Sessions()
        self.jobs = Jobs()
        self.store = ReviewStore(config.db)
        self.export_dir = Path(config.export_dir) if config.export_dir else Path(config.db).resolve().parent / "review_export"
        self.drafts: dict[str, dict[str, Any]] = {}  # study key -> last draft (text, model)


def create_app(config: ServeConfig):
    """The ASGI app (run it with uvicorn; the tests drive it with a real server and a browser)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, RedirectResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    state = ServeState(config)
    app = FastAPI(title="vipet reading room", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serve = state
    templates = Jinja2Templates(directory=str(PACKAGE / "templates"))
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.allowed_hosts)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        """Session cookie for every visitor, sign-in when a password is set, CSRF on every POST."""
        session = state.sessions.get(request.cookies.get(SESSION_COOKIE))
        fresh = session is None
        if fresh:
            session = state.sessions.new()
        request.state.session = session
        path = request.url.path
        public = path.startswith("/static/") or path == "/login"
        if config.password_hash and not public and session.reviewer is None:
            if request.method == "GET" and not path.startswith("/api/"):
                response = RedirectResponse("/login", status_code=303)
            else:
                response = JSONResponse({"error": "sign in first"}, status_code=403)
        elif request.method not in ("GET", "HEAD") and not await _csrf_presented(request, session):
            response = JSONResponse({"error": "missing or wrong CSRF token (reload the page)"}, status_code=403)
        else:
            response = await call_next(request)
        if fresh:
            response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="strict", path="/")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    async def _csrf_presented(request: Request, session: Session) -> bool:
        if csrf_ok(session, request.headers.get(CSRF_HEADER)):
            return True
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/x-www-form-urlencoded"):  # plain forms (sign in, sign out)
            from urllib.parse import parse_qs

            body = await request.body()  # starlette replays the read body to the endpoint
            if len(body) > 64 * 1024:
                return False
            return csrf_ok(session, (parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD) or [None])[0])
        return False

    def page(request: Request, name: str, **context: Any):
        session: Session = request.state.session
        return templates.TemplateResponse(request, name, {"session": session, "csrf": session.csrf,
                                                          "model": state.drafter.name if state.drafter else None,
                                                          "password": bool(config.password_hash), **context})

    def error(message: str, status: int = 400):
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(VipetError)
    async def vipet_error(request: Request, exc: VipetError):
        return error(str(exc), 400)

    @app.get("/")
    def index():
        return RedirectResponse("/studies", status_code=303)

    @app.get("/studies")
    def studies(request: Request, q: str = "", year: str = "", split: str = "", finding: str = ""):
        from vipet.reports.categories import TYPE_CATEGORIES

        entries = state.catalog.search(q, year, split, finding)
        return page(request, "studies.html", entries=entries, q=q, year=year, split=split, finding=finding,
                    years=state.catalog.years(), splits=state.catalog.splits(), findings=list(TYPE_CATEGORIES),
                    catalog=state.catalog)

    @app.get("/study/{key}")
    def viewer(request: Request, key: str):
        from vipet.reports.parse import parse_report
        from vipet.serve.drafting import suggested_questions

        entry = state.catalog.entry(key)
        report = parse_report(entry.report_text) if entry.report_text.strip() else None
        return page(request, "viewer.html", entry=entry, report=report, opened=state.catalog.is_open(key),
                    windows=images.WINDOW_PRESETS, planes=images.PLANES,
                    questions=suggested_questions(entry.report_text) if state.drafter and "vqa" in state.drafter.tasks else [],
                    draft=state.drafts.get(key))

    @app.post("/api/study/{key}/open")
    def open_study(key: str):
        state.catalog.entry(key)
        job = state.jobs.start("open", lambda progress: (state.catalog.open(key, progress), None)[1])
        return {"job": job.id}

    @app.get("/api/jobs/{job_id}")
    def job_state(job_id: str):
        job = state.jobs.get(job_id)
        return job.to_json() if job else error("no such job", 404)

    def opened(key: str):
        state.catalog.entry(key)
        if not state.catalog.is_open(key) and state.catalog.entry(key).ref is not None:
            raise VipetError(f"study {key} is not open yet (POST /api/study/{key}/open)")
        return state.catalog.open(key)

    @app.get("/api/study/{key}/info")
    def study_info(key: str):
        volumes = opened(key)
        return {"key": key, "shape": list(volumes.ct_hu.shape), "spacing_mm": list(volumes.spacing),
                "pet_unit": volumes.pet_unit, "is_suv": volumes.pet_unit == "SUVbw", "regions": volumes.regions,
                "planes": {plane: images.plane_size(volumes, plane) for plane in images.PLANES}}

    @app.get("/api/study/{key}/mip.png")
    def mip(key: str):
        return Response(images.mip_png(opened(key)), media_type="image/png")

    @app.get("/api/study/{key}/plane/{plane}/{index}.png")
    def plane(key: str, plane: str, index: int, window: str = "soft_tissue"):
        return Response(images.plane_png(opened(key), plane, index, window), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/study/{key}/value")
    def value(key: str, z: int, y: int, x: int):
        return images.value_at(opened(key), z, y, x)

    @app.post("/api/study/{key}/draft")
    def draft(key: str):
        if state.drafter is None:
            return error("no model: start the server with --model template|retrieval|RUN")
        state.catalog.entry(key)

        def work(progress):
            from vipet.serve.drafting import compare_lesions

            text = state.drafter.draft(key, progress)
            reference = state.catalog.entry(key).report_text
            state.drafts[key] = {"text": text, "model": state.drafter.name}
            compared = compare_lesions(text, reference)
            html = templates.get_template("draft_result.html").render(compared=compared, draft=text,
                                                                      model=state.drafter.name)
            return {"text": text, "html": html}

        return {"job": state.jobs.start("draft", work).id}

    @app.post("/api/study/{key}/ask")
    async def ask(request: Request, key: str):
        if state.drafter is None:
            return error("no model: start the server with --model")
        body = await request.json()
        question = str(body.get("question") or "").strip()
        if not question or len(question) > 1000:
            return error("ask a question of 1 to 1000 characters")
        answer = state.drafter.answer(key, question)
        return {"question": question, "answer": answer, "model": state.drafter.answer_model}

    @app.post("/upload")
    async def upload(request: Request):
        """A small DICOM series or NIfTI pair, within the size and file-count limits, becomes a study."""
        from vipet.fsutil import safe_name

        refusal = check_upload_size(request.headers.get("content-length"), config.max_upload_bytes)
        if refusal:
            return error(refusal, 413)
        try:
            form = await request.form(max_files=config.max_upload_files, max_fields=20)
        except Exception as exc:  # starlette's MultiPartException: too many files or fields
            return error(f"upload refused: {exc} (at most {config.max_upload_files} files per upload)", 413)
        if not csrf_ok(request.state.session, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)):
            return error("missing or wrong CSRF token", 403)
        files = [f for f in form.getlist("files") if hasattr(f, "filename")]
        if not files:
            return error("upload refused: no files")
        folder = state.work / "uploads" / safe_name(str(form.get("name") or "upload"))
        if folder.exists():
            return error(f"upload refused: an upload named {folder.name!r} exists; choose another name", 409)
        folder.mkdir(parents=True)
        from vipet.fsutil import atomic_write_bytes

        for number, item in enumerate(files):
            name = safe_name(Path(item.filename or f"file_{number}").name, fallback=f"file_{number}")
            atomic_write_bytes(folder / name, await item.read(), root=folder)
        entry = state.catalog.add_folder(folder)
        return {"saved": len(files), "folder": folder.name, "key": entry.key, "url": f"/study/{entry.key}"}

    from vipet.serve.review_routes import add_review_routes

    add_review_routes(app, state, page, error)
    return app
