"""Staff edit and verify benefit policies in the console; the bot answers with the new text at
once, on every worker, and drops the "sample, not verified" caveat once a person verified it."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import select

from bot.app_keys import CLOCK
from bot.web.console.i18n import load_texts
from governance.console.demo import DEMO_PASSWORD, seed_demo_accounts
from governance.console.models import AuditEntry
from governance.policies.catalog import (
    LANGUAGES,
    LIST_FIELDS,
    PROBLEM_CODES,
    TEXT_FIELDS,
    Policy,
    PolicyCatalog,
)
from governance.policies.models import PolicyRevision
from tests.bot.conftest import Stack, StackFactory
from tests.bot.web.console.conftest import DATA, Console

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
PAGE = "/console/policies/elderly_allowance"
NEW_SUMMARY_ZH = (
    "年满80岁的本地老人每月可领高龄津贴。\n新规定：第一次申请请带新版申请表到社区服务站。"
)
NEW_SUMMARY_BO = (
    "དགུང་ལོ་ ༨༠ ལོན་པའི་རྒན་པ་ཚོར་ཟླ་རེར་འཚོ་སྣོན་ཐོབ།\nཐེངས་དང་པོར་ཞུ་ཤོག་གསར་པ་ཁྱེར་ནས་སྡོད་ཁུལ་ལ་ཡོང་རོགས།"
)
SAMPLE_NOTICE = "以上为示例内容"


def policy_form(policy: Policy) -> dict[str, str]:
    """The edit form's fields as the page fills them in (lists one entry per line)."""
    form = {"effective_date": policy.effective_date.isoformat(), "note": ""}
    for language in LANGUAGES:
        for field in TEXT_FIELDS:
            form[f"{field}_{language}"] = policy.text(field, language)
        for field in LIST_FIELDS:
            form[f"{field}_{language}"] = "\n".join(policy.items(field, language))
        form[f"keywords_{language}"] = "\n".join(policy.keywords.get(language))
    return form


def seed_policy(policy_id: str = "elderly_allowance") -> Policy:
    return PolicyCatalog.load(DATA / "policies")[policy_id]


async def revisions(console: Console) -> list[PolicyRevision]:
    async with console.sessions() as session:
        return list((await session.scalars(select(PolicyRevision))).all())


def test_every_problem_and_field_is_worded_in_both_languages() -> None:
    texts = load_texts(DATA / "console")
    for language in LANGUAGES:
        entries = texts[language].entries
        missing = [c for c in PROBLEM_CODES if f"pol_problem_{c}" not in entries]
        missing += [
            f
            for f in (*TEXT_FIELDS, *LIST_FIELDS, "keywords", "effective_date", "note")
            if f"pol_field_{f}" not in entries
        ]
        assert missing == [], language
    for code in PROBLEM_CODES:
        source = (DATA.parent / "governance" / "policies").glob("*.py")
        assert any(f'"{code}"' in path.read_text(encoding="utf-8") for path in source), code


# --- console only ---------------------------------------------------------------------------


async def test_everybody_reads_the_policy_page_side_by_side_with_its_history(
    console: Console,
) -> None:
    await console.login("dolma")  # a grid worker
    status, html = await console.get("/console/policies")
    assert status == 200
    assert f'href="{PAGE}"' in html
    status, html = await console.get(PAGE)
    assert status == 200
    assert "高龄津贴" in html
    assert "རྒན་གསོའི་འཚོ་སྣོན" in html, "both languages side by side"
    assert "readonly" in html
    assert f'action="{PAGE}/edit"' not in html
    assert f'action="{PAGE}/verify"' not in html
    assert "最初内容" in html
    status, _ = await console.get("/console/policies/no_such_policy")
    assert status == 404


async def test_a_grid_worker_may_not_edit_or_verify(console: Console) -> None:
    await console.login("dolma")
    form = policy_form(seed_policy()) | {"title_zh": "改过的名字"}
    status, html = await console.post(f"{PAGE}/edit", form)
    assert status == 403
    assert "只有社区专干" in html
    status, _ = await console.post(f"{PAGE}/verify", {})
    assert status == 403
    assert await revisions(console) == []


async def test_a_post_without_the_csrf_token_is_refused(console: Console) -> None:
    await console.login("lhakpa")
    form = policy_form(seed_policy()) | {"title_zh": "改过的名字"}
    status, html = await console.post(f"{PAGE}/edit", form, csrf="forged")
    assert status == 403
    assert "页面已过期" in html
    async with console.client.post(f"{PAGE}/verify", data={}) as response:
        assert response.status == 403
    assert await revisions(console) == []


async def test_invalid_input_shows_the_problems_and_keeps_the_typed_text(
    console: Console,
) -> None:
    await console.login("lhakpa")
    form = policy_form(seed_policy()) | {
        "summary_zh": "第一行\n第二行\n第三行\n第四行",
        "steps_zh": "只有一步",
        "contact_bo": "   ",
        "effective_date": "2026-13-01",
        "eligibility_zh": "我刚刚输入的新条件",
    }
    status, html = await console.post(f"{PAGE}/edit", form)
    assert status == 400
    assert "没有保存" in html
    assert "简介（中文）：有 4 行，最多 3 行" in html
    assert "两种语言的条数要一致" in html
    assert "联系电话（藏文）：不能为空" in html
    assert "日期不对" in html
    assert "我刚刚输入的新条件" in html, "the typed text is kept"
    assert "第四行" in html
    assert await revisions(console) == []

    await console.get("/console/lang/bo")
    status, html = await console.post(f"{PAGE}/edit", form)
    assert status == 400
    assert "ཕྲེང་ 4 འདུག" in html, "problems in the staff's interface language"
    assert "我刚刚输入的新条件" in html


