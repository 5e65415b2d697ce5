"""Voice petitions: a voice message nobody could read becomes a case a person listens to.

The bot stores the audio and tells the domain where it is (paths only) and what recognition made
of it. A voice petition is stored with its ticket and SLA clocks before the resident is told;
it waits, undispatched, in the handler group's queue until staff transcribe (or translate) it;
then it is classified and dispatched like any typed case. Console and WeCom command share
`transcribe_voice_petition`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.calendar import WorkCalendar
from governance.directory import service as directory
from governance.directory.models import Grid, Resident
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue
from governance.petitions.dispatch import NoHandler, change_category, dispatch
from governance.petitions.lifecycle import (
    ALLOWED,
    OPEN_STATUSES,
    Refused,
    case_url,
    push_to_followers,
    status_of,
)
from governance.petitions.models import (
    Petition,
    PetitionEvent,
    PetitionSource,
    PetitionStatus,
    VoiceRecording,
    VoiceRecordingProblem,
)
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.petitions.service import (
    PetitionDraft,
    enqueue_new_petition_card,
    mask_phone,
    submit_petition,
)
from governance.petitions.sla import SlaPolicies

UNTRANSCRIBED_CATEGORY = "other"
"""Until a person has listened, nobody knows what the case is about."""
ADD_TO_PENDING_WITHIN = timedelta(hours=24)
"""Elders send several short clips: more voice within this time joins the untranscribed case."""
MAX_TRANSCRIPT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class NewRecording:
    """What the bot learned about one voice message (paths relative to its media directory)."""

    openid: str
    media_id: str = ""
    original_path: str | None = None
    original_format: str = ""
    mp3_path: str | None = None
    wav_path: str | None = None
    duration_seconds: float | None = None
    transcript: str = ""
    language: str | None = None
    language_probability: float | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    engine: str = "none"
    trusted: bool = False
    problem: VoiceRecordingProblem | None = None


@dataclass(frozen=True, slots=True)
class ResidentPlace:
    """Where a voice petition is filed when the resident did not say: their grid, or a default."""

    community_id: str
    grid_id: str
    known: bool


@dataclass(frozen=True, slots=True)
class VoicePetitionFiled:
    petition_id: int
    ticket_no: str
    added_to_existing: bool
    """True when the recording joined the resident's untranscribed case instead of a new one."""


@dataclass(frozen=True, slots=True)
class Transcribed:
    petition_id: int
    ticket_no: str
    old_category: str
    category: str
    dispatched: bool
    """The case was (re-)dispatched by the responsibility matrix."""
    notified: tuple[str, ...]


def store_recording(
    session: AsyncSession, recording: NewRecording, *, now: datetime
) -> VoiceRecording:
    """Add the recording row to the caller's transaction (before anything is acknowledged)."""
    row = VoiceRecording(
        openid=recording.openid,
        media_id=recording.media_id,
        original_path=recording.original_path,
        original_format=recording.original_format,
        mp3_path=recording.mp3_path,
        wav_path=recording.wav_path,
        duration_seconds=recording.duration_seconds,
        transcript=recording.transcript[:MAX_TRANSCRIPT_CHARS],
        language=recording.language,
        language_probability=recording.language_probability,
        avg_logprob=recording.avg_logprob,
        no_speech_prob=recording.no_speech_prob,
        engine=recording.engine,
        trusted=recording.trusted,
        problem=recording.problem,
        created_at=now,
    )
    session.add(row)
    return row


async def resident_place(session: AsyncSession, openid: str) -> ResidentPlace:
    """The resident's grid when known, else the first community's first grid (as hand-over)."""
    resident = await session.get(Resident, openid)
    if resident is not None and resident.grid_id:
        grid = await session.get(Grid, resident.grid_id)
        if grid is not None:
            return ResidentPlace(grid.community_id, grid.id, True)
    grids = await directory.list_grids(session)
    if not grids:
        raise LookupError("the directory has no grid to file a voice petition in")
    return ResidentPlace(grids[0].community_id, grids[0].id, False)


