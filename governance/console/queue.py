"""The console's case queue: filters, counts per filter value, sort by the next due clock, pages.

"Overdue" is the digest's rule (`digest.is_overdue`) written as SQL: an open case still
unanswered past its response due time, or past its resolution due time while not waiting.
"Due soon": open, not overdue, and the running clock ends within `DUE_SOON`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.console.scope import Scope
from governance.petitions.lifecycle import OPEN_STATUSES
from governance.petitions.models import Petition, PetitionStatus

DUE_SOON = timedelta(hours=24)
PER_PAGE = 20
VOICE_SOURCE = "voice"
"""`Petition.source` of a voice petition (resident's audio, to be listened to)."""

STATUS_GROUPS: dict[str, frozenset[PetitionStatus]] = {
    "open": OPEN_STATUSES,
    "resolved": frozenset({PetitionStatus.RESOLVED}),
    "finished": frozenset(
        {PetitionStatus.CLOSED, PetitionStatus.MERGED, PetitionStatus.CANCELLED}
    ),
}
"""Named status filters; a single status value and "all" are accepted too."""

DUE_FILTERS = ("overdue", "due_soon")
SORTS = ("due", "newest")


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str = "open"
    due: str = ""
    grid: str = ""
    category: str = ""
    language: str = ""
    voice: bool = False
    sort: str = "due"
    page: int = 1

    @classmethod
    def parse(cls, query: dict[str, str]) -> QueueFilter:
        """From query-string values; anything unknown falls back to its default."""
        status = query.get("status", "open")
        if status not in STATUS_GROUPS and status != "all" and status not in set(PetitionStatus):
            status = "open"
        due = query.get("due", "")
        sort = query.get("sort", "due")
        try:
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            status=status,
            due=due if due in DUE_FILTERS else "",
            grid=query.get("grid", "")[:64],
            category=query.get("category", "")[:32],
            language=query.get("language", "")[:8],
            voice=query.get("voice", "") in {"1", "true", "on"},
            sort=sort if sort in SORTS else "due",
            page=page,
        )

    def as_query(self, **changes: Any) -> dict[str, str]:
        """Query-string values of this filter with `changes` applied (defaults left out)."""
        value = replace(self, **changes)
        query = {
            "status": value.status if value.status != "open" else "",
            "due": value.due,
            "grid": value.grid,
            "category": value.category,
            "language": value.language,
            "voice": "1" if value.voice else "",
            "sort": value.sort if value.sort != "due" else "",
            "page": str(value.page) if value.page > 1 else "",
        }
        return {key: text for key, text in query.items() if text}


