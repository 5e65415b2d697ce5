"""Console accounts in the domain: validation per role, argon2, lockout, sessions, demo seed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import PROJECT_ROOT
from governance.clock import ManualClock
from governance.console.accounts import (
    AccountError,
    authenticate,
    create_account,
    end_session,
    load_session,
    set_password,
    start_session,
)
from governance.console.demo import DEMO_PASSWORD, seed_demo_accounts
from governance.console.models import ConsoleAccount, ConsoleRole, ConsoleSession
from governance.seed import seed_demo

LOCKOUT = timedelta(minutes=15)


async def _create(session: AsyncSession, clock: ManualClock, **fields: object) -> ConsoleAccount:
    values: dict[str, object] = {"username": "pema", "password": "a-long-password", **fields}
    return await create_account(session, now=clock.now(), **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"role": "grid_worker"}, "grid_worker_needs_staff"),
        ({"role": "grid_worker", "staff_id": "S-C01"}, "grid_worker_needs_staff"),
        ({"role": "community_officer"}, "officer_needs_one_community"),
        ({"role": "street_admin"}, "street_admin_needs_communities"),
        ({"role": "street_admin", "community_ids": ["nowhere"]}, "community_unknown"),
        ({"role": "system_admin", "staff_id": "S-9999"}, "staff_unknown"),
        ({"role": "mayor"}, "role_unknown"),
        ({"role": "system_admin", "password": "short"}, "password_too_short"),
        ({"role": "system_admin", "username": "Ab cd"}, "username_invalid"),
        ({"role": "system_admin", "username": "x"}, "username_invalid"),
    ],
)
async def test_create_account_refuses_inconsistent_input(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    fields: dict[str, object],
    code: str,
) -> None:
    async with sessions() as session, session.begin():
        with pytest.raises(AccountError) as refused:
            await _create(session, clock, **fields)
    assert refused.value.code == code


async def test_create_account_per_role(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        worker = await _create(
            session, clock, username="Dolma2", role="grid_worker", staff_id="S-0102"
        )
        officer = await _create(
            session, clock, username="lhakpa2", role="community_officer", staff_id="S-C01"
        )
        street = await _create(
            session,
            clock,
            username="street2",
            role="street_admin",
            community_ids=["lhasa-gesanglinka", "lhasa-gesanglinka"],
        )
        admin = await _create(session, clock, username="root", role="system_admin")
        with pytest.raises(AccountError) as taken:
            await _create(session, clock, username="ROOT", role="system_admin")
    assert taken.value.code == "username_taken"
    assert (worker.username, worker.community_ids) == ("dolma2", ["lhasa-gesanglinka"])
    assert officer.community_ids == ["lhasa-gesanglinka"]
    assert street.community_ids == ["lhasa-gesanglinka"]
    assert admin.role == ConsoleRole.SYSTEM_ADMIN
    assert admin.password_hash.startswith("$argon2id$")
    assert "a-long-password" not in admin.password_hash


async def test_authenticate_counts_failures_and_locks_for_a_while(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        await _create(session, clock, role="system_admin")

    async def attempt(password: str) -> str:
        async with sessions() as session, session.begin():
            result = await authenticate(
                session, "PEMA ", password, now=clock.now(), max_failed=3, lockout=LOCKOUT
            )
            return result.reason

    assert await attempt("wrong-1") == "wrong_password"
    assert await attempt("wrong-2") == "wrong_password"
    assert await attempt("wrong-3") == "locked_now"
    assert await attempt("a-long-password") == "locked"
    clock.advance(LOCKOUT - timedelta(seconds=1))
    assert await attempt("a-long-password") == "locked"
    clock.advance(timedelta(seconds=2))
    assert await attempt("wrong-again") == "wrong_password"  # the count starts afresh
    assert await attempt("a-long-password") == "ok"
    async with sessions() as session:
        account = await session.scalar(
            select(ConsoleAccount).where(ConsoleAccount.username == "pema")
        )
    assert account is not None
    assert (account.failed_logins, account.locked_until) == (0, None)
    assert account.last_login_at == clock.now()


async def test_unknown_and_inactive_users_fail_alike(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        account = await _create(session, clock, role="system_admin")
        account.active = False
        unknown = await authenticate(
            session, "nobody", "a-long-password", now=clock.now(), max_failed=3, lockout=LOCKOUT
        )
        inactive = await authenticate(
            session, "pema", "a-long-password", now=clock.now(), max_failed=3, lockout=LOCKOUT
        )
    assert unknown.account is None
    assert inactive.account is None
    assert (unknown.reason, inactive.reason) == ("unknown", "inactive")


async def test_sessions_expire_end_and_die_with_a_new_password(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        account = await _create(session, clock, role="system_admin")
        token, row = await start_session(session, account, now=clock.now(), hours=12)
        other, _ = await start_session(session, account, now=clock.now(), hours=12)
    assert token != other
    assert row.token_hash != token
    assert len(row.token_hash) == 64
    async with sessions() as session, session.begin():
        loaded = await load_session(session, token, now=clock.now())
        assert loaded is not None
        assert loaded[1].username == "pema"
        assert await load_session(session, token + "x", now=clock.now()) is None
        assert await load_session(session, None, now=clock.now()) is None
        await end_session(session, token)
    async with sessions() as session, session.begin():
        assert await load_session(session, token, now=clock.now()) is None
        assert await load_session(session, other, now=clock.now()) is not None
    clock.advance(timedelta(hours=12))
    async with sessions() as session, session.begin():
        assert await load_session(session, other, now=clock.now()) is None
        third, _ = await start_session(session, account, now=clock.now(), hours=12)
        stored = await session.get(ConsoleAccount, account.id)
        assert stored is not None
        await set_password(session, stored, "another-long-one", now=clock.now())
    async with sessions() as session, session.begin():
        assert await load_session(session, third, now=clock.now()) is None
        left = await session.scalar(select(func.count()).select_from(ConsoleSession))
        ok = await authenticate(
            session, "pema", "another-long-one", now=clock.now(), max_failed=3, lockout=LOCKOUT
        )
    assert left == 0
    assert ok.account is not None


async def test_demo_accounts_are_separate_from_the_production_seed(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions() as session, session.begin():
        await seed_demo(session, PROJECT_ROOT / "data")  # the seed `minqing seed demo` runs
        assert await session.scalar(select(func.count()).select_from(ConsoleAccount)) == 0
        created = await seed_demo_accounts(session, now=clock.now())
        again = await seed_demo_accounts(session, now=clock.now())
        dolma = await authenticate(
            session, "dolma", DEMO_PASSWORD, now=clock.now(), max_failed=5, lockout=LOCKOUT
        )
    assert created == ["dolma", "dorje", "lhakpa", "street", "admin"]
    assert again == []
    assert dolma.account is not None
    assert dolma.account.staff_id == "S-0102"
