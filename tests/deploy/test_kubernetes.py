"""deploy/k8s rendered with kustomize and validated against the Kubernetes schemas, offline."""

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

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


def test_network_policies_deny_by_default_and_open_only_what_must_talk(overlay):
    name, docs = overlay
    policies = of_kind(docs, "NetworkPolicy")
    assert policies["onestop-default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for policy_name, policy in policies.items():
        if policy_name == "onestop-default-deny":
            continue
        ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
        assert {53, 5672, 27017} <= ports
        if policy_name == "court-bridge":
            assert 443 in ports
        elif policy_name != "notify":
            assert ports <= {53, 5671, 5672, 27017}, f"{policy_name} may reach {ports}"
