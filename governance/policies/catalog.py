"""The benefit-policy catalog: ``data/policies/<id>.yml`` loaded, validated and typed.

One file per policy; every text field is bilingual (``{zh: ..., bo: ...}``), lists
(``materials``, ``steps``) are parallel lists per language, and ``keywords`` are the words
residents use for it. Files whose name starts with ``_`` are not policies: ``_fields.yml``
holds the follow-up cues (which part of a policy a question asks about).

Loading checks everything a reviewer could get wrong (a missing language, an unknown topic,
a typo in a key, duplicate ids, a summary longer than three lines) and reports all problems
of all files at once, each prefixed with the file and the field. ``_retrieval.yml`` lists the
stop words policy retrieval leaves out (question words, particles, kin terms).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import yaml

DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[2] / "data" / "policies"
FIELD_CUES_FILE = "_fields.yml"
RETRIEVAL_FILE = "_retrieval.yml"
LANGUAGES: tuple[str, ...] = ("zh", "bo")
TOPICS: tuple[str, ...] = (
    "elderly_allowance",
    "elderly_health",
    "medical_insurance",
    "veteran",
    "property_certificate",
    "disability",
    "subsistence",
)
"""The ``policy_topic`` values the NLU produces (``data/nlu/lexicon/policy_topics.yml``)."""
MAX_SUMMARY_LINES = 3
_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class PolicyField(StrEnum):
    """The parts of a policy a reply or the H5 page can show."""

    TITLE = "title"
    SUMMARY = "summary"
    ELIGIBILITY = "eligibility"
    AMOUNTS = "amounts"
    MATERIALS = "materials"
    STEPS = "steps"
    WHERE = "where"
    CONTACT = "contact"
    SOURCE = "source"


TEXT_FIELDS: tuple[PolicyField, ...] = (
    PolicyField.TITLE,
    PolicyField.SUMMARY,
    PolicyField.ELIGIBILITY,
    PolicyField.AMOUNTS,
    PolicyField.WHERE,
    PolicyField.CONTACT,
    PolicyField.SOURCE,
)
LIST_FIELDS: tuple[PolicyField, ...] = (PolicyField.MATERIALS, PolicyField.STEPS)
ANSWER_FIELDS: tuple[PolicyField, ...] = (
    PolicyField.ELIGIBILITY,
    PolicyField.AMOUNTS,
    PolicyField.MATERIALS,
    PolicyField.STEPS,
    PolicyField.WHERE,
    PolicyField.CONTACT,
)
"""Fields a follow-up question can ask for (cues in ``_fields.yml``)."""
SEARCH_FIELDS: tuple[tuple[str, int], ...] = (
    ("title", 2),
    ("keywords", 2),
    ("summary", 1),
    ("eligibility", 1),
    ("materials", 1),
    ("steps", 1),
)
"""What a policy's retrieval document is made of, with repeats (title and keywords count
double). Amounts, opening hours and contacts are left out: they are alike in every policy."""

_REQUIRED_KEYS = frozenset(
    {"id", "topic", "effective_date", "sample", "verified_by", "verified_on", "keywords"}
    | {str(f) for f in TEXT_FIELDS}
    | {str(f) for f in LIST_FIELDS}
)
_OPTIONAL_KEYS = frozenset({"primary"})


def content_language(language: str) -> str:
    """The catalog language to show for a resident's language: ``bo`` for Tibetan, else ``zh``
    (``mixed`` and ``unknown`` get Chinese; callers that know the resident's preference pass
    that instead)."""
    return "bo" if language == "bo" else "zh"


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One thing wrong with a policy: which field, what kind of problem, in words.

    ``field`` is the key, with the language after a dot for one language's text
    (``summary.zh``); ``code`` names the kind of problem (``missing``, ``empty_text``,
    ``too_many_lines`` ...) so the console can word it in the staff's language, with
    ``params`` filling in the numbers; ``message`` is the English the YAML loader reports.
    """

    field: str
    code: str
    message: str
    params: Mapping[str, str] = dataclass_field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


PROBLEM_CODES: tuple[str, ...] = (
    "not_mapping",
    "unknown_field",
    "missing",
    "bad_id",
    "id_mismatch",
    "unknown_topic",
    "not_languages",
    "language_missing",
    "unknown_language",
    "empty_text",
    "empty_list",
    "bad_entries",
    "lists_differ",
    "too_many_lines",
    "not_a_date",
    "not_bool",
    "bad_name",
    "verified_pair",
    "not_answer_field",
    "unknown_policy",
    "primary_taken",
)
"""Every ``PolicyProblem.code`` the checks produce (the console words each one)."""


