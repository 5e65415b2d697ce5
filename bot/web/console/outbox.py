"""`/console/outbox`: pushes that gave up after every retry (dead letters), and retrying them.

System administrators only: recipients are residents' openids (masked here) and group ids.
A retry gives the message a fresh set of attempts under its old idempotency key, so it still
reaches the recipient once.
"""

from __future__ import annotations

from aiohttp import web

from bot.web.console.core import PREFIX, ConsoleCore, Viewer
from governance.outbox.models import OutboxChannel
from governance.outbox.service import dead_letters, requeue

SHOWN = 200
ERROR_CHARS = 300


def mask_recipient(channel: str, recipient: str) -> str:
    """Residents' openids show their first 4 characters only; group and staff ids stay."""
    if channel == OutboxChannel.RESIDENT and len(recipient) > 4:
        return recipient[:4] + "…"
    return recipient


class OutboxPages:
    def __init__(self, core: ConsoleCore) -> None:
        self.core = core

    async def page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        async with self.core.sessions() as session:
            rows = await dead_letters(session, limit=SHOWN)
        t = viewer.t
        return self.core.render(
            request,
            "outbox.html",
            viewer=viewer,
            done=request.query.get("done", ""),
            rows=[
                {
                    "id": row.id,
                    "channel": t.get(f"outbox_channel_{row.channel}", str(row.channel)),
                    "recipient": mask_recipient(str(row.channel), row.recipient),
                    "key": str(row.payload.get("key", "")),
                    "attempts": row.attempts,
                    "created": t.when(row.created_at),
                    "error": row.last_error[:ERROR_CHARS],
                }
                for row in rows
            ],
        )

    async def retry(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        message_id = int(request.match_info["message"])
        now = self.core.deps.clock.now()
        async with self.core.sessions() as session, session.begin():
            requeued = await requeue(session, message_id, now=now)
            if requeued:
                self.core.audit(
                    session,
                    request,
                    viewer,
                    "outbox_retry",
                    target_type="outbox",
                    target_id=str(message_id),
                )
        if requeued:
            self.core.deps.notify_outbox()
        raise web.HTTPSeeOther(f"{PREFIX}/outbox?done={'retried' if requeued else 'gone'}")