async def pending_voice_petition(
    session: AsyncSession, openid: str, *, now: datetime
) -> Petition | None:
    """The resident's open case still waiting for transcription, if filed recently."""
    return await session.scalar(
        select(Petition)
        .where(
            Petition.resident_openid == openid,
            Petition.awaiting_transcription.is_(True),
            Petition.status.in_([s.value for s in OPEN_STATUSES]),
            Petition.created_at >= now - ADD_TO_PENDING_WITHIN,
        )
        .order_by(Petition.created_at.desc(), Petition.id.desc())
        .limit(1)
    )


async def file_voice_petition(
    session: AsyncSession,
    draft: PetitionDraft,
    *,
    recording: VoiceRecording,
    place_known: bool,
    now: datetime,
    calendar: WorkCalendar,
    policies: SlaPolicies,
    public_base_url: str,
) -> VoicePetitionFiled:
    """Store a voice petition (ticket, SLA clocks, first event), link the audio, card the group.

    `draft` carries what the resident already told (an intake draft), else only the place.
    The case stays `received` until staff transcribe it. Runs in the caller's transaction.
    """
    if draft.source != PetitionSource.VOICE:
        raise ValueError("a voice petition's draft must have source=voice")
    await session.flush()
    submitted = await submit_petition(
        session,
        draft,
        now=now,
        calendar=calendar,
        policies=policies,
        public_base_url=public_base_url,
        post_card=False,
    )
    petition = submitted.petition
    petition.awaiting_transcription = True
    recording.petition_id = petition.id
    await _voice_card(
        session,
        petition,
        recording,
        key="card_voice_petition",
        idempotency_key=f"petition:{petition.ticket_no}:voice-card",
        place_known=place_known,
        now=now,
        public_base_url=public_base_url,
    )
    return VoicePetitionFiled(petition.id, petition.ticket_no, added_to_existing=False)


async def add_recording(
    session: AsyncSession,
    petition: Petition,
    *,
    recording: VoiceRecording,
    now: datetime,
    public_base_url: str,
) -> VoicePetitionFiled:
    """Join another voice message to an untranscribed case; the group hears about it too."""
    await session.flush()
    recording.petition_id = petition.id
    petition.awaiting_transcription = True
    status = status_of(petition)
    session.add(
        PetitionEvent(
            petition_id=petition.id,
            at=now,
            kind="voice_added",
            from_status=status,
            to_status=status,
            actor=f"resident:{recording.openid}",
            note="",
            detail={"recording_id": recording.id},
        )
    )
    await _voice_card(
        session,
        petition,
        recording,
        key="card_voice_added",
        idempotency_key=f"petition:{petition.ticket_no}:voice-added:{recording.id}",
        place_known=True,
        now=now,
        public_base_url=public_base_url,
    )
    return VoicePetitionFiled(petition.id, petition.ticket_no, added_to_existing=True)


async def recordings_of(session: AsyncSession, petition_id: int) -> list[VoiceRecording]:
    """The case's recordings, oldest first (for the console's player)."""
    rows = await session.scalars(
        select(VoiceRecording)
        .where(VoiceRecording.petition_id == petition_id)
        .order_by(VoiceRecording.created_at, VoiceRecording.id)
    )
    return list(rows.all())


