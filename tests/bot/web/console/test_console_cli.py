"""`minqing staff create`: the first administrator, from the command line, on a real database."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.settings import PROJECT_ROOT
from governance.console.models import ConsoleAccount
from governance.db import create_engine, create_session_factory
from governance.seed import seed_demo


@pytest.fixture
def database(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "cli.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    monkeypatch.setenv("DATABASE__URL", url)

    async def seed() -> None:
        engine = create_engine(url)
        async with create_session_factory(engine)() as session, session.begin():
            await seed_demo(session, PROJECT_ROOT / "data")
        await engine.dispose()

    asyncio.run(seed())
    return url


def _accounts(url: str) -> list[tuple[str, str, str | None, list[str]]]:
    async def read() -> list[tuple[str, str, str | None, list[str]]]:
        engine = create_engine(url)
        async with create_session_factory(engine)() as session:
            rows = (
                await session.scalars(select(ConsoleAccount).order_by(ConsoleAccount.id))
            ).all()
        await engine.dispose()
        return [(a.username, a.role, a.staff_id, a.community_ids) for a in rows]

    return asyncio.run(read())


def test_staff_create_reads_the_password_from_stdin(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("first-admin-password\n"))
    main(["staff", "create", "--username", "root", "--role", "system_admin", "--password-stdin"])
    assert "console account created: root (system_admin)" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("officer-password-1\n"))
    main(
        [
            "staff",
            "create",
            "--username",
            "lhakpa",
            "--role",
            "community_officer",
            "--staff-id",
            "S-C01",
            "--password-stdin",
        ]
    )
    assert _accounts(database) == [
        ("root", "system_admin", None, []),
        ("lhakpa", "community_officer", "S-C01", ["lhasa-gesanglinka"]),
    ]


def test_staff_create_explains_what_is_wrong(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(SystemExit) as short:
        main(
            ["staff", "create", "--username", "root", "--role", "system_admin", "--password-stdin"]
        )
    assert "password_too_short" in str(short.value.code)
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-password\n"))
    with pytest.raises(SystemExit) as worker:
        main(["staff", "create", "--username", "w", "--role", "grid_worker", "--password-stdin"])
    assert "username_invalid" in str(worker.value.code)
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-password\n"))
    with pytest.raises(SystemExit) as no_staff:
        main(
            [
                "staff",
                "create",
                "--username",
                "wangdu",
                "--role",
                "grid_worker",
                "--password-stdin",
            ]
        )
    assert "grid_worker_needs_staff" in str(no_staff.value.code)
    assert _accounts(database) == []


def test_staff_create_asks_twice_and_refuses_a_mismatch(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["first-password-typed", "second-password-typed"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt="": next(answers))
    with pytest.raises(SystemExit) as mismatch:
        main(["staff", "create", "--username", "root", "--role", "system_admin"])
    assert "differ" in str(mismatch.value.code)
    assert _accounts(database) == []
