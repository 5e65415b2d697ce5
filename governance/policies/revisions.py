"""Policy edits from the staff console: revisions in the database over the YAML seed.

``data/policies/<id>.yml`` stays the seed. Staff edit a policy in the console; every save is
a new row in ``policy_revisions`` holding the whole policy (the mapping a YAML file holds),
and the newest row of a policy overrides its file. Nothing is updated in place, so the
rows are also the policy's history.

- ``save_edit`` validates with exactly the YAML loader's checks (``policy_from_mapping``)
  and clears the verification: edited text has not been checked yet. ``sample`` is left as
  it was; only a verification sets it to false.
- ``mark_verified`` copies the current content with ``verified_by`` / ``verified_on`` set
  and ``sample: false``.
- ``catalog_version`` is one cheap query; ``LiveCatalog`` compares it and rebuilds the
  effective catalog (seed + newest revisions) only when it changed. Several gateway workers
  share the database, so an edit saved through one is picked up by all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from governance.policies.catalog import (
    Policy,
    PolicyCatalog,
    PolicyProblem,
    policy_from_mapping,
    policy_to_mapping,
)
from governance.policies.models import PolicyRevision

log = logging.getLogger(__name__)

CatalogVersion = tuple[int, int]
"""(number of revisions, newest revision id). Revisions are only added, so the count grows
with every commit, even when a lower id commits after a higher one (PostgreSQL hands out ids
at insert time, not at commit)."""
NO_REVISIONS: CatalogVersion = (0, 0)
VERIFICATION_FIELDS = frozenset({"verified_by", "verified_on", "sample"})
"""Set by ``mark_verified`` (and cleared by an edit), never by the edit form."""


@dataclass(frozen=True, slots=True)
class RevisionSaved:
    revision: PolicyRevision
    policy: Policy
    """The policy as it now reads."""
    changed: tuple[str, ...] = ()
    """The keys whose value the revision changed (for the audit log)."""


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The edit changed nothing: no revision, the verification stays."""

    policy: Policy


@dataclass(frozen=True, slots=True)
class EditRejected:
    problems: tuple[PolicyProblem, ...]


EditOutcome = RevisionSaved | Unchanged | EditRejected


