"""Loading the rulebook (services/notify/data/rules.yaml, or NOTIFY_RULES_FILE) and its
templates at start. A rulebook that names an event notify does not listen to, a channel
that does not exist or a template that is missing stops the service from starting."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml
from nameko.extensions import DependencyProvider

from services.common.config import setting
from services.notify.domain.rules import Rules, RulesError, parse_rules
from services.notify.rendering import DEFAULT_TEMPLATES, Renderer

DEFAULT_RULES = Path(__file__).resolve().parent / "data" / "rules.yaml"

# The events notify has a handler for (service.py); a rule may name only these.
SUBSCRIBED: frozenset[tuple[str, str]] = frozenset({
    ("intake", "case_registered"),
    ("routing", "case_assigned"),
    ("routing", "case_returned"),
    ("routing", "departments_summoned"),
    ("routing", "sla_warning"),
    ("routing", "case_escalated"),
    ("routing", "leader_assigned"),
    ("mediation", "session_scheduled"),
    ("mediation", "session_reminder"),
    ("mediation", "session_cancelled"),
    ("mediation", "agreement_reached"),
    ("mediation", "followup_required"),
    ("court_bridge", "confirmation_granted"),
    ("court_bridge", "confirmation_rejected"),
    ("court_bridge", "case_filed"),
    ("court_bridge", "confirmation_due"),
    ("court_bridge", "message_stuck"),
})


def _on_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _delays(value) -> list[float]:
    if isinstance(value, str):
        value = [part for part in value.replace("[", "").replace("]", "").split(",") if part.strip()]
    try:
        return [float(item) for item in value]
    except (TypeError, ValueError) as exc:
        raise RulesError(f"NOTIFY_RETRY_DELAYS must be a list of seconds, not {value!r}") from exc


def load_rulebook(config: dict) -> tuple[Rules, Renderer]:
    path = Path(setting(config, "NOTIFY_RULES_FILE", DEFAULT_RULES))
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise RulesError(f"cannot read the rulebook {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise RulesError(f"{path}: the rulebook must be a mapping")
    overrides = setting(config, "NOTIFY_RETRY_DELAYS", None)
    if overrides is not None:
        raw["retry_delays_seconds"] = _delays(overrides)
    links = dict(raw.get("links") or {})
    for key, name in (("NOTIFY_PUBLIC_PROGRESS_URL", "public_progress"), ("NOTIFY_SUMMONS_ACK_URL", "summons_ack")):
        if setting(config, key, None):
            links[name] = str(config[key])
    raw["links"] = links
    if str(config.get("ONESTOP_ENV", "dev")) == "prod":
        local = sorted(name for name, url in links.items() if _on_loopback(str(url)))
        if local:
            raise RulesError(f"links to this machine would reach no citizen in production: {', '.join(local)}; "
                             "set NOTIFY_PUBLIC_PROGRESS_URL and NOTIFY_SUMMONS_ACK_URL to the public addresses")
    rules = parse_rules(raw, SUBSCRIBED)
    renderer = Renderer(rules, Path(setting(config, "NOTIFY_TEMPLATES_DIR", DEFAULT_TEMPLATES)))
    missing = renderer.missing_templates()
    if missing:
        raise RulesError(f"templates missing for {path}: {', '.join(missing)}")
    return rules, renderer


class Rulebook(DependencyProvider):
    def setup(self) -> None:
        self.rules, self.renderer = load_rulebook(self.container.config)

    def get_dependency(self, worker_ctx) -> Rulebook:
        return self
