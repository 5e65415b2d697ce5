"""The resident's eldercare booking page: `/b/<signed token>` shows the visit (service,
provider, date and time, status) and cancels it through `bookings.service.cancel`, the same
function as cancelling in chat, after a confirmation step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.links import LinkClaims, LinkKind, LinkProblem
from bot.web.resident import (
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
from governance.bookings.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatus,
    EldercareService,
    Provider,
)
from governance.bookings.service import BookingRefused, cancel
from governance.directory.models import Resident

DONE_KEYS = {"cancelled": "utter_booking_cancelled", "duplicate": "h5_done_already"}


@dataclass(frozen=True, slots=True)
class Opened:
    claims: LinkClaims
    booking: Booking
    resident: Resident | None


class BookingPage:
    def __init__(self, deps: PageDeps) -> None:
        self._deps = deps

    async def show(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        async with self._deps.sessions() as session:
            opened = await self._open(session, token)
            if isinstance(opened, LinkProblem):
                return self._unavailable(opened)
            response = await self._render(
                request,
                session,
                opened,
                token,
                flash=DONE_KEYS.get(request.query.get("done", "")),
                confirming=request.query.get("confirm") == "cancel",
            )
        remember_look(request, response)
        return response

    async def cancel(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        form = await request.post()
        nonce = str(form.get("nonce", ""))
        if not same_origin(request) or not self._deps.signer.nonce_ok(token, nonce):
            return await self._redisplay(request, token, error="h5_form_expired", status=403)
        now = self._deps.clock.now()
        try:
            async with self._deps.sessions() as session, session.begin():
                opened = await self._open(session, token)
                if isinstance(opened, LinkProblem):
                    return self._unavailable(opened)
                if not await claim_form(session, form_key("cancel", nonce), now):
                    done = "duplicate"
                else:
                    await cancel(session, opened.booking.number, opened.claims.openid, now)
                    done = "cancelled"
        except IntegrityError:
            done = "duplicate"
        except BookingRefused as refused:
            return await self._redisplay(
                request, token, error="utter_booking_refused", code=refused.code, status=409
            )
        self._deps.notify_outbox()
        raise web.HTTPSeeOther(f"/b/{token}?done={done}")

    async def _redisplay(
        self, request: web.Request, token: str, *, error: str, status: int, code: str = ""
    ) -> web.Response:
        async with self._deps.sessions() as session:
            opened = await self._open(session, token)
            if isinstance(opened, LinkProblem):
                return self._unavailable(opened)
            return await self._render(
                request, session, opened, token, error=error, code=code, status=status
            )

    def _unavailable(self, problem: LinkProblem) -> web.Response:
        return unavailable(self._deps.replies, "h5_booking_link_invalid", problem_status(problem))

    async def _open(self, session: AsyncSession, token: str) -> Opened | LinkProblem:
        checked = await self._deps.signer.check(
            session, token, self._deps.clock.now(), LinkKind.BOOKING
        )
        if isinstance(checked, LinkProblem):
            return checked
        booking = await session.get(Booking, checked.subject_id)
        if booking is None or booking.openid != checked.openid:
            return LinkProblem.INVALID
        return Opened(checked, booking, await session.get(Resident, checked.openid))

    async def _render(
        self,
        request: web.Request,
        session: AsyncSession,
        opened: Opened,
        token: str,
        *,
        flash: str | None = None,
        error: str | None = None,
        code: str = "",
        confirming: bool = False,
        status: int = 200,
    ) -> web.Response:
        booking, resident = opened.booking, opened.resident
        look = choose_look(
            request,
            language=resident.language if resident else booking.language,
            elder=resident.elder_mode if resident else None,
        )
        catalog = look.catalog(self._deps.replies)
        bo = look.lang == "bo"
        service = await session.get(EldercareService, booking.service_id)
        provider = await session.get(Provider, booking.provider_id)
        when = catalog.text(
            "h5_booking_time_value", {"start": booking.slot_start, "end": booking.slot_end}
        )
        facts = [
            {
                "label": catalog.text("h5_booking_service"),
                "value": (service.name_bo if bo else service.name_zh) if service else "",
            },
            {"label": catalog.text("h5_booking_time"), "value": when},
            {
                "label": catalog.text("h5_booking_provider"),
                "value": (provider.name_bo if bo else provider.name_zh) if provider else "",
            },
            {"label": catalog.text("h5_booking_elder"), "value": booking.elder_name},
            {"label": catalog.text("h5_booking_address"), "value": booking.address},
        ]
        phone = provider.phone if provider else ""
        cancellable = (
            booking.status in ACTIVE_STATUSES and booking.slot_start > self._deps.clock.now()
        )
        params = {"number": booking.number, "code": code or "not_allowed"}
        context: dict[str, Any] = {
            **chrome(look, self._deps.replies, f"/b/{token}"),
            "title": catalog.text("h5_booking_title", {"number": booking.number}),
            "status": catalog.text(f"h5_booking_status_{booking.status}"),
            "status_class": "done"
            if booking.status == BookingStatus.DONE
            else "alert"
            if booking.status in (BookingStatus.CANCELLED, BookingStatus.NO_SHOW)
            else "work",
            "facts": facts,
            "phone": {"label": catalog.text("h5_booking_phone"), "number": phone}
            if phone
            else None,
            "flash": catalog.text(flash, params) if flash else "",
            "error": catalog.text(error, params) if error else "",
            "change_hint": catalog.text("h5_booking_change_hint") if cancellable else "",
            "cancel": None,
        }
        if cancellable:
            context["cancel"] = {
                "confirming": confirming,
                "ask": catalog.text("h5_booking_cancel"),
                "ask_href": f"/b/{token}?confirm=cancel",
                "question": catalog.text("h5_booking_cancel_confirm"),
                "yes": catalog.text("h5_booking_cancel_yes"),
                "no": catalog.text("h5_booking_cancel_no"),
                "no_href": f"/b/{token}",
                "action": f"/b/{token}/cancel",
                "nonce": self._deps.signer.nonce(token),
            }
        return html_response("booking.html", context, status)
