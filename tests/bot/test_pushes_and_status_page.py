"""Pushes reach residents inside and outside the 48 h window, and their link opens the H5 page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.app_keys import OUTBOX
from governance.directory.models import Resident
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from governance.outbox.service import enqueue
from governance.petitions.models import Petition
from tests.bot.conftest import Stack, StackFactory


async def _file(stack: Stack, openid: str, words: list[str]) -> Petition:
    await stack.sim("POST", "/sim/api/residents", openid=openid)
    await stack.sim("POST", f"/sim/api/residents/{openid}/scan", scene="report:GP-0101")
    for text in words:
        await stack.say(openid, text)
    async with stack.sessions() as session:
        petition = await session.scalar(select(Petition).where(Petition.resident_openid == openid))
    assert petition is not None
    return petition


async def _push(stack: Stack, petition: Petition, key: str) -> None:
    async with stack.sessions() as session, session.begin():
        enqueue(
            session,
            channel=OutboxChannel.RESIDENT,
            recipient=petition.resident_openid,
            payload={
                "key": "utter_status_line",
                "language": petition.language,
                "params": {
                    "ticket": petition.ticket_no,
                    "category": petition.category,
                    "status": "on_site",
                    "resolution_due": petition.resolution_due_at.isoformat(),
                },
            },
            idempotency_key=key,
            now=stack.app[OUTBOX]._clock.now(),
            petition_id=petition.id,
        )
    stack.app[OUTBOX].wake()


async def _delivered(
    stack: Stack, openid: str, channel: str, containing: str = ""
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        inbox = await stack.sim("GET", f"/sim/api/residents/{openid}/inbox")
        return [m for m in inbox if m["channel"] == channel and containing in str(m)]

    result: list[dict[str, Any]] = await stack.wait_for(probe)
    return result


async def test_inside_the_window_a_push_is_a_customer_service_message_with_the_link(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()
    petition = await _file(stack, "o-push-1", ["院门口的路灯坏了好几天", "跳过", "1"])
    await _push(stack, petition, "push:1")
    [message] = await _delivered(stack, "o-push-1", "custom", containing="工作人员已到现场")
    link = re.search(r"https?://\S+/s/\S+", message["content"])
    assert link is not None
    async with stack.http.get(
        link.group(0).replace("http://127.0.0.1:8080", stack.gateway_url)
    ) as page:
        html = await page.text()
    assert page.status == 200
    assert petition.ticket_no in html
    assert "院门口的路灯坏了好几天" in html


async def test_after_48_hours_a_push_becomes_a_template_message_within_platform_limits(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()
    petition = await _file(stack, "o-push-2", ["སྒོ་ཁའི་ལམ་སྒྲོན་ཉམས་འདུག་དགོང་མོ་མུན་ནག་རེད", "མི་དགོས", "1"])
    async with stack.sessions() as session, session.begin():
        resident = await session.get(Resident, "o-push-2")
        assert resident is not None
        assert resident.last_message_at is not None
        resident.last_message_at -= timedelta(hours=49)
    await _push(stack, petition, "push:2")
    [message] = await _delivered(stack, "o-push-2", "template", containing="མདུན་སྐྱོད་གསར་པ")
    assert all(len(value) <= 20 and "\n" not in value for value in _values(message["fields"]))
    assert petition.ticket_no in str(message["fields"])
    assert "/s/" in message["url"]
    token = message["url"].rsplit("/s/", 1)[1]
    async with stack.http.get(f"{stack.gateway_url}/s/{token}") as page:
        html = await page.text()
    assert "ལམ་སྒྲོན" in html, "the page opens in the resident's language"
    async with stack.sessions() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == "push:2")
        )
    assert row is not None
    assert row.status == OutboxStatus.SENT


def _values(fields: Any) -> list[str]:
    if isinstance(fields, dict):
        return [str(v["value"] if isinstance(v, dict) else v) for v in fields.values()]
    return [str(fields)]


async def test_a_wrong_token_shows_a_friendly_page_not_a_case(make_stack: StackFactory) -> None:
    stack = await make_stack()
    async with stack.http.get(f"{stack.gateway_url}/s/forged-token?lang=bo") as page:
        assert page.status == 404
        html = await page.text()
    assert "ནུས་མེད" in html
