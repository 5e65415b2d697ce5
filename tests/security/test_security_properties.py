"""Property tests (hypothesis) on everything that reads untrusted text: the callback XML parsers,
the staff command parser and the ticket / phone extractors the actions use."""

from __future__ import annotations

import re
import string
from datetime import date

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from actions.staff_command_parser import ParseError, StaffCommand, StaffCommandParser
from bot.messages import MessageKind
from bot.settings import PROJECT_ROOT
from bot.wechat.inbound import InboundParseError, normalise_text, parse_inbound
from bot.wechat.security import CallbackRejected, parse_xml_root
from nlu.entities import extract_phones, extract_tickets
from simulator.xmlcodec import build_xml

PARSER = StaffCommandParser.load(PROJECT_ROOT / "data" / "dialogue" / "staff_commands.yml")
TAGS = ["xml", "ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event"]
XML_PIECES = st.sampled_from(
    [
        *(f"<{t}>" for t in TAGS),
        *(f"</{t}>" for t in TAGS),
        "<![CDATA[",
        "]]>",
        "<!DOCTYPE x>",
        '<!ENTITY a "b">',
        "&a;",
        "&#0;",
        "&#x1F600;",
        "&lt;",
        "<?xml version='1.0'?>",
        "<!--",
        "-->",
        "text",
        "event",
        "1700000000",
        "路灯",
        "ལམ་སྒྲོན",
        " ",
    ]
)
XML_LIKE = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(XML_PIECES, st.text(max_size=5)), max_size=40).map("".join),
)
# Characters XML 1.0 can carry (WeChat only sends legal XML); surrogates excluded.
XML_CHARS = st.characters(
    codec="utf-8",  # no surrogates
    blacklist_characters="".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r")
    + "\ufffe\uffff",
)
OPENID = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=40)
ANY_DIGIT = st.sampled_from(["0123456789", "０１２３４５６７８９", "༠༡༢༣༤༥༦༧༨༩"])
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _in_script(digits: str, script: str) -> str:
    return "".join(script[int(d)] for d in digits)


@PROPERTY
@given(XML_LIKE)
@example("<xml><a>1</a><a>2</a></xml>")
@example('<!DOCTYPE x [<!ENTITY a "b">]><xml><a>&a;</a></xml>')
def test_parse_xml_root_only_ever_rejects(text: str) -> None:
    status = 400
    try:
        assert isinstance(parse_xml_root(text), dict)
    except CallbackRejected as rejected:
        status = rejected.status
    assert status == 400


@PROPERTY
@given(XML_LIKE)
@example(
    "<xml><FromUserName>a</FromUserName><ToUserName>b</ToUserName>"
    "<CreateTime>99999999999999999999</CreateTime><MsgType>text</MsgType></xml>"
)
@example(
    "<xml><FromUserName>a</FromUserName><ToUserName>b</ToUserName>"
    "<CreateTime>²</CreateTime><MsgType>text</MsgType></xml>"
)
def test_parse_inbound_only_ever_rejects(text: str) -> None:
    status = 400
    try:
        message = parse_inbound(text)
        assert message.user_id
        assert message.account_id
    except InboundParseError as rejected:
        status = rejected.status
    assert status == 400


@PROPERTY
@given(
    openid=OPENID,
    content=st.text(XML_CHARS, max_size=400),
    create_time=st.integers(min_value=0, max_value=99_999_999_999),
    msg_id=st.integers(min_value=1, max_value=2**63),
)
def test_a_text_callback_round_trips(
    openid: str, content: str, create_time: int, msg_id: int
) -> None:
    xml = build_xml(
        [
            ("ToUserName", "gh_account"),
            ("FromUserName", openid),
            ("CreateTime", create_time),
            ("MsgType", "text"),
            ("Content", content),
            ("MsgId", msg_id),
        ]
    )
    message = parse_inbound(xml)
    assert message.kind is MessageKind.TEXT
    assert message.user_id == openid
    assert int(message.received_at.timestamp()) == create_time
    assert message.dedup_key == f"msg:{msg_id}"
    # xmltodict strips surrounding whitespace of text nodes; otherwise normalised as documented.
    assert message.text == normalise_text(content.strip())


