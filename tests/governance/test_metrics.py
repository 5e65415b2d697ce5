"""Dashboard metrics and the three rates on a small known dataset; the 09:00 digest."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from governance.clock import LOCAL_TZ, ManualClock
from governance.petitions.digest import digest, enqueue_digest
from governance.petitions.dispatch import dispatch
from governance.petitions.followers import merge
from governance.petitions.followup import close_unanswered_followups, record_followup
from governance.petitions.lifecycle import reply_to_resident, transition
from governance.petitions.metrics import report
from governance.petitions.models import Petition, PetitionStatus
from governance.petitions.responsibility import ResponsibilityMatrix
from tests.governance.conftest import file_petition, outbox

S = PetitionStatus
STAFF = "staff:S-0102"


def local(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=LOCAL_TZ)


async def build_dataset(
    session: AsyncSession, clock: ManualClock, matrix: ResponsibilityMatrix
) -> dict[str, Petition]:
    """Eight petitions with known outcomes (see the expected figures in the tests)."""
    clock.set(local(11, 22))

    async def filed(name: str, category: str, grid: str, point: str) -> Petition:
        petition = await file_petition(
            session,
            now=clock.now(),
            openid=f"o-{name}",
            category=category,
            grid_id=grid,
            grid_point_id=point,
        )
        if name != "g":
            await dispatch(session, petition, now=clock.now(), actor="system", matrix=matrix)
            await transition(session, petition, S.ACCEPTED, actor=STAFF, now=clock.now())
        return petition

    p = {
        "a": await filed("a", "streetlight", "G01", "GP-0101"),
        "b": await filed("b", "streetlight", "G01", "GP-0102"),
        "c": await filed("c", "road", "G02", "GP-0201"),
        "d": await filed("d", "sanitation", "G02", "GP-0202"),
        "e": await filed("e", "safety", "G03", "GP-0301"),
        "f": await filed("f", "streetlight", "G01", "GP-0101"),
        "g": await filed("g", "streetlight", "G01", "GP-0101"),
    }
    await merge(session, p["g"], p["a"], STAFF, clock.now())
    # F: returned (wrong area) and re-dispatched, still open.
    await transition(
        session, p["f"], S.RETURNED, actor=STAFF, now=clock.now(), reason="wrong_area"
    )
    await dispatch(session, p["f"], now=clock.now(), actor="staff:S-C01", matrix=matrix)
    # A: on site, resolved on time, satisfied.
    clock.set(local(11, 23))
    await transition(session, p["a"], S.ON_SITE, actor=STAFF, now=clock.now())
    await transition(session, p["a"], S.RESOLVED, actor=STAFF, now=clock.now())
    await record_followup(session, p["a"], "o-a", "satisfied", clock.now())
    # B: a staff reply, resolved on time, basically satisfied.
    clock.set(local(11, 24))
    await reply_to_resident(session, p["b"], actor=STAFF, text="明天修", now=clock.now())
    await transition(session, p["b"], S.RESOLVED, actor=STAFF, now=clock.now())
    await record_followup(session, p["b"], "o-b", "basically_satisfied", clock.now())
    # D: resolved late (due 1 Dec), nobody answers → no_response.
    clock.set(local(12, 2))
    await transition(session, p["d"], S.RESOLVED, actor=STAFF, now=clock.now())
    # C: resolved late, "not fixed" → reopened and escalated, open again.
    clock.set(local(12, 3))
    await transition(session, p["c"], S.RESOLVED, actor=STAFF, now=clock.now())
    await record_followup(session, p["c"], "o-c", "not_fixed", clock.now())
    clock.set(local(12, 5, 12))
    assert await close_unanswered_followups(session, clock.now()) == [p["d"].ticket_no]
    # H: December, safety in G03, on site, resolved, satisfied.
    clock.set(local(12, 7))
    p["h"] = await filed("h", "safety", "G03", "GP-0302")
    await transition(session, p["h"], S.ON_SITE, actor="staff:S-0303", now=clock.now())
    clock.set(local(12, 8))
    await transition(session, p["h"], S.RESOLVED, actor="staff:S-0303", now=clock.now())
    await record_followup(session, p["h"], "o-h", "satisfied", clock.now())
    return p


async def test_the_report_counts_and_the_three_rates_match_the_known_dataset(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        await build_dataset(session, clock, matrix)
        result = await report(session, community_id="lhasa-gesanglinka", now=local(12, 10, 12))
    total = result.total
    assert (total.received, total.merged, total.resolved, total.resolved_on_time) == (7, 1, 4, 3)
    assert (total.escalated, total.overdue, total.returned, total.no_response) == (1, 4, 1, 1)
    assert (total.followed_up, total.contacted, total.solved) == (4, 3, 3)
    assert (total.satisfied, total.basically_satisfied, total.not_fixed) == (2, 1, 1)
    assert total.response_rate == 0.75  # A, B, H contacted; C never
    assert total.solution_rate == 0.75  # A, B, H solved; C not fixed
    assert total.satisfaction_rate == 0.725  # (2 + 0.9 × 1) / 4
    assert total.on_time_closure_rate == 0.75  # D resolved after its due day
    assert total.return_rate == 0.1429  # F, 1 of 7

    g01, g02, g03 = (result.by_grid[g] for g in ("G01", "G02", "G03"))
    assert (g01.received, g01.merged, g01.followed_up, g01.satisfaction_rate) == (3, 1, 2, 0.95)
    assert (g02.received, g02.followed_up, g02.solution_rate, g02.response_rate) == (
        2,
        1,
        0.0,
        0.0,
    )
    assert (g03.received, g03.overdue, g03.satisfaction_rate) == (2, 1, 1.0)
    assert {k: v.received for k, v in result.by_category.items()} == {
        "streetlight": 3,
        "road": 1,
        "sanitation": 1,
        "safety": 2,
    }
    assert {k: (v.received, v.followed_up) for k, v in result.by_month.items()} == {
        "2026-11": (6, 3),
        "2026-12": (1, 1),
    }
    as_json = json.loads(json.dumps(result.as_dict()))
    assert as_json["total"]["satisfaction_rate"] == 0.725
    assert as_json["by_month"]["2026-12"]["received"] == 1


async def test_the_report_filters_by_period_and_community(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        await build_dataset(session, clock, matrix)
        december = await report(session, since=local(12, 1, 0), until=local(12, 31, 0))
        nowhere = await report(session, community_id="elsewhere", now=local(12, 10))
    assert (december.total.received, december.total.satisfaction_rate) == (1, 1.0)
    assert list(december.by_grid) == ["G03"]
    assert nowhere.total.received == 0
    assert nowhere.total.satisfaction_rate is None
    assert nowhere.as_dict()["total"]["response_rate"] is None


async def test_the_daily_digest_counts_open_overdue_due_today_and_yesterday(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    matrix: ResponsibilityMatrix,
) -> None:
    async with sessions() as session, session.begin():
        clock.set(local(11, 22))
        due_today = await file_petition(session, now=clock.now(), openid="o-1")
        await dispatch(session, due_today, now=clock.now(), actor="system", matrix=matrix)
        await transition(session, due_today, S.ACCEPTED, actor=STAFF, now=clock.now())
        unanswered = await file_petition(session, now=clock.now(), openid="o-2")
        clock.set(local(11, 30))
        fresh = await file_petition(session, now=clock.now(), openid="o-3", category="other")
        fixed = await file_petition(session, now=clock.now(), openid="o-4", category="road")
        await dispatch(session, fixed, now=clock.now(), actor="system", matrix=matrix)
        await transition(session, fixed, S.RESOLVED, actor=STAFF, now=clock.now())

        nine = local(12, 1, 9)
        result = await digest(session, "lhasa-gesanglinka", nine)
        assert (result.open, result.overdue, result.due_today) == (3, 1, 1)
        assert result.overdue_tickets == (unanswered.ticket_no,)
        assert result.due_today_tickets == (due_today.ticket_no,)
        assert (result.received_yesterday, result.resolved_yesterday) == (2, 1)
        assert fresh.ticket_no not in result.overdue_tickets

        assert await enqueue_digest(session, "lhasa-gesanglinka", nine) is not None
        assert await enqueue_digest(session, "lhasa-gesanglinka", local(12, 1, 9)) is None
        (card,) = await outbox(session, "card_daily_digest")
        assert card.payload["params"]["overdue_tickets"] == [unanswered.ticket_no]
        assert card.payload["params"]["day"] == "2026-12-01"
