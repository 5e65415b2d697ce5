"""The eldercare booking page `/b/<token>`: the visit in the resident's language, and cancelling
through the same domain function as "取消预约" in chat, after a confirmation step."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from governance.bookings.models import Booking, BookingStatus
from governance.bookings.service import Booked, BookingRequest, book, slot_used
from governance.clock import LOCAL_TZ
from governance.directory.service import get_or_create_resident
from governance.links import revoke_links
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from tests.bot.web.conftest import H5, NONCE

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=LOCAL_TZ)
"""The clock starts at 10:00 on Sunday 2026-11-22; the nursing station works Monday–Saturday."""


async def _booked(
    h5: H5, *, openid: str = "o-yangzom", language: str = "zh", address: str = "北京中路12号院"
) -> Booked:
    async with h5.sessions() as session, session.begin():
        await get_or_create_resident(session, openid, language=language, now=h5.clock.now())
        outcome = await book(
            session,
            BookingRequest(
                openid=openid,
                service="nursing",
                wanted=(MONDAY_10, MONDAY_10),
                elder_name="央宗",
                address=address,
                phone="13812345678",
                language=language,
                grid_id="G01",
            ),
            h5.clock.now(),
        )
    assert isinstance(outcome, Booked), outcome
    return outcome


def _link(h5: H5, booked: Booked, openid: str = "o-yangzom") -> str:
    return f"/b/{h5.signer.sign_booking(booked.booking_id, openid, h5.clock.now())}"


async def _booking(h5: H5, booking_id: int) -> Booking:
    async with h5.sessions() as session:
        booking = await session.get(Booking, booking_id)
    assert booking is not None
    return booking


async def test_the_booking_page_shows_service_provider_time_and_status(h5: H5) -> None:
    booked = await _booked(h5, address="<b>北京中路</b>12号院")
    status, html = await h5.get(_link(h5, booked))
    assert status == 200
    assert booked.number in html
    assert booked.service_zh in html
    assert booked.provider_zh in html
    assert "11月23日 10:00–11:00" in html
    assert "已预约，等待上门" in html
    assert f'href="tel:{booked.provider_phone}"' in html
    assert "&lt;b&gt;北京中路&lt;/b&gt;" in html
    assert "取消预约" in html


async def test_in_tibetan_the_page_names_service_and_provider_in_tibetan(h5: H5) -> None:
    booked = await _booked(h5, openid="o-drolma", language="bo")
    status, html = await h5.get(_link(h5, booked, "o-drolma"))
    assert status == 200
    assert 'lang="bo"' in html
    assert booked.service_bo in html
    assert booked.provider_bo in html
    assert "ཟླ་༡༡ ཚེས་༢༣" in html, "the date in Tibetan digits"


async def test_cancel_asks_first_then_cancels_through_the_domain(h5: H5) -> None:
    booked = await _booked(h5)
    link = _link(h5, booked)
    _, html = await h5.get(f"{link}?confirm=cancel")
    assert "确定要取消这次上门服务吗？" in html
    assert (await _booking(h5, booked.booking_id)).status == BookingStatus.BOOKED
    nonce = NONCE.search(html)
    assert nonce is not None
    status, html, location = await h5.post(f"{link}/cancel", {"nonce": nonce.group(1)})
    assert location == f"{link}?done=cancelled"
    assert status == 200
    assert f"好的，预约 {booked.number} 已取消" in html
    assert "取消预约" not in html, "nothing left to cancel"
    booking = await _booking(h5, booked.booking_id)
    assert booking.status == BookingStatus.CANCELLED
    async with h5.sessions() as session:
        assert await slot_used(session, booking.provider_id, booking.slot_start) == 0
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    cards = [r for r in rows if r.payload.get("key") == "card_booking_cancelled"]
    assert {card.channel for card in cards} >= {OutboxChannel.HANDLER_GROUP}
    reminders = [r for r in rows if r.idempotency_key.startswith(f"booking:{booked.number}:rem")]
    assert reminders
    assert all(r.status == OutboxStatus.DEAD for r in reminders), "reminders are dropped"
    assert h5.wakes
    # The same confirmation sent twice is one cancellation and no error.
    _, html, location = await h5.post(f"{link}/cancel", {"nonce": nonce.group(1)})
    assert location.endswith("?done=duplicate")
    assert "已经收到了" in html


async def test_a_started_visit_cannot_be_cancelled_and_says_why(h5: H5) -> None:
    booked = await _booked(h5)
    link = _link(h5, booked)
    nonce = await h5.nonce(f"{link}?confirm=cancel")
    h5.clock.set(MONDAY_10 + timedelta(minutes=5))
    _, html = await h5.get(link)
    assert "取消预约" not in html
    status, html, _ = await h5.post(f"{link}/cancel", {"nonce": nonce})
    assert status == 409
    assert "服务已经开始，不能再改动" in html
    assert (await _booking(h5, booked.booking_id)).status == BookingStatus.BOOKED


async def test_petition_tokens_foreign_residents_and_revoked_links_open_no_booking(h5: H5) -> None:
    booked = await _booked(h5)
    petition_kind = h5.signer.sign(booked.booking_id, "o-yangzom", h5.clock.now())
    someone_else = _link(h5, booked, "o-somebody")
    for path in (f"/b/{petition_kind}", someone_else, "/b/garbage"):
        status, html = await h5.get(path)
        assert status == 404, path
        assert "这个预约链接已失效或不正确" in html
        assert "སྔ་འཆར་གྱི་འབྲེལ་ཐག" in html
        assert booked.number not in html
    link = _link(h5, booked)
    h5.clock.advance(timedelta(seconds=1))
    async with h5.sessions() as session, session.begin():
        await revoke_links(session, h5.clock.now(), booking_id=booked.booking_id)
    status, html = await h5.get(link)
    assert status == 410
    assert booked.number not in html
