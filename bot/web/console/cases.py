"""The case queue and the case page with its action forms.

Actions run through `governance.console.case_actions.perform` (the WeCom commands' domain
functions); the pushes they write are sent once the transaction commits and the outbox worker
is woken. A refused action re-renders the page with a polite reason and the typed text kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.web.console.core import PREFIX, ConsoleCore, Viewer
from bot.web.console.i18n import Texts
from bot.web.console.voice import voice_panel
from governance.console.case_actions import ActionSettings, CaseAction, perform
from governance.console.cases import find_case
from governance.console.queue import (
    STATUS_GROUPS,
    VOICE_SOURCE,
    QueueFilter,
    case_queue,
    due_soon_clause,
    is_overdue_now,
)
from governance.directory.models import Community, Grid, GridPoint, Staff
from governance.petitions.lifecycle import (
    ALLOWED,
    OPEN_STATUSES,
    Refused,
    can_transition,
    timeline,
)
from governance.petitions.models import (
    Petition,
    PetitionEvent,
    PetitionStatus,
    ReturnReason,
    WaitingFor,
)
from governance.petitions.service import mask_phone
from nlu.parsed import CATEGORIES

S = PetitionStatus
FORM_FIELDS = ("note", "reason", "staff_id", "target_ticket", "category")
MAX_FIELD = 2000
ACTION_ORDER = (
    "accept",
    "on_site",
    "progress",
    "reply",
    "resolve",
    "wait",
    "return",
    "escalate",
    "reassign",
    "recategorise",
    "merge",
)

DONE_NOTICES = {*ACTION_ORDER, "transcribe"}


class _Refusal(Exception):
    """Leaves the transaction (rolling it back) with the domain's refusal code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def name_in(lang: str, row: Any) -> str:
    """A directory row's name in the console language (Chinese when no Tibetan is stored)."""
    if row is None:
        return ""
    value = row.name_bo if lang == "bo" else row.name_zh
    return str(value or row.name_zh)


def status_label(t: Texts, status: str) -> str:
    return t.get(f"status_{status}", status)


@dataclass(frozen=True, slots=True)
class Clock:
    label: str
    state: str
    """"met", "missed", "running", "overdue", "paused", "stopped"."""
    due: str
    text: str


def clocks(t: Texts, petition: Petition, now: datetime) -> list[Clock]:
    status = PetitionStatus(petition.status)
    finished = status in {S.MERGED, S.CANCELLED}
    result = []
    for name, due, done, met in (
        ("response", petition.response_due_at, petition.responded_at, petition.response_met),
        ("resolution", petition.resolution_due_at, petition.resolved_at, petition.resolution_met),
    ):
        if done is not None:
            state = "met" if met else "missed"
            text = t(f"clock_{state}", when=t.when(done))
        elif finished:
            state, text = "stopped", t("clock_stopped")
        elif name == "resolution" and status == S.WAITING:
            state = "paused"
            text = t("clock_paused", since=t.when(petition.waiting_since))
        elif met is False or due < now:
            state, text = "overdue", t("clock_overdue", span=t.span(now - due))
        else:
            state, text = "running", t("clock_left", span=t.span(due - now))
        result.append(Clock(t(f"clock_{name}"), state, t.when(due), text))
    return result


def allowed_actions(petition: Petition) -> list[str]:
    """The forms worth showing for this status (the domain still checks on submit)."""
    status = PetitionStatus(petition.status)
    verbs = []
    for verb in ACTION_ORDER:
        if verb == "reply":
            ok = status not in {S.MERGED, S.CANCELLED}
        elif verb in {"reassign", "recategorise"}:
            ok = S.DISPATCHED in ALLOWED[status]
        elif verb == "merge":
            ok = S.MERGED in ALLOWED[status]
        else:
            target = {
                "accept": S.ACCEPTED,
                "on_site": S.ON_SITE,
                "progress": S.IN_PROGRESS,
                "resolve": S.RESOLVED,
                "wait": S.WAITING,
                "return": S.RETURNED,
                "escalate": S.ESCALATED,
            }[verb]
            ok = can_transition(petition, target)
        if ok:
            verbs.append(verb)
    return verbs


async def _names(session: AsyncSession) -> tuple[dict[str, Grid], dict[str, Staff]]:
    grids = {g.id: g for g in (await session.scalars(select(Grid))).all()}
    staff = {s.id: s for s in (await session.scalars(select(Staff))).all()}
    return grids, staff


def actor_label(t: Texts, lang: str, actor: str, staff: dict[str, Staff]) -> str:
    kind, _, who = actor.partition(":")
    if kind == "staff":
        member = staff.get(who)
        return name_in(lang, member) if member else who
    if kind == "resident":
        return t("actor_resident")
    if kind == "console":
        return t("actor_console", username=who)
    return t.get(f"actor_{actor}", actor)