async def test_an_overlong_field_is_refused_not_a_server_error(console: Console) -> None:
    await console.login("street")
    form = policy_form(seed_policy()) | {"where_zh": "很长" * 3000}
    status, html = await console.post(f"{PAGE}/edit", form)
    assert status == 400
    assert "太长了" in html


async def test_an_officer_saves_and_verifies_and_both_are_audited(console: Console) -> None:
    await console.login("lhakpa")
    form = policy_form(seed_policy()) | {
        "summary_zh": NEW_SUMMARY_ZH,
        "summary_bo": NEW_SUMMARY_BO,
        "note": "按新文件更新",
    }
    status, html = await console.post(f"{PAGE}/edit", form)
    assert status == 200
    assert "已保存" in html
    assert "新版申请表" in html
    assert "按新文件更新" in html
    assert "修改内容（待核实）" in html
    status, html = await console.post(f"{PAGE}/edit", form | {"note": "again"})
    assert "内容没有变化" in html
    status, html = await console.post(f"{PAGE}/verify", {})
    assert status == 200
    assert "已标记为核实" in html
    assert "lhakpa 于 2026-11-22 核实" in html
    status, html = await console.get("/console/policies")
    assert "lhakpa 于 2026-11-22 核实" in html
    rows = await revisions(console)
    assert [(r.edited_by, r.verified_by) for r in rows] == [("lhakpa", None), ("lhakpa", "lhakpa")]
    async with console.sessions() as session:
        audit = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_type == "policy")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(a.action, a.target_id, a.username) for a in audit] == [
        ("policy_edit", "elderly_allowance", "lhakpa"),
        ("policy_verify", "elderly_allowance", "lhakpa"),
    ]
    assert audit[0].detail["fields"] == "summary"


# --- the running gateways ----------------------------------------------------------------


async def sign_in(http: aiohttp.ClientSession, base: str, username: str) -> None:
    async with http.get(f"{base}/console/login") as response:
        token = CSRF.search(await response.text())
    assert token is not None
    async with http.post(
        f"{base}/console/login",
        data={"_csrf": token.group(1), "username": username, "password": DEMO_PASSWORD},
    ) as response:
        assert response.status == 200


async def post_form(
    http: aiohttp.ClientSession, base: str, path: str, data: dict[str, str]
) -> tuple[int, str]:
    async with http.get(f"{base}{PAGE}") as response:
        token = CSRF.search(await response.text())
    assert token is not None
    async with http.post(f"{base}{path}", data={"_csrf": token.group(1), **data}) as response:
        return response.status, await response.text()


async def ask(stack: Stack, openid: str) -> str:
    return await stack.say(openid, "高龄津贴有哪些规定")


async def page(stack: Stack) -> str:
    async with stack.http.get(f"{stack.gateway_url}/p/elderly_allowance?lang=zh") as response:
        assert response.status == 200
        return await response.text()


async def test_an_edit_reaches_the_bot_on_every_worker_and_verifying_drops_the_caveat(
    make_stack: StackFactory,
) -> None:
    worker_a = await make_stack()
    worker_b = await make_stack()  # another gateway process on the same database
    async with worker_a.sessions() as session, session.begin():
        await seed_demo_accounts(session, now=worker_a.app[CLOCK].now())

    # Both workers have answered before the edit (their catalogs are loaded and indexed).
    for worker, openid in ((worker_a, "o-policy-a"), (worker_b, "o-policy-b")):
        before = await ask(worker, openid)
        assert "高龄津贴" in before
        assert "新版申请表" not in before
        assert SAMPLE_NOTICE in before

    new_line = NEW_SUMMARY_ZH.splitlines()[1]
    form = policy_form(seed_policy()) | {
        "summary_zh": NEW_SUMMARY_ZH,
        "summary_bo": NEW_SUMMARY_BO,
    }
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await sign_in(http, worker_a.gateway_url, "lhakpa")
        status, html = await post_form(http, worker_a.gateway_url, f"{PAGE}/edit", form)
        assert status == 200, html
        assert "已保存" in html

        for worker, openid in ((worker_a, "o-policy-c"), (worker_b, "o-policy-d")):
            after = await ask(worker, openid)
            assert new_line in after, (worker.gateway_url, after)
            assert SAMPLE_NOTICE in after, "edited, not verified yet: the caveat stays"
        assert "新版申请表" in await page(worker_b)

        status, html = await post_form(http, worker_a.gateway_url, f"{PAGE}/verify", {})
        assert status == 200
        assert "已标记为核实" in html

    verified = await ask(worker_b, "o-policy-e")
    assert new_line in verified
    assert SAMPLE_NOTICE not in verified
    assert SAMPLE_NOTICE not in await page(worker_b)
