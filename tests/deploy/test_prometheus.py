"""Alert rules and scrape configuration, checked with promtool where it is installed."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/rules/onestop.rules.yml"
RULE_TESTS = ROOT / "deploy/prometheus/rules/onestop.rules.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")


def test_rules_have_the_shape_prometheus_reads():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"]]
    assert len(alerts) >= 8
    for rule in alerts:
        assert rule["alert"].startswith("OneStop") and rule["expr"].strip()
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    tested = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in test.get("alert_rule_test", [])}
    assert tested == {rule["alert"] for rule in alerts}, "every alert needs a promtool unit test"


@needs_promtool
def test_promtool_accepts_the_rules():
    result = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_alert_rules_unit_tests_pass():
    result = subprocess.run([PROMTOOL, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_scrape_configuration(tmp_path):
    config = (ROOT / "deploy/prometheus/prometheus.yml").read_text().replace(
        "/etc/prometheus/rules", str(RULES.parent))
    (tmp_path / "prometheus.yml").write_text(config)
    result = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_operations_doc_says_what_each_alert_means_and_what_to_do():
    doc = (ROOT / "docs/operations.md").read_text()
    table = doc[doc.index("## Alerts: what each means and what to do"):]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| OneStop")}
    alerts = [rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert sorted(rows) == sorted(alerts), "docs/operations.md's alert table and the rules differ"
    for alert, row in rows.items():
        means, do = (cell.strip() for cell in row.split("|")[2:4])
        assert means and do, f"{alert} lacks what it means or what to do"
