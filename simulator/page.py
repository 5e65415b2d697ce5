"""The human-facing page: a resident's phone on the left, the staff's WeCom on the right."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from aiohttp import web

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_FILE = PACKAGE_DIR / "demo.yaml"
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


@dataclass(frozen=True, slots=True)
class Demo:
    """Demo content kept out of Python: nicknames, Lhasa locations, staff userids."""

    nicknames: list[str] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What the page script receives."""
        return {"nicknames": self.nicknames, "locations": self.locations, "staff": self.staff}


def load_demo(path: Path = DEMO_FILE) -> Demo:
    """Read demo.yaml (an empty Demo when it is missing)."""
    if not path.exists():
        return Demo()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return Demo(
        nicknames=[str(name) for name in raw.get("nicknames", [])],
        locations=[dict(item) for item in raw.get("locations", [])],
        staff=[str(user) for user in raw.get("staff", [])],
    )


DEMO: web.AppKey[Demo] = web.AppKey("demo", Demo)
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates", jinja2.Environment)


def template_environment() -> jinja2.Environment:
    """Jinja2 with autoescaping on."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


async def index(request: web.Request) -> web.StreamResponse:
    """`GET /`: the simulator page."""
    environment = request.app[TEMPLATES]
    html = environment.get_template("index.html").render(demo=request.app[DEMO].to_json())
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def setup_page(app: web.Application, demo: Demo) -> None:
    """Register the page, its static files and the template environment."""
    app[DEMO] = demo
    app[TEMPLATES] = template_environment()
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR)
