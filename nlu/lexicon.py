"""Where the word lists live and how they are read: ``data/nlu/lexicon/*.yml|txt``.

No Chinese or Tibetan vocabulary is written in Python; every list is data so that reviewers
who read Tibetan can change it without touching code. Files are read once per directory.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "nlu"
DEFAULT_LEXICON_DIR = DEFAULT_DATA_DIR / "lexicon"
LEXICON_SUFFIXES = (".yml", ".yaml", ".txt")


def lexicon_dir_of(data_dir: Path) -> Path:
    """The lexicon folder belonging to an NLU data folder (``<data_dir>/lexicon``)."""
    return Path(data_dir) / "lexicon"


@cache
def load_yaml(name: str, lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> dict[str, Any]:
    """A lexicon YAML file as a mapping (empty when the file is missing or empty)."""
    path = Path(lexicon_dir) / name
    if not path.exists():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return loaded


def lexicon_files(lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> list[Path]:
    """All lexicon files, sorted, for fingerprinting."""
    root = Path(lexicon_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix in LEXICON_SUFFIXES)


def lexicon_digest(lexicon_dir: Path = DEFAULT_LEXICON_DIR) -> str:
    """sha256 over the lexicon files' names and bytes."""
    digest = hashlib.sha256()
    for path in lexicon_files(lexicon_dir):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def string_list(value: Any) -> list[str]:
    """A YAML value that should be a list of strings (a single string is promoted)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value]
    raise ValueError(f"expected a list of strings, got {type(value).__name__}")


def clear_caches() -> None:
    """Forget every loaded lexicon (tests that write their own lexicon files call this)."""
    load_yaml.cache_clear()
