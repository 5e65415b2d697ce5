"""The resident's status page `/s/<token>`: what it shows, in which language and size, which
links open it, and the follow-up and added-information forms (same domain path as chat)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.links import LinkSigner
from governance.clock import LOCAL_TZ
from governance.directory.models import Resident, Staff
from governance.links import revoke_links
from governance.outbox.models import OutboxChannel, OutboxMessage
from governance.petitions.followers import follow, merge
from governance.petitions.followup import close_unanswered_followups
from governance.petitions.models import (
    EscalationLevel,
    FollowupAnswer,
    Petition,
    PetitionEvent,
    PetitionFollowupAnswer,
    PetitionStatus,
)
from governance.petitions.resident_input import MAX_INFO_CHARS
from tests.bot.web.conftest import H5, TTL, filed, reload
from tests.governance.conftest import resident

S = PetitionStatus
ZH_INVALID = "这个链接已失效或不正确"
BO_INVALID = "འབྲེལ་ཐག་འདི་ནུས་མེད"
ZH_EXPIRED = "这个链接已过期或已停用"
BO_EXPIRED = "འབྲེལ་ཐག་འདིའི་དུས་ཚོད་ཡོལ"


async def _staff(h5: H5, staff_id: str | None) -> Staff:
    async with h5.sessions() as session:
        staff = await session.get(Staff, staff_id or "")
    assert staff is not None
    return staff


async def _events(h5: H5, petition_id: int, kind: str) -> list[PetitionEvent]:
    async with h5.sessions() as session:
        rows = await session.scalars(
            select(PetitionEvent)
            .where(PetitionEvent.petition_id == petition_id, PetitionEvent.kind == kind)
            .order_by(PetitionEvent.id)
        )
        return list(rows.all())


async def _outbox(h5: H5, key: str) -> list[OutboxMessage]:
    async with h5.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [row for row in rows if row.payload.get("key") == key]


# --- what the page shows -------------------------------------------------------------------


async def test_the_page_shows_number_category_words_timeline_and_due_date_in_chinese(
    h5: H5,
) -> None:
    petition = await filed(h5, to=(S.ACCEPTED, S.ON_SITE))
    staff = await _staff(h5, petition.assignee_staff_id)
    status, html = await h5.get(h5.link(petition))
    assert status == 200
    assert petition.ticket_no in html
    assert "路灯" in html, "the category in Chinese"
    assert "院门口的路灯坏了三天了，晚上很黑" in html
    assert f"已派给网格员 {staff.name_zh}" in html
    assert f"{staff.name_zh}正在现场核实" in html
    assert html.index("收到诉求") < html.index("已派给网格员") < html.index("正在现场核实")
    due = petition.resolution_due_at.astimezone(LOCAL_TZ)
    assert f"最晚{due.month}月{due.day}日前办结" in html
    assert "工作人员已到现场" in html, "the current status"
    assert 'lang="zh-CN"' in html
    assert "修好了，满意" not in html, "no follow-up buttons before the case is resolved"


async def test_a_tibetan_resident_reads_tibetan_with_staff_names_in_tibetan_script(
    h5: H5,
) -> None:
    petition = await filed(
        h5, openid="o-tenzin", language="bo", description="ལམ་སྒྲོན་ཉམས་འདུག", to=(S.ON_SITE,)
    )
    staff = await _staff(h5, petition.assignee_staff_id)
    status, html = await h5.get(h5.link(petition))
    assert status == 200
    assert 'lang="bo"' in html
    assert "ལམ་སྒྲོན" in html
    assert staff.name_bo in html
    assert staff.name_zh not in html, "names are shown in the resident's script"
    assert "中文" in html, "the switch offers Chinese"


async def test_the_language_switch_is_remembered_in_a_cookie(h5: H5) -> None:
    petition = await filed(h5)
    link = h5.link(petition)
    async with h5.client.get(f"{link}?lang=bo") as response:
        html = await response.text()
        assert response.cookies["mq_lang"].value == "bo"
    assert 'lang="bo"' in html
    assert "སྙན་ཞུ་ " + petition.ticket_no in html
    status, again = await h5.get(link)  # the client keeps the cookie
    assert status == 200
    assert 'lang="bo"' in again
    status, back = await h5.get(f"{link}?lang=zh")
    assert 'lang="zh-CN"' in back


async def test_elder_mode_comes_from_the_resident_or_the_switch(h5: H5) -> None:
    petition = await filed(h5)
    link = h5.link(petition)
    _, html = await h5.get(link)
    assert '<body class="">' in html
    assert "大字模式" in html
    async with h5.sessions() as session, session.begin():
        elder = await session.get(Resident, petition.resident_openid)
        assert elder is not None
        elder.elder_mode = True
    _, html = await h5.get(link)
    assert '<body class="elder">' in html, "the resident's own elder_mode setting"
    assert "标准字体" in html
    _, html = await h5.get(f"{link}?elder=0")
    assert '<body class="">' in html
    _, html = await h5.get(link)
    assert '<body class="">' in html, "the explicit choice is remembered"


async def test_residents_text_is_escaped(h5: H5) -> None:
    petition = await filed(h5, description='<script>alert("x")</script> 路灯 <b>坏了</b>')
    _, html = await h5.get(h5.link(petition))
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<b>坏了</b>" not in html


# --- which links open it ---------------------------------------------------------------------


async def test_wrong_tampered_and_foreign_tokens_show_a_friendly_page_in_both_languages(
    h5: H5,
) -> None:
    petition = await filed(h5)
    token = h5.link(petition).removeprefix("/s/")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    foreign = LinkSigner("another-secret", ttl=TTL).sign(petition.id, "o-dolkar", h5.clock.now())
    booking_kind = h5.signer.sign_booking(petition.id, petition.resident_openid, h5.clock.now())
    for bad in ("nonsense", tampered, foreign, booking_kind):
        status, html = await h5.get(f"/s/{bad}")
        assert status == 404, bad
        assert ZH_INVALID in html
        assert BO_INVALID in html
        assert petition.ticket_no not in html
        assert "路灯" not in html


async def test_an_expired_link_is_gone_with_status_410(h5: H5) -> None:
    petition = await filed(h5)
    link = h5.link(petition)
    h5.clock.advance(TTL + timedelta(minutes=1))
    status, html = await h5.get(link)
    assert status == 410
    assert ZH_EXPIRED in html
    assert BO_EXPIRED in html
    assert petition.ticket_no not in html


async def test_revoked_links_stop_working_and_later_links_work(h5: H5) -> None:
    petition = await filed(h5)
    other = await filed(h5, openid="o-pema", description="下水道堵了")
    old_link, other_link = h5.link(petition), h5.link(other)
    h5.clock.advance(timedelta(seconds=1))
    async with h5.sessions() as session, session.begin():
        keys = await revoke_links(session, h5.clock.now(), petition_id=petition.id)
    assert keys == [f"links:revoked:petition:{petition.id}"]
    status, html = await h5.get(old_link)
    assert status == 410
    assert ZH_EXPIRED in html
    assert (await h5.get(other_link))[0] == 200, "other petitions' links keep working"
    h5.clock.advance(timedelta(seconds=1))
    status, html = await h5.get(h5.link(petition))
    assert status == 200, "a link issued after the revocation works"
    async with h5.sessions() as session, session.begin():
        await revoke_links(session, h5.clock.now(), openid="o-pema")
    assert (await h5.get(other_link))[0] == 410, "revoking a resident's links"


async def test_a_token_names_one_petition_and_one_resident(h5: H5) -> None:
    mine = await filed(h5, openid="o-dolkar", description="我家门口的井盖丢了")
    theirs = await filed(h5, openid="o-pema", description="邻居家的狗很凶")
    _, html = await h5.get(h5.link(mine))
    assert "我家门口的井盖丢了" in html
    assert "邻居家的狗很凶" not in html
    assert theirs.ticket_no not in html
    # A token for someone who does not file the case shows it without the petitioner's words.
    async with h5.sessions() as session, session.begin():
        await resident(session, "o-neighbour", "zh", h5.clock.now())
        attached = await session.get(Petition, mine.id)
        assert attached is not None
        await follow(session, attached, "o-neighbour", h5.clock.now())
    status, html = await h5.get(h5.link(mine, "o-neighbour"))
    assert status == 200
    assert mine.ticket_no in html
    assert "我家门口的井盖丢了" not in html


# --- follow-up -------------------------------------------------------------------------------


async def test_fixed_closes_the_case_as_in_chat(h5: H5) -> None:
    petition = await filed(h5, to=(S.ACCEPTED, S.RESOLVED))
    link = h5.link(petition)
    _, html = await h5.get(link)
    assert "问题解决了吗？" in html
    assert "已更换灯泡" in html, "the staff's note on resolving"
    status, html, location = await h5.post(
        f"{link}/followup", {"nonce": await h5.nonce(link), "answer": "satisfied"}
    )
    assert location == f"{link}?done=satisfied"
    assert status == 200
    assert f"感谢您的评价！工单 {petition.ticket_no} 已结案" in html
    assert "问题解决了吗？" not in html, "the question is answered"
    assert "回访：满意" in html
    fresh = await reload(h5, petition)
    assert fresh.status == S.CLOSED
    assert fresh.satisfaction == FollowupAnswer.SATISFIED
    assert h5.wakes, "the outbox worker is woken"


async def test_not_fixed_reopens_and_escalates_and_the_page_says_so(h5: H5) -> None:
    petition = await filed(h5, to=(S.ACCEPTED, S.RESOLVED))
    link = h5.link(petition)
    status, html, _ = await h5.post(
        f"{link}/followup", {"nonce": await h5.nonce(link), "answer": "not_fixed"}
    )
    assert status == 200
    assert "非常抱歉没能修好" in html
    assert "已上报社区督办" in html
    assert "回访：没修好" in html
    fresh = await reload(h5, petition)
    assert fresh.status == S.ESCALATED
    assert fresh.escalation_level == EscalationLevel.COMMUNITY
    cards = await _outbox(h5, "card_escalated")
    assert [card.payload["params"]["reason"] for card in cards] == ["not_fixed"]


async def test_a_double_click_records_one_answer(h5: H5) -> None:
    petition = await filed(h5, to=(S.ACCEPTED, S.RESOLVED))
    link = h5.link(petition)
    form = {"nonce": await h5.nonce(link), "answer": "not_fixed"}
    first = await h5.post(f"{link}/followup", form, follow=False)
    second = await h5.post(f"{link}/followup", form)
    assert first[2].endswith("?done=reopened")
    assert second[2].endswith("?done=duplicate")
    assert "已经收到了，不用重复提交" in second[1]
    async with h5.sessions() as session:
        answers = await session.scalar(select(func.count()).select_from(PetitionFollowupAnswer))
    assert answers == 1
    assert len(await _events(h5, petition.id, "followup_answer")) == 1
    # A fresh page after answering offers no second answer.
    third = await h5.post(
        f"{link}/followup", {"nonce": await h5.nonce(link), "answer": "satisfied"}
    )
    assert third[2].endswith("?done=answered")
    assert (await reload(h5, petition)).status == S.ESCALATED


async def test_forms_need_the_page_nonce_and_the_same_origin(h5: H5) -> None:
    petition = await filed(h5, to=(S.ACCEPTED, S.RESOLVED))
    link = h5.link(petition)
    other_link = h5.link(await filed(h5, openid="o-pema"))
    stolen = await h5.nonce(other_link)
    status, html, _ = await h5.post(f"{link}/followup", {"nonce": stolen, "answer": "not_fixed"})
    assert status == 403
    assert "页面已过期" in html
    status, _, _ = await h5.post(
        f"{link}/followup",
        {"nonce": await h5.nonce(link), "answer": "not_fixed"},
        Origin="https://evil.example",
    )
    assert status == 403
    status, html, _ = await h5.post(
        f"{link}/followup", {"nonce": await h5.nonce(link), "answer": "maybe"}
    )
    assert status == 400
    assert (await reload(h5, petition)).status == S.RESOLVED


# --- added information -----------------------------------------------------------------------


async def test_added_information_is_an_event_and_a_handler_group_card(h5: H5) -> None:
    petition = await filed(h5, to=(S.ACCEPTED,))
    link = h5.link(petition)
    text = '灯杆上还有电线垂下来 <script>alert("x")</script>'
    status, html, location = await h5.post(
        f"{link}/info", {"nonce": await h5.nonce(link), "text": text}
    )
    assert location == f"{link}?done=info"
    assert status == 200
    assert "您补充的情况已转给工作人员" in html
    assert "您补充了情况：" in html
    assert "灯杆上还有电线垂下来 &lt;script&gt;" in html
    assert "<script>alert" not in html
    [event] = await _events(h5, petition.id, "resident_info")
    assert event.note == text
    assert event.actor == f"resident:{petition.resident_openid}"
    [card] = await _outbox(h5, "h5_card_info_added")
    assert card.channel == OutboxChannel.HANDLER_GROUP
    assert card.recipient == petition.community_id
    assert card.payload["params"]["note"] == text
    assert (
        card.payload["params"]["url"] == f"https://minqing.test/console/cases/{petition.ticket_no}"
    )
    assert h5.wakes


async def test_the_same_information_sent_twice_from_one_page_counts_once(h5: H5) -> None:
    petition = await filed(h5)
    link = h5.link(petition)
    form = {"nonce": await h5.nonce(link), "text": "晚上七点以后家里有人"}
    await h5.post(f"{link}/info", form, follow=False)
    _, html, location = await h5.post(f"{link}/info", form)
    assert location.endswith("?done=duplicate")
    assert "已经收到了" in html
    assert len(await _events(h5, petition.id, "resident_info")) == 1
    assert len(await _outbox(h5, "h5_card_info_added")) == 1
    # Different words from the same page are not a duplicate: nothing is lost.
    await h5.post(f"{link}/info", {**form, "text": "电话打不通请发短信"})
    assert len(await _events(h5, petition.id, "resident_info")) == 2


async def test_bad_information_gets_a_polite_error_and_keeps_the_text(h5: H5) -> None:
    petition = await filed(h5)
    link = h5.link(petition)
    nonce = await h5.nonce(link)
    status, html, _ = await h5.post(f"{link}/info", {"nonce": nonce, "text": "   "})
    assert status == 400
    assert "请先写下要补充的内容" in html
    long_text = "很" * (MAX_INFO_CHARS + 1)
    status, html, _ = await h5.post(f"{link}/info", {"nonce": nonce, "text": long_text})
    assert status == 400
    assert f"请控制在{MAX_INFO_CHARS}字以内" in html
    assert long_text in html, "the text is kept in the form"
    status, html, _ = await h5.post(f"{link}/info", {"nonce": "0" * 16 + ".x", "text": "楼道灯"})
    assert status == 403
    assert ">楼道灯</textarea>" in html
    assert await _events(h5, petition.id, "resident_info") == []


async def test_a_closed_case_takes_no_information_but_still_a_late_not_fixed(h5: H5) -> None:
    petition = await filed(h5, to=(S.ACCEPTED, S.RESOLVED))
    async with h5.sessions() as session, session.begin():
        h5.clock.advance(timedelta(days=4))
        assert await close_unanswered_followups(session, h5.clock.now()) == [petition.ticket_no]
    link = h5.link(petition)
    _, html = await h5.get(link)
    assert 'id="info"' not in html
    assert "问题解决了吗？" in html, "nobody answered: a late answer is still taken"
    status, html, _ = await h5.post(
        f"{link}/info", {"nonce": await h5.nonce(link), "text": "又坏了"}
    )
    assert status == 409
    assert "这个诉求已经结束" in html
    assert "又坏了" in html, "what the resident wrote is shown back, not lost"
    status, html, _ = await h5.post(
        f"{link}/followup", {"nonce": await h5.nonce(link), "answer": "not_fixed"}
    )
    assert status == 200
    assert (await reload(h5, petition)).status == S.ESCALATED


async def test_tibetan_forms_answer_in_tibetan(h5: H5) -> None:
    petition = await filed(h5, openid="o-tenzin", language="bo", to=(S.ACCEPTED, S.RESOLVED))
    link = h5.link(petition)
    _, html = await h5.get(link)
    assert "ཡག་པོ་བཅོས་སོང་ངམ།" in html
    _, html, _ = await h5.post(
        f"{link}/followup", {"nonce": await h5.nonce(link), "answer": "basically_satisfied"}
    )
    assert "ཁྱེད་ཀྱི་བསམ་འཆར་ལ་ཐུགས་རྗེ་ཆེ།" in html
    assert "བསྐྱར་འཚམས། ཕལ་ཆེར་བློ་ཚིམ།" in html
    assert (await reload(h5, petition)).satisfaction == FollowupAnswer.BASICALLY_SATISFIED


async def test_a_merged_case_points_to_the_case_that_carries_on(h5: H5) -> None:
    target = await filed(h5, openid="o-pema", description="北京中路路灯不亮")
    source = await filed(h5)
    async with h5.sessions() as session, session.begin():
        attached_source = await session.get(Petition, source.id)
        attached_target = await session.get(Petition, target.id)
        assert attached_source is not None
        assert attached_target is not None
        await merge(session, attached_source, attached_target, "staff:S-0101", h5.clock.now())
    link = h5.link(source)
    _, html = await h5.get(link)
    assert f"这个问题已与工单 {target.ticket_no} 合并处理" in html
    assert "已与相同问题合并处理" in html
    assert 'id="info"' not in html, "a merged case takes no more information here"
    assert "办结期限" not in html
    stale_page_nonce = h5.signer.nonce(link.removeprefix("/s/"))  # a page opened before the merge
    status, html, _ = await h5.post(f"{link}/info", {"nonce": stale_page_nonce, "text": "又坏了"})
    assert status == 409
    assert "这个诉求已经结束" in html
    assert "又坏了" in html
