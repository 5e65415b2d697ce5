"""Posters for every grid point of a community, with their WeChat parametric QR codes.

Each poster carries three permanent string-scene codes:

* ``report:<grid_point_id>`` — the report code, the grid point's own code; the ticket stored on the
  `GridPoint` (see `bot.jobs.housekeeping.sync_qr_codes`) is reused, a missing one is created
  and stored;
* ``staff:<grid_id>`` — the staff code, shared by the grid's points;
* ``policy:<community_id>`` — the policy code, shared by the whole community.

WeChat answers the same permanent scene with the same ticket, so rendering again never uses up
more of the 100,000 permanent codes. The picture encodes the returned `url`, exactly what
WeChat's own code image contains, drawn here at error correction H and print resolution.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.posters.render import (
    Bilingual,
    PosterContent,
    PosterLayout,
    StaffLine,
    render_poster,
    save_poster,
)
from bot.wechat.api_client import WeChatApiClient
from governance.directory.models import Community, Grid, GridPoint, Staff

log = logging.getLogger(__name__)
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class _Point:
    id: str
    grid_id: str
    name: Bilingual
    ticket: str | None
    url: str | None


def poster_basename(point_id: str) -> str:
    return "poster-" + _UNSAFE_FILENAME.sub("_", point_id)


async def render_posters(
    sessions: async_sessionmaker[AsyncSession],
    wechat_api: WeChatApiClient,
    community_id: str,
    out_dir: Path,
    *,
    layout: PosterLayout | None = None,
) -> list[Path]:
    """Render one A4 PNG and PDF per grid point of the community → [png, pdf, png, pdf, ...].

    Raises LookupError for an unknown community, `PosterFontError` when a font is missing
    (before any API call) and `WeChatApiError` when a QR code cannot be created.
    """
    layout = layout or PosterLayout.load()
    layout.fonts  # noqa: B018 - resolve the fonts now: a missing font fails before any API call

    async with sessions() as session:
        community = await session.get(Community, community_id)
        if community is None:
            raise LookupError(f"unknown community {community_id!r}")
        grids = {
            grid.id: grid
            for grid in await session.scalars(
                select(Grid).where(Grid.community_id == community_id).order_by(Grid.id)
            )
        }
        points = [
            _Point(p.id, p.grid_id, Bilingual(p.name_zh, p.name_bo), p.qr_ticket, p.qr_url)
            for p in await session.scalars(
                select(GridPoint).where(GridPoint.grid_id.in_(grids)).order_by(GridPoint.id)
            )
        ]
        staff: dict[str, list[StaffLine]] = {}
        for member in await session.scalars(
            select(Staff)
            .where(Staff.community_id == community_id, Staff.active.is_(True))
            .order_by(Staff.id)
        ):
            if member.grid_id is not None:
                staff.setdefault(member.grid_id, []).append(
                    StaffLine(
                        role=str(member.role),
                        name=Bilingual(member.name_zh, member.name_bo),
                        phone=member.phone,
                        duty_hours=member.duty_hours,
                    )
                )
        community_name = Bilingual(community.name_zh, community.name_bo)
        hotline = community.hotline
    if not points:
        log.warning("community %s has no grid points: no posters", community_id)
        return []

    _, policy_url = await wechat_api.create_qrcode(f"policy:{community_id}", permanent=True)
    staff_urls: dict[str, str] = {}
    created: dict[str, tuple[str, str]] = {}
    contents: list[PosterContent] = []
    for point in points:
        report_url = point.url
        if not (point.ticket and report_url):
            ticket, report_url = await wechat_api.create_qrcode(
                f"report:{point.id}", permanent=True
            )
            created[point.id] = (ticket, report_url)
        if point.grid_id not in staff_urls:
            _, staff_urls[point.grid_id] = await wechat_api.create_qrcode(
                f"staff:{point.grid_id}", permanent=True
            )
        grid = grids[point.grid_id]
        contents.append(
            PosterContent(
                point_id=point.id,
                community=community_name,
                grid=Bilingual(grid.name_zh, grid.name_bo),
                point=point.name,
                hotline=hotline,
                codes={
                    "report": report_url,
                    "staff": staff_urls[point.grid_id],
                    "policy": policy_url,
                },
                staff=staff.get(point.grid_id, []),
            )
        )
    if created:
        await _store_report_codes(sessions, created)

    dpi = int(layout.page.get("dpi", 300))
    written: list[Path] = []
    for content in contents:
        base = out_dir / poster_basename(content.point_id)
        png, pdf = await asyncio.to_thread(_render_and_save, content, layout, base, dpi)
        written += [png, pdf]
        log.info("poster for %s: %s", content.point_id, pdf)
    return written


def _render_and_save(
    content: PosterContent, layout: PosterLayout, base: Path, dpi: int
) -> tuple[Path, Path]:
    return save_poster(render_poster(content, layout), base, dpi)


async def _store_report_codes(
    sessions: async_sessionmaker[AsyncSession], created: dict[str, tuple[str, str]]
) -> None:
    """Keep new report-code tickets on their grid points (as the daily sync would)."""
    async with sessions() as session, session.begin():
        for point_id, (ticket, url) in created.items():
            point = await session.get(GridPoint, point_id)
            if point is not None and not point.qr_ticket:
                point.qr_ticket, point.qr_url = ticket, url
