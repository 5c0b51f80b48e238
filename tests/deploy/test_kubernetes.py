"""deploy/k8s rendered with kustomize and validated against the Kubernetes schemas, offline."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.common.config import load_config
from services.court_bridge.reference import load_reference as load_court_reference
from services.routing.dependencies import load_reference as load_routing_reference
from tests.deploy.environment import read_from_environment, unread

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"
ALL = {"intake", "routing", "mediation", "court-bridge", "notify"}


def kubectl() -> str:
    found = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    if not Path(found).exists():
        pytest.fail("kubectl is needed to render the overlays: run `make tools`")
    return found


def render(overlay: str) -> list[dict]:
    out = subprocess.run([kubectl(), "kustomize", str(ROOT / "deploy/k8s/overlays" / overlay)],
                         check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=["city-central", "agency-court"])
def overlay(request):
    return request.param, render(request.param)


def of_kind(docs, kind):
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_every_manifest_validates_against_the_kubernetes_schemas(overlay):
    name, docs = overlay
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_the_overlays_deploy_what_they_promise():
    city = render("city-central")
    court = render("agency-court")
    assert set(of_kind(city, "Deployment")) == ALL
    assert set(of_kind(court, "Deployment")) == {"court-bridge"}
    assert {d["metadata"]["namespace"] for d in city if d["kind"] != "Namespace"} == {"onestop-city"}
    assert {d["metadata"]["namespace"] for d in court if d["kind"] != "Namespace"} == {"onestop-court"}
    assert of_kind(city, "Deployment")["intake"]["spec"]["replicas"] == 3
    assert of_kind(city, "HorizontalPodAutoscaler")["intake"]["spec"]["maxReplicas"] == 8
    court_env = of_kind(court, "ConfigMap")
    assert any(cm["data"].get("MONGO_DATABASE_PREFIX") == "court" for cm in court_env.values())


def test_each_deployment_is_probed_limited_and_hardened(overlay):
    name, docs = overlay
    deployments = of_kind(docs, "Deployment")
    for deployment_name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        secrets = {env["valueFrom"]["secretKeyRef"]["name"] for env in container["env"] if "valueFrom" in env}
        assert {"onestop-secrets", "onestop-mongo", f"onestop-{deployment_name}-amqp"} <= secrets
        labels = deployment["spec"]["selector"]["matchLabels"]
        for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
            peer = of_kind(docs, kind)[deployment_name]
            selector = peer["spec"].get("selector") or peer["spec"].get("podSelector")
            selector = selector.get("matchLabels", selector)
            assert selector == labels, f"{kind}/{deployment_name} does not select its pods"
        autoscaler = of_kind(docs, "HorizontalPodAutoscaler")[deployment_name]
        assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment_name


def test_secrets_are_referenced_never_embedded(overlay):
    name, docs = overlay
    assert not [doc for doc in docs if doc["kind"] == "Secret"]


def overlay_network(name: str) -> dict:
    """The overlay's network parameters (its kustomize-local ConfigMap onestop-network)."""
    return yaml.safe_load((ROOT / "deploy/k8s/overlays" / name / "network.yaml").read_text())["data"]


def selects(policy: dict, labels: dict) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return all(labels.get(key) == value for key, value in wanted.items())


def egress_of(docs, deployment: dict) -> list[tuple[int, dict]]:
    """Every (port, destination) a deployment's pods may reach, over all policies selecting them."""
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    reachable = []
    for policy in of_kind(docs, "NetworkPolicy").values():
        if "Egress" in policy["spec"]["policyTypes"] and selects(policy, labels):
            for rule in policy["spec"].get("egress", []):
                assert rule.get("to"), f"{policy['metadata']['name']} opens {rule['ports']} to any destination"
                reachable += [(port["port"], peer) for port in rule["ports"] for peer in rule["to"]]
    return reachable


def test_network_policies_deny_by_default_and_open_only_what_must_talk(overlay):
    name, docs = overlay
    network = overlay_network(name)
    policies = of_kind(docs, "NetworkPolicy")
    assert policies["onestop-default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    broker = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": network["broker-namespace"]}},
              "podSelector": {"matchLabels": {"app.kubernetes.io/name": network["broker-pods"]}}}
    database = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": network["database-namespace"]}},
                "podSelector": {"matchLabels": {"app": network["database-pods"]}}}
    dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    external = {"court-bridge": {"ipBlock": {"cidr": network["court-systems-cidr"]}},
                "notify": {"ipBlock": {"cidr": network.get("notify-gateways-cidr")}}}
    for deployment_name, deployment in of_kind(docs, "Deployment").items():
        reachable = egress_of(docs, deployment)
        by_port: dict[int, list[dict]] = {}
        for port, peer in reachable:
            by_port.setdefault(port, []).append(peer)
        assert {53, 5672, 27017} <= set(by_port), f"{deployment_name} cannot reach {by_port}"
        assert by_port[53] == [dns, dns]  # UDP and TCP
        assert by_port[5672] == by_port[5671] == [broker], f"{deployment_name}: RabbitMQ is {by_port[5672]}"
        assert by_port[27017] == [database], f"{deployment_name}: MongoDB is {by_port[27017]}"
        others = {port: peers for port, peers in by_port.items() if port not in (53, 5671, 5672, 27017)}
        if deployment_name in external:
            assert 443 in others and all(peers == [external[deployment_name]] for peers in others.values()), others
        else:
            assert not others, f"{deployment_name} may reach {others}"
    rendered = yaml.safe_dump_all(docs)
    assert "set-by-overlay" not in rendered and "192.0.2.0/32" not in rendered, "a network placeholder is left"


