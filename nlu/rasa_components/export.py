"""Stage the training data for ``rasa train nlu``: our examples back out as Rasa 3.x YAML.

``scripts/rasa.sh train`` runs ``python -m nlu.rasa_components.export --split train|all
--out DIR`` and hands ``DIR`` to Rasa. Why not give Rasa ``data/nlu`` directly: the language
folders hold README.md files that Rasa's loader rejects, and with ``--split train`` the
held-out examples (:func:`nlu.training_data.split_examples`, the same split the evaluation
uses) must be left out so the evaluation is honest.

Written per language (``zh.yml``, ``bo.yml``): one ``intent`` block per (intent, category)
with the category as intent-level ``metadata`` (as in our data; the category component
learns from it), entities as Rasa annotations (``[text](entity)``, or the JSON form when the
value differs from the text). ``lexicon.yml`` turns our lexicon into Rasa data: the cue
words of categories and intents, services and policy topics become lookup tables (the
RegexFeaturizer's features, as the cue markers are the embedded engine's), the surface forms
of services and policy topics entity synonyms (for the EntitySynonymMapper). Synonym, regex
and lookup blocks found in the data files are copied as they are (``extra.yml``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from nlu.lexicon import lexicon_dir_of
from nlu.parsed import Entity
from nlu.training_data import (
    LANGUAGE_DIRS,
    TrainingExample,
    load_training_data,
    split_examples,
    training_files,
)

RASA_DATA_VERSION = "3.1"
CUE_FILES = {"categories.yml": "cat", "intent_cues.yml": "int"}
"""Lexicon files whose entries become lookup tables ``cue_<prefix>_<name>``."""
SYNONYM_FILES = {"services.yml": "service", "policy_topics.yml": "policy_topic"}
"""Lexicon files of canonical value → surface forms (lookup ``cue_<entity>`` + synonyms)."""
_ANNOTATION_CHARS = frozenset("[]")


def annotate(example: TrainingExample) -> str:
    """The example's text with its entities as Rasa annotations (inverse of
    :func:`nlu.training_data.strip_annotations`)."""
    parts: list[str] = []
    cursor = 0
    for entity in sorted(example.entities, key=lambda e: (e.start, e.end)):
        if entity.start < cursor:
            raise ValueError(f"overlapping entities in {example.text!r}")
        surface = example.text[entity.start : entity.end]
        parts.append(example.text[cursor : entity.start])
        parts.append(_annotation(surface, entity))
        cursor = entity.end
    parts.append(example.text[cursor:])
    return "".join(parts)


def _annotation(surface: str, entity: Entity) -> str:
    if entity.value == surface.strip():
        return f"[{surface}]({entity.entity})"
    spec = json.dumps({"entity": entity.entity, "value": entity.value}, ensure_ascii=False)
    return f"[{surface}]{spec}"


def _examples_block(lines: Iterable[str]) -> str:
    return "".join(f"- {line}\n" for line in lines)


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, as Rasa's own files write ``examples``."""


def _literal_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _literal_str)


def dump_rasa_yaml(blocks: Sequence[dict[str, Any]]) -> str:
    """A Rasa NLU YAML document with ``blocks`` as its ``nlu`` list."""
    document = {"version": RASA_DATA_VERSION, "nlu": list(blocks)}
    return yaml.dump(
        document, Dumper=_LiteralDumper, allow_unicode=True, sort_keys=False, width=10_000
    )


def intent_blocks(examples: Sequence[TrainingExample]) -> list[dict[str, Any]]:
    """One block per (intent, category), in first-seen order, each example one line."""
    grouped: dict[tuple[str, str | None], list[str]] = {}
    for example in examples:
        if _ANNOTATION_CHARS & set(example.text) or "\n" in example.text:
            raise ValueError(f"cannot write {example.text!r} as a Rasa example line")
        grouped.setdefault((example.intent, example.category), []).append(annotate(example))
    blocks: list[dict[str, Any]] = []
    for (intent, category), lines in grouped.items():
        block: dict[str, Any] = {"intent": intent}
        if category is not None:
            block["metadata"] = {"category": category}
        block["examples"] = _examples_block(lines)
        blocks.append(block)
    return blocks


