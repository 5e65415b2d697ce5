"""Real records through the real root handler: JSON lines or text, with personal data and
secrets masked and Chinese/Tibetan left readable."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.observability.logs import configure_logging, mask_text
from bot.settings import LogFormat, LoggingSettings

OPENID = "oAbC1234567890abcdefghij_-XY"
TIBETAN = "སྒོ་ཁའི་ལམ་སྒྲོན་ཉམས་འདུག"
CHINESE = "院门口的路灯坏了"


class Capture:
    def __init__(self, fmt: LogFormat) -> None:
        self.stream = io.StringIO()
        self.handler = configure_logging(
            LoggingSettings(format=fmt, level="info"), stream=self.stream
        )

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


@pytest.fixture
def capture() -> Iterator[Callable[[LogFormat], Capture]]:
    root = logging.getLogger()
    level = root.level
    holder: list[Capture] = []

    def make(fmt: LogFormat = LogFormat.JSON) -> Capture:
        holder.append(Capture(fmt))
        return holder[-1]

    yield make
    for item in holder:
        root.removeHandler(item.handler)
    root.setLevel(level)


def test_json_lines_carry_ts_level_logger_message_and_extra_fields(
    capture: Callable[[LogFormat], Capture],
) -> None:
    logs = capture(LogFormat.JSON)
    log = logging.getLogger("minqing.test")
    log.info(
        "resident wrote %s / %s",
        CHINESE,
        TIBETAN,
        extra={"ticket": "20261122-0001", "route": "/wechat", "elapsed_ms": 12.5},
    )
    log.debug("below the configured level")
    (record,) = logs.records()
    assert record["level"] == "INFO"
    assert record["logger"] == "minqing.test"
    assert record["message"] == f"resident wrote {CHINESE} / {TIBETAN}"
    assert record["ticket"] == "20261122-0001"
    assert record["elapsed_ms"] == 12.5
    assert record["ts"].endswith("+00:00")
    raw = logs.stream.getvalue()
    assert TIBETAN in raw
    assert CHINESE in raw
    assert "\\u" not in raw


def test_phones_openids_and_link_tokens_are_masked_in_messages_and_fields(
    capture: Callable[[LogFormat], Capture],
) -> None:
    logs = capture(LogFormat.JSON)
    log = logging.getLogger("minqing.test")
    log.info(
        "resident %s left phone 13812341234 and ༡༣༨༡༢༣༤༡༢༣༤; ticket 20261122-0001",
        OPENID,
        extra={"openid": "o-short-test-id", "contact": {"phone": "15900001111"}},
    )
    log.info('GET /s/AbCdEfGhIjKlMnOpQrStUvWx.yz HTTP/1.1 {"openid": "o-sim-resident-7"}')
    first, second = logs.records()
    assert "138****1234" in first["message"]
    assert "༡༣༨****༡༢༣༤" in first["message"]
    assert "13812341234" not in first["message"]
    assert OPENID not in first["message"]
    assert "oAbC****" in first["message"]
    assert "20261122-0001" in first["message"]  # ticket numbers are not personal data
    assert first["openid"] == "o-sh****"
    assert first["contact"] == {"phone": "159****1111"}
    assert "AbCdEfGhIjKlMn" not in second["message"]
    assert "/s/AbCd****" in second["message"]
    assert "o-sim-resident-7" not in second["message"]


def test_secrets_in_urls_json_and_tracebacks_never_reach_the_output(
    capture: Callable[[LogFormat], Capture],
) -> None:
    logs = capture(LogFormat.JSON)
    log = logging.getLogger("minqing.wechat")
    log.warning(
        "GET https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential"
        "&appid=wx1&AppSecret=topsecret1 answered %s",
        '{"access_token": "ACCESS-abc", "expires_in": 7200}',
    )
    log.info("login form password=hunter22&user=dolma", extra={"app_secret": "topsecret2"})
    try:
        raise RuntimeError("calling /message/custom/send?access_token=ACCESS-def failed")
    except RuntimeError:
        log.exception("push failed for %s", {"password": "hunter33", "touser": OPENID})
    raw = logs.stream.getvalue()
    for secret in (
        "topsecret1",
        "topsecret2",
        "ACCESS-abc",
        "ACCESS-def",
        "hunter22",
        "hunter33",
        OPENID,
    ):
        assert secret not in raw, secret
    records = logs.records()
    assert len(records) == 3  # the traceback stays inside its line
    assert records[1]["app_secret"] == "***"
    assert "access_token=***" in records[2]["exc"]
    assert "RuntimeError" in records[2]["exc"]
    assert '"expires_in": 7200' in records[0]["message"]


def test_text_format_masks_the_same_and_keeps_scripts_readable(
    capture: Callable[[LogFormat], Capture],
) -> None:
    logs = capture(LogFormat.TEXT)
    logging.getLogger("aiohttp.access").info(
        '127.0.0.1 "GET /wechat?openid=%s&access_token=xyz HTTP/1.1" 200 %s', OPENID, TIBETAN
    )
    (line,) = logs.lines()
    assert " INFO aiohttp.access: " in line
    assert OPENID not in line
    assert "xyz" not in line
    assert "openid=oAbC****" in line
    assert TIBETAN in line


def test_configuring_twice_keeps_one_handler(capture: Callable[[LogFormat], Capture]) -> None:
    capture(LogFormat.TEXT)
    logs = capture(LogFormat.JSON)
    logging.getLogger("minqing.test").warning("once")
    assert [r["message"] for r in logs.records()] == ["once"]
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_minqing", False)]
    assert len(ours) == 1


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call 18912345678 please", "call 189****5678 please"),
        ("msgid 23456789012345678 stays", "msgid 23456789012345678 stays"),
        ("12345678901 is not a mobile", "12345678901 is not a mobile"),
        ("corpsecret=abc&x=1", "corpsecret=***&x=1"),
        ("'password': 'p4ss'", "'password': '***'"),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked
