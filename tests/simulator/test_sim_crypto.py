"""The simulator's own WeChat crypto: known answers, round trips, and agreement with wechatpy."""

from __future__ import annotations

import base64
import hashlib

import pytest
from simhelpers import AES_KEY, APP_ID, CORP_ID, TOKEN
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from simulator.crypto import (
    BLOCK_SIZE,
    CryptoError,
    MessageCrypto,
    check_signature,
    pkcs7_pad,
    pkcs7_unpad,
    signature,
)

XML = "<xml><Content><![CDATA[hello]]></Content></xml>"
PREFIX = bytes(range(16))
# Computed once and checked against wechatpy (test_known_answer_decrypts_with_wechatpy).
KNOWN_CIPHERTEXT = (
    "IG+0eOkLdhYW9kHtuT3HY6HnHHIIAtSmswBcS22+4lDfuMctZw//CeDwj62LVDPUVHEDSQm4DiJHp89msmB+"
    "LTxbLtA2q29AVSgBAXCYKVlQQFTpsU7ifD8RSqK0+9YN"
)
# "Tashi delek" in Tibetan and "received" in Chinese, escaped to keep .py files ASCII.
TIBETAN = (
    "\u0f56\u0f40\u0fb2\u0f0b\u0f64\u0f72\u0f66\u0f0b"
    "\u0f56\u0f51\u0f7a\u0f0b\u0f63\u0f7a\u0f42\u0f66\u0f0d"
)
CHINESE = "\u5df2\u6536\u5230"


def test_signature_is_sha1_of_sorted_parts() -> None:
    expected = hashlib.sha1(b"1234561700000000dev-token").hexdigest()
    assert signature("dev-token", "1700000000", "123456") == expected
    assert expected == "411169fd28d367b1234c03dbcf4f4bab086d47a7"
    assert check_signature(expected, "123456", "dev-token", "1700000000")
    assert not check_signature(expected, "123457", "dev-token", "1700000000")


def test_msg_signature_covers_the_encrypt_element() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    expected = hashlib.sha1(
        "".join(sorted([TOKEN, "1700000000", "123456", KNOWN_CIPHERTEXT])).encode()
    ).hexdigest()
    assert crypto.msg_signature("1700000000", "123456", KNOWN_CIPHERTEXT) == expected


def test_known_answer_encryption() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    assert crypto.encrypt(XML, random_prefix=PREFIX) == KNOWN_CIPHERTEXT
    assert crypto.decrypt(KNOWN_CIPHERTEXT) == XML


def test_known_answer_decrypts_with_wechatpy() -> None:
    key = base64.b64decode(AES_KEY + "=")
    assert PrpCrypto(key).decrypt(KNOWN_CIPHERTEXT, APP_ID) == XML


def test_plaintext_layout_and_padding() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    raw = base64.b64decode(crypto.encrypt(XML, random_prefix=PREFIX))
    layout = PREFIX + len(XML).to_bytes(4, "big") + XML.encode() + APP_ID.encode()
    assert len(raw) % BLOCK_SIZE == 0
    assert len(raw) == len(layout) + (BLOCK_SIZE - len(layout) % BLOCK_SIZE)


@pytest.mark.parametrize("text", [XML, f"<xml><Content>{TIBETAN}{CHINESE}</Content></xml>", ""])
def test_round_trip_including_tibetan(text: str) -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    encrypted = crypto.encrypt(text)
    assert encrypted != crypto.encrypt(text)  # random prefix
    assert crypto.decrypt(encrypted) == text


def test_interop_with_wechatpy_both_ways() -> None:
    ours = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    theirs = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    message = f"<xml><Content><![CDATA[{TIBETAN}]]></Content></xml>"
    encrypted = ours.encrypt(message)
    envelope = {"Encrypt": encrypted}
    assert (
        theirs.decrypt_message(
            envelope, ours.msg_signature("1700000000", "42", encrypted), "1700000000", "42"
        )
        == message
    )
    reply = theirs.encrypt_message(message, "42", "1700000000")
    start = reply.index("<Encrypt><![CDATA[") + len("<Encrypt><![CDATA[")
    assert ours.decrypt(reply[start : reply.index("]]></Encrypt>")]) == message


def test_foreign_receive_id_is_refused() -> None:
    encrypted = MessageCrypto(TOKEN, AES_KEY, APP_ID).encrypt(XML)
    with pytest.raises(CryptoError, match="receive id"):
        MessageCrypto(TOKEN, AES_KEY, CORP_ID).decrypt(encrypted)


def test_tampered_ciphertext_is_refused() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    raw = bytearray(base64.b64decode(crypto.encrypt(XML)))
    raw[-1] ^= 0xFF
    with pytest.raises(CryptoError):
        crypto.decrypt(base64.b64encode(bytes(raw)).decode())
    with pytest.raises(CryptoError):
        crypto.decrypt("not base64!")


def test_pkcs7_pads_to_32_and_refuses_garbage() -> None:
    assert len(pkcs7_pad(b"")) == 32
    assert pkcs7_pad(b"x" * 32)[-1] == 32
    assert pkcs7_unpad(pkcs7_pad(b"abc")) == b"abc"
    with pytest.raises(CryptoError):
        pkcs7_unpad(b"abc\x05")


def test_bad_aes_key_is_refused() -> None:
    with pytest.raises(CryptoError):
        MessageCrypto(TOKEN, "short", APP_ID)