class Reporter(Protocol):
    """Records one problem: (field, code, English message, parameters of the message)."""

    def __call__(self, field: str, code: str, message: str, /, **params: object) -> None: ...


class PolicyError(ValueError):
    """One or more policy files are invalid; ``problems`` lists each as ``file: field: what``."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"{len(self.problems)} problem(s) in the policy files:\n  "
            + "\n  ".join(self.problems)
        )


@dataclass(frozen=True, slots=True)
class Bilingual:
    """One text in both languages."""

    zh: str
    bo: str

    def get(self, language: str) -> str:
        return self.bo if content_language(language) == "bo" else self.zh


@dataclass(frozen=True, slots=True)
class BilingualList:
    """A list of texts in both languages (parallel for ``materials`` and ``steps``)."""

    zh: tuple[str, ...]
    bo: tuple[str, ...]

    def get(self, language: str) -> tuple[str, ...]:
        return self.bo if content_language(language) == "bo" else self.zh


@dataclass(frozen=True, slots=True)
class Policy:
    """One benefit policy as a resident is told about it."""

    id: str
    topic: str
    title: Bilingual
    summary: Bilingual
    """At most three short lines per language."""
    eligibility: Bilingual
    amounts: Bilingual
    materials: BilingualList
    steps: BilingualList
    where: Bilingual
    """Office and opening hours."""
    contact: Bilingual
    source: Bilingual
    """The document the entry is based on."""
    effective_date: date
    keywords: BilingualList
    """Words and synonyms residents use for it (retrieval only, never shown)."""
    sample: bool
    """Model-written sample content nobody has checked yet."""
    verified_by: str | None
    verified_on: date | None
    primary: bool = False
    """The policy a bare topic gets when retrieval cannot tell its policies apart."""
    path: Path | None = None

    @property
    def verified(self) -> bool:
        return self.verified_by is not None and self.verified_on is not None

    def items(self, field: PolicyField | str, language: str) -> tuple[str, ...]:
        """A list field's entries (a text field as a one-element tuple)."""
        field = PolicyField(field)
        if field in LIST_FIELDS:
            value: BilingualList = getattr(self, field.value)
            return value.get(language)
        return (self.text(field, language),)

    def text(self, field: PolicyField | str, language: str) -> str:
        """A field in ``language`` (``bo``, else Chinese); list fields one entry per line."""
        field = PolicyField(field)
        if field in LIST_FIELDS:
            return "\n".join(self.items(field, language))
        value: Bilingual = getattr(self, field.value)
        return value.get(language)

    def search_text(self, language: str) -> str:
        """The retrieval document of this policy in one language (see ``SEARCH_FIELDS``)."""
        parts: list[str] = []
        for name, repeat in SEARCH_FIELDS:
            if name == "keywords":
                text = " ".join(self.keywords.get(language))
            else:
                text = self.text(name, language)
            parts.extend([text] * repeat)
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class FieldCues:
    """Phrases that show which field a question asks about, per language (``_fields.yml``)."""

    cues: Mapping[PolicyField, Mapping[str, tuple[str, ...]]]
    ignore: Mapping[str, tuple[str, ...]]

    def for_language(self, language: str) -> list[tuple[PolicyField, str]]:
        """(field, cue) pairs of one language, longest cue first."""
        pairs = [
            (field, cue)
            for field, by_language in self.cues.items()
            for cue in by_language.get(language, ())
        ]
        return sorted(pairs, key=lambda pair: -len(pair[1]))


