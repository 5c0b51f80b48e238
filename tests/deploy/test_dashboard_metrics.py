"""Every metric the Grafana dashboard and the alert rules use is one a running service really
exports: checked against live /metrics scrapes of all five services."""

import json
import re
from pathlib import Path

import yaml

from services.court_bridge.service import CourtBridgeService
from services.intake.service import IntakeService
from services.mediation.service import MediationService
from services.notify.service import NotifyService
from services.routing.service import RoutingService

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\bonestop_[a-z0-9_]+")
SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def used_in_dashboard() -> set[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/onestop.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    return {name for expr in exprs for name in METRIC.findall(expr)}


def used_in_alerts() -> set[str]:
    groups = yaml.safe_load((ROOT / "deploy/prometheus/rules/onestop.rules.yml").read_text())["groups"]
    return {name for group in groups for rule in group["rules"] for name in METRIC.findall(rule["expr"])}




def scrape_names(running) -> set[str]:
    names = set()
    for line in running.get("/metrics").text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            sample = re.split(r"[{ ]", line, maxsplit=1)[0]
            names.add(sample)
            for suffix in SUFFIXES:
                if sample.endswith(suffix):
                    names.add(sample[: -len(suffix)])
    return names


def unexported(used: set[str], exported: set[str]) -> list[str]:
    def known(name: str) -> bool:
        return name in exported or any(name.endswith(suffix) and name[: -len(suffix)] in exported
                                       for suffix in SUFFIXES)
    return sorted(name for name in used if not known(name))


def test_the_dashboard_and_the_alerts_use_only_exported_metrics(start_service):
    exported = set()
    for service_cls in (IntakeService, RoutingService, MediationService, CourtBridgeService, NotifyService):
        exported |= scrape_names(start_service(service_cls))
    assert used_in_dashboard(), "the dashboard has no queries"
    missing_dashboard = unexported(used_in_dashboard(), exported)
    missing_alerts = unexported(used_in_alerts(), exported)
    assert not missing_dashboard, f"the dashboard queries metrics nobody exports: {missing_dashboard}"
    assert not missing_alerts, f"alert rules watch metrics nobody exports: {missing_alerts}"
