"""Printable QR posters: the demo community against the real simulator API, decoded back.

Every poster must carry exactly three codes, and each must decode to a URL the simulator issued
for the right scene: report:<grid point>, staff:<grid>, policy:<community>.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter, features
from sqlalchemy import select

from bot.app_keys import WECHAT_API
from bot.posters.render import (
    FontSet,
    PosterFontError,
    PosterLayout,
    Style,
    Typesetter,
    break_atoms,
    resolve_font,
)
from bot.posters.service import render_posters
from governance.directory.models import GridPoint
from tests.bot.conftest import StackFactory

COMMUNITY = "lhasa-gesanglinka"
A4_POINTS = (595.28, 841.89)


async def test_one_poster_per_grid_point_with_three_codes_for_the_right_scenes(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = await make_stack()
    wechat = stack.app[WECHAT_API]
    # A stored 问题上报码 is reused as it is: give GP-0101 a ticket the poster must show.
    stored_ticket, stored_url = await wechat.create_qrcode("report:GP-0101", permanent=False)
    async with stack.sessions() as session, session.begin():
        point = await session.get(GridPoint, "GP-0101")
        assert point is not None
        point.qr_ticket, point.qr_url = stored_ticket, stored_url
        points = {
            p.id: p.grid_id
            for p in await session.scalars(select(GridPoint).order_by(GridPoint.id))
        }
    assert len(points) == 6

    paths = await render_posters(stack.sessions, wechat, COMMUNITY, tmp_path / "posters")

    assert sorted(p.name for p in paths) == sorted(
        f"poster-{point_id}.{ext}" for point_id in points for ext in ("png", "pdf")
    )
    registry = await stack.sim("GET", "/sim/api/qrcodes")
    scene_of = {code["url"]: code["scene"] for code in registry}
    permanent = {code["scene"] for code in registry if code["permanent"]}
    for point_id, grid_id in points.items():
        png = tmp_path / "posters" / f"poster-{point_id}.png"
        with Image.open(png) as image:
            assert image.size == (2480, 3508)
            assert round(image.info["dpi"][0]) == 300
            decoded = zxingcpp.read_barcodes(image)
        assert len(decoded) == 3, f"{point_id}: {[code.text for code in decoded]}"
        assert all(code.format == zxingcpp.BarcodeFormat.QRCode for code in decoded)
        assert sorted(scene_of[code.text] for code in decoded) == sorted(
            [f"report:{point_id}", f"staff:{grid_id}", f"policy:{COMMUNITY}"]
        )
        if point_id == "GP-0101":
            assert stored_url in {code.text for code in decoded}, "stored code reused"
            # From a metre, a 1080-pixel-wide phone frame covers roughly a metre: the A4 sheet
            # is then ~250 px wide (1.2 px per mm), slightly blurred. All three still decode.
            with Image.open(png) as image:
                seen = image.convert("L").resize((252, 356), Image.Resampling.BOX)
            assert len(zxingcpp.read_barcodes(seen.filter(ImageFilter.GaussianBlur(0.6)))) == 3
        else:
            assert f"report:{point_id}" in permanent

        pdf = (tmp_path / "posters" / f"poster-{point_id}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF")
        assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 1
        box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        assert box is not None
        assert float(box[1]) == pytest.approx(A4_POINTS[0], abs=1)
        assert float(box[2]) == pytest.approx(A4_POINTS[1], abs=1)
        if point_id == "GP-0101":  # the page itself, not only the PNG, carries the codes
            jpeg = pdf[pdf.index(b"\xff\xd8") : pdf.rindex(b"\xff\xd9") + 2]
            with Image.open(io.BytesIO(jpeg)) as page:
                assert page.size == (2480, 3508)
                assert len(zxingcpp.read_barcodes(page)) == 3

    async with stack.sessions() as session:
        stored = {p.id: p.qr_url for p in await session.scalars(select(GridPoint))}
    assert stored["GP-0101"] == stored_url, "an existing ticket is never replaced"
    assert all(stored.values()), "new 问题上报码 are kept on their grid points"
    assert {"staff:G01", "staff:G02", "staff:G03", f"policy:{COMMUNITY}"} <= permanent

    # Rendering again asks WeChat for the same permanent scenes: no new codes are used up.
    await render_posters(stack.sessions, wechat, COMMUNITY, tmp_path / "again")
    assert len(await stack.sim("GET", "/sim/api/qrcodes")) == len(registry)


async def test_an_unknown_community_is_an_error(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack()
    with pytest.raises(LookupError, match="nowhere"):
        await render_posters(stack.sessions, stack.app[WECHAT_API], "nowhere", tmp_path)


# -- fonts and Tibetan shaping --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fonts() -> FontSet:
    return PosterLayout.load().fonts


def test_the_tibetan_font_resolves_to_an_installed_file(fonts: FontSet) -> None:
    path, _index = fonts.tibetan
    assert path.is_file()
    assert features.check("raqm"), "libraqm is needed to stack Tibetan"


def test_tibetan_renders_to_pixels_with_stacks_shaped_by_raqm(fonts: FontSet) -> None:
    ts = Typesetter(fonts)
    style = Style(60, "#000000")
    text = "སྒྲོལ་མ། བཀྲ་ཤིས་བདེ་ལེགས།"
    image = Image.new("L", (1600, 300), 255)
    ts.draw_line(ImageDraw.Draw(image), 20, 180, text, style)
    box = Image.eval(image, lambda value: 255 - value).getbbox()
    assert box is not None, "no ink"
    font = fonts.font(tibetan=True, size=60)
    # Shaped, སྒྲོ is one stacked cluster: as wide as its base letter, not four letters apart,
    # with ga and ra below the baseline and the vowel o above the head line of sa.
    stack_width = font.getlength("སྒྲོ", language="bo")
    assert stack_width == pytest.approx(font.getlength("ས", language="bo"), rel=0.35)
    assert stack_width < 0.6 * sum(font.getlength(char) for char in "སྒྲོ")
    _, top, _, bottom = font.getbbox("སྒྲོ", anchor="ls", language="bo")
    _, sa_top, _, sa_bottom = font.getbbox("ས", anchor="ls", language="bo")
    assert bottom > sa_bottom + 10, "ga and ra stacked under sa"
    assert top < sa_top - 10, "the vowel sign o above"


def test_a_missing_font_names_the_package_to_install(tmp_path: Path) -> None:
    spec = {"package": "fonts-tibetan-machine", "paths": [str(tmp_path / "nope.ttf")]}
    with pytest.raises(PosterFontError, match="fonts-tibetan-machine"):
        resolve_font(spec, "tibetan")


def test_lines_break_between_tibetan_syllables_and_chinese_characters() -> None:
    assert break_atoms("ཚེ་རིང་། 次仁，电话 13908910101") == [
        "ཚེ་",
        "རིང་། ",
        "次",
        "仁，",
        "电",
        "话 ",
        "13908910101",
    ]
