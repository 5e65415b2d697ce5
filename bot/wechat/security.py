"""Callback security: size cap, signatures, timestamp window, nonce replay and AES (safe mode).

Runs before any parsing so nothing unauthenticated reaches the pipeline; covers the official
account and WeCom app callbacks (same scheme, WeCom is always encrypted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto import PrpCrypto

from bot.kv import KeyValueStore
from governance.clock import Clock

_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_CDATA_OPEN = "<![CDATA["
_CDATA_CLOSE = "]]>"
_DTD_RE = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
DECLINE_BODIES = frozenset({"", "success"})
"""Passive answers that mean "no reply"; WeChat accepts them unencrypted in safe mode too."""


class CallbackRejected(Exception):
    """A callback that must not be processed; `status` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(f"{status}: {reason}")
        self.reason = reason
        self.status = status


def has_dtd(xml: str) -> bool:
    """True for DOCTYPE/ENTITY markup outside CDATA: callbacks never carry a DTD (XXE, bombs).

    A linear scan: a regex over CDATA sections is quadratic on many unterminated `<![CDATA[`
    (64 KiB of them took 8 s of CPU, before the safe-mode signature is even checked)."""
    outside: list[str] = []
    position = 0
    while True:
        start = xml.find(_CDATA_OPEN, position)
        if start < 0:
            outside.append(xml[position:])
            break
        outside.append(xml[position:start])
        end = xml.find(_CDATA_CLOSE, start + len(_CDATA_OPEN))
        if end < 0:  # unterminated: malformed anyway, so look inside it too
            outside.append(xml[start:])
            break
        position = end + len(_CDATA_CLOSE)
    return _DTD_RE.search("".join(outside)) is not None


@dataclass(frozen=True)
class OpenedCallback:
    """A verified callback: the plaintext XML and what `seal` needs to answer it."""

    xml: str
    encrypted: bool
    nonce: str
    timestamp: str
    is_resend: bool
    key_index: int = 0
    """Which AES key (0 = current) opened the request; the reply is sealed with the same one."""


class _SecureRandomPrpCrypto(PrpCrypto):  # type: ignore[misc]  # wechatpy is untyped
    """wechatpy's PrpCrypto with the 16-byte random prefix drawn from `secrets`."""

    def get_random_string(self) -> str:
        return secrets.token_hex(8)


def parse_xml_root(xml: str) -> dict[str, Any]:
    """Parse a callback document into the `<xml>` root's children; 400 on anything malformed."""
    if has_dtd(xml):
        raise CallbackRejected("DTD or entity declaration in XML", 400)
    try:
        document = xmltodict.parse(xml, disable_entities=True)
    except (ExpatError, ValueError) as exc:
        raise CallbackRejected(f"malformed XML ({type(exc).__name__})", 400) from None
    root = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(root, dict):
        raise CallbackRejected("XML root must be <xml> with child elements", 400)
    return root


