import re
from pathlib import Path

import pytest

from services.common.config import (
    DEV_JWT_SECRET,
    DEV_PII_KEY,
    ConfigError,
    check_production_safety,
    load_config,
)


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_environment_values_replace_placeholders(tmp_path, monkeypatch):
    monkeypatch.setenv("AMQP_URI", "amqp://u:p@broker:5672/city")
    monkeypatch.setenv("MAX_WORKERS", "4")
    path = write(tmp_path, "AMQP_URI: ${AMQP_URI:amqp://localhost}\nmax_workers: ${MAX_WORKERS:8}\n")
    config = load_config(path)
    assert config["AMQP_URI"] == "amqp://u:p@broker:5672/city"
    assert config["max_workers"] == 4


def test_defaults_apply_when_the_variable_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("ONESTOP_X", raising=False)
    config = load_config(write(tmp_path, "X: ${ONESTOP_X:fallback}\nL: ${ONESTOP_X:[1, 2]}\n"))
    assert config == {"X": "fallback", "L": [1, 2]}


def test_raw_values_stay_strings(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET", "12345")
    config = load_config(write(tmp_path, "S: !raw_env_var ${SECRET:x}\n"))
    assert config["S"] == "12345"


def test_each_service_gets_its_port_unless_an_address_is_set(tmp_path):
    path = write(tmp_path, "WEB_SERVER_ADDRESS: ''\n")
    assert load_config(path, service="routing")["WEB_SERVER_ADDRESS"] == "0.0.0.0:8002"
    assert load_config(path, service="notify")["WEB_SERVER_ADDRESS"] == "0.0.0.0:8005"
    path = write(tmp_path, "WEB_SERVER_ADDRESS: 127.0.0.1:9000\n")
    assert load_config(path, service="intake")["WEB_SERVER_ADDRESS"] == "127.0.0.1:9000"
    with pytest.raises(ConfigError):
        load_config(path, service="billing")


def test_the_shipped_config_reads_the_documented_variables(monkeypatch):
    monkeypatch.setenv("MONGO_URI", "mongodb://db-0,db-1/?replicaSet=rs0")
    monkeypatch.setenv("ONESTOP_ENV", "prod")
    config = load_config()
    assert config["MONGO_URI"] == "mongodb://db-0,db-1/?replicaSet=rs0"
    assert config["ONESTOP_ENV"] == "prod"
    assert config["HEARTBEAT"] in range(10, 21)


SERVICES = Path(__file__).resolve().parents[2] / "services"
KEY_READ = re.compile(r'(?:setting\([^,()]+, |every\(|config(?:\.get\(|\[))"([A-Z][A-Z0-9_]+)"')


def test_every_key_the_code_reads_can_be_set_from_the_environment():
    """A key read by the code but absent from the shipped file could never be set: the file is
    the only place the environment reaches the configuration."""
    read = {key for source in SERVICES.rglob("*.py") for key in KEY_READ.findall(source.read_text())}
    assert len(read) > 60
    shipped = set(load_config())
    assert sorted(read - shipped - {"SERVICE_NAME"}) == []


def test_settings_from_the_environment_arrive_typed(monkeypatch):
    monkeypatch.setenv("NOTIFY_BATCH", "20")
    monkeypatch.setenv("COURT_RETRY_DELAYS", "[5, 60]")
    monkeypatch.setenv("COURT_COURTS_FILE", "/etc/onestop/courts.yaml")
    monkeypatch.setenv("MAX_BODY_BYTES", "2097152")
    monkeypatch.delenv("COURT_POLL_SECONDS", raising=False)
    config = load_config()
    assert config["NOTIFY_BATCH"] == 20 and config["COURT_RETRY_DELAYS"] == [5, 60]
    assert config["COURT_COURTS_FILE"] == "/etc/onestop/courts.yaml" and config["MAX_BODY_BYTES"] == 2097152
    assert config["COURT_POLL_SECONDS"] in (None, "")  # unset: the code's default


def test_production_refuses_development_and_weak_secrets():
    with pytest.raises(ConfigError) as info:
        check_production_safety({"ONESTOP_ENV": "prod", "ONESTOP_JWT_SECRET": DEV_JWT_SECRET,
                                 "ONESTOP_PII_KEY": "short"})
    assert "ONESTOP_JWT_SECRET is the development default" in str(info.value)
    assert "ONESTOP_PII_KEY is shorter" in str(info.value)
    check_production_safety({"ONESTOP_ENV": "dev", "ONESTOP_JWT_SECRET": DEV_JWT_SECRET,
                             "ONESTOP_PII_KEY": DEV_PII_KEY})
    check_production_safety({"ONESTOP_ENV": "prod", "ONESTOP_JWT_SECRET": "j" * 40,
                             "ONESTOP_PII_KEY": "k" * 40})
