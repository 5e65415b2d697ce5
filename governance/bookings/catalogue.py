"""The eldercare catalogue (data/eldercare/catalogue.yml): validated, then merged into tables.

Loading is idempotent: services and providers are upserted by id, each provider's service list
is replaced, and providers that left the file are deactivated (old bookings still point at
them). Grid-worker providers (``GW-<grid>``) are made from the ``grid_workers`` template and the
directory's active grid worker of each grid.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from governance.bookings.models import EldercareService, Provider, ProviderKind, ProviderService
from governance.directory.models import Community, Grid, Staff, StaffRole

WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
GRID_WORKER_PREFIX = "GW-"


class CatalogueError(ValueError):
    """The catalogue file is inconsistent; the message says where."""


@dataclass(frozen=True, slots=True)
class CatalogueReport:
    services: int
    providers: int
    grid_workers: int
    deactivated: int


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


def _hours(where: str, ranges: Any) -> list[list[str]]:
    if not isinstance(ranges, list) or not ranges:
        raise CatalogueError(f"{where}: hours must be a non-empty list of 'HH:MM-HH:MM'")
    parsed: list[tuple[int, int, str, str]] = []
    for text in ranges:
        match = _RANGE.match(str(text))
        if match is None:
            raise CatalogueError(f"{where}: bad hours range {text!r} (want 'HH:MM-HH:MM')")
        start = _minutes(match[1], match[2])
        end = _minutes(match[3], match[4])
        if not 0 <= start < end <= 24 * 60 or int(match[2]) >= 60 or int(match[4]) >= 60:
            raise CatalogueError(f"{where}: hours range {text!r} is not a time span in one day")
        parsed.append((start, end, f"{match[1]}:{match[2]}", f"{match[3]}:{match[4]}"))
    parsed.sort()
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(parsed):
        if start < end:
            raise CatalogueError(f"{where}: hours ranges overlap")
    return [[opens, closes] for _, _, opens, closes in parsed]


def _days(where: str, names: Any) -> list[int]:
    if not isinstance(names, list) or not names:
        raise CatalogueError(f"{where}: working_days must be a non-empty list (mon … sun)")
    unknown = [name for name in names if name not in WEEKDAYS]
    if unknown:
        raise CatalogueError(f"{where}: unknown working days {unknown}")
    return sorted({WEEKDAYS[name] for name in names})


def _schedule(where: str, raw: dict[str, Any], services: dict[str, int]) -> dict[str, Any]:
    """Working days, hours, slot length, capacity and services of a provider, checked."""
    slot_minutes = raw.get("slot_minutes")
    capacity = raw.get("capacity")
    if not isinstance(slot_minutes, int) or slot_minutes <= 0:
        raise CatalogueError(f"{where}: slot_minutes must be a positive integer")
    if not isinstance(capacity, int) or capacity < 1:
        raise CatalogueError(f"{where}: capacity must be at least 1")
    hours = _hours(where, raw.get("hours"))
    for opens, closes in hours:
        span = _minutes(*closes.split(":")) - _minutes(*opens.split(":"))
        if span < slot_minutes:
            raise CatalogueError(f"{where}: range {opens}-{closes} is shorter than one slot")
    offered = raw.get("services")
    if not isinstance(offered, list) or not offered:
        raise CatalogueError(f"{where}: services must be a non-empty list")
    for service_id in offered:
        if service_id not in services:
            raise CatalogueError(f"{where}: unknown service {service_id!r}")
        if services[service_id] > slot_minutes:
            raise CatalogueError(
                f"{where}: a {service_id} visit ({services[service_id]} min) does not fit "
                f"into its {slot_minutes}-minute slots"
            )
    return {
        "working_days": _days(where, raw.get("working_days")),
        "hours": hours,
        "slot_minutes": slot_minutes,
        "capacity": capacity,
        "services": sorted(set(offered)),
    }


def _text(where: str, raw: dict[str, Any], field: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str | int) or not str(value).strip():
        raise CatalogueError(f"{where}: {field} is required")
    return str(value).strip()


def read_catalogue(path: Path) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise CatalogueError(f"{path}: not a mapping")
    return raw


async def load_eldercare(session: AsyncSession, path: Path) -> CatalogueReport:
    """Validate the catalogue and merge it into the booking tables (safe to run again)."""
    raw = read_catalogue(path)
    community_id = _text(str(path), raw, "community")
    if await session.get(Community, community_id) is None:
        raise CatalogueError(f"{path}: community {community_id!r} is not in the directory")

    durations: dict[str, int] = {}
    services: list[EldercareService] = []
    for order, entry in enumerate(raw.get("services") or []):
        where = f"{path}: services[{order}]"
        service_id = _text(where, entry, "id")
        if service_id in durations:
            raise CatalogueError(f"{where}: duplicate service {service_id!r}")
        duration = entry.get("duration_minutes")
        if not isinstance(duration, int) or duration <= 0:
            raise CatalogueError(f"{where}: duration_minutes must be a positive integer")
        durations[service_id] = duration
        services.append(
            EldercareService(
                id=service_id,
                name_zh=_text(where, entry, "name_zh"),
                name_bo=_text(where, entry, "name_bo"),
                duration_minutes=duration,
                sort_order=order,
                active=True,
            )
        )
    if not services:
        raise CatalogueError(f"{path}: no services")

    providers: list[tuple[Provider, list[str]]] = []
    for index, entry in enumerate(raw.get("providers") or []):
        where = f"{path}: providers[{index}]"
        schedule = _schedule(where, entry, durations)
        provider_id = _text(where, entry, "id")
        if provider_id.startswith(GRID_WORKER_PREFIX):
            raise CatalogueError(f"{where}: ids {GRID_WORKER_PREFIX}… are for grid workers")
        provider = Provider(
            id=provider_id,
            community_id=community_id,
            grid_id=None,
            staff_id=None,
            kind=ProviderKind.ORGANISATION,
            name_zh=_text(where, entry, "name_zh"),
            name_bo=_text(where, entry, "name_bo"),
            phone=_text(where, entry, "phone"),
            working_days=schedule["working_days"],
            hours=schedule["hours"],
            slot_minutes=schedule["slot_minutes"],
            capacity=schedule["capacity"],
            active=True,
        )
        providers.append((provider, schedule["services"]))

    grid_workers = 0
    template = raw.get("grid_workers")
    if template:
        schedule = _schedule(f"{path}: grid_workers", template, durations)
        grids = (
            await session.scalars(
                select(Grid).where(Grid.community_id == community_id).order_by(Grid.id)
            )
        ).all()
        for grid in grids:
            worker = await session.scalar(
                select(Staff)
                .where(
                    Staff.grid_id == grid.id,
                    Staff.role == StaffRole.GRID_WORKER,
                    Staff.active.is_(True),
                )
                .order_by(Staff.id)
            )
            if worker is None:
                continue
            provider = Provider(
                id=f"{GRID_WORKER_PREFIX}{grid.id}",
                community_id=community_id,
                grid_id=grid.id,
                staff_id=worker.id,
                kind=ProviderKind.GRID_WORKER,
                name_zh=worker.name_zh,
                name_bo=worker.name_bo,
                phone=worker.phone,
                working_days=schedule["working_days"],
                hours=schedule["hours"],
                slot_minutes=schedule["slot_minutes"],
                capacity=schedule["capacity"],
                active=True,
            )
            providers.append((provider, schedule["services"]))
            grid_workers += 1

    ids = [provider.id for provider, _ in providers]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"{path}: duplicate provider ids")
    offered = {service_id for _, service_ids in providers for service_id in service_ids}
    orphans = sorted(set(durations) - offered)
    if orphans:
        raise CatalogueError(f"{path}: no provider offers {orphans}")

    for service in services:
        await session.merge(service)
    await session.execute(
        update(EldercareService)
        .where(EldercareService.id.not_in(list(durations)))
        .values(active=False)
    )
    for provider, _ in providers:
        await session.merge(provider)
    await session.flush()
    leaving = (
        await session.scalars(
            select(Provider).where(
                Provider.community_id == community_id,
                Provider.id.not_in(ids),
                Provider.active.is_(True),
            )
        )
    ).all()
    for provider in leaving:
        provider.active = False
    await session.execute(delete(ProviderService).where(ProviderService.provider_id.in_(ids)))
    for provider, service_ids in providers:
        for service_id in service_ids:
            session.add(ProviderService(provider_id=provider.id, service_id=service_id))
    await session.flush()
    return CatalogueReport(
        len(services), len(providers) - grid_workers, grid_workers, len(leaving)
    )
