"""The console over HTTP: sign-in, CSRF, role scope (404), queue, case actions, language."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from yarl import URL

from bot.settings import Settings
from governance.console.models import AuditEntry
from governance.petitions.models import PetitionEvent, PetitionStatus
from tests.bot.web.console.conftest import Console, file_petition


async def test_pages_need_a_session_and_redirect_to_login(console: Console) -> None:
    async with console.client.get("/console/cases?grid=G01", allow_redirects=False) as response:
        assert response.status == 303
        location = URL(response.headers["Location"])
    assert location.path == "/console/login"
    assert location.query["next"] == "/console/cases?grid=G01"
    status, html = await console.get("/console/dashboard")
    assert status == 200
    assert 'name="password"' in html


async def test_sign_in_sets_a_safe_session_cookie_and_lands_on_the_queue(
    console: Console,
) -> None:
    status, html = await console.get("/console/login")
    token = html.split('name="_csrf" value="')[1].split('"')[0]
    async with console.client.post(
        "/console/login",
        data={"_csrf": token, "username": "Dolma ", "password": "minqing-demo"},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/console/cases"
        cookie = next(
            header
            for header in response.headers.getall("Set-Cookie")
            if header.startswith("mq_console=")
        )
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # secure_cookies is off in tests (plain HTTP)
    status, html = await console.get("/console/cases")
    assert status == 200
    assert "dolma" in html


async def test_secure_cookie_flag_follows_the_setting(
    console: Console, settings: Settings
) -> None:
    settings.console.secure_cookies = True
    _, html = await console.get("/console/login")
    token = html.split('name="_csrf" value="')[1].split('"')[0]
    async with console.client.post(
        "/console/login",
        data={"_csrf": token, "username": "admin", "password": "minqing-demo"},
        headers={"Cookie": f"mq_console_login={token}"},  # a Secure cookie is not sent on http
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        cookies = response.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("mq_console="))
    assert "Secure" in session_cookie


async def test_failed_sign_in_says_the_same_for_unknown_user_and_wrong_password(
    console: Console,
) -> None:
    unknown_status, unknown_html = await console.login("nobody", "whatever-password")
    wrong_status, wrong_html = await console.login("dolma", "wrong-password")
    assert unknown_status == wrong_status == 401
    message = "用户名或密码不正确"
    assert message in unknown_html
    assert message in wrong_html
    assert 'value="dolma"' in wrong_html  # the typed name is kept, the password is not
    async with console.sessions() as session:
        reasons = [
            (a.username, a.detail["reason"])
            for a in (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        ]
    assert reasons == [("nobody", "unknown"), ("dolma", "wrong_password")]


async def test_lockout_after_max_failures_even_with_the_right_password(
    console: Console,
) -> None:
    for _ in range(5):
        status, _html = await console.login("lhakpa", "not-the-password")
        assert status == 401
    status, html = await console.login("lhakpa")
    assert status == 401
    assert "暂时锁定" in html
    console.clock.advance(timedelta(minutes=16))
    status, html = await console.login("lhakpa")
    assert status == 200
    assert "lhakpa" in html


async def test_login_form_without_its_csrf_token_is_refused(console: Console) -> None:
    async with console.client.post(
        "/console/login", data={"username": "admin", "password": "minqing-demo"}
    ) as response:
        assert response.status == 403
        assert "页面已过期" in await response.text()


async def test_post_without_csrf_token_changes_nothing(console: Console) -> None:
    ticket = await file_petition(console.sessions, console.clock.now())
    await console.login("dolma")
    status, html = await console.post(f"/console/cases/{ticket}/accept", {}, csrf="forged")
    assert status == 403
    assert "页面已过期" in html
    assert (await console.petition(ticket)).status == PetitionStatus.DISPATCHED


async def test_grid_worker_gets_404_for_another_grids_case(console: Console) -> None:
    own = await file_petition(console.sessions, console.clock.now(), grid_id="G01")
    other = await file_petition(
        console.sessions, console.clock.now(), grid_id="G02", grid_point_id="GP-0201"
    )
    await console.login("dolma")
    status, html = await console.get(f"/console/cases/{other}")
    assert status == 404
    _, missing = await console.get("/console/cases/20991231-9999")
    assert html.replace(other, "X") == missing.replace("20991231-9999", "X")  # says nothing more
    status, html = await console.get(f"/console/cases/{own}")
    assert status == 200
    status, _ = await console.post(f"/console/cases/{other}/accept", {})
    assert status == 404
    assert (await console.petition(other)).status == PetitionStatus.DISPATCHED
    status, html = await console.get("/console/cases")
    assert own in html
    assert other not in html


async def test_community_officer_sees_every_grid(console: Console) -> None:
    tickets = [
        await file_petition(console.sessions, console.clock.now(), grid_id=g, grid_point_id=None)
        for g in ("G01", "G02", "G03")
    ]
    await console.login("lhakpa")
    _, html = await console.get("/console/cases")
    assert all(ticket in html for ticket in tickets)


async def test_resident_text_is_escaped_and_phone_masked_except_for_the_assignee(
    console: Console,
) -> None:
    ticket = await file_petition(
        console.sessions,
        console.clock.now(),
        description="<script>alert('x')</script> 路灯坏了",
        phone="13812345678",
    )
    await console.login("lhakpa")  # not the assignee
    _, html = await console.get(f"/console/cases/{ticket}")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(" in html
    assert "138****5678" in html
    assert "13812345678" not in html
    _, queue = await console.get("/console/cases")
    assert "<script>alert" not in queue
    await console.client.post("/console/logout", data={"_csrf": await console.csrf()})
    await console.login("dolma")  # the streetlight case is dispatched to the grid worker
    _, html = await console.get(f"/console/cases/{ticket}")
    assert "13812345678" in html


async def test_accept_goes_through_the_lifecycle_and_wakes_the_outbox(console: Console) -> None:
    ticket = await file_petition(console.sessions, console.clock.now())
    await console.login("dolma")
    console.clock.advance(timedelta(minutes=30))
    status, html = await console.post(f"/console/cases/{ticket}/accept", {})
    assert status == 200
    assert "已接单。" in html
    petition = await console.petition(ticket)
    assert petition.status == PetitionStatus.ACCEPTED
    assert petition.responded_at == console.clock.now()
    assert petition.response_met is True
    assert console.woken == [1]
    async with console.sessions() as session:
        event = (
            await session.scalars(
                select(PetitionEvent)
                .where(PetitionEvent.petition_id == petition.id)
                .order_by(PetitionEvent.id.desc())
            )
        ).first()
        audit = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "case_accept"))
        ).one()
    assert event is not None
    assert event.actor == "staff:S-0102"
    assert audit.username == "dolma"
    assert audit.target_id == ticket


async def test_on_site_progress_reply_resolve_push_the_resident(console: Console) -> None:
    ticket = await file_petition(console.sessions, console.clock.now(), openid="o-pema")
    await console.login("dolma")
    for verb, data in (
        ("accept", {}),
        ("on_site", {}),
        ("progress", {"note": "已更换灯泡，正在测试"}),
        ("reply", {"note": "今晚就能亮"}),
        ("resolve", {"note": "已修好"}),
    ):
        status, html = await console.post(f"/console/cases/{ticket}/{verb}", data)
        assert status == 200, html
    assert (await console.petition(ticket)).status == PetitionStatus.RESOLVED
    keys = [row.payload["key"] for row in await console.outbox() if row.recipient == "o-pema"]
    assert keys == [
        "push_status_dispatched",
        "push_status_on_site",
        "push_status_in_progress",
        "push_staff_reply",
        "push_status_resolved",
        "push_followup",
    ]
    progress = await console.outbox("push_status_in_progress")
    assert progress[0].payload["params"]["note"] == "已更换灯泡，正在测试"
    assert progress[0].payload["params"]["staff"] == "卓玛"


async def test_refused_action_explains_politely_and_keeps_the_text(console: Console) -> None:
    ticket = await file_petition(console.sessions, console.clock.now())
    await console.login("dolma")
    status, html = await console.post(f"/console/cases/{ticket}/reply", {"note": ""})
    assert status == 409
    assert "请填写内容后再提交。" in html
    status, html = await console.post(
        f"/console/cases/{ticket}/return", {"reason": "", "note": "这不是路灯问题，是电线"}
    )
    assert status == 409
    assert "退单请选择原因。" in html
    assert "这不是路灯问题，是电线" in html  # nothing typed is lost
    assert (await console.petition(ticket)).status == PetitionStatus.DISPATCHED
    for _ in range(3):
        status, _ = await console.post(f"/console/cases/{ticket}/escalate", {})
        assert status == 200
    status, html = await console.post(f"/console/cases/{ticket}/escalate", {"note": "再升级"})
    assert status == 409
    assert "已是最高督办层级" in html


async def test_refusal_rolls_back_partial_changes(console: Console) -> None:
    ticket = await file_petition(console.sessions, console.clock.now())
    await console.login("lhakpa")
    await console.post(f"/console/cases/{ticket}/resolve", {})
    status, html = await console.post(
        f"/console/cases/{ticket}/recategorise", {"category": "road"}
    )
    assert status == 409
    assert "案件当前的状态不能做这个操作" in html
    assert (await console.petition(ticket)).category == "streetlight"


async def test_reassign_recategorise_and_merge(console: Console) -> None:
    first = await file_petition(console.sessions, console.clock.now(), openid="o-a")
    second = await file_petition(console.sessions, console.clock.now(), openid="o-b")
    await console.login("lhakpa")
    status, _ = await console.post(f"/console/cases/{first}/reassign", {"staff_id": "S-0101"})
    assert status == 200
    assert (await console.petition(first)).assignee_staff_id == "S-0101"
    status, _ = await console.post(f"/console/cases/{first}/recategorise", {"category": "power"})
    assert status == 200
    petition = await console.petition(first)
    assert (petition.category, petition.external_unit) == ("power", "power_company")
    status, html = await console.post(f"/console/cases/{second}/merge", {"target_ticket": "nope"})
    assert status == 409
    assert "要合并到的工单号不对" in html
    status, _ = await console.post(f"/console/cases/{second}/merge", {"target_ticket": first})
    assert status == 200
    assert (await console.petition(second)).status == PetitionStatus.MERGED
    assert (await console.petition(first)).interest_count == 2
    _, html = await console.get(f"/console/cases/{second}")
    assert "这个案件已经结束，不能再操作。" in html


async def test_merge_into_a_case_outside_the_scope_is_refused(console: Console) -> None:
    own = await file_petition(console.sessions, console.clock.now())
    other = await file_petition(
        console.sessions, console.clock.now(), grid_id="G02", grid_point_id="GP-0201"
    )
    await console.login("dolma")
    status, html = await console.post(f"/console/cases/{own}/merge", {"target_ticket": other})
    assert status == 409
    assert "不在您的负责范围内" in html
    assert (await console.petition(own)).status == PetitionStatus.DISPATCHED


async def test_queue_filters_counts_and_sort(console: Console) -> None:
    now = console.clock.now()
    lamp = await file_petition(console.sessions, now)
    road = await file_petition(console.sessions, now, category="road", language="bo")
    voice = await file_petition(console.sessions, now, source="voice", description="")
    console.clock.advance(timedelta(days=30))
    await console.login("lhakpa")
    status, html = await console.get("/console/cases?category=road")
    assert status == 200
    assert road in html
    assert lamp not in html
    _, html = await console.get("/console/cases?voice=1")
    assert voice in html
    assert lamp not in html
    _, html = await console.get("/console/cases?language=bo")
    assert road in html
    assert lamp not in html
    _, html = await console.get("/console/cases?due=overdue")
    assert all(t in html for t in (lamp, road, voice))
    assert "共 3 件" in html
    _, html = await console.get("/console/cases?due=due_soon")
    assert "共 0 件" in html


async def test_tibetan_switch_and_back(console: Console) -> None:
    await console.login("dolma")
    async with console.client.get(
        "/console/lang/bo?next=/console/cases", allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/console/cases"
    _, html = await console.get("/console/cases")
    assert "ལས་ཀའི་ཐོ།" in html
    assert 'lang="bo"' in html
    await console.get("/console/lang/zh?next=/console/cases")
    _, html = await console.get("/console/cases")
    assert "案件列表" in html


async def test_language_switch_never_redirects_off_site(console: Console) -> None:
    for target in (
        "https://evil.example/",
        "//evil.example/console/",
        "/console/\\evil",
        "/console/login",
    ):
        async with console.client.get(
            "/console/lang/bo", params={"next": target}, allow_redirects=False
        ) as response:
            assert response.headers["Location"] == "/console/cases"


async def test_security_headers_on_pages(console: Console) -> None:
    await console.login("dolma")
    async with console.client.get("/console/cases") as response:
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"


async def test_logout_ends_the_session(console: Console) -> None:
    await console.login("admin")
    status, _ = await console.post("/console/logout", {})
    assert status == 200
    async with console.client.get("/console/cases", allow_redirects=False) as response:
        assert response.status == 303


async def test_audit_log_is_for_system_administrators_only(console: Console) -> None:
    ticket = await file_petition(console.sessions, console.clock.now())
    await console.login("lhakpa")
    await console.get(f"/console/cases/{ticket}")
    status, _ = await console.get("/console/audit")
    assert status == 404
    await console.post("/console/logout", {})
    await console.login("admin")
    status, html = await console.get("/console/audit")
    assert status == 200
    assert "查看案件" in html
    assert ticket in html


async def test_content_pages_render_for_every_role(console: Console) -> None:
    await file_petition(console.sessions, console.clock.now())
    for username in ("dolma", "lhakpa", "street", "admin"):
        await console.login(username)
        for page in (
            "directory",
            "responsibility",
            "calendar",
            "policies",
            "eldercare",
            "posters",
            "dashboard",
        ):
            status, html = await console.get(f"/console/{page}")
            assert status == 200, (username, page, html[:500])
        await console.post("/console/logout", {})


async def test_unknown_console_path_is_a_friendly_404(console: Console) -> None:
    status, html = await console.get("/console/nothing-here")
    assert status == 404
    assert "没有找到" in html


async def test_echarts_is_served_locally(console: Console) -> None:
    async with console.client.get("/console/static/echarts.min.js") as response:
        assert response.status == 200
        assert response.content_type == "application/javascript"
        assert b"echarts" in (await response.read())[:2000].lower()
    async with console.client.get("/console/static/..%2Fcore.py") as response:
        assert response.status == 404
