"""Signed, expiring links to a resident's H5 pages, no login needed: `/s/<token>` (a petition's
status) and `/b/<token>` (an eldercare booking).

A token names one kind, one object and one resident, with its issue time and expiry, signed with
HMAC-SHA256; the kind is signed too, so a petition token never opens a booking. A changed,
expired or revoked token (see `governance.links.revoke_links`) opens nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from governance.links import REVOCATION_KEPT, revoked_at


class LinkKind(StrEnum):
    PETITION = "s"
    BOOKING = "b"


class LinkProblem(StrEnum):
    """Why a token opens nothing: never genuine (404), or genuine but no longer valid (410)."""

    INVALID = "invalid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class LinkClaims:
    kind: LinkKind
    subject_id: int
    """The petition's or the booking's id."""
    openid: str
    issued_at_ms: int
    expires_at: int
    """Unix seconds."""

    @property
    def petition_id(self) -> int:
        return self.subject_id


class LinkSigner:
    def __init__(self, secret: str, *, ttl: timedelta) -> None:
        if ttl > REVOCATION_KEPT:
            raise ValueError(f"link TTL {ttl} outlives the revocation records ({REVOCATION_KEPT})")
        self._key = hashlib.sha256(secret.encode()).digest()
        self._nonce_key = hashlib.sha256(b"h5-nonce:" + self._key).digest()
        self._ttl = ttl

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def sign(self, petition_id: int, openid: str, now: datetime) -> str:
        """The token of a petition's status page for one follower."""
        return self.sign_for(LinkKind.PETITION, petition_id, openid, now)

    def sign_booking(self, booking_id: int, openid: str, now: datetime) -> str:
        return self.sign_for(LinkKind.BOOKING, booking_id, openid, now)

    def sign_for(self, kind: LinkKind, subject_id: int, openid: str, now: datetime) -> str:
        issued = int(now.timestamp() * 1000)
        expires = int((now + self._ttl).timestamp())
        body = f"{kind.value}{subject_id}.{openid}.{issued}.{expires}".encode()
        token = body + b"." + self._mac(body)
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def inspect(self, token: str, kind: LinkKind = LinkKind.PETITION) -> LinkClaims | None:
        """The claims of a genuine token of this kind, expired or not; None when forged."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body, mac = raw[:-17], raw[-16:]
            if raw[-17:-16] != b"." or not hmac.compare_digest(mac, self._mac(body)):
                return None
            text = body.decode()
            if text[:1] != kind.value:
                return None
            subject, rest = text[1:].split(".", 1)
            openid, issued, expires = rest.rsplit(".", 2)
            return LinkClaims(kind, int(subject), openid, int(issued), int(expires))
        except (ValueError, UnicodeDecodeError):
            return None

    def verify(
        self, token: str, now: datetime, kind: LinkKind = LinkKind.PETITION
    ) -> LinkClaims | None:
        """Genuine and unexpired claims (revocation needs the database: see `check`)."""
        claims = self.inspect(token, kind)
        return claims if claims is not None and claims.expires_at > now.timestamp() else None

    async def check(
        self, session: AsyncSession, token: str, now: datetime, kind: LinkKind
    ) -> LinkClaims | LinkProblem:
        """The claims of a genuine, unexpired, unrevoked token, or why it opens nothing."""
        claims = self.inspect(token, kind)
        if claims is None:
            return LinkProblem.INVALID
        if claims.expires_at <= now.timestamp():
            return LinkProblem.EXPIRED
        revoked = await revoked_at(
            session,
            petition_id=claims.subject_id if kind is LinkKind.PETITION else None,
            booking_id=claims.subject_id if kind is LinkKind.BOOKING else None,
            openid=claims.openid,
        )
        if revoked is not None and claims.issued_at_ms <= int(revoked.timestamp() * 1000):
            return LinkProblem.REVOKED
        return claims

    def nonce(self, token: str) -> str:
        """A fresh per-page form nonce bound to this token (checked by `nonce_ok`)."""
        random = secrets.token_hex(8)
        return f"{random}.{self._nonce_mac(token, random)}"

    def nonce_ok(self, token: str, nonce: str) -> bool:
        random, _, mac = nonce.partition(".")
        if len(random) != 16 or not mac:
            return False
        return hmac.compare_digest(mac, self._nonce_mac(token, random))

    def _nonce_mac(self, token: str, random: str) -> str:
        message = f"{token}|{random}".encode()
        return hmac.new(self._nonce_key, message, hashlib.sha256).hexdigest()[:24]
