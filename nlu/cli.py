"""Plain functions behind ``minqing nlu train|parse|evaluate`` (the lead's CLI calls them)."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from sklearn.metrics import confusion_matrix, f1_score

from nlu.embedded import EmbeddedEngine, fingerprint, load_or_train
from nlu.embedded import train as train_model
from nlu.lexicon import PROJECT_ROOT, lexicon_dir_of
from nlu.parsed import Entity, NluEngine, ParsedMessage
from nlu.rasa_engine import CategoryClassifier, RasaEngine, rasa_entities
from nlu.training_data import (
    LANGUAGE_DIRS,
    TrainingExample,
    load_training_data,
    split_examples,
)

REPORT_INTENT = "report_issue"
WARMUP = 20
"""Parses before the timed ones (jieba, regexes, TensorFlow graphs warm up)."""
THROUGHPUT_CONCURRENCY = 4
TRAIN_MODEL_MARK = "-train-"
"""In the file name of Rasa models trained on the train split (``scripts/rasa.sh``)."""


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
        "entities": _entity_scores(examples, [p.entities for p in parsed]),
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


def _entity_scores(
    examples: Sequence[TrainingExample], predicted: Sequence[Sequence[Entity]]
) -> dict[str, Any]:
    """Entity precision and recall, overall and per kind (same span, and same value where
    the annotation names one)."""
    tp = fp = fn = 0
    per_entity: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0})
    for e, found in zip(examples, predicted, strict=True):
        matched: set[int] = set()
        for g in e.entities:
            hit = next(
                (
                    k
                    for k, q in enumerate(found)
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
        for k, q in enumerate(found):
            if k not in matched:
                fp += 1
                per_entity[q.entity]["fp"] += 1
    return {
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
    }


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def _by_language(
    heldout: Sequence[TrainingExample],
    parsed: Sequence[ParsedMessage],
    categories: Sequence[str | None],
    latencies: Sequence[float],
) -> dict[str, Any]:
    """:func:`_scores` per language folder that has held-out examples."""
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
    return languages


def _data_summary(
    data_dir: Path,
    examples: Sequence[TrainingExample],
    train_part: Sequence[TrainingExample],
    heldout: Sequence[TrainingExample],
) -> dict[str, Any]:
    return {
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
    }


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
    for e in heldout[:WARMUP]:  # warm up caches (jieba, regexes) before timing
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
    return {
        "data": _data_summary(data_dir, examples, train_part, heldout),
        "model": {
            "artefact": engine.model.artefact_name,
            "training_seconds": round(engine.model.training_seconds, 2),
            "load_or_train_seconds": round(load_seconds, 2),
        },
        "languages": _by_language(heldout, parsed, categories, latencies),
        "overall": _scores(heldout, parsed, categories, latencies),
        "lexicon": str(lexicon_dir_of(data_dir)),
    }


# --- Rasa over HTTP, side by side ---------------------------------------------------------


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process and its direct children in MiB (Linux ``/proc``)."""
    total_kib = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        status = Path(f"/proc/{p}/status")
        if not status.exists():
            if p == pid:
                return None
            continue
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return round(total_kib / 1024, 1)


