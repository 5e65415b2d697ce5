"""Benefit-policy questions: a short answer, a link to the full bilingual page, and
follow-ups in context ("what must I bring?" answers from the policy just shown).

When nothing matches well the bot says so, offers a person, and logs the question so staff
can write content for it.

Every entry point (``show_menu``, ``answer``, ``resume``) first brings the answerer up to
date with staff's console edits (``PolicyAnswerer.refresh``: one cheap query, indexes rebuilt
only after an edit, whichever worker saved it). Turns that are not about policies never get
here, so they pay nothing.
"""

from __future__ import annotations

import re

from bot.dialogue.context import TurnContext
from bot.dialogue.state import FlowName
from governance.policies.catalog import PolicyField
from governance.policies.service import AnswerSource, NoAnswer, PolicyAnswer, log_unanswered

MAX_LINES = 5
MIN_SUBJECT_UNITS = 2
TIBETAN_SYLLABLE = re.compile("[\u0f40-\u0fbc]+")


def _language(ctx: TurnContext) -> str:
    return ctx.language.value


async def _refresh(ctx: TurnContext) -> None:
    async with ctx.deps.quick_sessions() as session:
        await ctx.deps.policies.refresh(session)


async def show_menu(ctx: TurnContext) -> None:
    """The policy QR code: a numbered list of the policies."""
    await _refresh(ctx)
    _show_menu(ctx)


def _show_menu(ctx: TurnContext) -> None:
    catalog = ctx.deps.policies.catalog
    ids = list(catalog.ids)
    ctx.conversation.reset()
    ctx.conversation.flow = FlowName.POLICY_QA
    ctx.conversation.slots = {"choices": ids}
    ctx.say("utter_policy_menu", options=[catalog[i].text("title", _language(ctx)) for i in ids])


async def answer(ctx: TurnContext, *, previous: str | None = None) -> None:
    await _refresh(ctx)
    await _answer(ctx, previous=previous)


async def _answer(ctx: TurnContext, *, previous: str | None = None) -> None:
    parsed = ctx.parsed
    topic = parsed.entity("policy_topic") if parsed else None
    language = parsed.language.value if parsed else _language(ctx)
    result = ctx.deps.policies.answer(ctx.text, language, topic.value if topic else None, previous)
    if isinstance(result, PolicyAnswer):
        _say_answer(ctx, result)
        return
    await _no_answer(ctx, result)


def _say_answer(ctx: TurnContext, result: PolicyAnswer) -> None:
    answerer = ctx.deps.policies
    policy = answerer.catalog[result.policy_id]
    language = _language(ctx)
    ctx.conversation.reset()
    ctx.conversation.flow = FlowName.POLICY_QA
    ctx.conversation.slots = {"policy_id": result.policy_id}
    ctx.say(
        "utter_policy_answer",
        title=policy.text("title", language),
        lines=answerer.lines(result, language, max_lines=MAX_LINES),
        url=f"{ctx.deps.public_base_url}/p/{policy.id}?lang={language}",
    )
    if not policy.verified:
        ctx.say("utter_policy_sample_notice")


async def _no_answer(ctx: TurnContext, result: NoAnswer) -> None:
    cold_follow_up = result.fields and not _names_a_subject(
        ctx.deps.policies.asked_fields(ctx.text).rest
    )
    if cold_follow_up and ctx.conversation.slots.get("policy_id") is None:
        _show_menu(ctx)  # "what must I bring?" asked cold: which policy?
        ctx.replies.pop()
        catalog = ctx.deps.policies.catalog
        choices = ctx.conversation.slots["choices"]
        ctx.say(
            "utter_policy_which",
            options=[catalog[i].text("title", _language(ctx)) for i in choices],
        )
        return
    async with ctx.deps.sessions() as session, session.begin():
        await log_unanswered(
            session,
            ctx.message.user_id,
            _language(ctx),
            ctx.text,
            result.topic,
            ctx.deps.clock.now(),
        )
    ctx.conversation.reset()
    ctx.say("utter_policy_unknown")


def _names_a_subject(rest: str) -> bool:
    """What is left of a question without its field cue still says what it is about."""
    han = sum("\u4e00" <= ch <= "\u9fff" for ch in rest)
    syllables = len(TIBETAN_SYLLABLE.findall(rest))
    return han + syllables >= MIN_SUBJECT_UNITS


async def resume(ctx: TurnContext) -> bool:
    """Inside a policy conversation: a number picks a policy, a follow-up asks about the last
    one; anything else leaves the policy context (False) and is handled as a new message
    (without the version query: the cues and choices do not change with edits)."""
    slots = ctx.conversation.slots
    choices: list[str] = slots.get("choices", [])
    picked = ctx.choice(len(choices)) if choices else None
    answerer = ctx.deps.policies
    if picked is not None:
        policy_id = choices[picked - 1]
        await _refresh(ctx)
        _say_answer(
            ctx, PolicyAnswer(policy_id, (PolicyField.SUMMARY,), False, AnswerSource.TOPIC)
        )
        return True
    previous = slots.get("policy_id")
    asked = answerer.asked_fields(ctx.text) if ctx.text else None
    if previous and asked is not None and asked.fields:
        # "what to bring?" asks about the last policy; "where is a passport made" is a new subject.
        await answer(ctx, previous=None if _names_a_subject(asked.rest) else previous)
        return True
    if previous and ctx.intent("ask_policy"):
        await answer(ctx)
        return True
    ctx.conversation.reset()
    return False