async def catalog_version(session: AsyncSession) -> CatalogVersion:
    """Cheap fingerprint of the revisions table (one aggregate query on a small table)."""
    row = (
        await session.execute(select(func.count(PolicyRevision.id), func.max(PolicyRevision.id)))
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def newest_revisions(session: AsyncSession) -> dict[str, PolicyRevision]:
    """The newest revision of every policy that has one."""
    newest = select(func.max(PolicyRevision.id)).group_by(PolicyRevision.policy_id)
    rows = await session.scalars(select(PolicyRevision).where(PolicyRevision.id.in_(newest)))
    return {row.policy_id: row for row in rows}


def _policy_of(revision: PolicyRevision) -> Policy | None:
    policy, problems = policy_from_mapping(revision.content, expected_id=revision.policy_id)
    if policy is None:  # e.g. a topic removed from the NLU since: the YAML file answers
        log.warning(
            "policy revision %s of %s is no longer valid (%s); using the YAML file",
            revision.id,
            revision.policy_id,
            "; ".join(str(p) for p in problems),
        )
    return policy


async def effective_catalog(session: AsyncSession, seed: PolicyCatalog) -> PolicyCatalog:
    """The YAML seed with every policy's newest revision in place of its file. Revisions of
    policies the seed no longer has are ignored (policies are added as YAML files)."""
    newest = await newest_revisions(session)
    policies = []
    for seeded in seed:
        revision = newest.get(seeded.id)
        policy = _policy_of(revision) if revision is not None else None
        policies.append(policy or seeded)
    return PolicyCatalog(policies, seed.cues, seed.stopwords)


async def current_policy(
    session: AsyncSession, seed: PolicyCatalog, policy_id: str
) -> Policy | None:
    """One policy as residents are told about it now (its newest revision, else its file)."""
    seeded = seed.get(policy_id)
    if seeded is None:
        return None
    revision = await session.scalar(
        select(PolicyRevision)
        .where(PolicyRevision.policy_id == policy_id)
        .order_by(PolicyRevision.id.desc())
        .limit(1)
    )
    policy = _policy_of(revision) if revision is not None else None
    return policy or seeded


async def history(session: AsyncSession, policy_id: str, limit: int = 50) -> list[PolicyRevision]:
    """A policy's revisions, newest first."""
    rows = await session.scalars(
        select(PolicyRevision)
        .where(PolicyRevision.policy_id == policy_id)
        .order_by(PolicyRevision.id.desc())
        .limit(limit)
    )
    return list(rows)


def _same_content(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def strip(content: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in content.items() if k not in VERIFICATION_FIELDS}

    return strip(a) == strip(b)


async def save_edit(
    session: AsyncSession,
    seed: PolicyCatalog,
    policy_id: str,
    changes: Mapping[str, Any],
    *,
    edited_by: str,
    now: datetime,
    note: str = "",
) -> EditOutcome:
    """Save staff's edit of a policy: ``changes`` (any of the YAML keys) over its current
    content, validated as a YAML file is. The new revision is unverified (``verified_by``
    and ``verified_on`` cleared; ``sample`` unchanged). An edit that changes nothing is
    ``Unchanged`` and keeps the verification."""
    current = await current_policy(session, seed, policy_id)
    if current is None:
        return EditRejected((PolicyProblem("id", "unknown_policy", f"no policy {policy_id!r}"),))
    before = policy_to_mapping(current)
    content = dict(before)
    content.update({k: v for k, v in changes.items() if k not in VERIFICATION_FIELDS})
    content.update(verified_by=None, verified_on=None, sample=current.sample)
    policy, problems = policy_from_mapping(content, expected_id=policy_id)
    if policy is None:
        return EditRejected(tuple(problems))
    if policy.primary and policy.primary != current.primary:
        catalog = await effective_catalog(session, seed)
        taken = next(
            (p for p in catalog.by_topic(policy.topic) if p.primary and p.id != policy_id), None
        )
        if taken is not None:
            return EditRejected(
                (
                    PolicyProblem(
                        "primary",
                        "primary_taken",
                        f"topic {policy.topic!r} already has a primary policy ({taken.id})",
                        {"policy": taken.id},
                    ),
                )
            )
    stored = policy_to_mapping(policy)
    if _same_content(stored, before):
        return Unchanged(current)
    changed = tuple(
        sorted(
            key
            for key in set(stored) | set(before)
            if key not in VERIFICATION_FIELDS and stored.get(key) != before.get(key)
        )
    )
    revision = PolicyRevision(
        policy_id=policy_id,
        content=stored,
        edited_by=edited_by,
        created_at=now,
        note=note,
        verified_by=None,
        verified_on=None,
    )
    session.add(revision)
    await session.flush()
    return RevisionSaved(revision, policy, changed)


async def mark_verified(
    session: AsyncSession,
    seed: PolicyCatalog,
    policy_id: str,
    *,
    verified_by: str,
    verified_on: date,
    now: datetime,
    note: str = "",
    edited_by: str | None = None,
) -> RevisionSaved | EditRejected:
    """Record that ``verified_by`` checked the policy's current content (both languages) on
    ``verified_on``: a new revision copying the content, verified and no longer a sample
    (``edited_by``: the console user, when ``verified_by`` is a fuller name)."""
    current = await current_policy(session, seed, policy_id)
    if current is None:
        return EditRejected((PolicyProblem("id", "unknown_policy", f"no policy {policy_id!r}"),))
    content = policy_to_mapping(current)
    content.update(
        verified_by=verified_by.strip(), verified_on=verified_on.isoformat(), sample=False
    )
    policy, problems = policy_from_mapping(content, expected_id=policy_id)
    if policy is None:
        return EditRejected(tuple(problems))
    revision = PolicyRevision(
        policy_id=policy_id,
        content=policy_to_mapping(policy),
        edited_by=edited_by or verified_by.strip(),
        created_at=now,
        note=note,
        verified_by=policy.verified_by,
        verified_on=policy.verified_on,
    )
    session.add(revision)
    await session.flush()
    return RevisionSaved(revision, policy)


class LiveCatalog:
    """The effective catalog of this process, rebuilt when another worker (or this one)
    saved a revision.

    ``current(session)`` costs one aggregate query; only when the version differs from the
    one last loaded does it read the newest revisions and build a new ``PolicyCatalog``
    (the same object is returned while nothing changed, so callers can cache what they
    derive from it, such as search indexes).
    """

    def __init__(self, seed: PolicyCatalog) -> None:
        self.seed = seed
        self.catalog = seed
        self.version: CatalogVersion | None = None

    async def current(self, session: AsyncSession) -> PolicyCatalog:
        version = await catalog_version(session)
        if version == self.version:
            return self.catalog
        catalog = (
            self.seed if version == NO_REVISIONS else await effective_catalog(session, self.seed)
        )
        # A slower concurrent refresh must not put an older catalog back.
        if self.version is None or version >= self.version:
            self.catalog, self.version = catalog, version
        return self.catalog