def event_line(
    t: Texts, lang: str, event: PetitionEvent, staff: dict[str, Staff]
) -> dict[str, str]:
    detail = event.detail or {}
    if event.kind == "transition" and event.to_status:
        what = status_label(t, event.to_status)
    else:
        what = t.get(f"event_{event.kind}", event.kind)
    extra = []
    if detail.get("reason") and event.to_status == S.RETURNED:
        extra.append(t.get(f"reason_{detail['reason']}", str(detail["reason"])))
    if detail.get("level"):
        extra.append(t.get(f"level_{detail['level']}", str(detail["level"])))
    if detail.get("reason") and event.to_status == S.ESCALATED:
        extra.append(t.get(f"escalation_{detail['reason']}", str(detail["reason"])))
    if detail.get("assignee"):
        member = staff.get(str(detail["assignee"]))
        extra.append(t("event_assignee", name=name_in(lang, member) or detail["assignee"]))
    if event.kind == "category_changed":
        extra.append(
            f"{t.get('category_' + str(detail.get('from')))} → "
            f"{t.get('category_' + str(detail.get('to')))}"
        )
    return {
        "when": t.when(event.at),
        "what": what,
        "who": actor_label(t, lang, event.actor, staff),
        "extra": " · ".join(x for x in extra if x),
        "note": event.note,
    }