class PolicyCatalog:
    """All policies, by id and by topic, plus the follow-up cues."""

    def __init__(
        self,
        policies: Iterable[Policy],
        cues: FieldCues,
        stopwords: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.policies: tuple[Policy, ...] = tuple(sorted(policies, key=lambda p: p.id))
        self.cues = cues
        self.stopwords: Mapping[str, tuple[str, ...]] = stopwords or {}
        """Per language: words retrieval leaves out (pass to the search index)."""
        self._by_id = {p.id: p for p in self.policies}

    @classmethod
    def load(
        cls, directory: Path = DEFAULT_POLICY_DIR, *, topics: Iterable[str] = TOPICS
    ) -> PolicyCatalog:
        """Read and validate every ``<id>.yml`` and ``_fields.yml``; raise ``PolicyError``."""
        directory = Path(directory)
        known_topics = frozenset(topics)
        problems: list[str] = []
        policies: list[Policy] = []
        if not directory.is_dir():
            raise PolicyError([f"{directory}: no such folder"])
        files = sorted(
            p for p in directory.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file()
        )
        for path in files:
            if path.name.startswith("_"):
                continue
            policy = _load_policy(path, known_topics, problems)
            if policy is not None:
                policies.append(policy)
        if not policies and not problems:
            problems.append(f"{directory}: no policy files")
        seen: dict[str, Path | None] = {}
        primaries: dict[str, str] = {}
        for policy in policies:
            if policy.id in seen:
                problems.append(
                    f"{policy.path}: id {policy.id!r} is also used by {seen[policy.id]}"
                )
            seen[policy.id] = policy.path
            if policy.primary:
                if policy.topic in primaries:
                    problems.append(
                        f"{policy.path}: primary: topic {policy.topic!r} already has a primary "
                        f"policy ({primaries[policy.topic]})"
                    )
                primaries[policy.topic] = policy.id
        cues = _load_cues(directory / FIELD_CUES_FILE, problems)
        stopwords = _load_stopwords(directory / RETRIEVAL_FILE, problems)
        if problems:
            raise PolicyError(problems)
        return cls(policies, cues, stopwords)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies)

    def __len__(self) -> int:
        return len(self.policies)

    def __contains__(self, policy_id: object) -> bool:
        return policy_id in self._by_id

    def __getitem__(self, policy_id: str) -> Policy:
        return self._by_id[policy_id]

    def get(self, policy_id: str | None) -> Policy | None:
        return self._by_id.get(policy_id) if policy_id is not None else None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.policies)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(p.topic for p in self.policies)

    def by_topic(self, topic: str) -> tuple[Policy, ...]:
        """The policies of a topic, the primary one first."""
        return tuple(
            sorted((p for p in self.policies if p.topic == topic), key=lambda p: not p.primary)
        )

    def primary(self, topic: str) -> Policy | None:
        """The default policy of a topic (the ``primary`` one, else the first by id)."""
        policies = self.by_topic(topic)
        return policies[0] if policies else None

    def documents(self, language: str) -> list[tuple[str, str]]:
        """(policy id, retrieval text) in one language, for a search index."""
        return [(p.id, p.search_text(language)) for p in self.policies]


# --- loading -------------------------------------------------------------------------------


