"""CSV and Excel exports for a 12345 office: one row per case, plus the summary figures.

Always in Chinese (the receiving offices work in Chinese). No cell is ever a formula: in the
CSV, text a spreadsheet would read as one (starting with = + - @ or a control character) gets
an apostrophe in front; in the workbook such cells are stored with the string type.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from bot.web.console.i18n import Texts
from governance.clock import LOCAL_TZ
from governance.console.cases import ExportRow
from governance.petitions.metrics import Figures, Report

COLUMNS = (
    "ticket",
    "received",
    "category",
    "grid",
    "address",
    "description",
    "status",
    "assignee",
    "responded",
    "resolved",
    "on_time",
    "satisfaction",
    "source",
    "language",
)
COLUMN_WIDTHS = {"description": 48, "address": 28, "grid": 22, "category": 22}
SUMMARY_FIGURES = (
    "received",
    "resolved",
    "escalated",
    "overdue",
    "on_time_closure_rate",
    "response_rate",
    "solution_rate",
    "satisfaction_rate",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def defuse(text: str) -> str:
    """Keep resident text as text in Excel/WPS (no formula injection)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _local(value: datetime | None) -> datetime | None:
    return value.astimezone(LOCAL_TZ).replace(tzinfo=None) if value else None


def _cells(t: Texts, row: ExportRow) -> list[Any]:
    """Values in COLUMNS order; datetimes as naive local time (what a spreadsheet shows)."""
    on_time = "" if row.on_time is None else t("export_yes" if row.on_time else "export_no")
    return [
        row.ticket_no,
        _local(row.created_at),
        t.get(f"category_{row.category}", row.category),
        row.grid_name,
        row.address,
        row.description,
        t.get(f"status_{row.status}", row.status),
        row.assignee,
        _local(row.responded_at),
        _local(row.resolved_at),
        on_time,
        t.get(f"satisfaction_{row.satisfaction}", row.satisfaction) if row.satisfaction else "",
        t.get(f"source_{row.source}", row.source),
        t.get(f"language_{row.language}", row.language),
    ]


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def summary_rows(t: Texts, report: Report, period: str) -> list[list[Any]]:
    """The summary sheet: totals, then by grid, category and month."""
    rows: list[list[Any]] = [[t("export_period"), period], []]
    total = report.total.as_dict()
    for key in SUMMARY_FIGURES:
        value = total[key]
        rows.append([t(f"dash_{key}"), _rate(value) if key.endswith("rate") else value])
    header = [t(f"dash_{key}") for key in SUMMARY_FIGURES]
    for title, table, label in (
        ("dash_by_grid", report.by_grid, None),
        ("dash_by_category", report.by_category, "category_"),
        ("dash_by_month", report.by_month, None),
    ):
        rows += [[], [t(title), *header]]
        for key in sorted(table):
            rows.append([t.get(label + key, key) if label else key, *_figures(table[key])])
    return rows


def _figures(figures: Figures) -> list[Any]:
    values = figures.as_dict()
    return [_rate(values[key]) if key.endswith("rate") else values[key] for key in SUMMARY_FIGURES]


def to_csv(t: Texts, rows: Iterable[ExportRow]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([t(f"export_col_{column}") for column in COLUMNS])
    for row in rows:
        writer.writerow(
            [
                value.strftime("%Y-%m-%d %H:%M")
                if isinstance(value, datetime)
                else defuse(value)
                if isinstance(value, str)
                else value
                for value in _cells(t, row)
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(t: Texts, rows: Iterable[ExportRow], report: Report, period: str) -> bytes:
    workbook = Workbook()
    cases = workbook.active
    assert cases is not None
    cases.title = t("export_sheet_cases")
    cases.append([t(f"export_col_{column}") for column in COLUMNS])
    for cell in cases[1]:
        cell.font = Font(bold=True)
    for row in rows:
        cases.append(_cells(t, row))
        for cell in cases[cases.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text, never a formula
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        cases.column_dimensions[letter].width = COLUMN_WIDTHS.get(column, 18)
        if column in {"received", "responded", "resolved"}:
            for cell in cases[letter][1:]:
                cell.number_format = "yyyy-mm-dd hh:mm"
        if column == "description":
            for cell in cases[letter][1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    cases.freeze_panes = "A2"
    summary = workbook.create_sheet(t("export_sheet_summary"))
    for line in summary_rows(t, report, period):
        summary.append(line)
    summary.column_dimensions["A"].width = 28
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
