"""SLA policies per category (data in `data/governance/sla.yml`) and the due times they give."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import yaml

from governance.calendar import WorkCalendar
from governance.clock import LOCAL_TZ


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    response_hours: float
    """Natural hours, around the clock, until someone must answer."""
    resolution_working_days: int
    """Working days (start day not counted) until the case must be closed."""


@dataclass(frozen=True, slots=True)
class SlaPolicies:
    default: SlaPolicy
    by_category: dict[str, SlaPolicy]
    hazard_response_hours: float
    """Danger (fallen wire, fire, gas) always gets the short clock."""

    def for_category(self, category: str) -> SlaPolicy:
        return self.by_category.get(category, self.default)

    @classmethod
    def load(cls, path: Path) -> SlaPolicies:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        default = SlaPolicy(**raw["default"])
        categories = {
            name: SlaPolicy(**{**raw["default"], **(values or {})})
            for name, values in raw.get("categories", {}).items()
        }
        return cls(default, categories, float(raw["hazard_response_hours"]))


@dataclass(frozen=True, slots=True)
class DueTimes:
    response_due_at: datetime
    resolution_due_at: datetime


def due_times(
    policies: SlaPolicies,
    calendar: WorkCalendar,
    category: str,
    submitted_at: datetime,
    *,
    hazard: bool = False,
) -> DueTimes:
    """Both clocks for a petition submitted now; resolution ends at the close of its last day."""
    policy = policies.for_category(category)
    hours = policies.hazard_response_hours if hazard else policy.response_hours
    local_day = submitted_at.astimezone(LOCAL_TZ).date()
    last_day = calendar.add_working_days(local_day, policy.resolution_working_days)
    end_of_day = datetime.combine(last_day, time(23, 59, 59), tzinfo=LOCAL_TZ)
    return DueTimes(submitted_at + timedelta(hours=hours), end_of_day)
