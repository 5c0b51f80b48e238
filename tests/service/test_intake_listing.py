"""Staff views: the scoped, filtered, paged case list and the case file; every query on an index."""

from datetime import UTC, datetime

import pytest
from nameko.testing.utils import get_extension
from pymongo import monitoring

from services.intake.dependencies import IntakeClock
from services.intake.schemas import CaseFileSchema, CaseListSchema
from services.intake.service import IntakeService
from tests.support.infra import wait_for
from tests.support.intake_samples import CITY_DISPATCHER, CLERK, case_payload, every_channel, neighbour_dispute

TOWNSHIP = {"roles": ("dispatcher",), "jurisdictions": ("140106001",)}
XIAODIAN = {"roles": ("intake_clerk",), "jurisdictions": ("140105",)}
DAY_1 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)    # 2 November, local morning
DAY_2 = datetime(2026, 11, 3, 17, 0, tzinfo=UTC)   # 4 November 01:00 local


@pytest.fixture
def intake(start_service):
    intake = start_service(IntakeService)
    clock = get_extension(intake.container, IntakeClock)
    clock.frozen_at = DAY_1
    for channel, payload in every_channel().items():   # 8 neighbour cases in 140106001002
        assert intake.post("/api/v1/cases", payload, auth=CLERK).status_code == 201, channel
    clock.frozen_at = DAY_2
    intake.post("/api/v1/cases", case_payload(), auth=CLERK)                      # labour, 140106
    intake.post("/api/v1/cases", neighbour_dispute(50, jurisdiction="140105", channel="walk_in"), auth=XIAODIAN)
    intake.post("/api/v1/cases", case_payload(channel="grid_report", grid="g-1", jurisdiction="140106001002",
                                              parties=[case_payload()["parties"][0]]), auth=CLERK)  # merged
    return intake


