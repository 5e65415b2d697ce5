"""Link kinds, issue times and form nonces; the policy page's language switch and elder mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.links import LinkKind, LinkProblem, LinkSigner
from governance.links import REVOCATION_KEPT, revoke_links
from tests.bot.web.conftest import H5

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
SIGNER = LinkSigner("secret", ttl=timedelta(days=90))


def test_a_petition_token_is_not_a_booking_token_and_back() -> None:
    petition = SIGNER.sign(7, "o-abc.def_-1", NOW)
    booking = SIGNER.sign_booking(7, "o-abc.def_-1", NOW)
    assert SIGNER.verify(petition, NOW) is not None
    assert SIGNER.verify(booking, NOW) is None
    assert SIGNER.verify(booking, NOW, LinkKind.BOOKING) is not None
    assert SIGNER.verify(petition, NOW, LinkKind.BOOKING) is None
    claims = SIGNER.inspect(booking, LinkKind.BOOKING)
    assert claims is not None
    assert (claims.subject_id, claims.openid) == (7, "o-abc.def_-1")
    assert claims.issued_at_ms == int(NOW.timestamp() * 1000)


def test_nonces_are_fresh_and_bound_to_their_token() -> None:
    token, other = SIGNER.sign(1, "o-a", NOW), SIGNER.sign(2, "o-a", NOW)
    first, second = SIGNER.nonce(token), SIGNER.nonce(token)
    assert first != second
    assert SIGNER.nonce_ok(token, first)
    assert SIGNER.nonce_ok(token, second)
    assert not SIGNER.nonce_ok(other, first)
    assert not SIGNER.nonce_ok(token, "")
    assert not SIGNER.nonce_ok(token, first[:-1] + ("0" if first[-1] != "0" else "1"))
    assert not LinkSigner("other", ttl=timedelta(days=1)).nonce_ok(token, first)


def test_links_cannot_outlive_their_revocation_records() -> None:
    with pytest.raises(ValueError, match="outlives"):
        LinkSigner("secret", ttl=REVOCATION_KEPT + timedelta(days=1))


async def test_check_tells_forged_expired_and_revoked_apart(h5: H5) -> None:
    token = h5.signer.sign(42, "o-abc", h5.clock.now())
    async with h5.sessions() as session, session.begin():
        claims = await h5.signer.check(session, token, h5.clock.now(), LinkKind.PETITION)
        assert not isinstance(claims, LinkProblem)
        assert claims.subject_id == 42
        late = h5.clock.now() + timedelta(days=91)
        assert await h5.signer.check(session, token, late, LinkKind.PETITION) == (
            LinkProblem.EXPIRED
        )
        assert await h5.signer.check(session, "x" + token, h5.clock.now(), LinkKind.PETITION) == (
            LinkProblem.INVALID
        )
        await revoke_links(session, h5.clock.now(), openid="o-abc")
        assert await h5.signer.check(session, token, h5.clock.now(), LinkKind.PETITION) == (
            LinkProblem.REVOKED
        ), "revoked in the same millisecond it was issued: revoked"
        with pytest.raises(ValueError, match="needs"):
            await revoke_links(session, h5.clock.now())


async def test_the_policy_page_switches_language_and_elder_mode(h5: H5) -> None:
    status, html = await h5.get("/p/elderly_allowance")
    assert status == 200
    assert 'lang="zh-CN"' in html
    assert "高龄津贴" in html
    assert 'href="/p/elderly_allowance?lang=bo"' in html
    status, html = await h5.get("/p/elderly_allowance?lang=bo&elder=1")
    assert 'lang="bo"' in html
    assert '<body class="elder">' in html
    status, html = await h5.get("/p/elderly_allowance")
    assert 'lang="bo"' in html, "the choice is remembered"
    assert '<body class="elder">' in html
    status, html = await h5.get("/p/no-such-policy")
    assert status == 404
    assert "没有找到这项政策" in html
    assert "སྲིད་ཇུས་འདི་རྙེད་མ་སོང་།" in html