async def evaluate_rasa_engine(
    engine: RasaEngine,
    heldout: Sequence[TrainingExample],
    category_fallback: CategoryClassifier | None = None,
    concurrency: int = THROUGHPUT_CONCURRENCY,
    require_train_split: bool = True,
) -> dict[str, Any]:
    """Scores of a running Rasa server on ``heldout``, parsed one by one over HTTP (latency is
    the round trip plus the client's mapping, what the bot waits for), then once more with
    ``concurrency`` clients for the throughput. Never scores the fallback: an unavailable
    server raises :class:`~nlu.rasa_engine.RasaUnavailableError`.

    The category of each ``report_issue`` example is Rasa's own (the CategoryClassifier
    component) when the model has it, else ``category_fallback``'s."""
    status = await engine.status()
    model_file = str(status.get("model_file") or "")
    if require_train_split and TRAIN_MODEL_MARK not in Path(model_file).name:
        raise ValueError(
            f"the Rasa server runs {model_file or 'an unnamed model'}, not a model trained on "
            "the train split (scripts/rasa.sh train --split train): its held-out scores "
            "would be inflated"
        )
    for e in heldout[:WARMUP]:
        await engine.parse_rasa(e.text)
    parsed: list[ParsedMessage] = []
    categories: list[str | None] = []
    latencies: list[float] = []
    http: list[float] = []
    model_entities: list[tuple[Entity, ...]] = []
    sources: set[str] = set()
    for e in heldout:
        t0 = time.perf_counter()
        payload = await engine.raw_parse(e.text)
        t1 = time.perf_counter()
        message = engine.to_parsed(e.text, payload)
        latencies.append((time.perf_counter() - t0) * 1000)
        http.append((t1 - t0) * 1000)
        parsed.append(message)
        model_entities.append(rasa_entities(payload))
        category: str | None = None
        if e.intent == REPORT_INTENT:
            own = message.extras.get("rasa_category")
            if isinstance(own, dict) and own.get("name"):
                category = str(own["name"])
                sources.add("rasa")
            elif category_fallback is not None:
                category = category_fallback.classify_category(e.text)[0]
                sources.add("embedded")
        categories.append(category)
    texts = [e.text for e in heldout]
    semaphore = asyncio.Semaphore(concurrency)

    async def one(text: str) -> None:
        async with semaphore:
            await engine.raw_parse(text)

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in texts))
    elapsed = time.perf_counter() - started
    overall = _scores(heldout, parsed, categories, latencies)
    overall["model_entities"] = _entity_scores(heldout, model_entities)
    overall["http_ms"] = {
        "p50": round(_percentile(http, 0.5), 3),
        "p99": round(_percentile(http, 0.99), 3),
    }
    return {
        "model": {"artefact": Path(model_file).name, "model_id": status.get("model_id")},
        "category_source": "+".join(sorted(sources)) or "none",
        "throughput": {
            "concurrency": concurrency,
            "parses": len(texts),
            "per_second": round(len(texts) / elapsed, 1) if elapsed else 0.0,
        },
        "languages": _by_language(heldout, parsed, categories, latencies),
        "overall": overall,
    }


