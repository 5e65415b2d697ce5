"""Dashboard figures and the "three rates", straight from the stored clocks and answers.

Cohort: petitions filed in [since, until) (local months for the breakdown); merged duplicates
are only counted as `merged`. Follow-up rates are over followed-up cases, i.e. cases with at
least one valid answer (satisfied / basically satisfied / not fixed; no_response is excluded),
each counted once by its latest valid answer:
response rate = contacted / followed-up (contacted = an on-site visit or a staff reply happened),
resolution rate = solved / followed-up (solved = satisfied or basically satisfied),
satisfaction rate = (satisfied + 0.9 × basically satisfied) / followed-up.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.clock import LOCAL_TZ
from governance.petitions.digest import is_overdue
from governance.petitions.lifecycle import OPEN_STATUSES
from governance.petitions.models import (
    EscalationLevel,
    FollowupAnswer,
    Petition,
    PetitionEvent,
    PetitionFollowupAnswer,
    PetitionStatus,
)

BASICALLY_SATISFIED_WEIGHT = 0.9
RATE_DIGITS = 4


def _rate(numerator: float, denominator: int) -> float | None:
    return round(numerator / denominator, RATE_DIGITS) if denominator else None


@dataclass(slots=True)
class Figures:
    received: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    escalated: int = 0
    overdue: int = 0
    returned: int = 0
    merged: int = 0
    cancelled: int = 0
    followed_up: int = 0
    contacted: int = 0
    solved: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    not_fixed: int = 0
    no_response: int = 0
    """Closed after nobody answered the follow-up: not in the three rates."""

    @property
    def on_time_closure_rate(self) -> float | None:
        return _rate(self.resolved_on_time, self.resolved)

    @property
    def response_rate(self) -> float | None:
        """Response rate."""
        return _rate(self.contacted, self.followed_up)

    @property
    def solution_rate(self) -> float | None:
        """Resolution rate."""
        return _rate(self.solved, self.followed_up)

    @property
    def satisfaction_rate(self) -> float | None:
        """Satisfaction rate."""
        score = self.satisfied + BASICALLY_SATISFIED_WEIGHT * self.basically_satisfied
        return _rate(score, self.followed_up)

    @property
    def return_rate(self) -> float | None:
        return _rate(self.returned, self.received)

    def as_dict(self) -> dict[str, Any]:
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            **counts,
            "on_time_closure_rate": self.on_time_closure_rate,
            "response_rate": self.response_rate,
            "solution_rate": self.solution_rate,
            "satisfaction_rate": self.satisfaction_rate,
            "return_rate": self.return_rate,
        }


@dataclass(slots=True)
class Report:
    community_id: str | None
    since: datetime | None
    until: datetime | None
    total: Figures = field(default_factory=Figures)
    by_grid: dict[str, Figures] = field(default_factory=dict)
    by_category: dict[str, Figures] = field(default_factory=dict)
    by_month: dict[str, Figures] = field(default_factory=dict)
    """Keyed by local month "YYYY-MM" of submission."""

    def as_dict(self) -> dict[str, Any]:
        def table(rows: dict[str, Figures]) -> dict[str, Any]:
            return {key: rows[key].as_dict() for key in sorted(rows)}

        return {
            "community_id": self.community_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "total": self.total.as_dict(),
            "by_grid": table(self.by_grid),
            "by_category": table(self.by_category),
            "by_month": table(self.by_month),
        }


def _count(
    figures: Figures,
    petition: Petition,
    *,
    answer: FollowupAnswer | None,
    returned: bool,
    now: datetime,
) -> None:
    status = PetitionStatus(petition.status)
    if status == PetitionStatus.MERGED:
        figures.merged += 1
        return
    figures.received += 1
    figures.cancelled += status == PetitionStatus.CANCELLED
    figures.returned += returned
    figures.escalated += petition.escalation_level != EscalationLevel.GRID
    if petition.resolved_at is not None:
        figures.resolved += 1
        figures.resolved_on_time += bool(petition.resolution_met)
    figures.overdue += petition.resolution_met is False or (
        status in OPEN_STATUSES and is_overdue(petition, now)
    )
    figures.no_response += petition.satisfaction == FollowupAnswer.NO_RESPONSE
    if answer is None:
        return
    figures.followed_up += 1
    figures.contacted += petition.contacted_at is not None
    figures.solved += answer in {FollowupAnswer.SATISFIED, FollowupAnswer.BASICALLY_SATISFIED}
    figures.satisfied += answer == FollowupAnswer.SATISFIED
    figures.basically_satisfied += answer == FollowupAnswer.BASICALLY_SATISFIED
    figures.not_fixed += answer == FollowupAnswer.NOT_FIXED


async def _latest_answers(session: AsyncSession, ids: Iterable[int]) -> dict[int, FollowupAnswer]:
    rows = await session.execute(
        select(PetitionFollowupAnswer.petition_id, PetitionFollowupAnswer.answer)
        .where(
            PetitionFollowupAnswer.petition_id.in_(list(ids)),
            PetitionFollowupAnswer.answer != FollowupAnswer.NO_RESPONSE.value,
        )
        .order_by(PetitionFollowupAnswer.at, PetitionFollowupAnswer.id)
    )
    return {petition_id: FollowupAnswer(answer) for petition_id, answer in rows.all()}


async def report(
    session: AsyncSession,
    *,
    community_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    grid_ids: Collection[str] | None = None,
) -> Report:
    """Figures for petitions filed in [since, until); `now` judges open cases' overdue clocks
    (default: `until`, else the current time). `grid_ids` limits the cohort to those grids
    (the staff console's role scope)."""
    now = now or until or datetime.now(UTC)
    statement = select(Petition).order_by(Petition.id)
    if community_id is not None:
        statement = statement.where(Petition.community_id == community_id)
    if grid_ids is not None:
        statement = statement.where(Petition.grid_id.in_(sorted(grid_ids)))
    if since is not None:
        statement = statement.where(Petition.created_at >= since)
    if until is not None:
        statement = statement.where(Petition.created_at < until)
    petitions = (await session.scalars(statement)).all()
    ids = [p.id for p in petitions]
    answers = await _latest_answers(session, ids) if ids else {}
    returned_ids = (
        set(
            (
                await session.scalars(
                    select(PetitionEvent.petition_id).where(
                        PetitionEvent.petition_id.in_(ids),
                        PetitionEvent.to_status == PetitionStatus.RETURNED.value,
                    )
                )
            ).all()
        )
        if ids
        else set()
    )
    result = Report(community_id, since, until)
    for petition in petitions:
        month = petition.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m")
        for figures in (
            result.total,
            result.by_grid.setdefault(petition.grid_id, Figures()),
            result.by_category.setdefault(petition.category, Figures()),
            result.by_month.setdefault(month, Figures()),
        ):
            _count(
                figures,
                petition,
                answer=answers.get(petition.id),
                returned=petition.id in returned_ids,
                now=now,
            )
    return result
