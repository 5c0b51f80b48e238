"""Every metric the Grafana dashboard and the alert rules use is one a running service really
exports, and every label they rely on (matchers, `by`/`on` lists, legends, annotations) is one
that metric carries: checked against live /metrics scrapes of all five services, and against
RabbitMQ's exporter scraped as deploy/prometheus/prometheus.yml scrapes it."""

import json
import re
from pathlib import Path

import pytest
import requests
import yaml
from kombu import Connection, Queue
from nameko.testing.utils import get_extension

from services.common.metrics import ServiceMetrics
from services.court_bridge.service import CourtBridgeService
from services.intake.service import IntakeService
from services.mediation.service import MediationService
from services.notify.service import NotifyService
from services.routing.service import RoutingService
from tests.deploy import promql

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = ("_bucket", "_sum", "_count", "_created")
RABBITMQ_EXPORTER = "http://127.0.0.1:15692"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")


def dashboard_usages() -> list[tuple[str, promql.Usage]]:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/onestop.json").read_text())
    return [(f"panel {panel['title']!r}", promql.read(target["expr"],
                                                     promql.printed_labels(target.get("legendFormat", ""))))
            for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_usages() -> list[tuple[str, promql.Usage]]:
    groups = yaml.safe_load((ROOT / "deploy/prometheus/rules/onestop.rules.yml").read_text())["groups"]
    return [(f"alert {rule['alert']}", promql.read(rule["expr"], promql.printed_labels(*rule["annotations"].values())))
            for group in groups for rule in group["rules"]]


def scrape_jobs() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    return {job["job_name"]: job for job in config["scrape_configs"]}


def target_labels(job_name: str) -> set[str]:
    """The labels Prometheus adds to every series of a job's targets."""
    job = scrape_jobs()[job_name]
    return {"job", "instance"} | {name for static in job["static_configs"] for name in static.get("labels", {})}


def parse_scrape(text: str) -> dict[str, set[str]]:
    """metric name -> the label names its samples carry (histogram parts also under their base name)."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            found.setdefault(line.split()[2], set())
            continue
        match = SAMPLE.match(line)
        if not match or line.startswith("#"):
            continue
        name, labels = match.group(1), set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(2) or ""))
        found.setdefault(name, set()).update(labels)
        for suffix in SUFFIXES:
            if name.endswith(suffix):
                found.setdefault(name[: -len(suffix)], set()).update(labels - {"le"})
    return found


def declared_labels(running) -> dict[str, set[str]]:
    """The label names the running container's registry declares for each metric: a labelled
    metric with no series yet shows its name on /metrics but none of its labels."""
    registry = get_extension(running.container, ServiceMetrics).registry
    declared = {}
    for collector, names in registry._collector_to_names.items():
        for name in names:
            declared[name] = set(getattr(collector, "_labelnames", ()))
    return declared


def exported_onestop(start_service) -> dict[str, set[str]]:
    exported: dict[str, set[str]] = {}
    for service_cls in (IntakeService, RoutingService, MediationService, CourtBridgeService, NotifyService):
        running = start_service(service_cls)
        for source in (parse_scrape(running.get("/metrics").text), declared_labels(running)):
            for name, labels in source.items():
                exported.setdefault(name, set()).update(labels)
    for name in list(exported):
        if name.startswith("onestop_"):
            exported[name] |= target_labels("onestop")
    exported["up"] = target_labels("onestop")  # Prometheus's own, per target
    return exported


def carries(exported: dict[str, set[str]], metric: str) -> set[str] | None:
    if metric in exported:
        return exported[metric] | ({"le"} if metric.endswith("_bucket") else set())
    for suffix in SUFFIXES:
        if metric.endswith(suffix) and metric[: -len(suffix)] in exported:
            return exported[metric[: -len(suffix)]] | ({"le"} if suffix == "_bucket" else set())
    return None


def problems(usages, exported: dict[str, set[str]], prefix: str) -> list[str]:
    found = []
    for where, usage in usages:
        mine = {metric for metric in usage.metrics if metric.startswith(prefix) or metric == "up" == prefix}
        found += [f"{where}: {metric} is exported by nobody" for metric in sorted(mine)
                  if carries(exported, metric) is None]
        for label, metrics, role in usage.labels:
            relevant = {metric for metric in metrics if metric in mine and carries(exported, metric) is not None}
            if not relevant or label in usage.made:
                continue
            if not any(label in carries(exported, metric) for metric in relevant):
                found.append(f"{where}: label {label!r} ({role}) is on none of {sorted(relevant)}")
    return found


def test_the_dashboard_and_the_alerts_read_only_what_the_services_export(start_service):
    exported = exported_onestop(start_service)
    usages = dashboard_usages() + alert_usages()
    assert any(usage.metrics for _, usage in dashboard_usages()), "the dashboard has no queries"
    assert not problems(usages, exported, "onestop_") + problems(usages, exported, "up")


def test_the_label_check_catches_a_wrong_label():
    exported = {"onestop_mediation_outcomes_total": {"outcome", "category"}}
    wrong = [("panel", promql.read("sum by (type) (increase(onestop_mediation_outcomes_total[1d]))"))]
    right = [("panel", promql.read("sum by (outcome) (increase(onestop_mediation_outcomes_total[1d]))",
                                   promql.printed_labels("{{outcome}}")))]
    assert problems(wrong, exported, "onestop_") == [
        "panel: label 'type' (by ()) is on none of ['onestop_mediation_outcomes_total']"]
    assert problems(right, exported, "onestop_") == []


def exporter_available() -> bool:
    try:
        return requests.get(f"{RABBITMQ_EXPORTER}/metrics", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.skipif(not exporter_available(), reason="rabbitmq_prometheus is not enabled on the local RabbitMQ "
                                                     "(rabbitmq-plugins enable rabbitmq_prometheus)")
def test_the_rabbitmq_metrics_used_are_on_rabbitmqs_exporter_as_prometheus_scrapes_it(amqp_uri):
    vhost = amqp_uri.rsplit("/", 1)[1]
    with Connection(amqp_uri) as connection:  # one OneStop-like queue, so its series exist
        Queue("evt-intake-case_registered--routing.handle_case_registered", durable=True).bind(
            connection.channel()).declare()
    job = scrape_jobs()["rabbitmq"]
    params = {**job["params"], "vhost": [vhost]}  # this test's vhost in place of onestop
    scraped = requests.get(f"{RABBITMQ_EXPORTER}{job['metrics_path']}", params=params, timeout=10)
    scraped.raise_for_status()
    exported = {name: labels | target_labels("rabbitmq") for name, labels in parse_scrape(scraped.text).items()}
    usages = dashboard_usages() + alert_usages()
    assert any(metric.startswith("rabbitmq_") for _, usage in usages for metric in usage.metrics)
    assert not problems(usages, exported, "rabbitmq_")
