"""Voice in the console: the case page's player and transcription form, and the prompt clips.

Staff listen to a voice petition behind the console login (scope-checked, audited) and write
down or translate what the resident said; `transcribe_voice_petition` is the same domain
service the WeCom `转写` command uses. The prompt clips page lists, per language, the clips
elder-mode speech needs, plays the ones that exist and takes new ones recorded in the browser
or uploaded; a reply whose clips are missing goes as text only until then.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.voice.inbox import MediaStore
from bot.voice.speech import LANGUAGES, PLACEHOLDER_CLIPS_DIR, prompt_library
from bot.web.console.core import PREFIX, ConsoleCore, Viewer
from bot.web.console.i18n import Texts
from governance.console.cases import find_case
from governance.console.queue import VOICE_SOURCE
from governance.petitions.lifecycle import Refused, status_of
from governance.petitions.models import Petition, PetitionStatus, VoiceRecording
from governance.petitions.voice import recordings_of, transcribe_voice_petition
from nlu.parsed import CATEGORIES
from voice.audio import AudioError
from voice.prompts import PromptLibrary

if TYPE_CHECKING:  # cases.py imports voice_panel from here
    from bot.web.console.cases import CasePages

log = logging.getLogger(__name__)

AUTO_CATEGORY = "auto"
MAX_TRANSCRIPT_FIELD = 2000
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
"""A recorded or uploaded clip (≤ 60 s); far above a browser's Opus recording of a phrase."""
CLIP_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg", "webm": "audio/webm"}
UPLOAD_FORMATS = {
    "audio/webm": "webm",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mp4": "mp4",
    "audio/x-m4a": "mp4",
    "audio/aac": "aac",
    "audio/amr": "amr",
}


async def voice_panel(
    session: AsyncSession, petition: Petition, t: Texts
) -> dict[str, Any] | None:
    """Context for templates/_voice.html: the recordings and whether the form is shown."""
    if petition.source != VOICE_SOURCE:
        return None
    recordings = []
    for row in await recordings_of(session, petition.id):
        recordings.append(
            {
                "id": row.id,
                "url": f"{PREFIX}/cases/{petition.ticket_no}/audio/{row.id}.mp3",
                "playable": bool(row.mp3_path),
                "when": t.when(row.created_at),
                "seconds": round(row.duration_seconds or 0),
                "guess": row.transcript,
                "guess_language": t.get(f"language_{row.language}", row.language or "")
                if row.language
                else "",
                "problem": t.get(f"voice_problem_{row.problem}", "") if row.problem else "",
            }
        )
    return {
        "recordings": recordings,
        "awaiting": petition.awaiting_transcription,
        "can_transcribe": status_of(petition)
        not in {PetitionStatus.MERGED, PetitionStatus.CANCELLED},
        "categories": [AUTO_CATEGORY, *CATEGORIES],
    }


def clip_rows(library: PromptLibrary, language: str, media: MediaStore) -> list[dict[str, Any]]:
    """Every clip the scripts use in `language`, missing ones first, with where it comes from."""
    recorded_dir = media.root / "prompts"
    rows = []
    for clip in library.clip_ids():
        if not library.used_in(clip, language):
            continue
        path = library.clip_path(clip, language)
        if path is None:
            origin = "missing"
        elif path.is_relative_to(recorded_dir):
            origin = "recorded"
        elif path.is_relative_to(PLACEHOLDER_CLIPS_DIR):
            origin = "placeholder"
        else:
            origin = "committed"
        rows.append(
            {
                "id": clip,
                "text": library.script_text(clip, language),
                "origin": origin,
                "url": f"{PREFIX}/prompts/{language}/{clip}/audio" if path else "",
                "action": f"{PREFIX}/prompts/{language}/{clip}",
            }
        )
    rows.sort(key=lambda row: (row["origin"] != "missing", row["id"]))
    return rows


