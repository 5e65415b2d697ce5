"""Signed, expiring links to a resident's H5 status page: `/s/<token>`, no login needed.

The token names one petition and one resident and carries an expiry, signed with HMAC-SHA256;
a changed or expired token shows a friendly page, never someone else's case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LinkClaims:
    petition_id: int
    openid: str
    expires_at: int
    """Unix seconds."""


class LinkSigner:
    def __init__(self, secret: str, *, ttl: timedelta) -> None:
        self._key = hashlib.sha256(secret.encode()).digest()
        self._ttl = ttl

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def sign(self, petition_id: int, openid: str, now: datetime) -> str:
        expires = int((now + self._ttl).timestamp())
        body = f"{petition_id}.{openid}.{expires}".encode()
        token = body + b"." + self._mac(body)
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def verify(self, token: str, now: datetime) -> LinkClaims | None:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body, mac = raw[:-17], raw[-16:]
            if raw[-17:-16] != b"." or not hmac.compare_digest(mac, self._mac(body)):
                return None
            petition, rest = body.decode().split(".", 1)
            openid, expires = rest.rsplit(".", 1)
            claims = LinkClaims(int(petition), openid, int(expires))
        except (ValueError, UnicodeDecodeError):
            return None
        return claims if claims.expires_at > now.timestamp() else None
