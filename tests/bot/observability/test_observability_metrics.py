"""/metrics on the real gateway after real simulated conversations: counters move, labels stay
bounded (route templates, never tickets, openids or tokens), scrape-time domain gauges agree
with the database, and the endpoint is closed to the public."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import select

from bot.observability.http import OBSERVABILITY, is_private
from bot.observability.logs import configure_logging
from bot.settings import PROJECT_ROOT, LoggingSettings, Settings, VoiceAsr
from governance.clock import ManualClock
from governance.outbox.models import OutboxChannel, OutboxStatus
from governance.outbox.service import enqueue
from governance.petitions.models import Petition
from tests.bot.conftest import Stack, StackFactory

OPENID = "oMq3T9xYzAbCdEfGhIjKlMnOpQrS"
"""Shaped like a real openid: "o" and 27 URL-safe characters."""
PHONE = "13812345678"
COMMUNITY = "lhasa-gesanglinka"
VOICE_FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "voice"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Samples) -> set[str]:
    return {v for _, labels in samples for _, v in labels}


async def scrape(stack: Stack, **headers: str) -> tuple[int, str]:
    async with stack.http.get(stack.gateway_url + "/metrics", headers=headers) as response:
        return response.status, await response.text()


async def file_petition(stack: Stack, openid: str) -> str:
    """Scan the grid point's code and file a street-lamp petition; return the ticket number."""
    await stack.sim("POST", "/sim/api/residents", openid=openid, nickname="test")
    await stack.sim("POST", f"/sim/api/residents/{openid}/scan", scene="report:GP-0101")
    await stack.say(openid, "院门口的路灯坏了好几天晚上很黑")
    await stack.say(openid, PHONE)
    receipt = await stack.say(openid, "1")
    match = re.search(r"\d{8}-\d{4}", receipt)
    assert match, receipt
    return match.group(0)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """JSON logs of everything the gateway logs during the test, through the real handler."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging(LoggingSettings(format="json", level="INFO"), stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_a_real_conversation_moves_the_counters_and_labels_stay_bounded(
    make_stack: StackFactory, captured_logs: io.StringIO
) -> None:
    stack = await make_stack()
    ticket = await file_petition(stack, OPENID)
    link = f"/s/{'x' * 40}"
    async with stack.http.get(stack.gateway_url + link) as response:
        assert response.status in {404, 410}
    async with stack.http.get(
        stack.gateway_url + f"/console/cases/{ticket}", allow_redirects=False
    ) as response:
        assert response.status in {302, 303, 401, 403}
    async with stack.http.get(stack.gateway_url + f"/no/such/{ticket}") as response:
        assert response.status == 404

    status, text = await scrape(stack)
    assert status == 200
    samples = parse(text)
    # 1 scan + 3 texts, all answered passively inside the budget
    assert (
        value(samples, "minqing_http_requests_total", route="/wechat", method="POST", status="200")
        >= 4
    )
    assert (
        value(samples, "minqing_wechat_ack_seconds_count", endpoint="wechat", reply="passive") >= 4
    )
    assert (
        value(
            samples, "minqing_http_request_duration_seconds_count", route="/wechat", method="POST"
        )
        >= 4
    )
    assert value(samples, "minqing_nlu_parse_seconds_count", engine="embedded") >= 1
    assert (
        value(
            samples, "minqing_http_requests_total", route="/s/{token}", method="GET", status="404"
        )
        + value(
            samples, "minqing_http_requests_total", route="/s/{token}", method="GET", status="410"
        )
        == 1
    )
    assert (
        value(
            samples, "minqing_http_requests_total", route="unmatched", method="GET", status="404"
        )
        == 1
    )
    assert any(dict(labels).get("route") == "/console/cases/{ticket}" for name, labels in samples)
    assert value(samples, "minqing_domain_metrics_up") == 1
    assert (
        "minqing_sla_overdue_petitions",
        frozenset({("community", COMMUNITY)}),
    ) in samples
    assert ("minqing_outbox_pending", frozenset({("channel", "handler_group")})) in samples

    labels = label_values(samples)
    assert not any(ticket in v or OPENID in v or "x" * 40 in v for v in labels), labels
    assert not any(re.search(r"\d{8}-\d{4}", v) for v in labels)

    logged = captured_logs.getvalue()
    assert logged, "the gateway logged nothing through the configured handler"
    assert OPENID not in logged
    assert PHONE not in logged
    assert "x" * 40 not in logged  # the link token in the access log is masked


async def test_overdue_petitions_and_outbox_backlog_are_computed_at_scrape_time(
    make_stack: StackFactory,
) -> None:
    clock = ManualClock(datetime.now(UTC))
    stack = await make_stack(clock=clock)
    await file_petition(stack, OPENID)
    status, text = await scrape(stack)
    assert value(parse(text), "minqing_sla_overdue_petitions", community=COMMUNITY) == 0

    async with stack.sessions() as session, session.begin():
        petition = (await session.scalars(select(Petition))).one()
        due = petition.resolution_due_at
        enqueue(
            session,
            channel=OutboxChannel.RESIDENT,
            recipient=OPENID,
            payload={"text": "later"},
            idempotency_key="test:pending",
            now=clock.now() - timedelta(minutes=10),
        ).next_attempt_at = clock.now() + timedelta(days=365)
        enqueue(
            session,
            channel=OutboxChannel.STAFF,
            recipient="dolma",
            payload={"text": "gave up"},
            idempotency_key="test:dead",
            now=clock.now(),
        ).status = OutboxStatus.DEAD

    clock.set(due + timedelta(hours=1))  # the domain's clocks, not a number made up here
    status, text = await scrape(stack)
    assert status == 200
    samples = parse(text)
    assert value(samples, "minqing_sla_overdue_petitions", community=COMMUNITY) == 1
    assert value(samples, "minqing_outbox_dead", channel="staff") == 1
    assert value(samples, "minqing_outbox_pending", channel="resident") >= 1
    assert (
        value(samples, "minqing_outbox_oldest_pending_age_seconds")
        >= (clock.now() - due).total_seconds()
    )


async def test_metrics_are_closed_to_the_public_and_open_with_the_bearer_token(
    make_stack: StackFactory, settings: Settings
) -> None:
    settings.metrics.token = SecretStr("scrape-secret")
    stack = await make_stack()
    assert (await scrape(stack))[0] == 200  # the loopback scraper
    public = {"X-Forwarded-For": "203.0.113.9"}  # came through the public proxy
    assert (await scrape(stack, **public))[0] == 403
    assert (await scrape(stack, **public, Authorization="Bearer wrong"))[0] == 403
    status, text = await scrape(stack, **public, Authorization="Bearer scrape-secret")
    assert status == 200
    assert "minqing_http_requests_total" in text
    # refused scrapes are counted too, under the template
    samples = parse(text)
    assert (
        value(samples, "minqing_http_requests_total", route="/metrics", method="GET", status="403")
        == 2
    )
    assert stack.app[OBSERVABILITY].metrics.registry is not None


async def test_each_app_has_its_own_registry(make_stack: StackFactory) -> None:
    first, second = await make_stack(), await make_stack()
    await scrape(first)
    await scrape(first)
    _, text = await scrape(second)
    assert (
        value(
            parse(text),
            "minqing_http_requests_total",
            route="/metrics",
            method="GET",
            status="200",
        )
        == 0
    )
    assert (
        first.app[OBSERVABILITY].metrics.registry is not second.app[OBSERVABILITY].metrics.registry
    )


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("172.18.0.5", True),
        ("192.168.1.20", True),
        ("::ffff:10.0.0.7", True),
        ("fd00::1", True),
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("2001:4860:4860::8888", False),
        ("", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_private_addresses(address: str | None, private: bool) -> None:
    assert is_private(address) is private


async def test_a_voice_message_is_timed_by_the_recogniser_and_acknowledged_at_once(
    make_stack: StackFactory, settings: Settings, tmp_path: Path
) -> None:
    settings.voice.asr = VoiceAsr.WECHAT  # WeChat's own recognition: no model to load here
    settings.voice.media_dir = tmp_path / "media"
    stack = await make_stack()
    await stack.sim("POST", "/sim/api/residents", openid=OPENID)
    form = aiohttp.FormData()
    form.add_field("type", "voice")
    form.add_field("file", (VOICE_FIXTURES / "zh_streetlight.amr").read_bytes(), filename="v.amr")
    url = f"{stack.simulator_url}/sim/api/residents/{OPENID}/messages"
    async with stack.http.post(url, data=form) as response:
        assert response.status == 200, await response.text()

    async def recognised() -> Samples | None:
        samples = parse((await scrape(stack))[1])
        timed = sum(
            v
            for (name, labels), v in samples.items()
            if name == "minqing_asr_seconds_count" and ("recognizer", "wechat") in labels
        )
        return samples if timed >= 1 else None

    samples = await stack.wait_for(recognised)
    assert (
        value(samples, "minqing_wechat_ack_seconds_count", endpoint="wechat", reply="success") == 1
    )
