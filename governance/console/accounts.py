"""Console accounts: argon2 password hashes, lockout after repeated failures, server-side sessions.

A failed sign-in looks the same whether the user name exists, the password is wrong or the
account is locked (same answer, and an argon2 verification runs in every case), so the form
reveals nothing about who has an account.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.console.models import ConsoleAccount, ConsoleRole, ConsoleSession
from governance.directory.models import Community, Staff

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
TOKEN_BYTES = 32
SESSION_TOUCH_INTERVAL = timedelta(minutes=5)
"""last_seen_at is written at most this often (not on every request)."""

_hasher = PasswordHasher()


class AccountError(ValueError):
    """An account cannot be created as asked; `code` names the reason for the caller's wording."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


@cache
def _dummy_hash() -> str:
    """A hash to verify against when there is no account, so timing tells nothing."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_username(username: str) -> str:
    return username.strip().lower()


def check_password_rules(password: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AccountError("password_too_short", f"at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise AccountError("password_too_long", f"at most {PASSWORD_MAX_LENGTH} characters")


async def create_account(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: ConsoleRole | str,
    now: datetime,
    staff_id: str | None = None,
    community_ids: Iterable[str] = (),
) -> ConsoleAccount:
    """Validate and store a new account; raises AccountError (code) for anything inconsistent.

    Grid workers need a staff member with a grid; community officers one community (given, or
    the staff member's); street administrators at least one; system administrators nothing.
    """
    name = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise AccountError("username_invalid", "2-64 of a-z 0-9 _ . - (starting a-z or 0-9)")
    try:
        role = ConsoleRole(role)
    except ValueError as error:
        raise AccountError("role_unknown", f"unknown role {role!r}") from error
    check_password_rules(password)
    if await session.scalar(select(ConsoleAccount.id).where(ConsoleAccount.username == name)):
        raise AccountError("username_taken", f"{name} exists")
    staff = await session.get(Staff, staff_id) if staff_id else None
    if staff_id and staff is None:
        raise AccountError("staff_unknown", f"no staff member {staff_id}")
    communities = list(dict.fromkeys(c.strip() for c in community_ids if c.strip()))
    for community_id in communities:
        if await session.get(Community, community_id) is None:
            raise AccountError("community_unknown", f"no community {community_id}")
    if role == ConsoleRole.GRID_WORKER:
        if staff is None or staff.grid_id is None:
            raise AccountError("grid_worker_needs_staff", "a grid worker needs --staff-id")
        communities = [staff.community_id]
    elif role == ConsoleRole.COMMUNITY_OFFICER:
        if not communities and staff is not None:
            communities = [staff.community_id]
        if len(communities) != 1:
            raise AccountError("officer_needs_one_community", "exactly one --community")
    elif role == ConsoleRole.STREET_ADMIN and not communities:
        raise AccountError("street_admin_needs_communities", "one or more --community")
    if staff is not None and communities and staff.community_id not in communities:
        raise AccountError("staff_outside_communities", f"{staff.id} is in {staff.community_id}")
    account = ConsoleAccount(
        username=name,
        password_hash=hash_password(password),
        role=role,
        staff_id=staff.id if staff else None,
        community_ids=communities,
        active=True,
        failed_logins=0,
        created_at=now,
        password_changed_at=now,
    )
    session.add(account)
    await session.flush()
    return account


async def set_password(
    session: AsyncSession, account: ConsoleAccount, password: str, *, now: datetime
) -> None:
    """A new password ends every session of the account."""
    check_password_rules(password)
    account.password_hash = hash_password(password)
    account.password_changed_at = now
    account.failed_logins = 0
    account.locked_until = None
    await session.execute(delete(ConsoleSession).where(ConsoleSession.account_id == account.id))


@dataclass(frozen=True, slots=True)
class SignIn:
    account: ConsoleAccount | None
    """The account on success, else None (whatever the reason)."""
    reason: str
    """"ok", "unknown", "inactive", "locked", "wrong_password", "locked_now": for the audit log
    only, never shown to the person signing in."""


async def authenticate(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    now: datetime,
    max_failed: int,
    lockout: timedelta,
) -> SignIn:
    """Check a sign-in; count failures per account and lock it for `lockout` at `max_failed`."""
    name = normalise_username(username)
    account = await session.scalar(select(ConsoleAccount).where(ConsoleAccount.username == name))
    if account is None or not account.active:
        verify_password(_dummy_hash(), password)
        return SignIn(None, "unknown" if account is None else "inactive")
    if account.locked_until is not None:
        if account.locked_until > now:
            verify_password(_dummy_hash(), password)
            return SignIn(None, "locked")
        account.locked_until = None
        account.failed_logins = 0
    if not verify_password(account.password_hash, password[:PASSWORD_MAX_LENGTH]):
        account.failed_logins += 1
        if account.failed_logins >= max_failed:
            account.locked_until = now + lockout
            account.failed_logins = 0
            return SignIn(None, "locked_now")
        return SignIn(None, "wrong_password")
    account.failed_logins = 0
    account.last_login_at = now
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return SignIn(account, "ok")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(
    session: AsyncSession, account: ConsoleAccount, *, now: datetime, hours: int
) -> tuple[str, ConsoleSession]:
    """A fresh random token for the cookie (a new one at every sign-in: no fixation)."""
    await session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.account_id == account.id, ConsoleSession.expires_at <= now
        )
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = ConsoleSession(
        token_hash=_token_hash(token),
        account_id=account.id,
        csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
        last_seen_at=now,
    )
    session.add(row)
    await session.flush()
    return token, row


async def load_session(
    session: AsyncSession, token: str | None, *, now: datetime
) -> tuple[ConsoleSession, ConsoleAccount] | None:
    """The live session and active account behind a cookie token, else None."""
    if not token or len(token) > 2 * TOKEN_BYTES + 8:
        return None
    row = await session.get(ConsoleSession, _token_hash(token))
    if row is None:
        return None
    if row.expires_at <= now:
        await session.delete(row)
        return None
    account = await session.get(ConsoleAccount, row.account_id)
    if account is None or not account.active:
        return None
    if now - row.last_seen_at >= SESSION_TOUCH_INTERVAL:
        row.last_seen_at = now
    return row, account


async def end_session(session: AsyncSession, token: str | None) -> None:
    if token:
        await session.execute(
            delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token))
        )


def actor_of(account: ConsoleAccount) -> str:
    """The timeline actor: the linked staff member, else the console user name."""
    return f"staff:{account.staff_id}" if account.staff_id else f"console:{account.username}"