def test_the_overlays_name_their_own_networks():
    city, court = overlay_network("city-central"), overlay_network("agency-court")
    assert court["broker-namespace"] == city["broker-namespace"], "the court connects to the city's RabbitMQ"
    assert court["database-pods"] != city["database-pods"], "the court keeps its own MongoDB"


def container(docs, deployment_name: str) -> dict:
    (found,) = of_kind(docs, "Deployment")[deployment_name]["spec"]["template"]["spec"]["containers"]
    return found


def environment(docs, deployment_name: str) -> dict:
    """The container's environment: ConfigMap values as they are, Secret references as ('secret', name, key)."""
    configmaps = of_kind(docs, "ConfigMap")
    env = {}
    for source in container(docs, deployment_name).get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for entry in container(docs, deployment_name)["env"]:
        if "valueFrom" in entry:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = ("secret", ref["name"], ref["key"])
        else:
            env[entry["name"]] = entry["value"]
    return env


def test_every_variable_a_container_is_given_is_one_onestop_reads(overlay):
    name, docs = overlay
    for deployment_name in of_kind(docs, "Deployment"):
        assert not unread(environment(docs, deployment_name)), f"{name}/{deployment_name} sets unread variables"


def test_routing_reads_its_reference_data_from_its_configmap(tmp_path):
    docs = render("city-central")
    env = environment(docs, "routing")
    [mount] = [m for m in container(docs, "routing")["volumeMounts"] if m["name"] == "reference"]
    [volume] = [v for v in of_kind(docs, "Deployment")["routing"]["spec"]["template"]["spec"]["volumes"]
                if v["name"] == "reference"]
    data = of_kind(docs, "ConfigMap")[volume["configMap"]["name"]]["data"]
    assert mount["readOnly"] is True
    for key, file in (("ROUTING_DIRECTORY_FILE", "directory.yaml"), ("ROUTING_RULES_FILE", "rules.yaml")):
        assert env[key] == f"{mount['mountPath']}/{file}"
        assert data[file] == (ROOT / "services/routing/data" / file).read_text(encoding="utf-8"), (
            f"deploy/k8s/base/routing/reference/{file} is stale: run python deploy/tools/sync_routing_reference.py")
        (tmp_path / file).write_text(data[file], encoding="utf-8")
    reference = load_routing_reference(tmp_path / "directory.yaml", tmp_path / "rules.yaml")
    assert reference is not None


def loaded_config(env: dict, monkeypatch) -> dict:
    for key, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(key, value)
    return load_config()


def test_a_courts_addresses_come_from_its_configmap_and_its_keys_from_a_secret(monkeypatch):
    env = environment(render("agency-court"), "court-bridge")
    assert env["COURT_API_KEYS"] == ("secret", "onestop-court-api-keys", "api-keys")
    monkeypatch.setenv("COURT_API_KEYS", json.dumps({"140106:court": "key-from-the-secret"}))
    reference = load_court_reference(loaded_config(env, monkeypatch))
    court = reference.courts["140106:court"]
    assert court.base_url == "https://susong.court.example.gov.cn/onestop" and court.api_key == "key-from-the-secret"
    assert reference.courts["140105:court"].base_url == env["COURT_DEFAULT_BASE_URL"]


def test_notify_is_given_every_channel_setting_and_its_credentials_from_a_secret(monkeypatch):
    env = environment(render("city-central"), "notify")
    channels = (ROOT / "services/notify/channels.py").read_text()
    configurable = set(re.findall(r"\b((?:SMTP|SMS|WECHAT)_[A-Z_]+)", channels)) & read_from_environment()
    assert configurable >= {"SMTP_HOST", "SMTP_PASSWORD", "SMS_GATEWAY_URL", "SMS_GATEWAY_TOKEN", "WECHAT_GATEWAY_URL"}
    assert configurable <= set(env), f"notify cannot be given {sorted(configurable - set(env))}"
    for key in ("SMTP_USER", "SMTP_PASSWORD", "SMS_GATEWAY_TOKEN", "WECHAT_GATEWAY_TOKEN"):
        assert env[key][:2] == ("secret", "onestop-notify-gateways"), f"{key} must come from a Secret"
    config = loaded_config(env, monkeypatch)
    assert config["SMTP_HOST"] == "smtp.example.gov.cn" and config["SMTP_PORT"] == 587
    assert config["SMS_GATEWAY_URL"].startswith("https://")
