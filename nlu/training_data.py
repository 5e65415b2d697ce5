"""Read the Rasa 3.x YAML training data (``data/nlu/{zh,bo}/*.yml``) and split it for evaluation.

Entities are inline annotations: ``[text](entity)``, ``[text](entity:value)`` or
``[text]{"entity": "service", "value": "meal"}``; they are stripped from the text and kept
with spans into the stripped text. ``report_issue`` blocks carry ``metadata.category``.

The held-out split depends only on the texts (sha256), so it is the same on every machine; it
is stratified by (language, intent, category): every group with two or more distinct texts
has texts on both sides. One text never lands on both sides.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlu.parsed import Entity

LANGUAGE_DIRS: tuple[str, ...] = ("zh", "bo")
HELDOUT_FRACTION = 0.2

# Rasa's own annotation grammar: [text](entity[:value]) or [text]{json}.
_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)|(?P<json>\{[^}]+?\}))"
)


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One annotated example: plain text, labels and entity spans into ``text``."""

    text: str
    intent: str
    category: str | None
    language_dir: str
    entities: tuple[Entity, ...] = ()
    source: str = ""
    """File the example came from, relative to the data folder (for error messages)."""


@dataclass(frozen=True, slots=True)
class AnnotatedEntity:
    """An annotation before it becomes an :class:`Entity`; ``explicit_value`` says whether
    the data named a value (else the value is the annotated text itself)."""

    entity: Entity
    explicit_value: bool


def strip_annotations(raw: str) -> tuple[str, tuple[AnnotatedEntity, ...]]:
    """Plain text and the entities of one annotated example line."""
    parts: list[str] = []
    found: list[AnnotatedEntity] = []
    cursor = 0
    length = 0
    for match in _ANNOTATION.finditer(raw):
        before = raw[cursor : match.start()]
        parts.append(before)
        length += len(before)
        surface = match.group("text")
        name: str | None = match.group("entity")
        value: str | None = match.group("value")
        if match.group("json") is not None:
            try:
                spec = json.loads(match.group("json"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"bad entity annotation {match.group(0)!r}: {exc}") from exc
            name = str(spec.get("entity", "")) or None
            raw_value = spec.get("value")
            value = None if raw_value is None else str(raw_value)
        if not name:
            raise ValueError(f"entity annotation without a name: {match.group(0)!r}")
        entity = Entity(name.strip(), (value or surface).strip(), length, length + len(surface))
        found.append(AnnotatedEntity(entity, value is not None))
        parts.append(surface)
        length += len(surface)
        cursor = match.end()
    parts.append(raw[cursor:])
    return "".join(parts), tuple(found)


def _example_lines(examples: Any) -> list[tuple[str, dict[str, Any]]]:
    """(annotated text, per-example metadata) from a block's ``examples`` value."""
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(examples, str):
        for line in examples.splitlines():
            stripped = line.strip()
            if stripped.startswith("- "):
                out.append((stripped[2:].strip(), {}))
            elif stripped == "-":
                continue
    elif isinstance(examples, list):
        for item in examples:
            if isinstance(item, str):
                out.append((item.strip(), {}))
            elif isinstance(item, dict) and "text" in item:
                meta = item.get("metadata")
                out.append((str(item["text"]).strip(), meta if isinstance(meta, dict) else {}))
    return [(text, meta) for text, meta in out if text]


def load_file(path: Path, language_dir: str, source: str = "") -> list[TrainingExample]:
    """Every intent example of one Rasa NLU YAML file (synonym/lookup/regex blocks skipped)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping with an `nlu:` list")
    blocks = document.get("nlu") or []
    examples: list[TrainingExample] = []
    for block in blocks:
        if not isinstance(block, dict) or "intent" not in block:
            continue
        intent = str(block["intent"]).strip()
        raw_meta = block.get("metadata")
        block_meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        for annotated, meta in _example_lines(block.get("examples")):
            category = meta.get("category", block_meta.get("category"))
            text, entities = strip_annotations(annotated)
            examples.append(
                TrainingExample(
                    text=text.strip(),
                    intent=intent,
                    category=None if category is None else str(category),
                    language_dir=language_dir,
                    entities=tuple(a.entity for a in entities),
                    source=source or path.name,
                )
            )
    return examples


def training_files(data_dir: Path) -> list[tuple[str, Path]]:
    """(language folder, file) for every ``<data_dir>/{zh,bo}/*.yml``, sorted."""
    root = Path(data_dir)
    files: list[tuple[str, Path]] = []
    for language_dir in LANGUAGE_DIRS:
        folder = root / language_dir
        if folder.is_dir():
            files.extend(
                (language_dir, p)
                for p in sorted(folder.iterdir())
                if p.is_file() and p.suffix in (".yml", ".yaml")
            )
    return files


def load_training_data(data_dir: Path) -> list[TrainingExample]:
    """All examples under ``data_dir``, in a stable order (language, file, position)."""
    root = Path(data_dir)
    examples: list[TrainingExample] = []
    for language_dir, path in training_files(root):
        examples.extend(load_file(path, language_dir, str(path.relative_to(root))))
    return examples


def stable_fraction(text: str) -> float:
    """A number in [0, 1) that depends only on the text (sha256), never on the machine."""
    digest = hashlib.sha256(text.strip().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_examples(
    examples: Sequence[TrainingExample], heldout_fraction: float = HELDOUT_FRACTION
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """(train, held-out): texts whose stable fraction is below ``heldout_fraction`` are held
    out, then each (language, intent, category) group is nudged so both sides see it."""
    heldout_texts = {e.text for e in examples if stable_fraction(e.text) < heldout_fraction}
    groups: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for e in examples:
        groups[(e.language_dir, e.intent, e.category or "")].add(e.text)
    for key in sorted(groups):
        texts = sorted(groups[key], key=lambda t: (stable_fraction(t), t))
        if len(texts) < 2:
            continue
        inside = [t for t in texts if t in heldout_texts]
        if not inside:
            heldout_texts.add(texts[0])
        elif len(inside) == len(texts):
            heldout_texts.discard(texts[-1])
    train = [e for e in examples if e.text not in heldout_texts]
    heldout = [e for e in examples if e.text in heldout_texts]
    return train, heldout


def intents_of(examples: Iterable[TrainingExample]) -> set[str]:
    """The set of intent names in ``examples``."""
    return {e.intent for e in examples}
