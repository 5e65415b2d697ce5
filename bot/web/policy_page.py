"""The full policy page behind a short chat answer: `/p/<policy id>?lang=zh|bo`, large type."""

from __future__ import annotations

from aiohttp import web

from bot.dialogue.state import Lang
from bot.replies import ReplyCatalog
from bot.web.status_page import TEMPLATES
from governance.policies.catalog import PolicyCatalog, PolicyField

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
    def __init__(self, policies: PolicyCatalog, catalog: ReplyCatalog) -> None:
        self._policies = policies
        self._catalog = catalog

    async def show(self, request: web.Request) -> web.Response:
        asked = request.query.get("lang")
        language = Lang(asked) if asked in {lang.value for lang in Lang} else Lang.ZH
        labels = self._catalog.catalog(language)
        policy = self._policies.get(request.match_info["policy_id"])
        if policy is None:
            html = TEMPLATES.get_template("status_invalid.html").render(
                lang=language.value, text=labels.text("h5_policy_missing")
            )
            return web.Response(text=html, content_type="text/html", status=404)
        sections = [
            {
                "label": labels.text(f"policy_field_{field}"),
                "items": policy.items(field, language.value)
                if field in (PolicyField.MATERIALS, PolicyField.STEPS)
                else [policy.text(field, language.value)],
                "numbered": field == PolicyField.STEPS,
            }
            for field in SHOWN
        ]
        html = TEMPLATES.get_template("policy.html").render(
            lang=language.value,
            other_lang="zh" if language is Lang.BO else "bo",
            title=policy.text(PolicyField.TITLE, language.value),
            sections=sections,
            notice=labels.text("utter_policy_sample_notice") if not policy.verified else "",
            switch=labels.text("h5_switch"),
        )
        return web.Response(text=html, content_type="text/html")