def evaluate_both(
    data_dir: Path,
    model_dir: Path,
    rasa_url: str,
    engines: Sequence[str] = ("embedded", "rasa"),
    timeout: float = 30.0,
    facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The held-out evaluation of the embedded engine (in-process) and of the Rasa server at
    ``rasa_url`` (over HTTP) on the same split, for :func:`format_markdown`. ``facts`` are
    measurements of the Rasa side made outside (install size, training and start-up time,
    the server's ``pid`` for its memory)."""
    data_dir, model_dir = Path(data_dir), Path(model_dir)
    examples = load_training_data(data_dir)
    train_part, heldout = split_examples(examples)
    out: dict[str, Any] = {
        "data": _data_summary(data_dir, examples, train_part, heldout),
        "engines": {},
        "lexicon": str(lexicon_dir_of(data_dir)),
    }
    embedded = load_or_train(data_dir, model_dir, split="train")
    if "embedded" in engines:
        result = evaluate(data_dir, model_dir)
        out["engines"]["embedded"] = {
            "model": result["model"],
            "category_source": "embedded",
            "languages": result["languages"],
            "overall": result["overall"],
        }
    if "rasa" in engines:

        async def run() -> dict[str, Any]:
            rasa = RasaEngine(rasa_url, timeout=timeout, fallback=embedded)
            try:
                return await evaluate_rasa_engine(rasa, heldout, category_fallback=embedded)
            finally:
                await rasa.close()

        rasa_result = asyncio.run(run())
        facts = dict(facts or {})
        pid = facts.pop("pid", None)
        if pid:
            facts["rss_mib_after_evaluation"] = rss_mib(int(pid))
        rasa_result["server"] = facts
        out["engines"]["rasa"] = rasa_result
    return out


# --- report -------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def format_markdown(results: dict[str, Any]) -> str:
    """The evaluation as a Markdown section for ``docs/benchmarks.md`` (one engine from
    :func:`evaluate`, or several side by side from :func:`evaluate_both`)."""
    if "engines" in results:
        return _format_side_by_side(results)
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

    for name, cell in _METRIC_ROWS:
        row(name, cell)
    lines += ["", "### Entities (overall)", "", "| entity | precision | recall | gold |"]
    lines.append("| --- | --- | --- | --- |")
    for name, s in results["overall"]["entities"]["per_entity"].items():
        lines.append(f"| {name} | {_pct(s['precision'])} | {_pct(s['recall'])} | {s['gold']} |")
    for lang, s in results["languages"].items():
        lines += _confusion(f"{lang}", s)
    return "\n".join(lines) + "\n"


_METRIC_ROWS: list[tuple[str, Any]] = [
    ("examples", lambda s: str(s["examples"])),
    ("intent accuracy", lambda s: _pct(s["intent_accuracy"])),
    ("intent macro-F1", lambda s: f"{s['intent_macro_f1']:.3f}"),
    (
        "category accuracy (report_issue)",
        lambda s: f"{_pct(s['category_accuracy'])} (n={s['category_examples']})",
    ),
    ("entity precision", lambda s: _pct(s["entities"]["precision"])),
    ("entity recall", lambda s: _pct(s["entities"]["recall"])),
    ("parse latency p50", lambda s: f"{s['latency_ms']['p50']:.2f} ms"),
    ("parse latency p99", lambda s: f"{s['latency_ms']['p99']:.2f} ms"),
]


def _confusion(title: str, s: dict[str, Any]) -> list[str]:
    labels, matrix = s["confusion"]["labels"], s["confusion"]["matrix"]
    lines = ["", f"### Intent confusion ({title}; rows = truth, columns = prediction)", ""]
    lines.append("| | " + " | ".join(labels) + " |")
    lines.append("| --- |" + " --- |" * len(labels))
    for label, counts in zip(labels, matrix, strict=True):
        cells = [str(n) if n else "·" for n in counts]
        lines.append(f"| **{label}** | " + " | ".join(cells) + " |")
    return lines


ENGINE_TITLES = {"embedded": "embedded", "rasa": "Rasa"}
CATEGORY_SOURCES = {
    "embedded": "the embedded engine's category classifier",
    "rasa": "Rasa itself (the `CategoryClassifier` component of `rasa/config.yml`)",
    "embedded+rasa": "Rasa where the model answered one, else the embedded classifier",
    "none": "nobody (no category classifier answered)",
}
TARGETS = {"zh": 0.95, "bo": 0.90}
CATEGORY_TARGET = 0.90
EMBEDDED_P50_TARGET_MS = 5.0


def _format_side_by_side(results: dict[str, Any]) -> str:
    data, engines = results["data"], results["engines"]
    names = list(engines)
    languages = [
        lang for lang in LANGUAGE_DIRS if any(lang in e["languages"] for e in engines.values())
    ]
    groups = [*languages, "overall"]
    title = " and ".join(ENGINE_TITLES.get(n, n) for n in names)
    lines = [
        f"## NLU: {title} side by side" if len(names) > 1 else f"## NLU ({title})",
        "",
        f"Held-out split: {data['heldout']} of {data['examples']} examples (data "
        f"`{data['fingerprint']}`, "
        + ", ".join(
            f"{lang} {c['heldout']} of {c['train'] + c['heldout']}"
            for lang, c in data["per_language"].items()
        )
        + f"); every engine was trained on the other {data['train']} only "
        "(`nlu.training_data.split_examples`, the same split for both).",
        "",
    ]
    for name, e in engines.items():
        model = e["model"]
        label = ENGINE_TITLES.get(name, name)
        trained = model.get("training_seconds")
        if trained is None:
            trained = (e.get("server") or {}).get("train_seconds")
        how = (
            "in-process"
            if name == "embedded"
            else "over HTTP on 127.0.0.1 (`POST /model/parse` plus the client's mapping: "
            "what the bot waits for)"
        )
        lines.append(
            f"- **{label}**: model `{model.get('artefact')}`"
            + (f", trained in {trained} s" if trained else "")
            + f"; parsed {how}, one at a time after {WARMUP} warm-up parses; category from "
            + CATEGORY_SOURCES.get(e["category_source"], e["category_source"])
            + "."
        )
    header = ["metric"] + [f"{g} {ENGINE_TITLES.get(n, n)}" for g in groups for n in names]
    lines += ["", "| " + " | ".join(header) + " |", "| --- |" + " --- |" * (len(header) - 1)]
    for metric, cell in _METRIC_ROWS:
        cells = []
        for g in groups:
            for n in names:
                s = engines[n]["overall"] if g == "overall" else engines[n]["languages"].get(g)
                cells.append(cell(s) if s else "–")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines += _targets(engines, languages)
    rasa = engines.get("rasa")
    if rasa:
        lines += _rasa_server(rasa)
    columns = [(ENGINE_TITLES.get(n, n), engines[n]["overall"]["entities"]) for n in names]
    if rasa and "model_entities" in rasa["overall"]:
        columns.append(("DIET alone", rasa["overall"]["model_entities"]))
    lines += ["", "### Entities (overall)", ""]
    if rasa:
        lines += [
            "Phone, ticket and datetime come from the rule extractors in both engines (their "
            "values are normalised); *DIET alone* scores the entities in Rasa's reply as they "
            "are, before `RasaEngine` merges them with the rules.",
            "",
        ]
    head = ["entity"] + [f"{title} {m}" for title, _ in columns for m in ("P", "R")]
    lines += ["| " + " | ".join(head) + " | gold |", "| --- |" + " --- |" * len(head)]
    kinds = sorted({k for _, scores in columns for k in scores["per_entity"]})
    for kind in kinds:
        cells = []
        gold = 0
        for _, scores in columns:
            s = scores["per_entity"].get(kind)
            cells += [_pct(s["precision"]), _pct(s["recall"])] if s else ["–", "–"]
            gold = max(gold, s["gold"] if s else 0)
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {gold} |")
    for lang in languages:
        for n in names:
            s = engines[n]["languages"].get(lang)
            if s:
                lines += _confusion(f"{lang}, {ENGINE_TITLES.get(n, n)}", s)
    return "\n".join(lines) + "\n"


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _targets(engines: dict[str, Any], languages: Sequence[str]) -> list[str]:
    """Issue 3's targets, met or not (reported, never a failure)."""
    lines = ["", "Targets (issue 3), reported, not enforced:", ""]
    for name, e in engines.items():
        label = ENGINE_TITLES.get(name, name)
        parts = []
        for lang in languages:
            s = e["languages"].get(lang)
            if s and lang in TARGETS:
                ok = s["intent_accuracy"] >= TARGETS[lang]
                parts.append(f"{lang} intent ≥ {_pct(TARGETS[lang])}: {_met(ok)}")
        cat = e["overall"]["category_accuracy"]
        parts.append(f"category ≥ {_pct(CATEGORY_TARGET)}: {_met(cat >= CATEGORY_TARGET)}")
        if name == "embedded":
            p50 = e["overall"]["latency_ms"]["p50"]
            parts.append(
                f"p50 ≤ {EMBEDDED_P50_TARGET_MS:g} ms: {_met(p50 <= EMBEDDED_P50_TARGET_MS)}"
            )
        lines.append(f"- {label}: " + "; ".join(parts) + ".")
    return lines


def _rasa_server(rasa: dict[str, Any]) -> list[str]:
    server = rasa.get("server") or {}
    overall = rasa["overall"]
    rows = [
        ("install (`.venv-rasa`, Python 3.10)", _fact(server, "install", "")),
        ("training on the train split (`rasa train nlu`)", _fact(server, "train_seconds", " s")),
        (
            "start-up until `/status` answers (`rasa run --enable-api`)",
            _fact(server, "startup_seconds", " s"),
        ),
        ("memory (RSS) after start-up", _fact(server, "rss_mib_after_startup", " MiB")),
        ("memory (RSS) after the evaluation", _fact(server, "rss_mib_after_evaluation", " MiB")),
        (
            "HTTP round trip p50 / p99 (sequential)",
            f"{overall['http_ms']['p50']:.2f} / {overall['http_ms']['p99']:.2f} ms"
            if "http_ms" in overall
            else "–",
        ),
        (
            f"throughput, {rasa['throughput']['concurrency']} concurrent clients",
            f"{rasa['throughput']['per_second']} parses/s",
        ),
    ]
    lines = ["", "### Rasa server on this machine", "", "| what | measured |", "| --- | --- |"]
    lines += [f"| {what} | {value} |" for what, value in rows]
    return lines


def _fact(facts: dict[str, Any], key: str, unit: str) -> str:
    value = facts.get(key)
    return "–" if value in (None, "") else f"{value}{unit}"


NLU_HEADING = "## NLU"
DEFAULT_BENCHMARKS_TITLE = "# Benchmarks\n"


def write_section(path: Path, section: str, heading: str = NLU_HEADING) -> None:
    """Put ``section`` (a Markdown text starting with a ``## NLU…`` heading) into ``path`` in
    place of the existing section under a heading starting with ``heading`` (up to the next
    ``## `` heading), or at the end; every other section stays as it was."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else DEFAULT_BENCHMARKS_TITLE
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    body = section if section.endswith("\n") else section + "\n"
    if start is None:
        before = text.rstrip("\n")
        result = (before + "\n\n" if before else "") + body
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        after = "".join(lines[end:])
        result = "".join(lines[:start]) + body + ("\n" + after if after else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result, encoding="utf-8")


# --- the Rasa engine's own environment ---------------------------------------------------


RASA_SCRIPT = PROJECT_ROOT / "scripts" / "rasa.sh"


def train_rasa(split: str = "all", script: Path = RASA_SCRIPT) -> int:
    """``scripts/rasa.sh train --split SPLIT`` (Rasa runs in its own Python 3.10 venv);
    returns the script's exit status."""
    if split not in ("all", "train"):
        raise ValueError(f"unknown split {split!r} (all or train)")
    return subprocess.run(["bash", str(script), "train", "--split", split], check=False).returncode
