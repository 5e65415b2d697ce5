"""One printable A4 poster per grid point: its three QR codes, the grid's staff, the hotline.

Pure drawing, no I/O besides the font files and the output: `render_poster` takes a
`PosterContent` (names, QR URLs, staff) and a `PosterLayout` (fonts, geometry and every caption,
from `data/posters/layout.yml`) and returns a Pillow image at 300 dpi.

Tibetan needs real shaping (stacked consonants, vowel signs above and below): every font is
opened with libraqm, and mixed lines are split into Tibetan and non-Tibetan runs so that each
script is set in its own font on a common baseline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import qrcode
import yaml
from PIL import Image, ImageDraw, ImageFont, features

from bot.settings import PROJECT_ROOT

DEFAULT_LAYOUT = PROJECT_ROOT / "data" / "posters" / "layout.yml"
CODE_KINDS = ("report", "staff", "policy")
"""Report, staff and policy codes: left to right on the poster."""

_TIBETAN = re.compile(r"[\u0F00-\u0FFF]")
_TSHEG_OR_SHAD = frozenset("\u0f0b\u0f0c\u0f0d\u0f0e\u0f14")
_CLOSING = frozenset("，。、；：！？）」』”’》,.;:!?)]")
_OPENING = frozenset("（「『“‘《([")
_WORD = re.compile(r"[A-Za-z0-9:+\-./@#*]")


class PosterFontError(RuntimeError):
    """A font the poster needs is not installed (or raqm is missing, which breaks Tibetan)."""


# -- content -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bilingual:
    zh: str
    bo: str


@dataclass(frozen=True, slots=True)
class StaffLine:
    role: str
    """A `StaffRole` value: grid_head, grid_worker, grid_police, grid_doctor."""
    name: Bilingual
    phone: str
    duty_hours: str


@dataclass(frozen=True, slots=True)
class PosterContent:
    point_id: str
    community: Bilingual
    grid: Bilingual
    point: Bilingual
    hotline: str
    codes: Mapping[str, str]
    """Code kind (report, staff, policy) → the URL the WeChat QR code encodes."""
    staff: Sequence[StaffLine] = ()


# -- layout data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PosterLayout:
    """`data/posters/layout.yml`: font paths, page geometry, colours and captions."""

    raw: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path = DEFAULT_LAYOUT) -> PosterLayout:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping")
        return cls(raw)

    @property
    def page(self) -> Mapping[str, Any]:
        page: Mapping[str, Any] = self.raw["page"]
        return page

    def size(self, name: str) -> int:
        return int(self.page["sizes"][name])

    def color(self, name: str) -> str:
        return str(self.page["colors"][name])

    def text(self, *keys: str) -> Bilingual:
        node: Any = self.raw
        for key in keys:
            node = node[key]
        return Bilingual(zh=str(node["zh"]), bo=str(node["bo"]))

    def text_or_none(self, *keys: str) -> Bilingual | None:
        try:
            return self.text(*keys)
        except (KeyError, TypeError):
            return None

    @cached_property
    def fonts(self) -> FontSet:
        return FontSet.resolve(self.raw["fonts"], float(self.page.get("tibetan_scale", 1.0)))


def resolve_font(spec: Mapping[str, Any], role: str) -> Path:
    """The first existing path of a font spec; a clear error naming the package otherwise."""
    paths = [Path(p) for p in spec.get("paths", [])]
    for path in paths:
        if path.is_file():
            return path
    package = spec.get("package", "?")
    looked = ", ".join(str(p) for p in paths) or "(no paths configured)"
    raise PosterFontError(
        f"no {role} font found (looked for {looked}); install the Debian package {package} "
        "(scripts/bootstrap.sh does) or add its path to data/posters/layout.yml"
    )


@dataclass
class FontSet:
    """The three faces, opened with raqm, cached by size."""

    cjk: tuple[Path, int]
    cjk_bold: tuple[Path, int]
    tibetan: tuple[Path, int]
    tibetan_scale: float = 1.0
    _cache: dict[tuple[str, int], ImageFont.FreeTypeFont] = field(default_factory=dict)

    @classmethod
    def resolve(cls, specs: Mapping[str, Mapping[str, Any]], tibetan_scale: float) -> FontSet:
        if not features.check("raqm"):
            raise PosterFontError(
                "Pillow was built without libraqm: Tibetan stacks would render wrong "
                "(install libraqm0 and reinstall Pillow)"
            )

        def face(role: str) -> tuple[Path, int]:
            spec = specs[role]
            return resolve_font(spec, role), int(spec.get("index", 0))

        return cls(face("cjk"), face("cjk_bold"), face("tibetan"), tibetan_scale)

    def font(self, *, tibetan: bool, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        role = "tibetan" if tibetan else ("cjk_bold" if bold else "cjk")
        if tibetan:
            size = round(size * self.tibetan_scale)
        key = (role, size)
        if key not in self._cache:
            path, index = getattr(self, role)
            self._cache[key] = ImageFont.truetype(
                str(path), size, index=index, layout_engine=ImageFont.Layout.RAQM
            )
        return self._cache[key]


# -- text ----------------------------------------------------------------------------------------


def is_tibetan(char: str) -> bool:
    return bool(_TIBETAN.match(char))


def script_runs(text: str) -> list[tuple[bool, str]]:
    """Split into (is_tibetan, text) runs; spaces stay with the run they follow."""
    runs: list[tuple[bool, str]] = []
    for char in text:
        tib = runs[-1][0] if char.isspace() and runs else is_tibetan(char)
        if runs and runs[-1][0] == tib:
            runs[-1] = (tib, runs[-1][1] + char)
        else:
            runs.append((tib, char))
    return runs


def break_atoms(text: str) -> list[str]:
    """Pieces a line may break between: Tibetan syllables (after a tsheg or shad), CJK characters
    (punctuation kept with its neighbour), Latin words and numbers kept whole."""
    atoms: list[str] = []
    for char in text:
        if not atoms:
            atoms.append(char)
            continue
        last = atoms[-1][-1]
        if char.isspace():
            joined = True  # spaces trail the piece before them
        elif last.isspace():
            joined = False
        elif last in _OPENING or char in _CLOSING or char in _TSHEG_OR_SHAD:
            joined = True
        elif is_tibetan(char):
            joined = is_tibetan(last) and last not in _TSHEG_OR_SHAD
        else:
            joined = bool(_WORD.match(char) and _WORD.match(last))
        if joined:
            atoms[-1] += char
        else:
            atoms.append(char)
    return atoms


def _strong_end(text: str, line: str) -> bool:
    """Whether `line` (a wrapped line of `text`) ends at a space, a shad or CJK punctuation."""
    if line[-1:] in "\u0f0d\u0f0e，。、；：！？":
        return True
    start = text.find(line)
    after = text[start + len(line) : start + len(line) + 1] if start >= 0 else ""
    return after.isspace()


@dataclass(frozen=True, slots=True)
class Style:
    size: int
    color: str
    bold: bool = False


class Typesetter:
    """Measures and draws mixed Chinese/Tibetan/Latin lines on a common baseline."""

    def __init__(self, fonts: FontSet) -> None:
        self.fonts = fonts
        self._widths: dict[tuple[str, Style], float] = {}

    def _runs(self, text: str, style: Style) -> list[tuple[bool, str, ImageFont.FreeTypeFont]]:
        return [
            (tib, run, self.fonts.font(tibetan=tib, size=style.size, bold=style.bold))
            for tib, run in script_runs(text)
        ]

    def width(self, text: str, style: Style) -> float:
        key = (text, style)
        if key not in self._widths:
            self._widths[key] = sum(
                font.getlength(run, language="bo" if tib else "zh-Hans")
                for tib, run, font in self._runs(text, style)
            )
        return self._widths[key]

    def metrics(self, text: str, style: Style) -> tuple[int, int]:
        """(ascent, descent) of a line: from the fonts it uses, Tibetan trimmed to its ink."""
        ascent = descent = 0
        scripts = {tib for tib, _ in script_runs(text)} or {False}
        for tib in scripts:
            font = self.fonts.font(tibetan=tib, size=style.size, bold=style.bold)
            if tib:
                # Tibetan Machine Uni reserves room for the tallest stacks of Sanskrit; real
                # Tibetan (vowels above, ya/ra/la-ta below) fits in ~1.06 / 0.30 of its size.
                a, d = round(font.size * 1.06), round(font.size * 0.30)
            else:
                a, d = font.getmetrics()
            ascent, descent = max(ascent, a), max(descent, d)
        return ascent, descent

    def line_height(self, text: str, style: Style, leading: float = 1.0) -> int:
        ascent, descent = self.metrics(text, style)
        return round((ascent + descent) * leading)

    def draw_line(
        self, draw: ImageDraw.ImageDraw, x: float, baseline: float, text: str, style: Style
    ) -> None:
        runs = self._runs(text, style)
        mixed = len({tib for tib, _, _ in runs}) > 1
        for tib, run, font in runs:
            language = "bo" if tib else "zh-Hans"
            shift = stroke = 0
            if tib:
                # Tibetan hangs from its head line and sits higher than CJK ideographs on a
                # shared baseline: lower it a little in mixed lines. There is no bold Tibetan
                # Machine Uni: a thin stroke in the text colour stands in for it.
                shift = round(font.size * 0.05) if mixed else 0
                stroke = max(1, round(font.size * 0.018)) if style.bold else 0
            draw.text(
                (x, baseline + shift),
                run,
                font=font,
                fill=style.color,
                anchor="ls",
                language=language,
                stroke_width=stroke,
                stroke_fill=style.color,
            )
            x += font.getlength(run, language=language)

    def wrap(self, text: str, style: Style, width: float) -> list[str]:
        lines: list[str] = []
        line = ""
        for atom in break_atoms(text):
            candidate = line + atom
            if not line or self.width(candidate.rstrip(), style) <= width:
                line = candidate
            else:
                lines.append(line.rstrip())
                line = atom.lstrip()
        if line.strip():
            lines.append(line.rstrip())
        return lines

    def fit(
        self, text: str, style: Style, width: float, max_lines: int
    ) -> tuple[list[str], Style]:
        """Wrap into at most `max_lines` lines, shrinking the type (to 60 %) when it must."""
        size = style.size
        while True:
            fitted = Style(size, style.color, style.bold)
            lines = self.wrap(text, fitted, width)
            fits = len(lines) <= max_lines and all(
                self.width(line, fitted) <= width for line in lines
            )
            if fits or size <= style.size * 0.6:
                return self._balance(text, fitted, width, lines), fitted
            size = int(size * 0.95)

    def _balance(self, text: str, style: Style, width: float, lines: list[str]) -> list[str]:
        """The same number of lines, as even as possible (no lone last syllable)."""
        if len(lines) < 2:
            return lines

        def fits(attempt: list[str], limit: float) -> bool:
            return len(attempt) <= len(lines) and all(
                self.width(line, style) <= limit for line in attempt
            )

        low, high = 0.0, width
        best = lines
        for _ in range(12):
            middle = (low + high) / 2
            attempt = self.wrap(text, style, middle)
            if fits(attempt, middle):
                best, high = attempt, middle
            else:
                low = middle
        # Better a little less even than a phrase cut: prefer lines that end at a space or
        # a shad when a slightly wider measure allows it.
        for step in range(1, 11):
            limit = high + (width - high) * step / 10
            attempt = self.wrap(text, style, limit)
            if fits(attempt, limit) and all(_strong_end(text, line) for line in attempt[:-1]):
                return attempt
        return best


@dataclass
class Paragraph:
    """Wrapped lines in one style, drawn left-aligned or centred in a box of `width`."""

    lines: list[str]
    style: Style
    width: float
    align: str = "left"
    leading: float = 1.0
    space_after: int = 0

    def height(self, ts: Typesetter) -> int:
        return sum(ts.line_height(line, self.style, self.leading) for line in self.lines) + (
            self.space_after
        )

    def draw(self, ts: Typesetter, draw: ImageDraw.ImageDraw, x: float, y: float) -> float:
        for line in self.lines:
            ascent, descent = ts.metrics(line, self.style)
            extra = (ascent + descent) * (self.leading - 1) / 2
            offset = 0.0
            if self.align == "center":
                offset = (self.width - ts.width(line, self.style)) / 2
            elif self.align == "right":
                offset = self.width - ts.width(line, self.style)
            ts.draw_line(draw, x + offset, y + extra + ascent, line, self.style)
            y += ts.line_height(line, self.style, self.leading)
        return y + self.space_after


# -- QR ------------------------------------------------------------------------------------------


def qr_matrix(url: str) -> list[list[bool]]:
    """The modules of `url` at error correction H (30 % may be dirty or torn), no border."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, border=0)
    code.add_data(url)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    return matrix


