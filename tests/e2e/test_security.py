"""Every protected route of every service, tried with no token, a forged token, an expired
token, the wrong role and the wrong jurisdiction: each is refused, nothing changes, and the
services' refusal counters move by exactly the number of refusals."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import requests

from services.common.auth import ROLES, mint_token
from services.common.config import DEV_JWT_SECRET, SERVICE_PORTS
from tests.support.infra import wait_for
from tests.support.samples import distinct_case
from tests.support.scenarios import CLERK, case_file, register, routed

PARAM = re.compile(r"{([a-z_]+)}")
LANZHOU = "620102"  # a jurisdiction that covers nothing of Taiyuan


def protected_operations(system) -> list[tuple[str, str, str, list[str]]]:
    found = []
    for service in SERVICE_PORTS:
        document = system.get(service, "/api/v1/openapi.json").json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if operation.get("security"):
                    found.append((service, method.upper(), path, operation.get("x-onestop-roles", [])))
    return found


def concrete(path: str, code: str) -> str:
    """Path parameters filled in: the case under test for codes, an unknown id otherwise."""
    return PARAM.sub(lambda m: code if m.group(1) == "code" else f"unknown-{m.group(1)}", path)


def call(system, service: str, method: str, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return system.request(service, method, path, None if method == "GET" else {}, headers=headers)


def refusals(system) -> float:
    return sum(system.metric(service, "onestop_auth_refusals_total") for service in SERVICE_PORTS)


def token(roles, jurisdictions=("140100",), **kwargs) -> str:
    return mint_token(DEV_JWT_SECRET, sub="intruder", roles=roles, jurisdictions=jurisdictions,
                      agency="somewhere", **kwargs)


@pytest.fixture(scope="module")
def target(system) -> str:
    """A simple case of 迎泽区 that every attempt is aimed at, once its file has settled."""
    code = register(system, distinct_case(
        7001, category="neighbour", people_involved=1, amount=None, summary="楼道堆放杂物影响通行",
        description="来电反映邻居长期在楼道堆放杂物，影响通行和消防安全。"))["case_code"]
    routed(system, code, tier="simple")
    wait_for(lambda: any(entry["kind"] == "routing.case_assigned" for entry in case_file(system, code)["timeline"]),
             timeout=30, message="intake's file to show the assignment")
    return code


def test_every_protected_route_refuses_missing_forged_expired_and_wrong_role_tokens(system, target):
    operations = protected_operations(system)
    assert len(operations) >= 40, "the OpenAPI documents list the routes"
    before_file, before_route = case_file(system, target), routed(system, target)
    before = refusals(system)
    forged = mint_token("not-the-secret-" * 3, sub="x", roles=["admin"], jurisdictions=["140100"], agency="x")
    expired = token(["admin"], ttl_seconds=-60)
    outcomes: Counter = Counter()
    wrong: list[str] = []
    for service, method, path, roles in operations:
        url = concrete(path, target)
        attempts = [("token_missing", None, 401), ("token_invalid", forged, 401), ("token_expired", expired, 401)]
        others = sorted(set(ROLES) - set(roles) - {"admin"}) if roles else []
        if others:
            attempts.append(("role_forbidden", token([others[0]]), 403))
        for reason, bearer, status in attempts:
            answer = call(system, service, method, url, bearer)
            outcomes[reason] += 1
            if answer.status_code != status or answer.json().get("error") != reason:
                wrong.append(f"{service} {method} {url} {reason}: {answer.status_code} {answer.text[:120]}")
    assert not wrong, "\n".join(wrong)
    attempted = sum(outcomes.values())
    assert refusals(system) - before == attempted, outcomes
    assert case_file(system, target)["timeline"] == before_file["timeline"]
    assert routed(system, target)["history"] == before_route["history"]


def test_the_wrong_jurisdiction_sees_nothing_and_changes_nothing(system, target):
    before_file, before_route = case_file(system, target), routed(system, target)
    leaked, changed = [], []
    for service, method, path, roles in protected_operations(system):
        role = roles[0] if roles else "dispatcher"
        answer = call(system, service, method, concrete(path, target), token([role], jurisdictions=(LANZHOU,)))
        if answer.status_code < 300 and target in answer.text:
            leaked.append(f"{service} {method} {path}: {answer.status_code}")
        if method != "GET" and answer.status_code < 300:
            changed.append(f"{service} {method} {path}: {answer.status_code}")
    assert not leaked, leaked
    assert not changed, changed
    assert case_file(system, target)["timeline"] == before_file["timeline"]
    assert routed(system, target)["history"] == before_route["history"]
    # and the writes a Lanzhou clerk could try on a Taiyuan case are refused by name
    answer = system.post("intake", "/api/v1/cases", distinct_case(7002),
                         auth={**CLERK, "jurisdictions": (LANZHOU,)})
    assert answer.status_code == 403 and answer.json()["error"] == "jurisdiction_forbidden"
    answer = system.post("routing", f"/api/v1/routing/cases/{target}/accept", {},
                         auth={"roles": ("dispatcher",), "jurisdictions": (LANZHOU,)})
    assert answer.status_code in (403, 404), answer.text


FUZZ_EXAMPLES = 25  # per POST route: every service's routes in about a minute
READ_FUZZ_EXAMPLES = 15  # per GET route: query strings and path parameters


def operations_of(system, methods: tuple[str, ...]):
    import schemathesis

    for service in SERVICE_PORTS:
        schema = schemathesis.openapi.from_dict(system.get(service, "/api/v1/openapi.json").json())
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.method.upper() in methods:
                yield service, operation


def post_operations(system):
    return operations_of(system, ("POST", "PUT", "PATCH"))


def test_fuzzing_every_post_route_gives_no_5xx_and_a_rejected_request_stores_nothing(system, target):
    from hypothesis import strategies as st
    from pymongo import MongoClient
    from schemathesis import GenerationMode

    answers: dict[str, int] = {}
    failures: list[str] = []
    operations = list(post_operations(system))
    assert len(operations) >= 20

    for service, operation in operations:
        params = {name: target for name in ("code",) if "{code}" in operation.path}
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=params),
                             operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=params))
        fuzz_operation(system, service, strategy, answers, failures)

    assert not failures, "\n".join(failures[:20])
    store = MongoClient(f"mongodb://127.0.0.1:{system.env['ONESTOP_STORE_PORT']}/?directConnection=true")
    wrote = {doc["actor"]["sub"] for service in SERVICE_PORTS
             for doc in store[f"onestop_{service}"].audit_log.find({"actor.sub": {"$regex": "^fuzz-"}},
                                                                  {"actor.sub": 1})}
    rejected = {sub for sub, status in answers.items() if status >= 400}
    assert not wrote & rejected, f"rejected requests that wrote: {sorted(wrote & rejected)[:10]}"
    assert len(answers) >= len(operations) * FUZZ_EXAMPLES
    print(f"fuzzed {len(operations)} POST routes with {len(answers)} requests: "
          f"{dict(Counter(status for status in answers.values()))}")


def test_fuzzing_every_get_route_gives_no_5xx(system, target):
    """Listings, boards, reports and files with generated query strings and path parameters (a
    real case code, and generated ones): every answer is a JSON answer or a JSON error."""
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    answers: dict[str, int] = {}
    failures: list[str] = []
    operations = [(service, operation) for service, operation in operations_of(system, ("GET",))
                  if not operation.path.startswith(("/metrics", "/healthz", "/readyz"))]
    assert len(operations) >= 15
    for service, operation in operations:
        params = {name: target for name in ("code",) if "{code}" in operation.path}
        strategies = [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=params),
                      operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=params),
                      operation.as_strategy(GenerationMode.NEGATIVE)]
        before = len(answers)
        fuzz_operation(system, service, st.one_of(strategies), answers, failures, examples=READ_FUZZ_EXAMPLES)
        assert len(answers) > before, f"{service} {operation.path} was never called"
    assert not failures, "\n".join(failures[:20])
    print(f"fuzzed {len(operations)} GET routes with {len(answers)} requests: "
          f"{dict(Counter(status for status in answers.values()))}")


def fuzz_operation(system, service: str, strategy, answers: dict, failures: list,
                   examples: int = FUZZ_EXAMPLES) -> None:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def fuzz(case):
        sub = f"fuzz-{len(answers)}"
        headers = {"Authorization": "Bearer " + mint_token(
            DEV_JWT_SECRET, sub=sub, roles=["admin"], jurisdictions=["140100"], agency="fuzz")}
        request = case.as_transport_kwargs(base_url=system.url(service, ""))
        request["headers"] = {**(request.get("headers") or {}), **headers}  # generated auth headers give way
        request.pop("verify", None)
        answer = requests.request(**{**request, "timeout": 30})
        answers[sub] = answer.status_code
        if answer.status_code >= 500:
            failures.append(f"{service} {case.method} {case.formatted_path} {case.query!r:.200} "
                            f"{case.body!r:.300} → "
                            f"{answer.status_code} {answer.text[:200]}")

    fuzz()


# Not inside a hex id, a float (a metric's 0.0104671910012257) or a masked number (138****5678).
MOBILE = re.compile(r"(?<![0-9A-Za-z_.*])1[3-9]\d{9}(?![0-9A-Za-z_.*])")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z_.*])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
                       r"[\dXx](?![0-9A-Za-z_.*])")


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_no_id_number_or_full_phone_number_in_logs_events_or_metrics(system):
    """After every scenario and the fuzzing: the services' output, every event that crossed the
    bus and every /metrics page are grepped for mainland ID numbers and mobile numbers."""
    import json

    from tests.e2e.conftest import BUS_TAP
    from tests.support.broker import drain

    events = []
    while batch := drain(system.env["AMQP_URI"], BUS_TAP, limit=1000):
        events += [message.body if isinstance(message.body, str) else message.body.decode() for message in batch]
    assert len(events) > 100, "the scenarios' events crossed the bus"
    # every text value of every event (numbers such as amounts are not phone numbers)
    places = {"the services' logs": system.logs(),
              "events on the bus": "\n".join(text for body in events for text in strings(json.loads(body)))}
    for service in SERVICE_PORTS:
        places[f"{service} /metrics"] = system.get(service, "/metrics").text
    found = {place: sorted(set(MOBILE.findall(text)) | set(ID_NUMBER.findall(text)))[:5]
             for place, text in places.items()}
    assert not any(found.values()), found
    assert all(json.loads(body)["data"] is not None for body in events[:50])
