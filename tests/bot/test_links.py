"""Signed status links: only the signer's own, unexpired tokens open a case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.links import LinkSigner

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
SIGNER = LinkSigner("secret", ttl=timedelta(days=90))


def test_a_signed_link_opens_its_own_petition() -> None:
    claims = SIGNER.verify(SIGNER.sign(42, "o-abc.def_-1", NOW), NOW)
    assert claims is not None
    assert (claims.petition_id, claims.openid) == (42, "o-abc.def_-1")


def test_tampered_foreign_and_expired_links_open_nothing() -> None:
    token = SIGNER.sign(42, "o-abc", NOW)
    forged = LinkSigner("other-secret", ttl=timedelta(days=90)).sign(43, "o-abc", NOW)
    assert SIGNER.verify(forged, NOW) is None
    assert SIGNER.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), NOW) is None
    assert SIGNER.verify("not-a-token", NOW) is None
    assert SIGNER.verify("", NOW) is None
    assert SIGNER.verify(token, NOW + timedelta(days=91)) is None