def _load_yaml(path: Path, problems: list[str]) -> Any:
    """The parsed file, or None after recording why it could not be read or is empty."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        problems.append(f"{path}: not valid YAML: {error}")
        return None
    except UnicodeDecodeError as error:
        problems.append(f"{path}: not UTF-8: {error}")
        return None
    if loaded is None:
        problems.append(f"{path}: empty file")
    return loaded


def _load_policy(path: Path, topics: frozenset[str], problems: list[str]) -> Policy | None:
    raw = _load_yaml(path, problems)
    if raw is None:
        return None
    policy, found = policy_from_mapping(raw, topics, expected_id=path.stem, path=path)
    problems.extend(f"{path}: {problem}" for problem in found)
    return policy


def policy_from_mapping(
    raw: object,
    topics: Iterable[str] = TOPICS,
    *,
    expected_id: str | None = None,
    path: Path | None = None,
) -> tuple[Policy | None, list[PolicyProblem]]:
    """Validate one policy given as the mapping a YAML file holds (or a stored revision).

    Returns the policy, or None and every problem found (each names its field). The YAML
    loader and the console's edit form use exactly these checks. ``expected_id`` is the file
    name (or the policy being edited): a different ``id`` is a problem.
    """
    problems: list[PolicyProblem] = []

    def problem(field: str, code: str, message: str, /, **params: object) -> None:
        problems.append(
            PolicyProblem(field, code, message, {k: str(v) for k, v in params.items()})
        )

    if not isinstance(raw, dict):
        problem("", "not_mapping", f"expected a mapping of fields, got {type(raw).__name__}")
        return None, problems
    known_topics = frozenset(topics)

    for key in sorted(set(raw) - _REQUIRED_KEYS - _OPTIONAL_KEYS, key=str):
        problem(str(key), "unknown_field", "unknown field (typo?)")
    for key in sorted(_REQUIRED_KEYS - set(raw)):
        problem(key, "missing", "missing")

    policy_id = raw.get("id")
    if "id" in raw:
        if not isinstance(policy_id, str) or not _ID_PATTERN.match(policy_id):
            problem("id", "bad_id", f"{policy_id!r} is not a lower-case identifier (a-z, 0-9, _)")
        elif expected_id is not None and policy_id != expected_id:
            problem(
                "id", "id_mismatch", f"{policy_id!r} differs from the file name {expected_id!r}"
            )
    topic = raw.get("topic")
    if "topic" in raw and topic not in known_topics:
        problem(
            "topic",
            "unknown_topic",
            f"{topic!r} is not one of {', '.join(sorted(known_topics))}",
            topic=topic,
        )

    texts = {f: _bilingual(raw[f.value], f.value, problem) for f in TEXT_FIELDS if f.value in raw}
    lists = {
        f: _bilingual_list(raw[f.value], f.value, problem, parallel=True)
        for f in LIST_FIELDS
        if f.value in raw
    }
    keywords = (
        _bilingual_list(raw["keywords"], "keywords", problem, parallel=False)
        if "keywords" in raw
        else None
    )
    summary = texts.get(PolicyField.SUMMARY)
    if summary is not None:
        for language in LANGUAGES:
            lines = [line for line in summary.get(language).splitlines() if line.strip()]
            if len(lines) > MAX_SUMMARY_LINES:
                problem(
                    f"summary.{language}",
                    "too_many_lines",
                    f"{len(lines)} lines; at most {MAX_SUMMARY_LINES} (the reply is short)",
                    lines=len(lines),
                    most=MAX_SUMMARY_LINES,
                )

    effective = _date(raw.get("effective_date"), "effective_date", problem, required=True)
    sample = raw.get("sample")
    if "sample" in raw and not isinstance(sample, bool):
        problem("sample", "not_bool", f"must be true or false, got {sample!r}")
    verified_by = raw.get("verified_by")
    if verified_by is not None and (not isinstance(verified_by, str) or not verified_by.strip()):
        problem("verified_by", "bad_name", f"must be a name or null, got {verified_by!r}")
    verified_on = _date(raw.get("verified_on"), "verified_on", problem, required=False)
    if (verified_by is None) != (raw.get("verified_on") is None):
        problem(
            "verified_on", "verified_pair", "verified_by and verified_on are filled in together"
        )
    primary = raw.get("primary", False)
    if not isinstance(primary, bool):
        problem("primary", "not_bool", f"must be true or false, got {primary!r}")

    if problems:
        return None, problems
    # All checked above; the asserts narrow the types.
    assert isinstance(policy_id, str)
    assert isinstance(topic, str)
    assert effective is not None
    assert keywords is not None
    assert isinstance(sample, bool)
    policy = Policy(
        id=policy_id,
        topic=topic,
        title=texts[PolicyField.TITLE],
        summary=texts[PolicyField.SUMMARY],
        eligibility=texts[PolicyField.ELIGIBILITY],
        amounts=texts[PolicyField.AMOUNTS],
        materials=lists[PolicyField.MATERIALS],
        steps=lists[PolicyField.STEPS],
        where=texts[PolicyField.WHERE],
        contact=texts[PolicyField.CONTACT],
        source=texts[PolicyField.SOURCE],
        effective_date=effective,
        keywords=keywords,
        sample=sample,
        verified_by=verified_by.strip() if isinstance(verified_by, str) else None,
        verified_on=verified_on,
        primary=primary,
        path=path,
    )
    return policy, []


def policy_to_mapping(policy: Policy) -> dict[str, Any]:
    """The mapping a YAML file (or a stored revision) holds for ``policy``; JSON-safe (dates as
    ISO text). ``policy_from_mapping`` reads it back to an equal policy (``path`` aside)."""
    content: dict[str, Any] = {
        "id": policy.id,
        "topic": policy.topic,
        "sample": policy.sample,
        "verified_by": policy.verified_by,
        "verified_on": policy.verified_on.isoformat() if policy.verified_on else None,
        "effective_date": policy.effective_date.isoformat(),
    }
    if policy.primary:
        content["primary"] = True
    for text_field in TEXT_FIELDS:
        value: Bilingual = getattr(policy, text_field.value)
        content[text_field.value] = {"zh": value.zh, "bo": value.bo}
    for list_field in LIST_FIELDS:
        items: BilingualList = getattr(policy, list_field.value)
        content[list_field.value] = {"zh": list(items.zh), "bo": list(items.bo)}
    content["keywords"] = {"zh": list(policy.keywords.zh), "bo": list(policy.keywords.bo)}
    return content


def _languages(value: Any, field: str, problem: Reporter) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problem(
            field,
            "not_languages",
            f"expected {{zh: ..., bo: ...}}, got {type(value).__name__}",
        )
        return None
    ok = True
    for language in LANGUAGES:
        if language not in value:
            problem(
                field, "language_missing", f"the {language} text is missing", language=language
            )
            ok = False
    for extra in sorted(set(value) - set(LANGUAGES), key=str):
        problem(
            field,
            "unknown_language",
            f"unknown language {extra!r} (use zh and bo)",
            language=extra,
        )
        ok = False
    return value if ok else None


def _bilingual(value: Any, field: str, problem: Reporter) -> Bilingual:
    by_language = _languages(value, field, problem) or {}
    texts: dict[str, str] = {}
    for language in LANGUAGES:
        text = by_language.get(language)
        if language in by_language and (not isinstance(text, str) or not text.strip()):
            problem(f"{field}.{language}", "empty_text", "must be a non-empty text")
        texts[language] = text.strip() if isinstance(text, str) else ""
    return Bilingual(zh=texts["zh"], bo=texts["bo"])


def _bilingual_list(value: Any, field: str, problem: Reporter, *, parallel: bool) -> BilingualList:
    by_language = _languages(value, field, problem) or {}
    items: dict[str, tuple[str, ...]] = {}
    for language in LANGUAGES:
        entries = by_language.get(language)
        if language not in by_language:
            items[language] = ()
            continue
        if not isinstance(entries, list) or not entries:
            problem(f"{field}.{language}", "empty_list", "must be a non-empty list")
            items[language] = ()
            continue
        bad = [i for i, e in enumerate(entries) if not isinstance(e, str) or not e.strip()]
        if bad:
            problem(
                f"{field}.{language}",
                "bad_entries",
                f"entries {bad} are not non-empty texts",
                entries=", ".join(str(i + 1) for i in bad),
            )
        items[language] = tuple(str(e).strip() for e in entries if isinstance(e, str))
    if parallel and items["zh"] and items["bo"] and len(items["zh"]) != len(items["bo"]):
        problem(
            field,
            "lists_differ",
            f"zh has {len(items['zh'])} entries and bo {len(items['bo'])}; "
            "they are translations of each other",
            zh=len(items["zh"]),
            bo=len(items["bo"]),
        )
    return BilingualList(zh=items["zh"], bo=items["bo"])


def _date(value: Any, field: str, problem: Reporter, *, required: bool) -> date | None:
    if value is None:
        if required:
            problem(field, "missing", "missing (YYYY-MM-DD)")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problem(field, "not_a_date", f"{value!r} is not a date (YYYY-MM-DD)")
    return None


def _load_cues(path: Path, problems: list[str]) -> FieldCues:
    empty = FieldCues(cues={}, ignore={})
    if not path.exists():
        problems.append(f"{path}: missing (follow-up cues per field)")
        return empty
    raw = _load_yaml(path, problems)
    if raw is None:
        return empty
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), dict):
        problems.append(f"{path}: expected a mapping with 'fields' (and optional 'ignore')")
        return empty

    def problem(field: str, _code: str, message: str, /, **_params: object) -> None:
        problems.append(f"{path}: {field}: {message}")

    cues: dict[PolicyField, dict[str, tuple[str, ...]]] = {}
    answer_names = {str(f) for f in ANSWER_FIELDS}
    for name, value in raw["fields"].items():
        if name not in answer_names:
            problem(
                f"fields.{name}",
                "not_answer_field",
                f"not a field one can ask for ({', '.join(answer_names)})",
            )
            continue
        lists = _bilingual_list(value, f"fields.{name}", problem, parallel=False)
        cues[PolicyField(name)] = {"zh": lists.zh, "bo": lists.bo}
    ignore_raw = raw.get("ignore", {"zh": [], "bo": []})
    ignore: dict[str, tuple[str, ...]] = {}
    if not isinstance(ignore_raw, dict):
        problem("ignore", "not_languages", "expected {zh: [...], bo: [...]}")
    else:
        for language in LANGUAGES:
            entries = ignore_raw.get(language) or []
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                problem(f"ignore.{language}", "bad_entries", "must be a list of texts")
                continue
            ignore[language] = tuple(entries)
    return FieldCues(cues=cues, ignore=ignore)


def _load_stopwords(path: Path, problems: list[str]) -> dict[str, tuple[str, ...]]:
    """``stopwords: {zh: [...], bo: [...]}`` from ``_retrieval.yml`` (optional file)."""
    if not path.exists():
        return {}
    raw = _load_yaml(path, problems)
    if raw is None:
        return {}
    if not isinstance(raw, dict) or "stopwords" not in raw:
        problems.append(f"{path}: expected a mapping with 'stopwords'")
        return {}

    def problem(field: str, _code: str, message: str, /, **_params: object) -> None:
        problems.append(f"{path}: {field}: {message}")

    lists = _bilingual_list(raw["stopwords"], "stopwords", problem, parallel=False)
    return {"zh": lists.zh, "bo": lists.bo}
