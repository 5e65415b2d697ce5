"""Plain functions behind ``minqing nlu train|parse|evaluate`` (the lead's CLI calls them)."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from sklearn.metrics import confusion_matrix, f1_score

from nlu.embedded import EmbeddedEngine, fingerprint, load_or_train
from nlu.embedded import train as train_model
from nlu.lexicon import lexicon_dir_of
from nlu.parsed import Entity, NluEngine, ParsedMessage
from nlu.training_data import (
    LANGUAGE_DIRS,
    TrainingExample,
    load_training_data,
    split_examples,
)

REPORT_INTENT = "report_issue"


def train(data_dir: Path, model_dir: Path) -> Path:
    """Train on all data, save the artefact, print a short summary to stderr."""
    model = train_model(Path(data_dir))
    path = model.save(Path(model_dir))
    examples = load_training_data(Path(data_dir))
    per_language = {lang: sum(e.language_dir == lang for e in examples) for lang in LANGUAGE_DIRS}
    sys.stderr.write(
        f"trained {path.name}: {model.n_examples} examples "
        f"({', '.join(f'{k} {v}' for k, v in per_language.items())}), "
        f"{len(model.intent_classifier.classes_)} intents, "
        f"{0 if model.category_classifier is None else len(model.category_classifier.classes_)}"
        f" categories, {model.training_seconds:.1f} s\n"
    )
    return path


async def aparse_stream(engine: NluEngine, lines: Iterable[str], out: TextIO) -> int:
    """Async :func:`parse_stream`; returns the number of lines parsed."""
    count = 0
    for line in lines:
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        parsed = await engine.parse(text)
        out.write(json.dumps(parsed.as_json(), ensure_ascii=False) + "\n")
        out.flush()
        count += 1
    return count


def parse_stream(engine: NluEngine, lines: Iterable[str], out: TextIO) -> int:
    """One JSON object (``ParsedMessage.as_json()``) per non-blank input line, as each line
    arrives; returns the number of lines parsed."""
    if isinstance(engine, EmbeddedEngine):
        count = 0
        for line in lines:
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            out.write(json.dumps(engine.parse_sync(text).as_json(), ensure_ascii=False) + "\n")
            out.flush()
            count += 1
        return count
    return asyncio.run(aparse_stream(engine, lines, out))


# --- evaluation ---------------------------------------------------------------------------


def _entity_key(e: Entity) -> tuple[str, int, int]:
    return (e.entity, e.start, e.end)


def _entity_matches(gold: Entity, predicted: Entity, text: str) -> bool:
    """Same kind and span; and the same value when the annotation names one explicitly
    (its value differs from the surface text, e.g. ``service: meal``)."""
    if _entity_key(gold) != _entity_key(predicted):
        return False
    surface = text[gold.start : gold.end]
    return gold.value == surface or gold.value == predicted.value


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def _scores(
    examples: Sequence[TrainingExample],
    parsed: Sequence[ParsedMessage],
    categories: Sequence[str | None],
    latencies: Sequence[float],
) -> dict[str, Any]:
    gold = [e.intent for e in examples]
    pred = [p.intent.name for p in parsed]
    labels = sorted(set(gold) | set(pred))
    reports = [
        (e.category, c)
        for e, c in zip(examples, categories, strict=True)
        if e.intent == REPORT_INTENT and e.category
    ]
    tp = fp = fn = 0
    per_entity: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0})
    for e, p in zip(examples, parsed, strict=True):
        matched: set[int] = set()
        for g in e.entities:
            hit = next(
                (
                    k
                    for k, q in enumerate(p.entities)
                    if k not in matched and _entity_matches(g, q, e.text)
                ),
                None,
            )
            if hit is None:
                fn += 1
                per_entity[g.entity]["fn"] += 1
            else:
                matched.add(hit)
                tp += 1
                per_entity[g.entity]["tp"] += 1
        for k, q in enumerate(p.entities):
            if k not in matched:
                fp += 1
                per_entity[q.entity]["fp"] += 1
    return {
        "examples": len(examples),
        "intent_accuracy": _ratio(sum(g == q for g, q in zip(gold, pred, strict=True)), len(gold)),
        "intent_macro_f1": float(
            f1_score(gold, pred, labels=labels, average="macro", zero_division=0)
        )
        if gold
        else 0.0,
        "category_examples": len(reports),
        "category_accuracy": _ratio(sum(g == q for g, q in reports), len(reports)),
        "entities": {
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "gold": tp + fn,
            "predicted": tp + fp,
            "per_entity": {
                name: {
                    "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
                    "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
                    "gold": c["tp"] + c["fn"],
                    "predicted": c["tp"] + c["fp"],
                }
                for name, c in sorted(per_entity.items())
            },
        },
        "confusion": {
            "labels": labels,
            "matrix": confusion_matrix(gold, pred, labels=labels).tolist() if gold else [],
        },
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.5), 3),
            "p99": round(_percentile(latencies, 0.99), 3),
            "mean": round(statistics.fmean(latencies), 3) if latencies else 0.0,
        },
    }


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def evaluate(data_dir: Path, model_dir: Path) -> dict[str, Any]:
    """Scores on the held-out split of a model trained on the training split only: per
    language and overall intent accuracy and macro-F1, category accuracy, entity
    precision/recall, confusion matrix and parse latency."""
    data_dir, model_dir = Path(data_dir), Path(model_dir)
    examples = load_training_data(data_dir)
    train_part, heldout = split_examples(examples)
    started = time.perf_counter()
    engine = load_or_train(data_dir, model_dir, split="train")
    load_seconds = time.perf_counter() - started
    for e in heldout[:20]:  # warm up caches (jieba, regexes) before timing
        engine.parse_sync(e.text)
    parsed: list[ParsedMessage] = []
    categories: list[str | None] = []
    latencies: list[float] = []
    for e in heldout:
        t0 = time.perf_counter()
        parsed.append(engine.parse_sync(e.text))
        latencies.append((time.perf_counter() - t0) * 1000)
        categories.append(
            engine.classify_category(e.text)[0] if e.intent == REPORT_INTENT else None
        )
    languages: dict[str, Any] = {}
    for lang in LANGUAGE_DIRS:
        idx = [i for i, e in enumerate(heldout) if e.language_dir == lang]
        if idx:
            languages[lang] = _scores(
                [heldout[i] for i in idx],
                [parsed[i] for i in idx],
                [categories[i] for i in idx],
                [latencies[i] for i in idx],
            )
    return {
        "data": {
            "fingerprint": fingerprint(data_dir)[:12],
            "examples": len(examples),
            "train": len(train_part),
            "heldout": len(heldout),
            "per_language": {
                lang: {
                    "train": sum(e.language_dir == lang for e in train_part),
                    "heldout": sum(e.language_dir == lang for e in heldout),
                }
                for lang in LANGUAGE_DIRS
            },
        },
        "model": {
            "artefact": engine.model.artefact_name,
            "training_seconds": round(engine.model.training_seconds, 2),
            "load_or_train_seconds": round(load_seconds, 2),
        },
        "languages": languages,
        "overall": _scores(heldout, parsed, categories, latencies),
        "lexicon": str(lexicon_dir_of(data_dir)),
    }


# --- report -------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def format_markdown(results: dict[str, Any]) -> str:
    """The evaluation as a Markdown section for ``docs/benchmarks.md``."""
    data, model = results["data"], results["model"]
    columns = [*results["languages"], "overall"]
    scores = {**results["languages"], "overall": results["overall"]}
    lines = [
        "## NLU (embedded engine)",
        "",
        f"Held-out split: {data['heldout']} of {data['examples']} examples (data "
        f"`{data['fingerprint']}`), model trained on the other {data['train']} only "
        f"({model['training_seconds']} s).",
        "",
        "| metric | " + " | ".join(columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]

    def row(name: str, cell: Any) -> None:
        lines.append(f"| {name} | " + " | ".join(cell(scores[c]) for c in columns) + " |")

    row("examples", lambda s: str(s["examples"]))
    row("intent accuracy", lambda s: _pct(s["intent_accuracy"]))
    row("intent macro-F1", lambda s: f"{s['intent_macro_f1']:.3f}")
    row(
        "category accuracy (report_issue)",
        lambda s: f"{_pct(s['category_accuracy'])} (n={s['category_examples']})",
    )
    row("entity precision", lambda s: _pct(s["entities"]["precision"]))
    row("entity recall", lambda s: _pct(s["entities"]["recall"]))
    row("parse latency p50", lambda s: f"{s['latency_ms']['p50']:.2f} ms")
    row("parse latency p99", lambda s: f"{s['latency_ms']['p99']:.2f} ms")
    lines += ["", "### Entities (overall)", "", "| entity | precision | recall | gold |"]
    lines.append("| --- | --- | --- | --- |")
    for name, s in results["overall"]["entities"]["per_entity"].items():
        lines.append(f"| {name} | {_pct(s['precision'])} | {_pct(s['recall'])} | {s['gold']} |")
    for lang, s in results["languages"].items():
        labels, matrix = s["confusion"]["labels"], s["confusion"]["matrix"]
        lines += ["", f"### Intent confusion ({lang}; rows = truth, columns = prediction)", ""]
        lines.append("| | " + " | ".join(labels) + " |")
        lines.append("| --- |" + " --- |" * len(labels))
        for label, counts in zip(labels, matrix, strict=True):
            cells = [str(n) if n else "·" for n in counts]
            lines.append(f"| **{label}** | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
