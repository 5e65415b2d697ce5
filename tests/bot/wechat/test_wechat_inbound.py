"""XML fixtures of every kind → exact InboundMessage fields; hostile XML is refused unexpanded."""

from __future__ import annotations

import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.messages import EventKind, InboundMessage, MessageKind
from bot.wechat.inbound import (
    MAX_TEXT_CHARS,
    InboundParseError,
    normalise_text,
    parse_inbound,
    parse_wecom_inbound,
)
from bot.wechat.security import CallbackRejected

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wechat"
ACCOUNT = "gh_minqing_dev"
RESIDENT = "oResident0001"


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.xml").read_text(encoding="utf-8")


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_text() -> None:
    message = parse_inbound(fixture("text"))
    assert message == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key="msg:24300000000000001",
        received_at=at(1700000000),
        kind=MessageKind.TEXT,
        text="我家门口的路灯坏了 三天\nབཀྲ་ཤིས་བདེ་ལེགས།",
    )
    assert message.received_at.tzinfo is UTC


def test_image() -> None:
    assert parse_inbound(fixture("image")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key="msg:24300000000000002",
        received_at=at(1700000001),
        kind=MessageKind.IMAGE,
        media_id="media-image-1",
        picture_url="http://mmbiz.qpic.cn/mmbiz_jpg/example/0",
    )


def test_voice_with_recognition() -> None:
    assert parse_inbound(fixture("voice")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key="msg:24300000000000003",
        received_at=at(1700000002),
        kind=MessageKind.VOICE,
        media_id="media-voice-1",
        voice_format="amr",
        asr_hint="小区停水了",
    )


def test_voice_without_recognition_has_no_hint() -> None:
    xml = fixture("voice").replace("<![CDATA[小区停水了]]>", "<![CDATA[]]>")
    assert parse_inbound(xml).asr_hint is None


def test_location() -> None:
    assert parse_inbound(fixture("location")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key="msg:24300000000000004",
        received_at=at(1700000003),
        kind=MessageKind.LOCATION,
        latitude=29.652491,
        longitude=91.172112,
        label="西藏自治区拉萨市城关区北京中路",
        extra={"Scale": "15"},
    )


def test_link() -> None:
    assert parse_inbound(fixture("link")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key="msg:24300000000000005",
        received_at=at(1700000004),
        kind=MessageKind.LINK,
        text="社区通知：供暖时间调整",
        url="https://example.org/notice/42",
        extra={"Description": "城关区供暖公告"},
    )


def test_subscribe_from_qr_scene_strips_prefix() -> None:
    assert parse_inbound(fixture("subscribe_qrscene")) == InboundMessage(
        user_id="oResident0002",
        account_id=ACCOUNT,
        dedup_key="evt:oResident0002:1700000005:subscribe",
        received_at=at(1700000005),
        kind=MessageKind.EVENT,
        event=EventKind.SUBSCRIBE,
        event_key="report:gp-0042",
        extra={"Ticket": "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2"},
    )


def test_plain_subscribe() -> None:
    assert parse_inbound(fixture("subscribe")) == InboundMessage(
        user_id="oResident0003",
        account_id=ACCOUNT,
        dedup_key="evt:oResident0003:1700000006:subscribe",
        received_at=at(1700000006),
        kind=MessageKind.EVENT,
        event=EventKind.SUBSCRIBE,
    )


def test_unsubscribe() -> None:
    assert parse_inbound(fixture("unsubscribe")) == InboundMessage(
        user_id="oResident0003",
        account_id=ACCOUNT,
        dedup_key="evt:oResident0003:1700000007:unsubscribe",
        received_at=at(1700000007),
        kind=MessageKind.EVENT,
        event=EventKind.UNSUBSCRIBE,
    )


def test_scan_keeps_bare_scene() -> None:
    assert parse_inbound(fixture("scan")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key=f"evt:{RESIDENT}:1700000008:scan",
        received_at=at(1700000008),
        kind=MessageKind.EVENT,
        event=EventKind.SCAN,
        event_key="staff:grid-07",
        extra={"Ticket": "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2"},
    )


def test_click() -> None:
    assert parse_inbound(fixture("click")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key=f"evt:{RESIDENT}:1700000009:click",
        received_at=at(1700000009),
        kind=MessageKind.EVENT,
        event=EventKind.CLICK,
        event_key="menu:my_petitions",
    )