class VoicePages:
    def __init__(self, core: ConsoleCore, cases: CasePages) -> None:
        self.core = core
        self.cases = cases
        self.media = MediaStore(core.deps.settings.voice.media_dir)
        self.library = prompt_library(core.deps.settings.voice)

    # -- case page -------------------------------------------------------------------------

    async def audio(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """A recording of a case in the viewer's scope, as MP3 (listening is audited)."""
        ticket = request.match_info["ticket"]
        recording_id = int(request.match_info["recording"])
        async with self.core.sessions() as session, session.begin():
            petition = await find_case(session, viewer.scope, ticket)
            recording = await session.get(VoiceRecording, recording_id)
            if (
                petition is None
                or recording is None
                or recording.petition_id != petition.id
                or not recording.mp3_path
            ):
                return self.core.not_found(request, viewer)
            try:
                path = self.media.path(recording.mp3_path)
            except ValueError:
                return self.core.not_found(request, viewer)
            if not path.is_file():
                return self.core.not_found(request, viewer)
            self.core.audit(
                session,
                request,
                viewer,
                "voice_listen",
                target_type="case",
                target_id=ticket,
                detail={"recording": recording_id},
            )
        return web.FileResponse(path, headers={"Content-Type": "audio/mpeg"})

    async def transcribe(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Staff wrote down or translated what the resident said: classify, dispatch, tell them."""
        ticket = request.match_info["ticket"]
        raw = await request.post()
        text = str(raw.get("text", ""))[:MAX_TRANSCRIPT_FIELD]
        chosen = str(raw.get("category", AUTO_CATEGORY))
        form = {"text": text, "category": chosen}
        category = await self._category(text, chosen)
        if category == "":
            return await self._refused(request, viewer, ticket, "category_unknown", form)
        now = self.core.deps.clock.now()
        settings = self.core.deps.settings
        async with self.core.sessions() as session, session.begin():
            petition = await find_case(session, viewer.scope, ticket)
            if petition is None:
                return self.core.not_found(request, viewer)
            try:
                result = await transcribe_voice_petition(
                    session,
                    petition,
                    text=text,
                    category=category,
                    actor=viewer.actor,
                    now=now,
                    matrix=self.core.deps.matrix,
                    public_base_url=settings.public_base_url,
                )
            except Refused as refused:
                code = refused.code
            else:
                code = ""
                self.core.audit(
                    session,
                    request,
                    viewer,
                    "case_transcribe",
                    target_type="case",
                    target_id=ticket,
                    detail={
                        "from_category": result.old_category,
                        "to_category": result.category,
                        "dispatched": result.dispatched,
                        "notified": len(result.notified),
                    },
                )
        if code:
            return await self._refused(request, viewer, ticket, code, form)
        self.core.deps.notify_outbox()
        raise web.HTTPSeeOther(f"{PREFIX}/cases/{ticket}?done=transcribe#voice")

    async def _category(self, text: str, chosen: str) -> str | None:
        """None keeps the case's category; "" means the choice is not a category."""
        if chosen != AUTO_CATEGORY:
            return chosen if chosen in CATEGORIES else ""
        categoriser = self.core.deps.categoriser
        if categoriser is None or not text.strip():
            return None
        guessed, confidence = categoriser.classify_category(text)
        threshold = self.core.deps.settings.nlu.category_threshold
        return guessed if confidence >= threshold else None

    async def _refused(
        self, request: web.Request, viewer: Viewer, ticket: str, code: str, form: dict[str, str]
    ) -> web.StreamResponse:
        return await self.cases.render_case(
            request, viewer, ticket, error=code, failed_verb="transcribe", form=form, status=409
        )

    # -- prompt clips ------------------------------------------------------------------------

    def _language(self, request: web.Request, viewer: Viewer) -> str:
        asked = request.match_info.get("lang") or request.query.get("lang") or viewer.lang
        return asked if asked in LANGUAGES else viewer.lang

    async def prompts(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        language = self._language(request, viewer)
        library = self.library
        rows = clip_rows(library, language, self.media) if library else []
        missing = {lang: len(library.gaps(lang)) if library else 0 for lang in LANGUAGES}
        return self.core.render(
            request,
            "prompts.html",
            viewer=viewer,
            available=library is not None,
            clip_language=language,
            languages=LANGUAGES,
            rows=rows,
            missing=missing,
            total=len(rows),
            saved=request.query.get("saved", ""),
            error=request.query.get("error", ""),
            max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        )

    async def clip_audio(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        language, clip = request.match_info["lang"], request.match_info["clip"]
        library = self.library
        if library is None or language not in LANGUAGES or clip not in library.clip_ids():
            return self.core.not_found(request, viewer)
        path = library.clip_path(clip, language)
        if path is None:
            return self.core.not_found(request, viewer)
        kind = CLIP_TYPES.get(path.suffix.lstrip("."), "application/octet-stream")
        return web.FileResponse(path, headers={"Content-Type": kind, "Cache-Control": "no-store"})

    async def save_clip(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """A clip recorded in the browser or uploaded: trimmed, stored as MP3, used at once."""
        language, clip = request.match_info["lang"], request.match_info["clip"]
        library = self.library
        if library is None or language not in LANGUAGES or clip not in library.clip_ids():
            return self.core.not_found(request, viewer)
        back = f"{PREFIX}/prompts?lang={language}"
        field = (await request.post()).get("audio")
        if not isinstance(field, web.FileField):
            raise web.HTTPSeeOther(f"{back}&error=no_audio#clip-{clip}")
        audio = field.file.read(MAX_UPLOAD_BYTES + 1)
        if not audio:
            raise web.HTTPSeeOther(f"{back}&error=no_audio#clip-{clip}")
        if len(audio) > MAX_UPLOAD_BYTES:
            raise web.HTTPSeeOther(f"{back}&error=too_large#clip-{clip}")
        kind = (field.content_type or "").split(";")[0].strip().lower()
        suffix = field.filename.rsplit(".", 1)[-1].lower() if "." in field.filename else None
        fmt = UPLOAD_FORMATS.get(kind) or suffix
        try:
            saved = library.save_recording(clip, language, audio, fmt, self.media.root / "prompts")
        except (AudioError, ValueError) as error:
            log.info("prompt clip %s/%s refused: %s", language, clip, error)
            raise web.HTTPSeeOther(f"{back}&error=bad_audio#clip-{clip}") from error
        async with self.core.sessions() as session, session.begin():
            self.core.audit(
                session,
                request,
                viewer,
                "prompt_clip_saved",
                target_type="prompt_clip",
                target_id=f"{language}/{clip}",
                detail={"bytes": saved.stat().st_size, "format": fmt or ""},
            )
        raise web.HTTPSeeOther(f"{back}&saved={clip}#clip-{clip}")
