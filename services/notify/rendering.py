"""Message text from Jinja2 templates, one per kind and channel:
services/notify/templates/<kind>/<channel>.j2 (Simplified Chinese, plain text).

Templates see `case` (code, category label), `data` (the event's data, typed), `item`
(one summons, one reminder), `recipient` (kind, role, unit_name — never a person's name),
`links` and `units` (unit id → name). Undefined names fail loudly: a template that
refers to something the event does not carry is a bug, found by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from services.notify.domain.recipients import PARTY, Item, Recipient
from services.notify.domain.rules import MessageRule, Rules

DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates"
UNKNOWN_UNIT = "相关单位"


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    segments: int | None = None


class Renderer:
    def __init__(self, rules: Rules, templates_dir: Path = DEFAULT_TEMPLATES):
        self.rules = rules
        self.zone = rules.quiet_hours.zone
        self.env = Environment(
            loader=FileSystemLoader(str(templates_dir)),
            undefined=StrictUndefined,
            autoescape=False,  # plain text for SMS, WeChat, e-mail and the inbox, not HTML
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(local_time=self.local_time, local_date=self.local_date, label=self.label)

    def local_time(self, moment: datetime | str | None) -> str:
        if moment is None:
            return ""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        local = moment.astimezone(self.zone)
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"

    def local_date(self, moment: datetime | str | None) -> str:
        if moment is None:
            return ""
        if isinstance(moment, str):
            if len(moment) == 10:  # already a date
                year, month, day = moment.split("-")
                return f"{int(year)}年{int(month)}月{int(day)}日"
            moment = datetime.fromisoformat(moment)
        local = moment.astimezone(self.zone)
        return f"{local.year}年{local.month}月{local.day}日"

    def label(self, code: str | None, group: str, default: str | None = None) -> str:
        """A code's Chinese label; `default` (or the code itself) when the rulebook has none."""
        if code is None:
            return default or ""
        found = self.rules.labels.get(group, {}).get(code)
        return found if found is not None else (default if default is not None else code)

    def missing_templates(self) -> list[str]:
        missing = []
        for kind, channel in sorted(self.rules.templates):
            try:
                self.env.get_template(f"{kind}/{channel}.j2")
            except TemplateNotFound:
                missing.append(f"{kind}/{channel}.j2")
        return missing

    def context(self, rule: MessageRule, event: Mapping, item: Item, recipient: Recipient,
                units: Mapping[str, Mapping | None]) -> dict[str, Any]:
        unit_names = {unit_id: (record or {}).get("name") or UNKNOWN_UNIT for unit_id, record in units.items()}
        links = {"public_progress": self.rules.links.get("public_progress", "").format(case_code=event["case_code"])}
        if item.value and item.value.get("summons_id") and "summons_ack" in self.rules.links:
            links["summons_ack"] = self.rules.links["summons_ack"].format(summons_id=item.value["summons_id"])
        return {
            "case": {"code": event["case_code"], "category": self.label(event["category"], "categories"),
                     "jurisdiction": event["jurisdiction"]},
            "data": event["data"],
            "item": item.value,
            "recipient": {
                "kind": recipient.kind,
                "role": recipient.role,
                "unit_id": recipient.unit_id,
                "unit_name": None if recipient.kind == PARTY else unit_names.get(recipient.unit_id, UNKNOWN_UNIT),
            },
            "links": links,
            "units": unit_names,
        }

    def link(self, rule: MessageRule, context: Mapping) -> str | None:
        return context["links"].get(rule.link) if rule.link else None

    def render(self, rule: MessageRule, channel: str, context: Mapping) -> Rendered:
        """Raises MessageTooLong for an SMS over the allowed segments."""
        text = self.env.get_template(f"{rule.kind}/{channel}.j2").render(**context)
        lines = [line.rstrip() for line in text.strip().splitlines()]
        if channel == "sms":
            body = self.rules.sms.text("".join(line.strip() for line in lines))
            return Rendered(title=rule.title, body=body, segments=self.rules.sms.segments(body))
        body = "\n".join(lines)
        return Rendered(title=rule.title, body=body)
