"""Markdown table of saved runs: `python -m bench.load.report var/loadbench/sqlite.json ...`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = (
    ("setup", "setup"),
    ("rate", "msg/s asked"),
    ("achieved_rate", "sent/s"),
    ("ack_p50_ms", "ack p50 ms"),
    ("ack_p95_ms", "ack p95 ms"),
    ("ack_p99_ms", "ack p99 ms"),
    ("passive_share", "passive"),
    ("async_share", "async"),
    ("no_reply", "no reply ≤15 s"),
    ("e2e_p50_ms", "e2e p50 ms"),
    ("e2e_p99_ms", "e2e p99 ms"),
    ("replies_over_5s", "replies > 5 s"),
    ("undelivered", "unacked after 3 tries"),
    ("retries", "retries"),
    ("petitions_completed", "petitions done"),
    ("lost_petitions", "lost"),
    ("cpu", "gateway CPU (cores)"),
    ("gateway_cpu_ms_per_message", "gateway CPU ms/msg"),
    ("gateway_switches_per_message", "gateway context switches/msg"),
    ("redis_commands_per_message", "Redis commands/msg"),
    ("redis_requests_per_message", "Redis requests/msg"),
    ("generator_cpu_core_share", "generator CPU (cores)"),
    ("machine_busy_cores", "machine busy (cores)"),
    ("rss", "peak RSS MiB"),
    ("load_before", "load avg before"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    gateways = [p for p in row.get("processes", []) if p["role"] != "scheduler"]
    if key == "cpu":
        return " + ".join(f"{p['cpu_core_share']:.2f}" for p in gateways)
    if key == "rss":
        return " / ".join(f"{p['peak_rss_mib']:.0f}" for p in gateways)
    value = row.get(key)
    return "–" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """One line per run."""
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(row, key) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    """Print the table for the JSON files given."""
    rows = [row for name in sys.argv[1:] for row in json.loads(Path(name).read_text("utf-8"))]
    sys.stdout.write(table(rows) + "\n")


if __name__ == "__main__":
    main()
