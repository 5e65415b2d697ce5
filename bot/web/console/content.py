"""Content pages: directory, responsibility matrix, calendar overrides, policies, eldercare,
QR posters and the audit log. Read-only lists except calendar overrides, poster generation
and policy edits (see docs/console.md).

Policies: everybody signed in reads a policy's page (both languages side by side and its
revision history); community officers, street and system administrators edit it and mark it
verified. Each save is a revision in the database over the YAML file
(`governance.policies.revisions`); the bot's workers pick it up at their next policy question.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.posters.render import PosterFontError
from bot.posters.service import poster_basename, render_posters
from bot.web.console.cases import name_in
from bot.web.console.core import PREFIX, ConsoleCore, Viewer, query_url
from bot.web.console.i18n import MissingText, Texts
from bot.wechat.api_client import WeChatApiError
from governance.bookings.models import (
    ACTIVE_STATUSES,
    Booking,
    EldercareService,
    Provider,
    ProviderService,
    SlotUsage,
)
from governance.calendar import CalendarOverride, remove_override, set_override
from governance.clock import LOCAL_TZ
from governance.console import audit
from governance.console.models import ConsoleRole
from governance.directory.models import Community, Grid, GridPoint, Staff
from governance.petitions.service import mask_phone
from governance.policies.catalog import (
    LANGUAGES,
    LIST_FIELDS,
    TEXT_FIELDS,
    Policy,
    PolicyCatalog,
    PolicyProblem,
)
from governance.policies.models import PolicyRevision, UnansweredQuestion
from governance.policies.revisions import (
    EditRejected,
    Unchanged,
    current_policy,
    history,
    mark_verified,
    save_edit,
)
from nlu.parsed import CATEGORIES

AUDIT_PER_PAGE = 50
UPCOMING_DAYS = 14
POSTER_KINDS = {"png": "image/png", "pdf": "application/pdf"}
CALENDAR_EDITORS = {ConsoleRole.STREET_ADMIN, ConsoleRole.SYSTEM_ADMIN}
"""Holidays apply to a whole prefecture: above one community's officer."""
SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
POLICY_EDITORS = {
    ConsoleRole.COMMUNITY_OFFICER,
    ConsoleRole.STREET_ADMIN,
    ConsoleRole.SYSTEM_ADMIN,
}
"""Who edits and verifies policies; grid workers read them."""
POLICY_LINE_FIELDS: tuple[str, ...] = (*(str(f) for f in LIST_FIELDS), "keywords")
"""Edited as one entry per line."""
POLICY_FORM_FIELDS: tuple[str, ...] = (*(str(f) for f in TEXT_FIELDS), *POLICY_LINE_FIELDS)
MAX_POLICY_FIELD_CHARS = 4000
MAX_POLICY_NOTE_CHARS = 500


