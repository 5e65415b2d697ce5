"""What the simulated residents say, and how their scripts recognise the bot's replies.

Sentences come from the NLU training data (`data/nlu/{zh,bo}`, entity markup stripped) and the
conversation tests; replies are recognised by the literal text of `data/responses/{zh,bo}.yml`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
_MARKUP = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
TICKET = re.compile(r"(\d{8}-\d{4})")
MIN_SIGNATURE_CHARS = 6


def _examples(path: Path) -> list[str]:
    """The examples of every intent block in one Rasa NLU YAML file, markup removed."""
    document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    sentences: list[str] = []
    for block in document.get("nlu", []):
        for line in str(block.get("examples", "")).splitlines():
            text = _MARKUP.sub(r"\1", line.strip().removeprefix("- ").strip())
            if text:
                sentences.append(text)
    return sentences


@dataclass(frozen=True)
class Language:
    """Everything one language's residents say."""

    code: str
    descriptions: list[str]
    policy_questions: list[str]
    status_questions: list[str]
    addresses: list[str]
    skip_phone: str
    confirm: str
    elder_names: list[str]
    booking_times: list[str]


@dataclass
class Corpus:
    """Both languages plus the reply recogniser."""

    languages: dict[str, Language]
    signatures: dict[str, list[str]] = field(default_factory=dict)

    def keys_in(self, text: str) -> set[str]:
        """The reply keys whose literal text appears in `text` (a reply may join several)."""
        return {
            key for key, fragments in self.signatures.items() if any(f in text for f in fragments)
        }


def _signatures(responses_dir: Path) -> dict[str, list[str]]:
    """key -> the longest literal line of its template in each language (≥ 6 characters)."""
    found: dict[str, list[str]] = {}
    for code in ("zh", "bo"):
        document: Any = yaml.safe_load((responses_dir / f"{code}.yml").read_text("utf-8"))
        for key, template in document.items():
            if not isinstance(template, str) or not key.startswith("utter_"):
                continue
            pieces = [
                piece.strip(" ：:，,。")
                for literal in _PLACEHOLDER.split(template)
                for piece in literal.splitlines()
            ]
            pieces = [piece for piece in pieces if len(piece) >= MIN_SIGNATURE_CHARS]
            if pieces:
                found.setdefault(key, []).append(max(pieces, key=len))
    return found


def _long(sentences: list[str], minimum: int) -> list[str]:
    kept = [s for s in sentences if len(s) >= minimum and not TICKET.search(s)]
    return kept or sentences


def load_corpus(root: Path = ROOT) -> Corpus:
    """Read the sentences and reply signatures from the project's data files."""
    nlu = root / "data" / "nlu"
    zh = Language(
        code="zh",
        descriptions=[
            *_long(_examples(nlu / "zh" / "report_issue.yml"), 10),
            "院门口的路灯坏了三天了晚上黑漆漆的老人出门不方便",
            "我家楼下下水道堵了污水都冒出来了很臭",
        ],
        policy_questions=_long(_examples(nlu / "zh" / "ask_policy.yml"), 6),
        status_questions=["进度", "查进度", "我的工单", "查询诉求", "我报的事情怎么样了"],
        addresses=["北京中路12号院", "纳金路3号院", "纳金路菜市场", "江苏路小学旁"],
        skip_phone="跳过",
        confirm="1",
        elder_names=["次仁", "拉姆", "卓嘎"],
        booking_times=["明天上午十点", "后天下午三点", "明天上午"],
    )
    bo = Language(
        code="bo",
        descriptions=[
            *_long(_examples(nlu / "bo" / "report_issue.yml"), 20),
            "ང་ཚོའི་ཁྱིམ་ལ་སང་ཉིན་ནས་ཆུ་མི་ཡོང་གི་འདུག ཆུ་ཡུར་ཡང་འགགས་འདུག",
        ],
        policy_questions=_long(_examples(nlu / "bo" / "ask_policy.yml"), 12),
        status_questions=_long(_examples(nlu / "bo" / "check_status.yml"), 8)[:12],
        addresses=["ན་ཅིན་ལམ་གྱི་ཚོང་ར།", "ན་ཅིན་ལམ་ཨང་3 ཁྱམས་ར།"],
        skip_phone="མི་དགོས",
        confirm="1",
        elder_names=["ཚེ་རིང་དབང་མོ།", "བསོད་ནམས།"],
        booking_times=["སང་ཉིན་སྔ་དྲོ"],
    )
    return Corpus({"zh": zh, "bo": bo}, _signatures(root / "data" / "responses"))


def pick(rng: random.Random, options: list[str]) -> str:
    """One sentence at random (the generator seeds `rng` so runs repeat)."""
    return options[rng.randrange(len(options))]