async def awaiting_transcription(
    session: AsyncSession, community_id: str | None = None, *, limit: int = 50
) -> list[Petition]:
    """Open cases whose voice nobody has transcribed yet, oldest first (the console's queue)."""
    statement = (
        select(Petition)
        .where(
            Petition.awaiting_transcription.is_(True),
            Petition.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .order_by(Petition.created_at, Petition.id)
        .limit(limit)
    )
    if community_id is not None:
        statement = statement.where(Petition.community_id == community_id)
    return list((await session.scalars(statement)).all())


async def transcribe_voice_petition(
    session: AsyncSession,
    petition: Petition,
    *,
    text: str,
    category: str | None,
    actor: str,
    now: datetime,
    matrix: ResponsibilityMatrix,
    public_base_url: str = "",
) -> Transcribed:
    """Staff wrote down (or translated) what the resident said: the case continues from there.

    Sets the description, records an audited `transcribed` event, tells every follower in their
    language that their message was heard, then dispatches a case that was waiting for this (or
    re-dispatches when `category` — the categoriser's answer for `text` — changed it). Raises
    Refused with code transcript_empty, not_a_voice_petition, or case_finished (merged or
    cancelled cases).
    """
    text = " ".join(text.split())[:MAX_TRANSCRIPT_CHARS]
    if not text:
        raise Refused("transcript_empty")
    if petition.source != PetitionSource.VOICE:
        raise Refused("not_a_voice_petition")
    status = status_of(petition)
    if status in {PetitionStatus.MERGED, PetitionStatus.CANCELLED}:
        raise Refused("case_finished")
    if category is not None:
        matrix.rule_for(category, petition.grid_id)  # refuses an unknown category early
    old_category = petition.category
    previous = petition.description
    new_category = category or old_category
    can_dispatch = PetitionStatus.DISPATCHED in ALLOWED[status]
    first_dispatch = status == PetitionStatus.RECEIVED
    recategorise = new_category != old_category and can_dispatch and not first_dispatch
    petition.description = text
    petition.awaiting_transcription = False
    if first_dispatch or not can_dispatch:
        petition.category = new_category if can_dispatch else old_category
    event = PetitionEvent(
        petition_id=petition.id,
        at=now,
        kind="transcribed",
        from_status=status,
        to_status=status,
        actor=actor,
        note=text,
        detail={
            "previous_description": previous,
            "from_category": old_category,
            "to_category": new_category if can_dispatch else old_category,
        },
    )
    session.add(event)
    await session.flush()
    notified = await push_to_followers(
        session,
        petition,
        key="push_voice_transcribed",
        event_id=event.id,
        now=now,
        params_by_language={
            language: {
                "ticket": petition.ticket_no,
                "note": text,
                "category": new_category if can_dispatch else old_category,
                "resolution_due": petition.resolution_due_at.isoformat(),
            }
            for language in ("zh", "bo")
        },
    )
    dispatched = False
    if recategorise:
        await change_category(
            session,
            petition,
            new_category,
            now=now,
            actor=actor,
            matrix=matrix,
            note=text,
            public_base_url=public_base_url,
        )
        dispatched = True
    elif first_dispatch:
        try:
            await dispatch(
                session,
                petition,
                now=now,
                actor=actor,
                matrix=matrix,
                note=text,
                public_base_url=public_base_url,
            )
            dispatched = True
        except NoHandler:
            await enqueue_new_petition_card(
                session, petition, now=now, public_base_url=public_base_url
            )
    return Transcribed(
        petition.id,
        petition.ticket_no,
        old_category,
        petition.category,
        dispatched,
        notified,
    )


async def _voice_card(
    session: AsyncSession,
    petition: Petition,
    recording: VoiceRecording,
    *,
    key: str,
    idempotency_key: str,
    place_known: bool,
    now: datetime,
    public_base_url: str,
) -> None:
    """The handler-group card: listen (signed audio link added at send time) and call back."""
    grid = await session.get(Grid, petition.grid_id)
    worker = await directory.grid_worker(session, petition.grid_id)
    params: dict[str, Any] = {
        "ticket": petition.ticket_no,
        "category": petition.category,
        "grid": grid.name_zh if grid else petition.grid_id,
        "grid_worker": worker.name_zh if worker else "",
        "phone": mask_phone(petition.phone) or "-",
        "resident_language": petition.language,
        "duration": round(recording.duration_seconds or 0.0),
        "problem": str(recording.problem or ""),
        "place_status": "known" if place_known else "unknown",
        "description": petition.description[:120] or "-",
        "photos": len(petition.photos),
        "response_due": petition.response_due_at.isoformat(),
        "resolution_due": petition.resolution_due_at.isoformat(),
        "url": case_url(public_base_url, petition.ticket_no),
    }
    if recording.mp3_path:
        params["recording_id"] = recording.id
    enqueue(
        session,
        channel=OutboxChannel.HANDLER_GROUP,
        recipient=petition.community_id,
        payload={"key": key, "language": "zh", "params": params},
        idempotency_key=idempotency_key[:128],
        now=now,
        petition_id=petition.id,
    )