def listing(intake, auth, query=""):
    response = intake.get(f"/api/v1/cases{query}", auth=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert CaseListSchema().validate(body) == {}
    return body


def codes(body):
    return {item["case_code"] for item in body["items"]}


def test_each_caller_sees_only_their_jurisdictions(intake):
    assert listing(intake, CITY_DISPATCHER)["total"] == 11
    county = listing(intake, CLERK, "?page_size=100")
    assert county["total"] == 10 and all(item["jurisdiction"].startswith("140106") for item in county["items"])
    township = listing(intake, TOWNSHIP, "?page_size=100")
    assert township["total"] == 9 and all(item["jurisdiction"].startswith("140106001") for item in township["items"])
    assert listing(intake, XIAODIAN)["total"] == 1


FILTERS = [
    ("?status=merged", 1), ("?status=registered", 10), ("?category=labour", 2), ("?category=neighbour", 9),
    ("?channel=police_110", 1), ("?channel=grid_report", 2), ("?jurisdiction=140106001002", 9),
    ("?jurisdiction=140105", 1), ("?jurisdiction=140106&category=labour&status=registered", 1),
    ("?from=2026-11-03", 3), ("?to=2026-11-02", 8), ("?from=2026-11-02&to=2026-11-02", 8),
    ("?from=2026-11-04&to=2026-11-04", 3), ("?from=2026-11-05", 0),
]


def test_filters(intake):
    for query, total in FILTERS:
        body = listing(intake, CITY_DISPATCHER, query + "&page_size=100" if query else "?page_size=100")
        assert body["total"] == len(body["items"]) == total, query


def test_paging_is_stable_and_newest_first(intake):
    pages = [listing(intake, CITY_DISPATCHER, f"?page_size=4&page={page}") for page in (1, 2, 3, 4)]
    assert [len(page["items"]) for page in pages] == [4, 4, 3, 0]
    seen = [item["case_code"] for page in pages for item in page["items"]]
    assert len(set(seen)) == 11
    stamps = [item["registered_at"] for page in pages for item in page["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert pages[0]["page_size"] == 4 and pages[0]["total"] == 11
    item = pages[0]["items"][0]
    assert "parties" not in item and "description" not in item


def test_bad_listing_queries_are_refused(intake):
    for query in ("?page_size=101", "?page=0", "?status=lost", "?category=pets", "?channel=fax",
                  "?from=2026-11-05&to=2026-11-01", "?from=yesterday", "?jurisdiction=1401", "?sort=code"):
        response = intake.get(f"/api/v1/cases{query}", auth=CLERK)
        assert response.status_code == 400 and response.json()["error"] == "validation_failed", query
    outside = intake.get("/api/v1/cases?jurisdiction=620102", auth=CLERK)
    assert outside.status_code == 403 and outside.json()["error"] == "jurisdiction_forbidden"
    assert intake.get("/api/v1/cases").status_code == 401
    assert intake.get("/api/v1/cases", auth={"roles": ("intake_clerk",), "jurisdictions": ("620102",)}).json()[
        "total"] == 0


def test_the_case_file_for_staff_in_scope(intake):
    code = listing(intake, CLERK, "?channel=police_110")["items"][0]["case_code"]
    file = intake.get(f"/api/v1/cases/{code}", auth=TOWNSHIP)
    assert file.status_code == 200 and CaseFileSchema().validate(file.json()) == {}
    assert file.json()["parties"][0]["name"] == "甲15"
    assert intake.get(f"/api/v1/cases/{code.replace('-', '').lower()}", auth=CLERK).status_code == 200
    hidden = intake.get(f"/api/v1/cases/{code}", auth=XIAODIAN)
    assert hidden.status_code == 404 and code in hidden.json()["message"]
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    mistyped = intake.get(f"/api/v1/cases/{typo}", auth=CLERK)
    assert mistyped.status_code == 400 and mistyped.json()["error"] == "invalid_case_code"
    assert mistyped.json()["fields"] == {"code": ["the check character does not match: the code is mistyped"]}
    assert intake.get("/api/v1/cases/not-a-code", auth=CLERK).json()["error"] == "invalid_case_code"


class FindRecorder(monitoring.CommandListener):
    """Records the finds the service sends to one database, to explain them afterwards."""

    def __init__(self):
        self.database = None
        self.finds = []

    def started(self, event):
        if event.database_name == self.database and event.command_name == "find":
            self.finds.append({key: event.command[key] for key in ("find", "filter", "sort", "hint", "projection")
                               if key in event.command})

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


RECORDER = FindRecorder()
monitoring.register(RECORDER)  # only clients created from now on report; it records one database


def test_every_query_path_uses_an_index(start_service):
    intake = start_service(IntakeService, INTAKE_CLOSING_SWEEP_SECONDS=0.2)
    RECORDER.database, RECORDER.finds = intake.db.name, []
    try:
        first = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()            # candidates
        intake.post("/api/v1/cases", case_payload(channel="grid_report", grid="g"), auth=CLERK)   # merge
        intake.post("/api/v1/cases", every_channel()["police_110"], auth=CLERK)
        intake.post("/api/v1/cases", every_channel()["police_110"], auth=CLERK)             # channel_key
        for query in ("", "?status=merged", "?category=labour", "?channel=walk_in&from=2026-01-01",
                      "?jurisdiction=140106&to=2030-01-01"):
            assert intake.get(f"/api/v1/cases{query}", auth=CLERK).status_code == 200
        intake.get(f"/api/v1/cases/{first['case_code']}", auth=CLERK)
        intake.get(f"/api/v1/public/progress/{first['case_code']}?phone_tail=5678")
        wait_for(lambda: any("close_due_at" in str(find.get("filter")) for find in RECORDER.finds),
                 message="the closing sweep to query")
    finally:
        RECORDER.database = None
    cases = [find for find in RECORDER.finds if find["find"] == "cases"]
    shapes = {str(sorted(find["filter"])) for find in cases}
    assert len(cases) >= 12 and len(shapes) >= 4, shapes
    for find in cases:
        plan = str(intake.db.command("explain", find)["queryPlanner"]["winningPlan"])
        assert "IXSCAN" in plan and "COLLSCAN" not in plan, (find, plan)
