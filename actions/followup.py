"""The resident's answer to the follow-up ("fixed? satisfied? 1 yes, 2 mostly, 3 not fixed").

While a resolved case waits for this resident's answer, a bare 1, 2 or 3 answers it (rather
than opening the main menu). "Not fixed" reopens and escalates the case: never ignored.
"""

from __future__ import annotations

from bot.dialogue.context import TurnContext
from governance.petitions.followup import awaiting_followup, record_followup
from governance.petitions.lifecycle import Refused
from governance.petitions.models import FollowupAnswer

ANSWERS = (
    FollowupAnswer.SATISFIED,
    FollowupAnswer.BASICALLY_SATISFIED,
    FollowupAnswer.NOT_FIXED,
)
REPLY_KEYS = {
    FollowupAnswer.SATISFIED: "utter_followup_satisfied",
    FollowupAnswer.BASICALLY_SATISFIED: "utter_followup_basically",
    FollowupAnswer.NOT_FIXED: "utter_followup_reopened",
}


async def answer(ctx: TurnContext) -> bool:
    """Record the answer if the resident owes one and replied 1–3; True when handled."""
    picked = ctx.choice(len(ANSWERS))
    if picked is None:
        return False
    deps = ctx.deps
    chosen = ANSWERS[picked - 1]
    async with deps.sessions() as session, session.begin():
        pending = await awaiting_followup(session, ctx.message.user_id)
        if not pending:
            return False
        petition = pending[0]
        try:
            result = await record_followup(
                session,
                petition,
                ctx.message.user_id,
                chosen,
                deps.clock.now(),
                public_base_url=deps.public_base_url,
            )
        except Refused:
            return False
    deps.notify_outbox()
    ctx.say(REPLY_KEYS[chosen], ticket=result.ticket_no)
    return True
