"""The directory over HTTP: its structure for any staff token; contacts and leaders in full only inside the
token's jurisdictions, masked elsewhere; the internal RPCs (notify's path) keep them in full."""

import re

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.routing.service import RoutingService

COURT = {"roles": ("court",), "jurisdictions": ("620702",), "agency": "620702:court", "sub": "gz-court"}
TAIYUAN = {"roles": ("dispatcher",), "jurisdictions": ("140100",), "agency": "140100:centre", "sub": "ty-centre"}
ADMIN = {"roles": ("admin",), "jurisdictions": ("620702",), "agency": "ops", "sub": "admin"}
MASKED_MOBILE = re.compile(r"^1\d{2}\*{4}\d{4}$")
MASKED_PHONE = re.compile(r"^\d{3}\*+\d{4}$")
MASKED_EMAIL = re.compile(r"^.\*\*\*@[^@]+$")


@pytest.fixture
def routing(start_service):
    return start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)


def departments(routing, auth, query=""):
    response = routing.get(f"/api/v1/directory/departments{query}", auth=auth)
    assert response.status_code == 200, response.text
    return response, {item["unit_id"]: item for item in response.json()["items"]}


def full_units(routing, *unit_ids):
    with ClusterRpcProxy({"AMQP_URI": routing.config["AMQP_URI"]}, timeout=10) as cluster:
        return {unit_id: cluster.routing.lookup_unit(unit_id) for unit_id in unit_ids}, \
            {row["unit_id"]: row for row in cluster.routing.directory("departments")}


def test_a_token_for_620702_sees_taiyuans_departments_masked(routing):
    response, items = departments(routing, COURT)
    full, _ = full_units(routing, "140100:discipline")
    real = full["140100:discipline"]
    discipline = items["140100:discipline"]
    # the structure is all there
    assert discipline["name"] == real["name"] and discipline["jurisdiction"] == "140100"
    assert discipline["key"] == "discipline" and discipline["contacts_masked"] is True
    # contacts: phone and e-mail masked, no openid
    contacts = discipline["contacts"]
    assert "wechat_openid" not in contacts and contacts["inbox_id"] == "140100:discipline"
    assert MASKED_PHONE.match(contacts["phone"]) and contacts["phone"].endswith(real["contacts"]["phone"][-4:])
    assert MASKED_EMAIL.match(contacts["email"])
    # leaders: name, mobile, e-mail masked; the title stays
    assert len(discipline["leaders"]) == len(real["leaders"])
    for shown, leader in zip(discipline["leaders"], real["leaders"], strict=True):
        assert shown["title"] == leader["title"]
        assert shown["name"] != leader["name"] and shown["name"][0] == leader["name"][0] and "*" in shown["name"]
        assert MASKED_MOBILE.match(shown["phone"])
        assert shown["phone"] == leader["phone"][:3] + "****" + leader["phone"][-4:]
        assert MASKED_EMAIL.match(shown["email"])
        assert leader["phone"] not in response.text and leader["email"] not in response.text
    assert real["contacts"]["wechat_openid"] not in response.text
    # every department outside 620702 and the centres above it (Zhangye 620700, Gansu 620000) is
    # masked; those inside, and those it escalates to, are in full
    for unit_id, item in items.items():
        in_chain = item["jurisdiction"].startswith("620702") or item["jurisdiction"] in ("620700", "620000")
        assert item["contacts_masked"] is (not in_chain), unit_id
    inside = [item for item in items.values() if item["jurisdiction"].startswith("620702")]
    assert inside and all(item["contacts"].get("wechat_openid") for item in inside)


def test_a_taiyuan_token_gets_taiyuans_departments_in_full(routing):
    _, items = departments(routing, TAIYUAN, "?jurisdiction=140100")
    full, listed = full_units(routing, "140100:discipline", "140106:hrss")
    assert items["140100:discipline"]["contacts"] == full["140100:discipline"]["contacts"]
    assert items["140100:discipline"]["leaders"] == full["140100:discipline"]["leaders"]
    assert items["140106:hrss"]["contacts_masked"] is False
    assert items["140106:hrss"]["leaders"][0]["phone"] == full["140106:hrss"]["leaders"][0]["phone"]
    assert all(item["jurisdiction"].startswith("1401") and not item["contacts_masked"] for item in items.values())
    # the internal RPC (notify sends with it) keeps every department in full, whoever asks over HTTP
    assert listed["140100:discipline"]["contacts"]["wechat_openid"] == full["140100:discipline"]["contacts"][
        "wechat_openid"]
    assert not any(row["contacts_masked"] for row in listed.values())


def test_the_jurisdiction_filter_still_narrows_for_any_token(routing):
    _, yingze = departments(routing, COURT, "?jurisdiction=140106")
    assert len(yingze) == 18 and all(unit_id.startswith("140106:") for unit_id in yingze)
    assert all(item["contacts_masked"] and "wechat_openid" not in item["contacts"] for item in yingze.values())
    _, ganzhou = departments(routing, COURT, "?jurisdiction=620702")
    assert ganzhou and all(item["jurisdiction"] == "620702" and not item["contacts_masked"]
                           for item in ganzhou.values())
    _, everything = departments(routing, COURT)
    assert set(yingze) < set(everything) and set(ganzhou) < set(everything)


def test_admin_sees_every_department_in_full(routing):
    _, items = departments(routing, ADMIN)
    assert items and not any(item["contacts_masked"] for item in items.values())
    assert items["140100:discipline"]["contacts"]["wechat_openid"]


def test_the_other_kinds_are_structure_for_any_token(routing):
    categories = routing.get("/api/v1/directory/categories", auth=COURT).json()["items"]
    assert {c["code"]: c["lead_department"] for c in categories}["labour"] == "hrss"
    jurisdictions = routing.get("/api/v1/directory/jurisdictions?jurisdiction=140100", auth=COURT).json()["items"]
    assert {"140100", "140106"} <= {j["code"] for j in jurisdictions}
    assert routing.get("/api/v1/directory/departments").status_code == 401
