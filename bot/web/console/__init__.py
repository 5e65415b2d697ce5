"""The staff web console under `/console`: sign-in, case queue and page, dashboard, content."""

from bot.web.console.core import ConsoleDeps
from bot.web.console.routes import add_console_routes

__all__ = ["ConsoleDeps", "add_console_routes"]
