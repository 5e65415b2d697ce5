"""`GET /a/<token>`: a resident's voice message as MP3, for the link on the handler-group card.

The token names one recording and expires; it is signed with a key derived from the links
secret but different from the status links' key, so neither kind opens the other.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.state import Lang
from bot.links import LinkSigner
from bot.replies import ReplyCatalog
from bot.voice.inbox import MediaStore
from governance.clock import Clock
from governance.petitions.models import VoiceRecording

AUDIO_LINK_TTL = timedelta(days=30)
"""Cards stay in the group for weeks; after this the console's player is the way in."""
AUDIO_SUBJECT = "audio"


class AudioLinks:
    """Signs and checks recording links (`/a/<token>`)."""

    def __init__(self, secret: str, public_base_url: str, *, ttl: timedelta = AUDIO_LINK_TTL):
        self._signer = LinkSigner(f"audio-links:{secret}", ttl=ttl)
        self._base = public_base_url.rstrip("/")

    def url(self, recording_id: int, now: datetime) -> str:
        return f"{self._base}/a/{self._signer.sign(recording_id, AUDIO_SUBJECT, now)}"

    def recording_id(self, token: str, now: datetime) -> int | None:
        """The recording a valid, unexpired token names; None otherwise."""
        claims = self._signer.verify(token, now)
        if claims is None or claims.openid != AUDIO_SUBJECT:
            return None
        return claims.petition_id


class AudioEndpoint:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        links: AudioLinks,
        store: MediaStore,
        catalog: ReplyCatalog,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._links = links
        self._store = store
        self._catalog = catalog
        self._clock = clock

    async def get(self, request: web.Request) -> web.StreamResponse:
        recording_id = self._links.recording_id(request.match_info["token"], self._clock.now())
        if recording_id is None:
            return self._page("audio_link_invalid", status=404)
        async with self._sessions() as session:
            recording = await session.get(VoiceRecording, recording_id)
        if recording is None or not recording.mp3_path:
            return self._page("audio_unavailable", status=404)
        try:
            path = self._store.path(recording.mp3_path)
        except ValueError:
            return self._page("audio_unavailable", status=404)
        if not path.is_file():
            return self._page("audio_unavailable", status=404)
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "audio/mpeg",
                "Cache-Control": "private, max-age=3600",
                "Content-Disposition": f'inline; filename="voice-{recording.id}.mp3"',
            },
        )

    def _page(self, key: str, *, status: int) -> web.Response:
        """A small bilingual page: staff read Chinese, some prefer Tibetan."""
        lines = [html.escape(self._catalog.catalog(lang).text(key)) for lang in (Lang.ZH, Lang.BO)]
        body = (
            '<!doctype html><html><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '</head><body style="font-size:1.3rem;padding:1rem">'
            + "".join(f"<p>{line}</p>" for line in lines)
            + "</body></html>"
        )
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