def lexicon_blocks(lexicon_dir: Path) -> list[dict[str, Any]]:
    """Lookup tables of the lexicon's cue words and entity forms, and entity synonyms."""
    blocks: list[dict[str, Any]] = []
    for file_name, prefix in CUE_FILES.items():
        for name, forms in sorted(_lexicon(lexicon_dir / file_name).items()):
            blocks.append({"lookup": f"cue_{prefix}_{name}", "examples": _examples_block(forms)})
    taken: dict[str, str] = {}
    for file_name, entity in SYNONYM_FILES.items():
        table = _lexicon(lexicon_dir / file_name)
        all_forms = sorted({f for forms in table.values() for f in forms})
        if all_forms:
            blocks.append({"lookup": f"cue_{entity}", "examples": _examples_block(all_forms)})
        for value, forms in sorted(table.items()):
            # one surface form, one value (Rasa rejects contradicting synonyms)
            mine = [f for f in forms if f != value and taken.setdefault(f, value) == value]
            if mine:
                blocks.append({"synonym": value, "examples": _examples_block(mine)})
    return blocks


def _lexicon(path: Path) -> dict[str, list[str]]:
    """``name → [forms…]`` of a lexicon file whose entries have ``zh``/``bo`` lists."""
    if not path.exists():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for name, entry in loaded.items():
        forms: list[str] = []
        if isinstance(entry, dict):
            for language in LANGUAGE_DIRS:
                forms.extend(str(f).strip() for f in entry.get(language) or [])
        elif isinstance(entry, list):
            forms.extend(str(f).strip() for f in entry)
        unique = list(dict.fromkeys(f for f in forms if f and not _ANNOTATION_CHARS & set(f)))
        if unique:
            out[str(name)] = unique
    return out


def extra_blocks(data_dir: Path) -> list[dict[str, Any]]:
    """Synonym, regex and lookup blocks of the data files, as they are."""
    blocks: list[dict[str, Any]] = []
    for _, path in training_files(data_dir):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu") or []:
            if isinstance(block, dict) and "intent" not in block:
                blocks.append(block)
    return blocks


def select(examples: Sequence[TrainingExample], split: str) -> list[TrainingExample]:
    """All examples (``all``) or the training side of the held-out split (``train``)."""
    if split == "all":
        return list(examples)
    if split == "train":
        return split_examples(examples)[0]
    raise ValueError(f"unknown split {split!r} (all or train)")


def export(data_dir: Path, out_dir: Path, split: str = "all") -> dict[str, int]:
    """Write the Rasa training data for ``split`` into ``out_dir``; examples per language."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    chosen = select(load_training_data(data_dir), split)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for language in LANGUAGE_DIRS:
        mine = [e for e in chosen if e.language_dir == language]
        counts[language] = len(mine)
        if mine:
            (out_dir / f"{language}.yml").write_text(
                dump_rasa_yaml(intent_blocks(mine)), encoding="utf-8"
            )
    lexicon = lexicon_blocks(lexicon_dir_of(data_dir))
    if lexicon:
        (out_dir / "lexicon.yml").write_text(dump_rasa_yaml(lexicon), encoding="utf-8")
    extra = extra_blocks(data_dir)
    if extra:
        (out_dir / "extra.yml").write_text(dump_rasa_yaml(extra), encoding="utf-8")
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the data/nlu folder")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--split", choices=["all", "train"], default="all")
    args = parser.parse_args(argv)
    counts = export(args.data, args.out, args.split)
    summary = ", ".join(f"{lang} {n}" for lang, n in counts.items())
    sys.stderr.write(f"export: {sum(counts.values())} examples ({summary}), split {args.split}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