def qr_image(url: str, box: int, max_module: int | None = None) -> tuple[Image.Image, int]:
    """The largest crisp code (whole pixels per module, at most `max_module`) that fits in
    `box` × `box` → (image, pixels per module)."""
    matrix = qr_matrix(url)
    modules = len(matrix)
    small = Image.new("1", (modules, modules), 1)
    pixels = small.load()
    assert pixels is not None
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                pixels[x, y] = 0
    scale = max(1, min(box // modules, max_module or box))
    return small.resize((modules * scale, modules * scale), Image.Resampling.NEAREST), scale


# -- the poster ----------------------------------------------------------------------------------


def format_phone(phone: str) -> str:
    """Mainland mobiles in 3-4-4 groups (139 0891 0101) are easier to dial from a wall."""
    digits = phone.strip()
    if len(digits) == 11 and digits.isdigit() and digits.startswith("1"):
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return digits


class _Poster:
    def __init__(self, content: PosterContent, layout: PosterLayout, ts: Typesetter) -> None:
        self.content = content
        self.layout = layout
        self.ts = ts
        page = layout.page
        self.width, self.height = int(page["width"]), int(page["height"])
        self.margin, self.gap = int(page["margin"]), int(page["gap"])
        self.image = Image.new("RGB", (self.width, self.height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.inner = self.width - 2 * self.margin

    def style(self, size: str, color: str = "ink", *, bold: bool = False) -> Style:
        return Style(self.layout.size(size), self.layout.color(color), bold)

    def para(
        self,
        text: str,
        style: Style,
        width: float,
        *,
        max_lines: int = 2,
        align: str = "left",
        leading: float = 1.0,
        space_after: int = 0,
    ) -> Paragraph:
        lines, fitted = self.ts.fit(text, style, width, max_lines)
        return Paragraph(lines, fitted, width, align, leading, space_after)

    # -- blocks -------------------------------------------------------------------------------

    def header(self, top: int) -> int:
        """The accent band: community and grid, then the grid point's names, large."""
        layout, content = self.layout, self.content
        pad = 70
        width = self.inner - 2 * pad
        on_accent = "on_accent"
        community = self.style("community", on_accent)
        point = self.style("point", on_accent, bold=True)
        blocks = [
            self.para(
                f"{content.community.zh}·{content.grid.zh}",
                community,
                width,
                max_lines=1,
                leading=1.05,
            ),
            self.para(
                f"{content.community.bo}  {content.grid.bo}",
                community,
                width,
                max_lines=1,
                space_after=28,
            ),
            self.para(content.point.zh, point, width, max_lines=1, leading=1.05),
            self.para(content.point.bo, point, width, max_lines=1),
        ]
        height = pad + sum(block.height(self.ts) for block in blocks) + pad - 10
        self.draw.rounded_rectangle(
            (self.margin, top, self.width - self.margin, top + height),
            radius=36,
            fill=layout.color("accent"),
        )
        y: float = top + pad - 10
        for block in blocks:
            y = block.draw(self.ts, self.draw, self.margin + pad, y)
        return top + height

    def codes(self, top: int) -> int:
        """Three columns: the code, then its bilingual title and one-line explanation."""
        layout = self.layout
        columns = len(CODE_KINDS)
        column_gap = self.gap + 20
        column = (self.inner - (columns - 1) * column_gap) // columns
        hint = self.para(
            f"{layout.text('scan_hint').zh}  {layout.text('scan_hint').bo}",
            self.style("section", bold=True),
            self.inner,
            max_lines=1,
            align="center",
        )
        y = hint.draw(self.ts, self.draw, self.margin, top)
        # The quiet zone is plain page: nothing is drawn within it above, below or between
        # the codes, so a module may be at most a quarter of the gap between columns.
        quiet_modules = int(layout.page["qr"]["quiet_modules"])
        codes = [
            qr_image(self.content.codes[kind], column, column_gap // quiet_modules)
            for kind in CODE_KINDS
        ]
        images = [image for image, _ in codes]
        quiet = quiet_modules * max(module for _, module in codes)
        code_top = round(y) + quiet
        cap = self.style("code_title", bold=True)
        cap_bo = self.style("code_title")
        hint_style = self.style("code_hint", "muted")
        titles = [layout.text("codes", kind, "title") for kind in CODE_KINDS]
        hints = [layout.text("codes", kind, "hint") for kind in CODE_KINDS]
        # One size per caption line across the three columns, so the row reads evenly.
        rows = [
            self.para_group([t.zh for t in titles], cap, column, max_lines=1, leading=1.05),
            self.para_group([t.bo for t in titles], cap_bo, column, max_lines=2, space_after=24),
            self.para_group([h.zh for h in hints], hint_style, column, max_lines=1, leading=1.1),
            self.para_group([h.bo for h in hints], hint_style, column, max_lines=2),
        ]
        lefts = [self.margin + index * (column + column_gap) for index in range(columns)]
        for left, image in zip(lefts, images, strict=True):
            self.image.paste(image, (left + (column - image.width) // 2, code_top))
        y = code_top + max(image.width for image in images) + quiet
        for row in rows:  # caption lines line up across the columns
            for left, paragraph in zip(lefts, row, strict=True):
                paragraph.draw(self.ts, self.draw, left, y)
            y += max(paragraph.height(self.ts) for paragraph in row)
        return round(y)

    def para_group(
        self,
        texts: Sequence[str],
        style: Style,
        width: float,
        *,
        max_lines: int,
        leading: float = 1.0,
        space_after: int = 0,
    ) -> list[Paragraph]:
        """Centred paragraphs that share the smallest size any of them needs to fit."""
        size = min(self.ts.fit(text, style, width, max_lines)[1].size for text in texts)
        shared = Style(size, style.color, style.bold)
        return [
            self.para(
                text,
                shared,
                width,
                max_lines=max_lines,
                align="center",
                leading=leading,
                space_after=space_after,
            )
            for text in texts
        ]

    def staff(self, top: int) -> int:
        """The grid's staff as a table: role, name, phone, duty hours — both scripts."""
        layout, content = self.layout, self.content
        heading = layout.text("staff", "heading")
        y = top
        self.draw.line(
            (self.margin, y, self.width - self.margin, y), fill=layout.color("rule"), width=4
        )
        y += 36
        title = self.para(
            f"{heading.zh}  {heading.bo}",
            self.style("section", bold=True),
            self.inner,
            max_lines=1,
            space_after=16,
        )
        y = round(title.draw(self.ts, self.draw, self.margin, y))
        roles: Mapping[str, Any] = layout.raw["staff"]["roles"]
        rows: list[list[str]] = []
        duty_words: Mapping[str, Any] = layout.raw["staff"].get("duty_hours") or {}
        duty_label = layout.text("staff", "duty_label")
        members = [line for role in roles for line in content.staff if line.role == role]
        for member in members:
            role = member.role
            label = layout.text("staff", "roles", role)
            hours = member.duty_hours
            if hours in duty_words:
                hours = f"{duty_words[hours]['zh']} {duty_words[hours]['bo']}"
            rows.append(
                [
                    f"{label.zh} {label.bo}",
                    f"{member.name.zh} {member.name.bo}",
                    format_phone(member.phone),
                    f"{duty_label.zh} {duty_label.bo} {hours}" if hours else "",
                ]
            )
        if not rows:
            nobody = layout.text("staff", "nobody")
            para = self.para(
                f"{nobody.zh} {nobody.bo}", self.style("staff"), self.inner, max_lines=2
            )
            return round(para.draw(self.ts, self.draw, self.margin, y))
        pad_x, cell_gap = 36, 48
        style = self.style("staff")
        bold = self.style("staff", bold=True)
        styles = [style, bold, bold, style]
        # Shrink the table's type until its widest cells fit side by side.
        while True:
            widths = [
                max(self.ts.width(row[col], styles[col]) for row in rows)
                for col in range(len(styles))
            ]
            total = sum(widths) + cell_gap * (len(widths) - 1) + 2 * pad_x
            if total <= self.inner or style.size < 30:
                break
            style = Style(int(style.size * 0.95), style.color)
            bold = Style(style.size, style.color, True)
            styles = [style, bold, bold, style]
        spare = (self.inner - total) / (len(widths) - 1) if len(widths) > 1 else 0
        row_height = max(
            self.ts.line_height(cell, styles[col]) for row in rows for col, cell in enumerate(row)
        )
        row_height += 30
        for index, row in enumerate(rows):
            if index % 2 == 0:
                self.draw.rounded_rectangle(
                    (self.margin, y, self.width - self.margin, y + row_height),
                    radius=18,
                    fill=layout.color("panel"),
                )
            x: float = self.margin + pad_x
            for col, cell in enumerate(row):
                ascent, descent = self.ts.metrics(cell, styles[col])
                baseline = y + (row_height - ascent - descent) / 2 + ascent
                self.ts.draw_line(self.draw, x, baseline, cell, styles[col])
                x += widths[col] + cell_gap + max(0.0, spare)
            y += row_height
        return y

    def hotline(self, top: int) -> int:
        layout, content = self.layout, self.content
        label = layout.text("hotline")
        y: float = top
        if content.hotline:
            text_style = self.style("hotline", bold=True)
            line = f"{label.zh} {label.bo}  {content.hotline}"
            para = self.para(line, text_style, self.inner - 80, max_lines=1, align="center")
            height = para.height(self.ts) + 50
            self.draw.rounded_rectangle(
                (self.margin, top, self.width - self.margin, top + height),
                radius=28,
                outline=layout.color("accent"),
                width=8,
            )
            para.draw(self.ts, self.draw, self.margin + 40, top + 25)
            y = top + height + 24
        emergency = layout.text_or_none("emergency")
        if emergency is not None:
            numbers = str(layout.raw["emergency"].get("numbers", ""))
            line = f"{emergency.zh}  {emergency.bo}  {numbers}".strip()
            para = self.para(
                line, self.style("footer", "muted"), self.inner, max_lines=2, align="center"
            )
            y = para.draw(self.ts, self.draw, self.margin, y)
        return round(y)

    def footer(self) -> int:
        """The account's name bottom left; the grid point's id bottom right (where this sheet
        belongs when reprinting). → the top of the footer line: content must end above it."""
        style = self.style("brand", "muted")
        brand = self.layout.text("brand")
        ident = self.content.point_id
        left = f"{brand.zh}  {brand.bo}"
        ascent = max(self.ts.metrics(text, style)[0] for text in (left, ident))
        descent = max(self.ts.metrics(text, style)[1] for text in (left, ident))
        baseline = self.height - self.margin + descent
        self.ts.draw_line(self.draw, self.margin, baseline, left, style)
        width = self.ts.width(ident, style)
        self.ts.draw_line(self.draw, self.width - self.margin - width, baseline, ident, style)
        return baseline - ascent - 20

    def render(self, extra_gap: int = 0) -> tuple[Image.Image, int]:
        """Draw everything → (image, unused height above the footer; < 0 means overflow)."""
        y = self.header(self.margin)
        y = self.codes(y + self.gap + extra_gap)
        y = self.staff(y + self.gap + extra_gap)
        y = self.hotline(y + self.gap // 2 + extra_gap)
        return self.image, self.footer() - y


def render_poster(content: PosterContent, layout: PosterLayout) -> Image.Image:
    """The A4 poster of one grid point as an RGB image (2480 × 3508 at 300 dpi).

    Drawn twice: the first pass measures, the second spreads the spare height between the
    blocks. Raises ValueError when the content cannot fit on the page.
    """
    missing = [kind for kind in CODE_KINDS if kind not in content.codes]
    if missing:
        raise ValueError(f"poster {content.point_id} lacks QR codes: {', '.join(missing)}")
    ts = Typesetter(layout.fonts)
    image, spare = _Poster(content, layout, ts).render()
    if spare < 0:
        raise ValueError(
            f"poster {content.point_id} overflows the page by {-spare} px; "
            "shorten its captions or reduce the sizes in data/posters/layout.yml"
        )
    extra = min(spare // 3, int(layout.page.get("max_extra_gap", 120)))
    if extra > 0:
        image, _ = _Poster(content, layout, ts).render(extra)
    return image


def save_poster(image: Image.Image, base: Path, dpi: int = 300) -> tuple[Path, Path]:
    """Write `<base>.png` and a one-page `<base>.pdf` (A4 at `dpi`)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = base.with_suffix(".png"), base.with_suffix(".pdf")
    image.save(png, "PNG", dpi=(dpi, dpi))
    # Pillow embeds RGB pages as JPEG: high quality, no chroma subsampling keeps edges crisp.
    image.save(pdf, "PDF", resolution=float(dpi), quality=95, subsampling=0)
    return png, pdf
