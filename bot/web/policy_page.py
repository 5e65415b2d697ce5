"""The full policy page behind a short chat answer: `/p/<policy id>?lang=zh|bo&elder=1`.

The page shows staff's newest console edit: it checks the process's catalog version first, as
a policy question does (without rebuilding the answerer's search indexes)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.replies import ReplyCatalog
from bot.web.resident import choose_look, chrome, html_response, remember_look, unavailable
from governance.policies.catalog import PolicyCatalog, PolicyField
from governance.policies.revisions import LiveCatalog

SHOWN = (
    PolicyField.SUMMARY,
    PolicyField.ELIGIBILITY,
    PolicyField.AMOUNTS,
    PolicyField.MATERIALS,
    PolicyField.STEPS,
    PolicyField.WHERE,
    PolicyField.CONTACT,
    PolicyField.SOURCE,
)


class PolicyPage:
    def __init__(
        self,
        policies: LiveCatalog,
        catalog: ReplyCatalog,
        *,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self._policies = policies
        self._catalog = catalog
        self._sessions = sessions

    async def _current(self) -> PolicyCatalog:
        async with self._sessions() as session:
            return await self._policies.current(session)

    async def show(self, request: web.Request) -> web.Response:
        policy_id = request.match_info["policy_id"]
        look = choose_look(request, language=None, elder=None)
        labels = look.catalog(self._catalog)
        policy = (await self._current()).get(policy_id)
        if policy is None:
            return unavailable(self._catalog, "h5_policy_missing", 404)
        language = look.lang.value
        sections = [
            {
                "label": labels.text(f"policy_field_{field}"),
                "items": policy.items(field, language)
                if field in (PolicyField.MATERIALS, PolicyField.STEPS)
                else [policy.text(field, language)],
                "numbered": field == PolicyField.STEPS,
            }
            for field in SHOWN
        ]
        response = html_response(
            "policy.html",
            {
                **chrome(look, self._catalog, f"/p/{policy_id}"),
                "title": policy.text(PolicyField.TITLE, language),
                "sections": sections,
                "notice": labels.text("utter_policy_sample_notice") if not policy.verified else "",
            },
        )
        remember_look(request, response)
        return response