def test_view() -> None:
    assert parse_inbound(fixture("view")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key=f"evt:{RESIDENT}:1700000010:view",
        received_at=at(1700000010),
        kind=MessageKind.EVENT,
        event=EventKind.VIEW,
        event_key="https://example.org/h5/status",
        url="https://example.org/h5/status",
        extra={"MenuId": "208379533"},
    )


def test_template_send_job_finish() -> None:
    assert parse_inbound(fixture("templatesendjobfinish")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key=f"evt:{RESIDENT}:1700000011:templatesendjobfinish:200163836",
        received_at=at(1700000011),
        kind=MessageKind.EVENT,
        event=EventKind.TEMPLATE_SEND_JOB_FINISH,
        extra={"Status": "failed:user block", "MsgID": "200163836"},
    )


def test_location_report_event() -> None:
    assert parse_inbound(fixture("location_event")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key=f"evt:{RESIDENT}:1700000012:location",
        received_at=at(1700000012),
        kind=MessageKind.EVENT,
        event=EventKind.LOCATION_REPORT,
        latitude=29.652491,
        longitude=91.172112,
        extra={"Precision": "65.000000"},
    )


def test_unknown_message_type_does_not_crash() -> None:
    assert parse_inbound(fixture("unknown")) == InboundMessage(
        user_id=RESIDENT,
        account_id=ACCOUNT,
        dedup_key="msg:24300000000000006",
        received_at=at(1700000013),
        kind=MessageKind.UNKNOWN,
        extra={"HoloId": "holo-1"},
    )


def test_unknown_event_is_other() -> None:
    xml = fixture("click").replace("CLICK", "kf_create_session")
    message = parse_inbound(xml)
    assert message.kind is MessageKind.EVENT
    assert message.event is EventKind.OTHER
    assert message.dedup_key == f"evt:{RESIDENT}:1700000009:kf_create_session"


def test_video_is_unknown_but_keeps_media() -> None:
    xml = fixture("image").replace("[image]", "[video]")
    message = parse_inbound(xml)
    assert message.kind is MessageKind.UNKNOWN
    assert message.media_id == "media-image-1"


def test_wecom_text() -> None:
    assert parse_wecom_inbound(fixture("wecom_text")) == InboundMessage(
        user_id="zhaxi.staff",
        account_id="ww-dev-corp",
        dedup_key="msg:1234567890123456",
        received_at=at(1700000014),
        kind=MessageKind.TEXT,
        text="接单 MQ-2024-0042",
        extra={"AgentID": "1000002"},
    )


def test_text_is_normalised_and_capped() -> None:
    decomposed = "e\u0301"  # é as e + combining acute → NFC é
    assert normalise_text(f"  {decomposed}\x07a\u200bb\r\nc\x00 ") == "\u00e9a\u200bb\nc"
    long_tibetan = "བཀྲ" * 1000  # ba + the stack ka with subjoined ra (U+0FB2)
    capped = normalise_text(long_tibetan)
    assert len(capped) <= MAX_TEXT_CHARS
    assert long_tibetan.startswith(capped)
    assert unicodedata.category(long_tibetan[len(capped)])[0] != "M"  # stack kept whole


def test_long_text_message_is_capped() -> None:
    xml = fixture("text").replace("三天", "长" * 5000)
    assert len(parse_inbound(xml).text) == MAX_TEXT_CHARS


@pytest.mark.parametrize(
    "xml",
    [
        "",
        "not xml at all",
        "<xml><ToUserName>a</ToUserName>",
        "<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>",  # no users
        fixture("text").replace("1700000000", "yesterday"),
    ],
)
def test_malformed_xml_raises_parse_error(xml: str) -> None:
    with pytest.raises(InboundParseError) as caught:
        parse_inbound(xml)
    # routes catch CallbackRejected: a parse failure is answered with 400 like any refusal
    assert isinstance(caught.value, CallbackRejected)
    assert caught.value.status == 400


XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE xml [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content>"
    "<MsgId>1</MsgId></xml>"
)


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_entity_payloads_are_refused_without_expansion(payload: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InboundParseError):
        parse_inbound(payload)
    with pytest.raises(InboundParseError):
        parse_wecom_inbound(payload)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_wechatpy_parser_itself_refuses_entities(payload: str) -> None:
    """Our DTD guard is belt and braces: wechatpy's xmltodict refuses entity declarations too."""
    import wechatpy

    with pytest.raises(ValueError, match="entities are disabled"):
        wechatpy.parse_message(payload)


def test_dtd_words_inside_cdata_are_just_text() -> None:
    xml = fixture("text").replace("三天", "<!DOCTYPE x> <!ENTITY y>")
    assert "<!DOCTYPE x>" in parse_inbound(xml).text
