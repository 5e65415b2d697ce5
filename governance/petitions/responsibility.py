"""The responsibility matrix (category × grid → staff role or external unit), kept as data.

Loaded from `data/governance/responsibility.yml` and validated on load, so a typo in a category,
role or unit name stops the service at start-up instead of misrouting petitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from governance.directory.models import StaffRole


class ResponsibilityError(ValueError):
    """The matrix file names an unknown category, role or unit, or a rule is malformed."""


@dataclass(frozen=True, slots=True)
class ExternalUnit:
    """A line department outside the community (power company 95598, water company …)."""

    id: str
    name_zh: str
    name_bo: str
    phone: str

    def name(self, language: str) -> str:
        return self.name_bo if language == "bo" else self.name_zh


@dataclass(frozen=True, slots=True)
class Rule:
    """Exactly one of role (a staff role in the grid) or unit (an external unit id)."""

    role: StaffRole | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class ResponsibilityMatrix:
    default: Rule
    categories: Mapping[str, Rule]
    grids: Mapping[str, Mapping[str, Rule]]
    units: Mapping[str, ExternalUnit]
    known_categories: frozenset[str] = field(default_factory=frozenset)

    def rule_for(self, category: str, grid_id: str) -> Rule:
        """Grid exception first, then the category's rule, then the default."""
        if self.known_categories and category not in self.known_categories:
            raise ResponsibilityError(f"unknown petition category {category!r}")
        grid_rules = self.grids.get(grid_id, {})
        return grid_rules.get(category) or self.categories.get(category) or self.default

    def unit(self, unit_id: str) -> ExternalUnit:
        try:
            return self.units[unit_id]
        except KeyError as error:
            raise ResponsibilityError(f"unknown external unit {unit_id!r}") from error

    @classmethod
    def load(cls, path: Path, *, known_categories: Iterable[str]) -> ResponsibilityMatrix:
        """Read and validate the YAML file (categories are checked against known_categories)."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.from_dict(raw, known_categories=known_categories, source=str(path))

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, known_categories: Iterable[str], source: str = "matrix"
    ) -> ResponsibilityMatrix:
        known = frozenset(known_categories)
        units = {
            unit_id: _unit(unit_id, values, source)
            for unit_id, values in (raw.get("external_units") or {}).items()
        }
        if "default" not in raw:
            raise ResponsibilityError(f"{source}: a default rule is required")
        default = _rule(raw["default"], units, f"{source}: default")
        categories = {
            _category(name, known, source): _rule(value, units, f"{source}: categories.{name}")
            for name, value in (raw.get("categories") or {}).items()
        }
        grids = {
            str(grid_id): {
                _category(name, known, source): _rule(
                    value, units, f"{source}: grids.{grid_id}.{name}"
                )
                for name, value in (rules or {}).items()
            }
            for grid_id, rules in (raw.get("grids") or {}).items()
        }
        return cls(default, categories, grids, units, known)


def _category(name: str, known: frozenset[str], source: str) -> str:
    if name not in known:
        raise ResponsibilityError(
            f"{source}: unknown category {name!r} (known: {', '.join(sorted(known))})"
        )
    return name


def _unit(unit_id: str, values: Any, source: str) -> ExternalUnit:
    if not isinstance(values, Mapping) or not {"name_zh", "name_bo", "phone"} <= set(values):
        raise ResponsibilityError(f"{source}: unit {unit_id!r} needs name_zh, name_bo and phone")
    return ExternalUnit(
        unit_id, str(values["name_zh"]), str(values["name_bo"]), str(values["phone"])
    )


def _rule(value: Any, units: Mapping[str, ExternalUnit], where: str) -> Rule:
    if not isinstance(value, Mapping) or len(set(value) & {"role", "unit"}) != 1:
        raise ResponsibilityError(f"{where}: a rule needs exactly one of role or unit")
    if "unit" in value:
        if value["unit"] not in units:
            raise ResponsibilityError(f"{where}: unknown external unit {value['unit']!r}")
        return Rule(unit=str(value["unit"]))
    try:
        return Rule(role=StaffRole(value["role"]))
    except ValueError as error:
        roles = ", ".join(role.value for role in StaffRole)
        raise ResponsibilityError(
            f"{where}: unknown role {value['role']!r} (known: {roles})"
        ) from error