@PROPERTY
@given(st.text(max_size=3000))
def test_normalise_text_is_bounded_idempotent_and_clean(text: str) -> None:
    once = normalise_text(text)
    assert len(once) <= 2000
    assert normalise_text(once) == once
    assert not any(ch != "\n" and ch < " " for ch in once)


@PROPERTY
@given(st.text(max_size=200))
def test_the_staff_parser_never_crashes(text: str) -> None:
    result = PARSER.parse(text)
    assert isinstance(result, StaffCommand | ParseError)


@PROPERTY
@given(
    word=st.sampled_from(["接单", "到场", "查询", "办结", "ལས་འགན་ལེན", "སྒྲུབ་ཚར"]),
    day=st.dates(min_value=date(2000, 1, 1)).map(lambda d: d.strftime("%Y%m%d")),
    number=st.integers(min_value=1, max_value=9999),
    script=ANY_DIGIT,
    separator=st.sampled_from([" ", "：", ":", "，", "\u0f0b", "  "]),
    full=st.booleans(),
)
def test_staff_tickets_round_trip_in_every_digit_script(
    word: str, day: str, number: int, script: str, separator: str, full: bool
) -> None:
    ticket = f"{day}-{number:04d}" if full else f"{number:04d}"
    typed = "".join(script[int(c)] if c.isdigit() else c for c in ticket)
    result = PARSER.parse(word + separator + typed)
    assert isinstance(result, StaffCommand), result
    assert result.ticket_number == number
    assert result.ticket_day == (day if full else None)


def test_staff_ticket_day_is_always_ascii() -> None:
    result = PARSER.parse("接单 ٢٠٢٦١١٢٢-٠٠٠١")
    assert isinstance(result, ParseError) or (
        result.ticket_day is None or result.ticket_day.isascii()
    )


@PROPERTY
@given(st.text(max_size=300))
def test_ticket_extraction_never_crashes_and_spans_point_into_the_text(text: str) -> None:
    for entity in extract_tickets(text):
        assert 0 <= entity.start < entity.end <= len(text)
        assert re.fullmatch(r"20\d{6}-\d{4}", str(entity.value))


@PROPERTY
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    number=st.integers(min_value=0, max_value=9999),
    script=ANY_DIGIT,
    dash=st.sampled_from(["-", "－", "—", "_", ""]),
    before=st.text(st.sampled_from("查询工单号我的进度 ：:，"), max_size=8),
    after=st.text(st.sampled_from("的进度怎么样了？ 。"), max_size=8),
)
def test_tickets_round_trip_in_every_digit_script(
    day: date, number: int, script: str, dash: str, before: str, after: str
) -> None:
    ymd = day.strftime("%Y%m%d")
    typed = _in_script(ymd, script) + dash + _in_script(f"{number:04d}", script)
    found = extract_tickets(before + typed + after)
    assert [e.value for e in found] == [f"{ymd}-{number:04d}"]


def test_ticket_values_are_always_ascii() -> None:
    assert all(e.value.isascii() for e in extract_tickets("20٢٦1122-0001"))


@PROPERTY
@given(st.text(max_size=200))
def test_phone_extraction_never_crashes_and_values_are_numbers(text: str) -> None:
    for entity in extract_phones(text):
        assert 0 <= entity.start < entity.end <= len(text)
        assert re.fullmatch(r"1[3-9]\d{9}|089[12]-\d{7,8}", str(entity.value)), entity.value


@PROPERTY
@given(
    mobile=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    script=ANY_DIGIT,
    before=st.text(st.sampled_from("我的电话是号码：，"), max_size=6),
)
def test_mobiles_round_trip_in_every_digit_script(mobile: str, script: str, before: str) -> None:
    found = extract_phones(before + _in_script(mobile, script))
    assert [e.value for e in found] == [mobile]
