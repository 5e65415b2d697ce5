"""Passive reply XML (CDATA-safe) and UTF-8 byte-budget splitting of Chinese and Tibetan text."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import pytest
import xmltodict

from bot.wechat.outbound import (
    cdata,
    passive_image_xml,
    passive_text_xml,
    passive_voice_xml,
    split_text_for_wechat,
)

CREATED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
TIBETAN_SENTENCE = "ང་ཚོའི་སྡོད་ཁང་གི་ཆུ་ཡོང་གི་མི་འདུག། "  # 3 bytes per code point
CHINESE_SENTENCE = "我们小区已经停水三天了，请尽快派人维修。"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_valid_split(text: str, chunks: list[str], limit: int = 2048) -> None:
    assert chunks, "non-empty text gives at least one chunk"
    for chunk in chunks:
        assert 0 < len(chunk.encode("utf-8")) <= limit
        # never starts with a combining mark: no Tibetan stack or vowel sign was cut off
        assert unicodedata.category(chunk[0])[0] != "M"
    assert squash("".join(chunks)) == squash(text)


def test_passive_text_xml_parses_back() -> None:
    xml = passive_text_xml("oResident0001", "gh_minqing_dev", "收到\nཐུགས་རྗེ་ཆེ།", CREATED)
    fields = xmltodict.parse(xml)["xml"]
    assert fields == {
        "ToUserName": "oResident0001",
        "FromUserName": "gh_minqing_dev",
        "CreateTime": str(int(CREATED.timestamp())),
        "MsgType": "text",
        "Content": "收到\nཐུགས་རྗེ་ཆེ།",
    }


def test_cdata_terminator_in_content_is_split() -> None:
    content = "a]]>b <xml> ]]]]> & c"
    xml = passive_text_xml("o1", "gh", content, CREATED)
    assert xmltodict.parse(xml)["xml"]["Content"] == content
    assert cdata("]]>") == "<![CDATA[]]]]><![CDATA[>]]>"


def test_characters_xml_cannot_carry_are_dropped() -> None:
    xml = passive_text_xml("o1", "gh", "a\x00b\x07c\nd", CREATED)
    assert xmltodict.parse(xml)["xml"]["Content"] == "abc\nd"


def test_passive_voice_and_image_xml() -> None:
    voice = xmltodict.parse(passive_voice_xml("o1", "gh", "media-1", CREATED))["xml"]
    assert (voice["MsgType"], voice["Voice"]) == ("voice", {"MediaId": "media-1"})
    image = xmltodict.parse(passive_image_xml("o1", "gh", "media-2", CREATED))["xml"]
    assert (image["MsgType"], image["Image"]) == ("image", {"MediaId": "media-2"})


def test_naive_created_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        passive_text_xml("o1", "gh", "x", datetime(2024, 5, 1, 8, 0))


def test_short_text_is_one_chunk() -> None:
    assert split_text_for_wechat(CHINESE_SENTENCE) == [CHINESE_SENTENCE]
    assert split_text_for_wechat("   ") == []


def test_tibetan_paragraphs_split_on_paragraph_boundaries() -> None:
    paragraph = (TIBETAN_SENTENCE * 8).strip()  # ~900 bytes
    text = "\n\n".join([paragraph] * 6)
    chunks = split_text_for_wechat(text)
    assert_valid_split(text, chunks)
    assert all(chunk.count(paragraph) == chunk.count("\n\n") + 1 for chunk in chunks)
    assert len(chunks) == 3


def test_one_long_tibetan_paragraph_splits_at_shad() -> None:
    text = TIBETAN_SENTENCE * 40  # one paragraph, ~4.4 KB
    chunks = split_text_for_wechat(text)
    assert_valid_split(text, chunks)
    assert len(chunks) >= 3
    assert all(chunk.endswith("།") for chunk in chunks)


def test_chinese_lines_split_on_line_boundaries() -> None:
    text = "\n".join(f"{i}. {CHINESE_SENTENCE}" for i in range(80))
    chunks = split_text_for_wechat(text)
    assert_valid_split(text, chunks)
    assert all(chunk.endswith("。") for chunk in chunks)


def test_unbroken_tibetan_stacks_are_never_cut() -> None:
    # no spaces, tsheg or shad: only cluster boundaries remain
    text = "བསྒྲུབས" * 600
    chunks = split_text_for_wechat(text, limit_bytes=1000)
    assert_valid_split(text, chunks, limit=1000)
    assert "".join(chunks) == text


def test_mixed_text_with_small_budget() -> None:
    text = f"{CHINESE_SENTENCE}\n{TIBETAN_SENTENCE}\n\n" * 30
    chunks = split_text_for_wechat(text, limit_bytes=300)
    assert_valid_split(text, chunks, limit=300)
