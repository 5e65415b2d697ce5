"""The resident's H5 status page behind every push: `/s/<signed token>`, large type, bilingual."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.state import Lang
from bot.links import LinkSigner
from bot.replies import ReplyCatalog
from governance.clock import Clock
from governance.petitions.models import Petition, PetitionEvent

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


class StatusPage:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        signer: LinkSigner,
        catalog: ReplyCatalog,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._signer = signer
        self._catalog = catalog
        self._clock = clock

    async def show(self, request: web.Request) -> web.Response:
        claims = self._signer.verify(request.match_info["token"], self._clock.now())
        petition: Petition | None = None
        events: list[PetitionEvent] = []
        if claims is not None:
            async with self._sessions() as session:
                petition = await session.get(Petition, claims.petition_id)
                if petition is not None:
                    events = list(
                        (
                            await session.scalars(
                                select(PetitionEvent)
                                .where(PetitionEvent.petition_id == petition.id)
                                .order_by(PetitionEvent.at, PetitionEvent.id)
                            )
                        ).all()
                    )
        language = self._language(request, petition)
        catalog = self._catalog.catalog(language)
        if petition is None:
            html = TEMPLATES.get_template("status_invalid.html").render(
                lang=language.value, text=catalog.text("h5_link_invalid")
            )
            return web.Response(text=html, content_type="text/html", status=404)
        context: dict[str, Any] = {
            "lang": language.value,
            "other_lang": "zh" if language is Lang.BO else "bo",
            "title": catalog.text("h5_title", {"ticket": petition.ticket_no}),
            "labels": {
                key: catalog.text(f"h5_{key}")
                for key in ("category", "description", "place", "deadline", "timeline", "switch")
            },
            "category": catalog.text(f"category_{petition.category}"),
            "description": petition.description,
            "address": petition.address,
            "deadline": catalog.text(
                "h5_deadline_value", {"resolution_due": petition.resolution_due_at}
            ),
            "status": catalog.text(f"status_{petition.status}"),
            "timeline": [
                {
                    "when": catalog.format_time(event.at, "datetime"),
                    "what": catalog.text(f"status_{event.to_status}") if event.to_status else "",
                    "note": event.note,
                }
                for event in events
            ],
        }
        html = TEMPLATES.get_template("status.html").render(**context)
        return web.Response(text=html, content_type="text/html")

    def _language(self, request: web.Request, petition: Petition | None) -> Lang:
        asked = request.query.get("lang")
        if asked in {lang.value for lang in Lang}:
            return Lang(asked)
        if petition is not None and petition.language in {lang.value for lang in Lang}:
            return Lang(petition.language)
        return Lang.ZH
