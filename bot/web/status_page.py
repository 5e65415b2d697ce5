"""The resident's H5 status page behind every push: `/s/<signed token>`.

Shows the case in the resident's language (number, category, what was reported, the timeline
in plain words, the expected completion date), and takes the follow-up answer and added
information through the same domain functions as chat. Forms carry the token and a per-page
nonce; a submission counts once; every answer redirects back to the page (POST/redirect/GET).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.links import LinkClaims, LinkKind, LinkProblem
from bot.replies import Catalog
from bot.web.resident import (
    Look,
    PageDeps,
    choose_look,
    chrome,
    claim_form,
    form_key,
    html_response,
    problem_status,
    remember_look,
    same_origin,
    unavailable,
)
from governance.directory.models import GridPoint, Resident, Staff
from governance.petitions.followup import FollowupOutcome, record_followup
from governance.petitions.lifecycle import Refused, status_of, timeline
from governance.petitions.models import FollowupAnswer, Petition, PetitionEvent, PetitionStatus
from governance.petitions.resident_input import (
    FINISHED,
    MAX_INFO_CHARS,
    add_resident_info,
    owes_followup,
)

S = PetitionStatus
ANSWERS = (FollowupAnswer.SATISFIED, FollowupAnswer.BASICALLY_SATISFIED, FollowupAnswer.NOT_FIXED)
ANSWER_LABELS = {
    FollowupAnswer.SATISFIED: "h5_followup_satisfied",
    FollowupAnswer.BASICALLY_SATISFIED: "h5_followup_basically",
    FollowupAnswer.NOT_FIXED: "h5_followup_not_fixed",
}
DONE_KEYS = {
    "satisfied": "utter_followup_satisfied",
    "basically": "utter_followup_basically",
    "reopened": "utter_followup_reopened",
    "recorded": "h5_done_recorded",
    "answered": "h5_done_already",
    "duplicate": "h5_done_already",
    "info": "h5_info_added",
}
"""`?done=<code>` after a form: the message shown on top of the page."""
NOTE_SHOWN = frozenset({S.IN_PROGRESS, S.RESOLVED})
"""Transitions whose staff note the resident also got in the push."""
DONE_STATUSES = frozenset({S.RESOLVED, S.CLOSED})
ALERT_STATUSES = frozenset({S.ESCALATED, S.REOPENED, S.RETURNED})


@dataclass(frozen=True, slots=True)
class Opened:
    claims: LinkClaims
    petition: Petition
    resident: Resident | None


class StatusPage:
    def __init__(self, deps: PageDeps) -> None:
        self._deps = deps

    # --- GET -------------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        async with self._deps.sessions() as session:
            opened = await self._open(session, token)
            if isinstance(opened, LinkProblem):
                return self._unavailable(opened)
            flash_code = request.query.get("done", "")
            response = await self._render(
                request, session, opened, token, flash=DONE_KEYS.get(flash_code)
            )
        remember_look(request, response)
        return response

    # --- POST ------------------------------------------------------------------------------

    async def followup(self, request: web.Request) -> web.Response:
        """ "Fixed / not fixed": `followup.record_followup`, as the chat's 1 / 2 / 3."""
        token = request.match_info["token"]
        form = await request.post()
        nonce = str(form.get("nonce", ""))
        try:
            answer = FollowupAnswer(str(form.get("answer", "")))
        except ValueError:
            answer = None
        rejected = self._reject_form(request, token, nonce)
        if rejected is not None or answer not in ANSWERS:
            return await self._redisplay(
                request, token, error=rejected or "h5_refused", status=403 if rejected else 400
            )
        assert answer is not None
        now = self._deps.clock.now()
        try:
            async with self._deps.sessions() as session, session.begin():
                opened = await self._open(session, token)
                if isinstance(opened, LinkProblem):
                    return self._unavailable(opened)
                petition, openid = opened.petition, opened.claims.openid
                if not await claim_form(session, form_key("followup", nonce), now):
                    done = "duplicate"
                elif not await owes_followup(session, petition, openid):
                    done = "answered"
                else:
                    result = await record_followup(
                        session,
                        petition,
                        openid,
                        answer,
                        now,
                        public_base_url=self._deps.public_base_url,
                    )
                    done = _followup_done(result.outcome, answer)
        except IntegrityError:
            done = "duplicate"
        except Refused:
            return await self._redisplay(request, token, error="h5_refused", status=409)
        self._deps.notify_outbox()
        raise web.HTTPSeeOther(f"/s/{token}?done={done}")

    async def add_info(self, request: web.Request) -> web.Response:
        """Added information: a timeline event and a card to the handler group."""
        token = request.match_info["token"]
        form = await request.post()
        nonce = str(form.get("nonce", ""))
        text = str(form.get("text", "")).strip()
        rejected = self._reject_form(request, token, nonce)
        if rejected is not None:
            return await self._redisplay(request, token, error=rejected, draft=text, status=403)
        if not text:
            return await self._redisplay(request, token, error="h5_info_empty", status=400)
        if len(text) > MAX_INFO_CHARS:
            return await self._redisplay(
                request, token, error="h5_info_too_long", draft=text, status=400
            )
        now = self._deps.clock.now()
        try:
            async with self._deps.sessions() as session, session.begin():
                opened = await self._open(session, token)
                if isinstance(opened, LinkProblem):
                    return self._unavailable(opened)
                if not await claim_form(session, form_key("info", nonce, text), now):
                    done = "duplicate"
                else:
                    await add_resident_info(
                        session,
                        opened.petition,
                        opened.claims.openid,
                        text,
                        now,
                        public_base_url=self._deps.public_base_url,
                    )
                    done = "info"
        except IntegrityError:
            done = "duplicate"
        except Refused as refused:
            error = "h5_info_closed" if refused.code == "case_finished" else "h5_refused"
            return await self._redisplay(request, token, error=error, draft=text, status=409)
        self._deps.notify_outbox()
        raise web.HTTPSeeOther(f"/s/{token}?done={done}")

    # --- helpers ---------------------------------------------------------------------------

    def _reject_form(self, request: web.Request, token: str, nonce: str) -> str | None:
        """The error key for a form that did not come from this page, else None."""
        if not same_origin(request) or not self._deps.signer.nonce_ok(token, nonce):
            return "h5_form_expired"
        return None

    async def _redisplay(
        self,
        request: web.Request,
        token: str,
        *,
        error: str,
        draft: str = "",
        status: int,
    ) -> web.Response:
        """The page again with an error on top and the resident's text kept in the form."""
        async with self._deps.sessions() as session:
            opened = await self._open(session, token)
            if isinstance(opened, LinkProblem):
                return self._unavailable(opened)
            return await self._render(
                request, session, opened, token, error=error, draft=draft, status=status
            )

    def _unavailable(self, problem: LinkProblem) -> web.Response:
        key = "h5_link_invalid" if problem is LinkProblem.INVALID else "h5_link_expired"
        return unavailable(self._deps.replies, key, problem_status(problem))

    async def _open(self, session: AsyncSession, token: str) -> Opened | LinkProblem:
        checked = await self._deps.signer.check(
            session, token, self._deps.clock.now(), LinkKind.PETITION
        )
        if isinstance(checked, LinkProblem):
            return checked
        petition = await session.get(Petition, checked.subject_id)
        if petition is None:
            return LinkProblem.INVALID
        return Opened(checked, petition, await session.get(Resident, checked.openid))

    async def _render(
        self,
        request: web.Request,
        session: AsyncSession,
        opened: Opened,
        token: str,
        *,
        flash: str | None = None,
        error: str | None = None,
        draft: str = "",
        status: int = 200,
    ) -> web.Response:
        petition, openid = opened.petition, opened.claims.openid
        resident = opened.resident
        look = choose_look(
            request,
            language=resident.language if resident else petition.language,
            elder=resident.elder_mode if resident else None,
        )
        catalog = look.catalog(self._deps.replies)
        current = status_of(petition)
        events = await timeline(session, petition.id)
        staff = await _staff_of(session, petition, events)
        merged_into = (
            await session.get(Petition, petition.merged_into_id)
            if petition.merged_into_id
            else None
        )
        params = {"ticket": petition.ticket_no, "number": petition.ticket_no}
        context: dict[str, Any] = {
            **chrome(look, self._deps.replies, f"/s/{token}"),
            "token": token,
            "title": catalog.text("h5_title", {"ticket": petition.ticket_no}),
            "status": catalog.text(f"status_{current}"),
            "status_class": "done"
            if current in DONE_STATUSES
            else "alert"
            if current in ALERT_STATUSES
            else "work",
            "facts": await self._facts(session, catalog, look, petition, openid, current),
            "merged": catalog.text(
                "h5_merged", {"target_ticket": merged_into.ticket_no, "ticket": petition.ticket_no}
            )
            if merged_into is not None
            else "",
            "timeline_label": catalog.text("h5_timeline"),
            "timeline": [
                line
                for event in events
                if (line := _describe(catalog, look, event, petition, openid, staff)) is not None
            ],
            "flash": catalog.text(flash, params) if flash else "",
            "error": catalog.text(error, {"count": MAX_INFO_CHARS}) if error else "",
            "nonce": self._deps.signer.nonce(token),
            "followup": None,
            "info": None,
            "kept": "",
        }
        if await owes_followup(session, petition, openid):
            context["followup"] = {
                "question": catalog.text("h5_followup_question"),
                "action": f"/s/{token}/followup",
                "answers": [
                    {"value": answer.value, "label": catalog.text(ANSWER_LABELS[answer])}
                    for answer in ANSWERS
                ],
            }
        if current not in FINISHED:
            context["info"] = {
                "label": catalog.text("h5_info_label"),
                "hint": catalog.text("h5_info_hint"),
                "submit": catalog.text("h5_info_submit"),
                "action": f"/s/{token}/info",
                "max": MAX_INFO_CHARS,
                "draft": draft,
            }
        elif draft:
            context["kept"] = draft  # the form is gone: show the words back rather than lose them
        return html_response("status.html", context, status)

    async def _facts(
        self,
        session: AsyncSession,
        catalog: Catalog,
        look: Look,
        petition: Petition,
        openid: str,
        current: PetitionStatus,
    ) -> list[dict[str, str]]:
        facts = [
            {
                "label": catalog.text("h5_category"),
                "value": catalog.text(f"category_{petition.category}"),
            }
        ]
        if openid == petition.resident_openid:
            facts.append({"label": catalog.text("h5_description"), "value": petition.description})
        place = petition.address
        if not place and petition.grid_point_id:
            point = await session.get(GridPoint, petition.grid_point_id)
            place = (point.name_bo if look.lang == "bo" else point.name_zh) if point else ""
        if place:
            facts.append({"label": catalog.text("h5_place"), "value": place})
        if current in DONE_STATUSES and petition.resolved_at is not None:
            facts.append(
                {
                    "label": catalog.text("h5_resolved_label"),
                    "value": catalog.text("h5_resolved_value", {"due": petition.resolved_at}),
                }
            )
        elif current not in {S.MERGED, S.CANCELLED}:
            facts.append(
                {
                    "label": catalog.text("h5_deadline"),
                    "value": catalog.text(
                        "h5_deadline_value", {"resolution_due": petition.resolution_due_at}
                    ),
                }
            )
        return facts


