"""`minqing serve`: the gateway runs on uvloop, and its access log follows the setting."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
import uvloop
from aiohttp import web

from bot import cli
from bot.settings import Settings


def _served(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_run_app(app: web.Application, **kwargs: Any) -> None:
        seen.update(kwargs)
        kwargs["loop"].close()

    monkeypatch.setattr(web, "run_app", fake_run_app)
    monkeypatch.setattr(cli, "create_app", lambda _settings: web.Application())
    cli._serve(settings, argparse.Namespace(port=None, no_scheduler=True))
    return seen


def test_the_gateway_runs_on_uvloop_with_an_access_log_by_default(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    seen = _served(monkeypatch, settings)
    assert isinstance(seen["loop"], uvloop.Loop)
    assert seen["access_log"] is not None


def test_behind_nginx_the_gateway_writes_no_access_log(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    settings.logging.access_log = False
    assert _served(monkeypatch, settings)["access_log"] is None