class ContentPages:
    def __init__(self, core: ConsoleCore) -> None:
        self.core = core
        self._policies = core.deps.policies
        """Staff's newest revisions over the YAML seed (the bot's own ``LiveCatalog``)."""

    async def _directory(
        self, viewer: Viewer
    ) -> tuple[list[Community], list[Grid], list[GridPoint], list[Staff]]:
        scope = viewer.scope
        async with self.core.sessions() as session:
            communities = [
                c
                for c in (await session.scalars(select(Community).order_by(Community.id))).all()
                if scope.allows_community(c.id)
            ]
            grids = [
                g
                for g in (await session.scalars(select(Grid).order_by(Grid.id))).all()
                if g.id in scope.grid_ids
            ]
            points = list(
                (
                    await session.scalars(
                        select(GridPoint)
                        .where(GridPoint.grid_id.in_([g.id for g in grids]))
                        .order_by(GridPoint.id)
                    )
                ).all()
            )
            staff = [
                s
                for s in (
                    await session.scalars(
                        select(Staff)
                        .where(Staff.community_id.in_([c.id for c in communities]))
                        .order_by(Staff.id)
                    )
                ).all()
                if s.grid_id is None or s.grid_id in scope.grid_ids
            ]
        return communities, grids, points, staff

    async def directory(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        communities, grids, points, staff = await self._directory(viewer)
        lang = viewer.lang
        return self.core.render(
            request,
            "directory.html",
            viewer=viewer,
            communities=[
                {"id": c.id, "name": name_in(lang, c), "hotline": c.hotline} for c in communities
            ],
            grids=[
                {
                    "id": g.id,
                    "name": name_in(lang, g),
                    "points": [
                        {"id": p.id, "name": name_in(lang, p)} for p in points if p.grid_id == g.id
                    ],
                }
                for g in grids
            ],
            staff=[
                {
                    "id": s.id,
                    "name": name_in(lang, s),
                    "role": viewer.t.get(f"role_{s.role}", s.role),
                    "grid": s.grid_id or "",
                    "phone": s.phone,
                    "hours": s.duty_hours,
                    "active": s.active,
                }
                for s in staff
            ],
        )

    async def responsibility(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        t, lang = viewer.t, viewer.lang
        matrix = self.core.deps.matrix
        _, grids, _, _ = await self._directory(viewer)

        def label(category: str, grid_id: str | None) -> str:
            rule = matrix.rule_for(category, grid_id or "")
            if rule.unit:
                unit = matrix.units.get(rule.unit)
                return unit.name(lang) if unit else rule.unit
            return t.get(f"role_{rule.role}", str(rule.role))

        rows = [
            {
                "category": t.get(f"category_{category}", category),
                "default": label(category, None),
                "grids": [
                    {
                        "text": label(category, g.id),
                        "exception": category in matrix.grids.get(g.id, {}),
                    }
                    for g in grids
                ],
            }
            for category in CATEGORIES
        ]
        return self.core.render(
            request,
            "responsibility.html",
            viewer=viewer,
            grids=[name_in(lang, g) for g in grids],
            rows=rows,
            units=[
                {"name": unit.name(lang), "phone": unit.phone} for unit in matrix.units.values()
            ],
        )

    async def _prefectures(self, viewer: Viewer) -> list[str]:
        communities, _, _, _ = await self._directory(viewer)
        return sorted({c.prefecture for c in communities}) or [self.core.deps.settings.prefecture]

    async def calendar(
        self,
        request: web.Request,
        viewer: Viewer,
        *,
        error: str = "",
        form: dict[str, str] | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        prefectures = await self._prefectures(viewer)
        async with self.core.sessions() as session:
            overrides = (
                await session.scalars(
                    select(CalendarOverride)
                    .where(CalendarOverride.prefecture.in_(prefectures))
                    .order_by(CalendarOverride.prefecture, CalendarOverride.day)
                )
            ).all()
        return self.core.render(
            request,
            "calendar.html",
            viewer=viewer,
            http_status=status,
            can_edit=viewer.role in CALENDAR_EDITORS,
            prefectures=prefectures,
            done=request.query.get("done", "") if not error else "",
            error=error,
            form=form or {},
            rows=[
                {
                    "prefecture": o.prefecture,
                    "day": o.day.isoformat(),
                    "workday": o.is_workday,
                    "note": o.note,
                }
                for o in overrides
            ],
        )

    async def calendar_change(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Add, change or remove a local holiday / make-up working day (street and system
        administrators); audited. Deadlines computed from now on use it."""
        if viewer.role not in CALENDAR_EDITORS:
            return self.core.not_found(request, viewer)
        raw = await request.post()
        fields = ("prefecture", "day", "kind", "note")
        form = {name: str(raw.get(name, "")).strip()[:200] for name in fields}
        remove = str(raw.get("remove", "")) == "1"
        try:
            day = date.fromisoformat(form["day"])
        except ValueError:
            return await self.calendar(request, viewer, error="day", form=form, status=400)
        if form["prefecture"] not in await self._prefectures(viewer):
            return await self.calendar(request, viewer, error="prefecture", form=form, status=400)
        if not remove and form["kind"] not in {"holiday", "workday"}:
            return await self.calendar(request, viewer, error="kind", form=form, status=400)
        async with self.core.sessions() as session, session.begin():
            if remove:
                changed = await remove_override(session, form["prefecture"], day)
            else:
                await set_override(
                    session,
                    form["prefecture"],
                    day,
                    is_workday=form["kind"] == "workday",
                    note=form["note"],
                )
                changed = True
            if changed:
                self.core.audit(
                    session,
                    request,
                    viewer,
                    "calendar_remove" if remove else "calendar_set",
                    target_type="calendar",
                    target_id=f"{form['prefecture']}/{day.isoformat()}",
                    detail={} if remove else {"kind": form["kind"], "note": form["note"]},
                )
        done = "removed" if remove else "saved"
        raise web.HTTPSeeOther(f"{PREFIX}/calendar?done={done}")

    async def _catalog(self) -> PolicyCatalog | None:
        if self._policies is None:
            return None
        async with self.core.sessions() as session:
            return await self._policies.current(session)

    async def policies(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        lang = viewer.lang
        catalog = await self._catalog()
        policies = [
            {
                "id": p.id,
                "title": p.title.get(lang),
                "topic": p.topic,
                "effective": p.effective_date.isoformat(),
                "sample": p.sample,
                "verified": p.verified,
                "verified_by": p.verified_by or "",
                "verified_on": p.verified_on.isoformat() if p.verified_on else "",
                "url": f"/p/{p.id}",
                "edit_url": f"{PREFIX}/policies/{p.id}",
            }
            for p in (catalog or [])
        ]
        questions: list[dict[str, Any]] = []
        if viewer.is_admin:
            async with self.core.sessions() as session:
                rows = (
                    await session.scalars(
                        select(UnansweredQuestion)
                        .where(UnansweredQuestion.answered_at.is_(None))
                        .order_by(UnansweredQuestion.created_at.desc())
                        .limit(50)
                    )
                ).all()
            questions = [
                {"when": viewer.t.when(q.created_at), "language": q.language, "text": q.text}
                for q in rows
            ]
        return self.core.render(
            request,
            "policies.html",
            viewer=viewer,
            policies=policies,
            questions=questions,
            can_edit=viewer.role in POLICY_EDITORS,
        )

    async def policy(
        self,
        request: web.Request,
        viewer: Viewer,
        *,
        problems: list[str] | None = None,
        form: dict[str, str] | None = None,
        status: int = 200,
        forbidden: bool = False,
    ) -> web.StreamResponse:
        """One policy: the edit form (read-only for grid workers) and its revisions."""
        policy_id = request.match_info["policy_id"]
        seed = self._policies.seed if self._policies is not None else None
        if seed is None or policy_id not in seed:
            return self.core.not_found(request, viewer)
        async with self.core.sessions() as session:
            policy = await current_policy(session, seed, policy_id)
            revisions = await history(session, policy_id)
        assert policy is not None  # in the seed
        t = viewer.t
        return self.core.render(
            request,
            "policy_edit.html",
            viewer=viewer,
            http_status=status,
            policy_id=policy_id,
            title=policy.title.get(viewer.lang),
            topic=policy.topic,
            verified=policy.verified,
            verified_by=policy.verified_by or "",
            verified_on=policy.verified_on.isoformat() if policy.verified_on else "",
            sample=policy.sample,
            can_edit=viewer.role in POLICY_EDITORS,
            forbidden=forbidden,
            done=request.query.get("done", "") if not problems and not forbidden else "",
            problems=problems or [],
            form=form if form is not None else _policy_form(policy),
            text_fields=[str(f) for f in TEXT_FIELDS],
            line_fields=list(POLICY_LINE_FIELDS),
            languages=list(LANGUAGES),
            public_url=f"/p/{policy_id}",
            revisions=[_revision_row(t, r) for r in revisions],
        )

    async def _editable(
        self, request: web.Request, viewer: Viewer
    ) -> PolicyCatalog | web.StreamResponse:
        """The seed catalog when this viewer may change the policy of the URL; otherwise the
        refusal (404 for an unknown policy, the read-only page with 403 for a grid worker)."""
        if self._policies is None or request.match_info["policy_id"] not in self._policies.seed:
            return self.core.not_found(request, viewer)
        if viewer.role not in POLICY_EDITORS:
            return await self.policy(request, viewer, status=403, forbidden=True)
        return self._policies.seed

    async def policy_save(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Save an edit (community officers and administrators); audited. The edit clears the
        verification; invalid input shows the form again with the problems and the text."""
        seed = await self._editable(request, viewer)
        if not isinstance(seed, PolicyCatalog):
            return seed
        policy_id = request.match_info["policy_id"]
        raw = await request.post()
        form = {
            name: str(raw.get(name, "")).replace("\r\n", "\n").replace("\r", "\n")
            for name in (
                *(f"{field}_{lang}" for field in POLICY_FORM_FIELDS for lang in LANGUAGES),
                "effective_date",
                "note",
            )
        }
        too_long = [
            PolicyProblem(
                _problem_field(name),
                "too_long",
                "too long",
                {"most": str(MAX_POLICY_NOTE_CHARS if name == "note" else MAX_POLICY_FIELD_CHARS)},
            )
            for name, value in form.items()
            if len(value) > (MAX_POLICY_NOTE_CHARS if name == "note" else MAX_POLICY_FIELD_CHARS)
        ]
        if too_long:
            return await self.policy(
                request,
                viewer,
                problems=[_problem_text(viewer.t, p) for p in too_long],
                form=form,
                status=400,
            )
        changes = _policy_changes(form)
        async with self.core.sessions() as session, session.begin():
            outcome = await save_edit(
                session,
                seed,
                policy_id,
                changes,
                edited_by=viewer.username,
                now=self.core.deps.clock.now(),
                note=form["note"].strip(),
            )
            if isinstance(outcome, EditRejected):
                problems = [_problem_text(viewer.t, p) for p in outcome.problems]
            elif not isinstance(outcome, Unchanged):
                self.core.audit(
                    session,
                    request,
                    viewer,
                    "policy_edit",
                    target_type="policy",
                    target_id=policy_id,
                    detail={"revision": outcome.revision.id, "fields": ",".join(outcome.changed)},
                )
        if isinstance(outcome, EditRejected):
            return await self.policy(request, viewer, problems=problems, form=form, status=400)
        done = "unchanged" if isinstance(outcome, Unchanged) else "saved"
        raise web.HTTPSeeOther(f"{PREFIX}/policies/{policy_id}?done={done}")

    async def policy_verify(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Mark the current content verified by the signed-in user today; audited."""
        seed = await self._editable(request, viewer)
        if not isinstance(seed, PolicyCatalog):
            return seed
        policy_id = request.match_info["policy_id"]
        raw = await request.post()
        note = str(raw.get("note", "")).strip()[:MAX_POLICY_NOTE_CHARS]
        now = self.core.deps.clock.now()
        async with self.core.sessions() as session, session.begin():
            outcome = await mark_verified(
                session,
                seed,
                policy_id,
                verified_by=viewer.username,
                verified_on=now.astimezone(LOCAL_TZ).date(),
                now=now,
                note=note,
            )
            if not isinstance(outcome, EditRejected):
                self.core.audit(
                    session,
                    request,
                    viewer,
                    "policy_verify",
                    target_type="policy",
                    target_id=policy_id,
                    detail={"revision": outcome.revision.id},
                )
        if isinstance(outcome, EditRejected):
            problems = [_problem_text(viewer.t, p) for p in outcome.problems]
            return await self.policy(request, viewer, problems=problems, status=400)
        raise web.HTTPSeeOther(f"{PREFIX}/policies/{policy_id}?done=verified")

    async def eldercare(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        t, lang = viewer.t, viewer.lang
        scope = viewer.scope
        now = self.core.deps.clock.now()
        async with self.core.sessions() as session:
            services = {
                s.id: s
                for s in (
                    await session.scalars(
                        select(EldercareService).order_by(EldercareService.sort_order)
                    )
                ).all()
            }
            providers = [
                p
                for p in (await session.scalars(select(Provider).order_by(Provider.id))).all()
                if scope.allows_community(p.community_id)
                and (p.grid_id is None or p.grid_id in scope.grid_ids)
            ]
            offered = (await session.execute(select(ProviderService))).scalars().all()
            provider_ids = [p.id for p in providers]
            usage = (
                await session.scalars(
                    select(SlotUsage)
                    .where(
                        SlotUsage.provider_id.in_(provider_ids),
                        SlotUsage.slot_start >= now,
                        SlotUsage.slot_start < now + timedelta(days=UPCOMING_DAYS),
                        SlotUsage.used > 0,
                    )
                    .order_by(SlotUsage.slot_start)
                )
            ).all()
            bookings = (
                await session.scalars(
                    select(Booking)
                    .where(
                        Booking.provider_id.in_(provider_ids),
                        Booking.status.in_([s.value for s in ACTIVE_STATUSES]),
                        Booking.slot_start >= now,
                    )
                    .order_by(Booking.slot_start)
                    .limit(100)
                )
            ).all()
        by_id = {p.id: p for p in providers}
        return self.core.render(
            request,
            "eldercare.html",
            viewer=viewer,
            providers=[
                {
                    "id": p.id,
                    "name": name_in(lang, p),
                    "kind": t.get(f"provider_{p.kind}", p.kind),
                    "phone": p.phone,
                    "days": " ".join(t(f"weekday_{d}") for d in p.working_days),
                    "hours": ", ".join(f"{a}-{b}" for a, b in p.hours),
                    "slot": p.slot_minutes,
                    "capacity": p.capacity,
                    "active": p.active,
                    "services": ", ".join(
                        name_in(lang, services.get(o.service_id))
                        for o in offered
                        if o.provider_id == p.id and o.service_id in services
                    ),
                }
                for p in providers
            ],
            slots=[
                {
                    "provider": name_in(lang, by_id.get(u.provider_id)),
                    "start": t.when(u.slot_start),
                    "used": u.used,
                    "capacity": by_id[u.provider_id].capacity if u.provider_id in by_id else 0,
                }
                for u in usage
            ],
            bookings=[
                {
                    "number": b.number,
                    "start": t.when(b.slot_start),
                    "service": name_in(lang, services.get(b.service_id)),
                    "provider": name_in(lang, by_id.get(b.provider_id)),
                    "elder": b.elder_name,
                    "phone": mask_phone(b.phone),
                    "status": t.get(f"booking_{b.status}", b.status),
                }
                for b in bookings
            ],
        )

    # ── posters ────────────────────────────────────────────────────────────────────────

    def _poster_file(self, community_id: str, point_id: str, kind: str) -> Path:
        return self.core.deps.posters_dir / community_id / f"{poster_basename(point_id)}.{kind}"

    async def posters(
        self, request: web.Request, viewer: Viewer, *, error: str = "", status: int = 200
    ) -> web.StreamResponse:
        communities, grids, points, _ = await self._directory(viewer)
        lang = viewer.lang
        community_of = {g.id: g.community_id for g in grids}
        return self.core.render(
            request,
            "posters.html",
            viewer=viewer,
            http_status=status,
            error=error,
            done=request.query.get("done") == "1",
            can_generate=self.core.deps.wechat_api is not None,
            communities=[(c.id, name_in(lang, c)) for c in communities],
            points=[
                {
                    "id": p.id,
                    "name": name_in(lang, p),
                    "grid": name_in(lang, next((g for g in grids if g.id == p.grid_id), None)),
                    "files": [
                        (kind, f"{PREFIX}/posters/{p.id}.{kind}")
                        for kind in POSTER_KINDS
                        if self._poster_file(community_of[p.grid_id], p.id, kind).is_file()
                    ],
                }
                for p in points
            ],
        )

    async def posters_page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await self.posters(request, viewer)

    async def generate_posters(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        community_id = str(form.get("community", ""))
        api = self.core.deps.wechat_api
        if api is None or not viewer.scope.allows_community(community_id):
            return await self.posters(request, viewer, error="posters_unavailable", status=400)
        target = self.core.deps.posters_dir / community_id
        try:
            written = await render_posters(self.core.sessions, api, community_id, target)
        except (LookupError, PosterFontError, WeChatApiError, OSError):
            return await self.posters(request, viewer, error="posters_failed", status=502)
        async with self.core.sessions() as session, session.begin():
            self.core.audit(
                session,
                request,
                viewer,
                "posters_generate",
                target_type="page",
                target_id=community_id,
                detail={"files": len(written)},
            )
        raise web.HTTPSeeOther(f"{PREFIX}/posters?done=1")

    async def poster_file(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        point_id, kind = request.match_info["point"], request.match_info["kind"]
        if kind not in POSTER_KINDS or not SAFE_ID.fullmatch(point_id):
            return self.core.not_found(request, viewer)
        async with self.core.sessions() as session:
            point = await session.get(GridPoint, point_id)
            grid = await session.get(Grid, point.grid_id) if point else None
        if point is None or grid is None or grid.id not in viewer.scope.grid_ids:
            return self.core.not_found(request, viewer)
        path = self._poster_file(grid.community_id, point.id, kind)
        if not path.is_file():
            return self.core.not_found(request, viewer)
        return web.Response(
            body=path.read_bytes(),
            content_type=POSTER_KINDS[kind],
            headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
        )

    # ── audit log ──────────────────────────────────────────────────────────────────────

    async def audit_log(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        try:
            page = max(1, int(request.query.get("page", "1")))
        except ValueError:
            page = 1
        username = request.query.get("user", "")[:64]
        target = request.query.get("target", "")[:128]
        async with self.core.sessions() as session:
            rows, total = await audit.entries(
                session,
                limit=AUDIT_PER_PAGE,
                offset=(page - 1) * AUDIT_PER_PAGE,
                username=username or None,
                target_id=target or None,
            )
        pages = max(1, -(-total // AUDIT_PER_PAGE))
        query = {k: v for k, v in (("user", username), ("target", target)) if v}
        return self.core.render(
            request,
            "audit.html",
            viewer=viewer,
            rows=[
                {
                    "when": viewer.t.when(r.at),
                    "user": r.username,
                    "action": viewer.t.get(f"audit_{r.action}", r.action),
                    "target_type": r.target_type,
                    "target": r.target_id,
                    "detail": ", ".join(f"{k}={v}" for k, v in (r.detail or {}).items()),
                    "ip": r.ip,
                }
                for r in rows
            ],
            total=total,
            page=page,
            pages=pages,
            user=username,
            target=target,
            prev_url=query_url(f"{PREFIX}/audit", {**query, "page": str(page - 1)})
            if page > 1
            else "",
            next_url=query_url(f"{PREFIX}/audit", {**query, "page": str(page + 1)})
            if page < pages
            else "",
        )


# ── policy form helpers ───────────────────────────────────────────────────────────────────


def _policy_form(policy: Policy) -> dict[str, str]:
    """The edit form's fields for a policy: texts as they are, lists one entry per line."""
    form: dict[str, str] = {"effective_date": policy.effective_date.isoformat(), "note": ""}
    for field in TEXT_FIELDS:
        for lang in LANGUAGES:
            form[f"{field}_{lang}"] = policy.text(field, lang)
    for field in LIST_FIELDS:
        for lang in LANGUAGES:
            form[f"{field}_{lang}"] = "\n".join(policy.items(field, lang))
    for lang in LANGUAGES:
        form[f"keywords_{lang}"] = "\n".join(policy.keywords.get(lang))
    return form


def _policy_changes(form: dict[str, str]) -> dict[str, Any]:
    """The form as the YAML mapping's keys (validation is the domain's)."""
    changes: dict[str, Any] = {"effective_date": form["effective_date"].strip()}
    for field in TEXT_FIELDS:
        changes[str(field)] = {lang: form[f"{field}_{lang}"].strip() for lang in LANGUAGES}
    for name in POLICY_LINE_FIELDS:
        changes[name] = {
            lang: [line.strip() for line in form[f"{name}_{lang}"].split("\n") if line.strip()]
            for lang in LANGUAGES
        }
    return changes


def _problem_field(form_name: str) -> str:
    """``title_zh`` → ``title.zh`` (a problem's field); other names as they are."""
    name, _, language = form_name.rpartition("_")
    return f"{name}.{language}" if name and language in LANGUAGES else form_name


def _problem_text(t: Texts, problem: PolicyProblem) -> str:
    """One validation problem in the staff's language: the field (and language), then what."""
    name, _, language = problem.field.partition(".")
    try:
        message = t(f"pol_problem_{problem.code}", **problem.params)
    except (MissingText, KeyError, IndexError, ValueError):
        message = problem.message  # a check added later without wording yet
    if not name:
        return message
    label = t.get(f"pol_field_{name}", name)
    if language in LANGUAGES:
        label = t("pol_field_in", field=label, language=t(f"pol_lang_{language}"))
    return t("pol_problem_line", field=label, problem=message)


def _revision_row(t: Texts, revision: PolicyRevision) -> dict[str, str]:
    verified = revision.verified_by is not None and revision.verified_on is not None
    return {
        "id": str(revision.id),
        "when": t.when(revision.created_at),
        "who": revision.edited_by,
        "what": t(
            "pol_rev_verified",
            who=revision.verified_by or "",
            day=revision.verified_on.isoformat() if revision.verified_on else "",
        )
        if verified
        else t("pol_rev_edited"),
        "note": revision.note,
    }