def signature_of(*parts: str) -> str:
    """WeChat's callback signature: sha1 over the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def _decode_aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except ValueError:
        raise ValueError("EncodingAESKey is not valid base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


class CallbackSecurity:
    """Verifies and opens inbound callbacks and seals passive replies for one account."""

    def __init__(
        self,
        *,
        token: str,
        receive_id: str,
        aes_keys: Sequence[str],
        replay_store: KeyValueStore,
        clock: Clock,
        replay_window_seconds: int = 300,
        max_body_bytes: int = 65536,
        require_encryption: bool = False,
    ) -> None:
        if not token:
            raise ValueError("callback token must not be empty")
        self._token = token
        self._receive_id = receive_id
        self._keys = [_decode_aes_key(key) for key in aes_keys]
        self._replay_store = replay_store
        self._clock = clock
        self._window = replay_window_seconds
        self._max_body_bytes = max_body_bytes
        self._require_encryption = require_encryption
        if require_encryption and not self._keys:
            raise ValueError("require_encryption needs at least one AES key")

    @property
    def max_body_bytes(self) -> int:
        """Callers read at most this many bytes (+1, so `open` can tell "too large")."""
        return self._max_body_bytes

    # -- GET handshake -------------------------------------------------------------------

    def verify_url(self, query: Mapping[str, str]) -> str:
        """Answer the URL-verification GET: the echostr (decrypted for WeCom's msg_signature)."""
        timestamp, nonce = self._check_timestamp(query)
        echostr = query.get("echostr", "")
        if not echostr:
            raise CallbackRejected("missing echostr", 400)
        if "msg_signature" in query:
            self._check_signature(query["msg_signature"], timestamp, nonce, echostr)
            return self._decrypt(echostr)[0]
        if self._require_encryption:
            raise CallbackRejected("msg_signature required", 403)
        self._check_signature(query.get("signature", ""), timestamp, nonce)
        return echostr

    # -- POST callbacks ------------------------------------------------------------------

    async def open(self, query: Mapping[str, str], body: bytes) -> OpenedCallback:
        """Verify a callback and return its plaintext XML; raises CallbackRejected otherwise."""
        return await self.check_replay(self.unseal(query, body))

    def unseal(self, query: Mapping[str, str], body: bytes) -> OpenedCallback:
        """Every check but the replay store's: size, timestamp, signature, decryption, XML.

        `check_replay` must follow before the callback is acted on."""
        if len(body) > self._max_body_bytes:
            raise CallbackRejected("body too large", 413)
        timestamp, nonce = self._check_timestamp(query)
        encrypt_type = query.get("encrypt_type")
        encrypted = encrypt_type == "aes" or (encrypt_type is None and "msg_signature" in query)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRejected("body is not UTF-8", 400) from None

        key_index = 0
        if encrypted:
            if not self._keys:
                raise CallbackRejected("encrypted callback but no AES key configured", 403)
            if "signature" in query:
                self._check_signature(query["signature"], timestamp, nonce)
            envelope = parse_xml_root(text)
            ciphertext = envelope.get("Encrypt")
            if not isinstance(ciphertext, str) or not ciphertext:
                raise CallbackRejected("missing Encrypt element", 400)
            self._check_signature(query.get("msg_signature", ""), timestamp, nonce, ciphertext)
            text, key_index = self._decrypt(ciphertext)
        else:
            if self._require_encryption:
                raise CallbackRejected("plaintext callbacks are not accepted", 403)
            self._check_signature(query.get("signature", ""), timestamp, nonce)
        parse_xml_root(text)
        return OpenedCallback(
            xml=text,
            encrypted=encrypted,
            nonce=nonce,
            timestamp=timestamp,
            is_resend=False,
            key_index=key_index,
        )

    async def check_replay(self, opened: OpenedCallback) -> OpenedCallback:
        """Record the nonce: the same callback marked when it is WeChat resending the very same
        delivery; CallbackRejected when the nonce came before with another body."""
        is_resend = await self._remember_nonce(opened.timestamp, opened.nonce, opened.xml)
        return replace(opened, is_resend=is_resend)

    def seal(self, reply_xml: str, opened: OpenedCallback) -> str:
        """Encrypt and sign a passive reply when the request came encrypted; plain otherwise."""
        if not opened.encrypted or reply_xml.strip() in DECLINE_BODIES:
            return reply_xml
        key_index = opened.key_index if opened.key_index < len(self._keys) else 0
        crypto = _SecureRandomPrpCrypto(self._keys[key_index])
        ciphertext = crypto.encrypt(reply_xml, self._receive_id).decode("ascii")
        timestamp = str(int(self._clock.now().timestamp()))
        nonce = opened.nonce
        signature = signature_of(self._token, timestamp, nonce, ciphertext)
        return (
            "<xml>"
            f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>"
            "</xml>"
        )

    # -- helpers -------------------------------------------------------------------------

    def _check_timestamp(self, query: Mapping[str, str]) -> tuple[str, str]:
        timestamp = query.get("timestamp", "")
        nonce = query.get("nonce", "")
        if not _TIMESTAMP_RE.match(timestamp):
            raise CallbackRejected("timestamp missing or not an integer", 403)
        if not nonce or len(nonce) > 64:
            raise CallbackRejected("nonce missing or too long", 403)
        skew = abs(int(timestamp) - self._clock.now().timestamp())
        if skew > self._window:
            raise CallbackRejected("timestamp outside the replay window", 403)
        return timestamp, nonce

    def _check_signature(self, given: str, *parts: str) -> None:
        expected = signature_of(self._token, *parts)
        if not _same(expected, given):
            raise CallbackRejected("bad signature", 403)

    def _decrypt(self, ciphertext: str) -> tuple[str, int]:
        """Try the current key, then older ones; the embedded id must equal receive_id."""
        for index, key in enumerate(self._keys):
            try:
                plaintext = PrpCrypto(key).decrypt(ciphertext, self._receive_id)
            except Exception:  # wrong key → garbage padding/length/UTF-8/id: all mean "no"
                continue
            if isinstance(plaintext, str):
                return plaintext, index
        raise CallbackRejected("cannot decrypt with any configured key", 403)

    async def _remember_nonce(self, timestamp: str, nonce: str, xml: str) -> bool:
        """Record the nonce; True when it is WeChat retrying the very same delivery.

        Hashes the opened XML (the body itself in plaintext mode): a retry re-encrypted with a
        fresh random prefix is still the same delivery."""
        key = f"nonce:{self._receive_id}:{timestamp}:{nonce}"  # one store serves both accounts
        digest = hashlib.sha256(xml.encode("utf-8")).hexdigest()
        if await self._replay_store.add(key, digest, ttl_seconds=2 * self._window):
            return False
        previous = await self._replay_store.get(key)
        if previous is None:  # expired between the two calls: a fresh delivery
            return False
        if hmac.compare_digest(previous, digest):
            return True
        raise CallbackRejected("nonce reused with a different body", 403)