def _followup_done(outcome: FollowupOutcome, answer: FollowupAnswer) -> str:
    if outcome == FollowupOutcome.REOPENED:
        return "reopened"
    if outcome == FollowupOutcome.CLOSED:
        return "satisfied" if answer == FollowupAnswer.SATISFIED else "basically"
    return "recorded"


async def _staff_of(
    session: AsyncSession, petition: Petition, events: list[PetitionEvent]
) -> dict[str, Staff]:
    """Every staff member the timeline names (actors and dispatch assignees), by id."""
    ids = {petition.assignee_staff_id} if petition.assignee_staff_id else set()
    for event in events:
        if event.actor.startswith("staff:"):
            ids.add(event.actor.removeprefix("staff:"))
        assignee = (event.detail or {}).get("assignee")
        if isinstance(assignee, str):
            ids.add(assignee)
    if not ids:
        return {}
    rows = await session.scalars(select(Staff).where(Staff.id.in_(ids)))
    return {staff.id: staff for staff in rows}


def _describe(
    catalog: Catalog,
    look: Look,
    event: PetitionEvent,
    petition: Petition,
    viewer: str,
    staff: dict[str, Staff],
) -> dict[str, str] | None:
    """One timeline line in plain words (None for events residents need not see)."""
    detail = event.detail or {}
    actor_id = event.actor.removeprefix("staff:") if event.actor.startswith("staff:") else None
    person = staff.get(detail.get("assignee") or actor_id or petition.assignee_staff_id or "")
    params: dict[str, Any] = {
        "staff": (person.name_bo if look.lang == "bo" else person.name_zh) if person else "",
        "role": str(person.role) if person else "grid_worker",
        "level": str(detail.get("level") or petition.escalation_level),
        "category": str(detail.get("to") or petition.category),
    }
    note = ""
    key: str | None
    if event.kind == "transition" and event.to_status:
        key = f"h5_event_{event.to_status}"
        if event.to_status == S.DISPATCHED and person is None:
            key = "h5_event_dispatched_nobody"
        if event.to_status in NOTE_SHOWN:
            note = event.note
    elif event.kind == "staff_reply":
        key, note = "h5_event_staff_reply", event.note
    elif event.kind == "followup_answer":
        key = f"h5_event_followup_{detail.get('answer', '')}"
    elif event.kind == "resident_info":
        if event.actor == f"resident:{viewer}":
            key, note = "h5_event_resident_info", event.note
        else:
            key = "h5_event_resident_info_other"
    else:
        key = f"h5_event_{event.kind}"
    if key not in catalog.keys:
        return None
    return {
        "when": catalog.format_time(event.at, "datetime"),
        "text": catalog.text(key, params),
        "note": note,
    }