@dataclass(slots=True)
class QueuePage:
    petitions: list[Petition]
    total: int
    page: int
    pages: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Facet → value → number of cases with the other filters applied."""


def next_due() -> ColumnElement[datetime]:
    """The clock that matters now: response until answered, then resolution."""
    return case(
        (Petition.responded_at.is_(None), Petition.response_due_at),
        else_=Petition.resolution_due_at,
    )


def _open() -> ColumnElement[bool]:
    return Petition.status.in_(sorted(s.value for s in OPEN_STATUSES))


def _running_clock_ends_before(moment: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Petition.responded_at.is_(None), Petition.response_due_at < moment),
        and_(
            Petition.status != PetitionStatus.WAITING.value,
            Petition.resolution_due_at < moment,
        ),
    )


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(_open(), _running_clock_ends_before(now))


def due_soon_clause(now: datetime) -> ColumnElement[bool]:
    return and_(
        _open(), ~_running_clock_ends_before(now), _running_clock_ends_before(now + DUE_SOON)
    )


def _status_clause(status: str) -> ColumnElement[bool] | None:
    if status == "all":
        return None
    if status in STATUS_GROUPS:
        return Petition.status.in_(sorted(s.value for s in STATUS_GROUPS[status]))
    return Petition.status == status


def _clauses(chosen: QueueFilter, now: datetime, *, skip: str = "") -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if skip != "status":
        status = _status_clause(chosen.status)
        if status is not None:
            clauses.append(status)
    if skip != "due" and chosen.due:
        clauses.append(overdue_clause(now) if chosen.due == "overdue" else due_soon_clause(now))
    if skip != "grid" and chosen.grid:
        clauses.append(Petition.grid_id == chosen.grid)
    if skip != "category" and chosen.category:
        clauses.append(Petition.category == chosen.category)
    if skip != "language" and chosen.language:
        clauses.append(Petition.language == chosen.language)
    if skip != "voice" and chosen.voice:
        clauses.append(Petition.source == VOICE_SOURCE)
    return clauses


async def _grouped(
    session: AsyncSession, column: Any, where: list[ColumnElement[bool]]
) -> dict[str, int]:
    rows = await session.execute(
        select(column, func.count(Petition.id)).where(*where).group_by(column)
    )
    return {str(key): int(count) for key, count in rows.all() if key is not None}


async def _count(session: AsyncSession, where: list[ColumnElement[bool]]) -> int:
    return int(await session.scalar(select(func.count(Petition.id)).where(*where)) or 0)


async def facet_counts(
    session: AsyncSession, scope: Scope, chosen: QueueFilter, now: datetime
) -> dict[str, dict[str, int]]:
    """For each filter, how many cases each of its values would show (others kept)."""
    base = [scope.where()]
    counts: dict[str, dict[str, int]] = {}
    where = base + _clauses(chosen, now, skip="status")
    by_status = await _grouped(session, Petition.status, where)
    counts["status"] = {
        name: sum(by_status.get(s.value, 0) for s in statuses)
        for name, statuses in STATUS_GROUPS.items()
    }
    counts["status"]["all"] = sum(by_status.values())
    counts["status"].update(by_status)
    where = base + _clauses(chosen, now, skip="due")
    counts["due"] = {
        "overdue": await _count(session, [*where, overdue_clause(now)]),
        "due_soon": await _count(session, [*where, due_soon_clause(now)]),
    }
    for facet, column in (
        ("grid", Petition.grid_id),
        ("category", Petition.category),
        ("language", Petition.language),
    ):
        counts[facet] = await _grouped(session, column, base + _clauses(chosen, now, skip=facet))
    where = base + _clauses(chosen, now, skip="voice")
    counts["voice"] = {"1": await _count(session, [*where, Petition.source == VOICE_SOURCE])}
    return counts


def queue_statement(scope: Scope, chosen: QueueFilter, now: datetime) -> Select[Petition]:
    statement = select(Petition).where(scope.where(), *_clauses(chosen, now))
    if chosen.sort == "newest":
        return statement.order_by(Petition.created_at.desc(), Petition.id.desc())
    return statement.order_by(next_due(), Petition.id)


async def case_queue(
    session: AsyncSession,
    scope: Scope,
    chosen: QueueFilter,
    now: datetime,
    *,
    per_page: int = PER_PAGE,
) -> QueuePage:
    """One page of cases in scope with the filter, and the counts for every filter value."""
    where = [scope.where(), *_clauses(chosen, now)]
    total = await _count(session, where)
    pages = max(1, -(-total // per_page))
    page = min(chosen.page, pages)
    rows = await session.scalars(
        queue_statement(scope, chosen, now).limit(per_page).offset((page - 1) * per_page)
    )
    return QueuePage(
        list(rows.all()), total, page, pages, await facet_counts(session, scope, chosen, now)
    )


def is_overdue_now(petition: Petition, now: datetime) -> bool:
    """The same rule for one loaded case (matches `overdue_clause`)."""
    if PetitionStatus(petition.status) not in OPEN_STATUSES:
        return False
    if petition.responded_at is None and petition.response_due_at < now:
        return True
    return petition.status != PetitionStatus.WAITING and petition.resolution_due_at < now