class CasePages:
    def __init__(self, core: ConsoleCore) -> None:
        self.core = core

    def _action_settings(self) -> ActionSettings:
        settings = self.core.deps.settings
        return ActionSettings(self.core.deps.matrix, settings.prefecture, settings.public_base_url)

    async def queue(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        chosen = QueueFilter.parse(dict(request.query))
        now = self.core.deps.clock.now()
        t, lang = viewer.t, viewer.lang
        async with self.core.sessions() as session:
            page = await case_queue(session, viewer.scope, chosen, now)
            grids, staff = await _names(session)
            soon_ids = set(
                (
                    await session.scalars(
                        select(Petition.id).where(
                            Petition.id.in_([p.id for p in page.petitions]),
                            due_soon_clause(now),
                        )
                    )
                ).all()
            )
        rows = []
        for petition in page.petitions:
            overdue = is_overdue_now(petition, now)
            status = PetitionStatus(petition.status)
            due = (
                petition.response_due_at
                if petition.responded_at is None
                else petition.resolution_due_at
            )
            if status not in OPEN_STATUSES:
                due_text = ""
            elif status == S.WAITING and petition.responded_at is not None:
                due_text = t("clock_paused_short")
            elif due < now:
                due_text = t("clock_overdue", span=t.span(now - due))
            else:
                due_text = t("clock_left", span=t.span(due - now))
            rows.append(
                {
                    "ticket": petition.ticket_no,
                    "url": f"{PREFIX}/cases/{petition.ticket_no}",
                    "category": t.get(f"category_{petition.category}", petition.category),
                    "grid": name_in(lang, grids.get(petition.grid_id)) or petition.grid_id,
                    "status": status_label(t, petition.status),
                    "status_value": str(petition.status),
                    "assignee": name_in(lang, staff.get(petition.assignee_staff_id or "")),
                    "due": t.when(due),
                    "due_text": due_text,
                    "overdue": overdue,
                    "soon": petition.id in soon_ids,
                    "language": t.get(f"language_{petition.language}", petition.language),
                    "voice": petition.source == VOICE_SOURCE,
                    "followers": petition.interest_count,
                    "description": petition.description[:80],
                    "lang": "bo" if petition.language == "bo" else "zh",
                    "created": t.when(petition.created_at),
                }
            )
        scope_grids = sorted(
            (g for g in grids.values() if g.id in viewer.scope.grid_ids), key=lambda g: g.id
        )
        return self.core.render(
            request,
            "cases.html",
            viewer=viewer,
            rows=rows,
            page=page,
            chosen=chosen,
            status_tabs=[*STATUS_GROUPS, "all"],
            statuses=[s.value for s in PetitionStatus],
            grids=[(g.id, name_in(lang, g)) for g in scope_grids],
            categories=list(CATEGORIES),
            languages=["zh", "bo"],
            base=f"{PREFIX}/cases",
        )

    async def case(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        ticket = request.match_info["ticket"]
        async with self.core.sessions() as session, session.begin():
            petition = await find_case(session, viewer.scope, ticket)
            if petition is None:
                return self.core.not_found(request, viewer)
            self.core.audit(
                session,
                request,
                viewer,
                "case_view",
                target_type="case",
                target_id=ticket,
            )
        done = request.query.get("done", "")
        return await self.render_case(request, viewer, ticket, done=done)

    async def render_case(
        self,
        request: web.Request,
        viewer: Viewer,
        ticket: str,
        *,
        done: str = "",
        error: str = "",
        failed_verb: str = "",
        form: dict[str, str] | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        t, lang = viewer.t, viewer.lang
        now = self.core.deps.clock.now()
        async with self.core.sessions() as session:
            petition = await find_case(session, viewer.scope, ticket)
            if petition is None:
                return self.core.not_found(request, viewer)
            grids, staff = await _names(session)
            community = await session.get(Community, petition.community_id)
            point = (
                await session.get(GridPoint, petition.grid_point_id)
                if petition.grid_point_id
                else None
            )
            events = await timeline(session, petition.id)
            merged_into = (
                await session.get(Petition, petition.merged_into_id)
                if petition.merged_into_id
                else None
            )
            voice = await voice_panel(session, petition, t)
        assignee = staff.get(petition.assignee_staff_id or "")
        is_assignee = viewer.staff_id is not None and viewer.staff_id == petition.assignee_staff_id
        unit = (
            self.core.deps.matrix.units.get(petition.external_unit)
            if petition.external_unit
            else None
        )
        colleagues = sorted(
            (s for s in staff.values() if s.community_id == petition.community_id and s.active),
            key=lambda s: s.id,
        )
        photos = [
            {
                "url": str(p.get("url") or ""),
                "media_id": str(p.get("media_id") or ""),
                "is_link": str(p.get("url") or "").startswith(("http://", "https://")),
            }
            for p in petition.photos or []
        ]
        context: dict[str, Any] = {
            "p": petition,
            "ticket": petition.ticket_no,
            "state": status_label(t, petition.status),
            "status_value": str(petition.status),
            "category": t.get(f"category_{petition.category}", petition.category),
            "level": t.get(f"level_{petition.escalation_level}", str(petition.escalation_level)),
            "community": name_in(lang, community),
            "grid": name_in(lang, grids.get(petition.grid_id)) or petition.grid_id,
            "point": name_in(lang, point),
            "assignee": name_in(lang, assignee),
            "assignee_role": t.get(f"role_{assignee.role}", "") if assignee else "",
            "unit": (unit.name(lang) if unit else ""),
            "unit_phone": unit.phone if unit else "",
            "phone": (petition.phone or "") if is_assignee else mask_phone(petition.phone),
            "phone_masked": not is_assignee,
            "language": t.get(f"language_{petition.language}", petition.language),
            "source": t.get(f"source_{petition.source}", str(petition.source)),
            "is_voice": petition.source == VOICE_SOURCE,
            "voice": voice,
            "hazard": t.get(f"hazard_{petition.hazard}", petition.hazard or "")
            if petition.hazard
            else "",
            "photos": photos,
            "clocks": clocks(t, petition, now),
            "overdue": is_overdue_now(petition, now),
            "created": t.when(petition.created_at),
            "paused_days": petition.paused_working_days,
            "return_reason": t.get(f"reason_{petition.return_reason}", "")
            if petition.return_reason
            else "",
            "satisfaction": t.get(f"satisfaction_{petition.satisfaction}", "")
            if petition.satisfaction
            else "",
            "merged_into": merged_into.ticket_no if merged_into else "",
            "events": [event_line(t, lang, e, staff) for e in events],
            "actions": allowed_actions(petition),
            "colleagues": [
                (s.id, f"{name_in(lang, s)} · {t.get('role_' + s.role, s.role)}")
                for s in colleagues
            ],
            "categories": list(CATEGORIES),
            "return_reasons": [r.value for r in ReturnReason],
            "waiting_reasons": [w.value for w in WaitingFor],
            "done": done if done in DONE_NOTICES else "",
            "error": error,
            "failed_verb": failed_verb,
            "form": form or {},
            "is_open": PetitionStatus(petition.status) in OPEN_STATUSES,
        }
        return self.core.render(request, "case.html", viewer=viewer, http_status=status, **context)

    async def act(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        ticket = request.match_info["ticket"]
        verb = request.match_info["verb"]
        raw = await request.post()
        form = {name: str(raw.get(name, ""))[:MAX_FIELD] for name in FORM_FIELDS}
        action = CaseAction(verb=verb, **form)
        now = self.core.deps.clock.now()
        try:
            async with self.core.sessions() as session, session.begin():
                petition = await find_case(session, viewer.scope, ticket)
                if petition is None:
                    return self.core.not_found(request, viewer)
                before = str(petition.status)
                try:
                    done = await perform(
                        session,
                        petition,
                        action,
                        actor=viewer.actor,
                        now=now,
                        settings=self._action_settings(),
                        scope=viewer.scope,
                    )
                except Refused as refused:
                    raise _Refusal(refused.code) from refused
                self.core.audit(
                    session,
                    request,
                    viewer,
                    f"case_{verb}",
                    target_type="case",
                    target_id=ticket,
                    detail={
                        "from": before,
                        "to": str(petition.status),
                        "notified": done.notified,
                        **{k: v for k, v in form.items() if v and k != "note"},
                    },
                )
        except _Refusal as refusal:
            return await self.render_case(
                request,
                viewer,
                ticket,
                error=refusal.code,
                failed_verb=verb,
                form=form,
                status=409,
            )
        self.core.deps.notify_outbox()
        raise web.HTTPSeeOther(f"{PREFIX}/cases/{ticket}?done={verb}")
