"""Steps of the end-to-end scenarios, as the people at a centre take them, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support.infra import wait_for

CENTRE_TZ = ZoneInfo("Asia/Shanghai")

DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140100",), "agency": "140106:centre", "sub": "duty-officer"}
CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140100",), "agency": "140106:centre", "sub": "window-clerk"}
LEADER = {"roles": ("leader",), "jurisdictions": ("140100",), "agency": "140100:centre", "sub": "leader-1"}


def unit_token(unit: str, jurisdiction: str = "140106") -> dict:
    return {"roles": ("department",), "jurisdictions": (jurisdiction,), "agency": unit, "sub": f"clerk@{unit}"}


def register(system, payload: dict) -> dict:
    response = system.post("intake", "/api/v1/cases", payload, auth=CLERK)
    assert response.status_code == 201, response.text
    return response.json()


def routed(system, code: str, **expect) -> dict:
    def current():
        response = system.get("routing", f"/api/v1/routing/cases/{code}", auth=DISPATCHER)
        if response.status_code != 200:
            return None
        view = response.json()
        return view if all(view.get(key) == value for key, value in expect.items()) else None
    return wait_for(current, timeout=30, message=f"routing's view of {code} to show {expect}")


def case_file(system, code: str) -> dict:
    return system.get("intake", f"/api/v1/cases/{code}", auth=DISPATCHER).json()


def file_status(system, code: str, status: str) -> dict:
    return wait_for(lambda: (f := case_file(system, code)).get("status") == status and f, timeout=30,
                    message=f"intake's file of {code} to be {status}")


def notifications(system, code: str) -> list[dict]:
    """Every message of the case in the delivery log, page by page."""
    items: list[dict] = []
    while True:
        response = system.get("notify", f"/api/v1/notifications?case_code={code}&limit=200&offset={len(items)}",
                              auth=DISPATCHER)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


def sent_kinds(system, code: str) -> set[tuple[str, str]]:
    return {(n["kind"], n["channel"]) for n in notifications(system, code) if n["status"] == "sent"}


def wait_sent(system, code: str, *pairs: tuple[str, str]) -> set:
    return wait_for(lambda: set(pairs) <= (kinds := sent_kinds(system, code)) and kinds, timeout=30,
                    message=f"notify to have sent {pairs} for {code}")


def sms_state(system, code: str, kind: str) -> set[str]:
    """SMS to citizens wait for the morning in quiet hours (22:00–08:00): sent or deferred."""
    return {n["status"] for n in notifications(system, code) if n["kind"] == kind and n["channel"] == "sms"}


def local_now() -> datetime:
    """Now at the centre (Asia/Shanghai): sessions are booked in local working hours."""
    return datetime.now(CENTRE_TZ)


def session_now() -> tuple[str, str]:
    """A session that has just begun (attendance can be recorded), on 5-minute marks, within today."""
    now = local_now().replace(second=0, microsecond=0)
    mark = now - timedelta(minutes=now.minute % 5)
    starts = max(mark - timedelta(minutes=5), now.replace(hour=0, minute=0))
    ends = min(mark + timedelta(minutes=30), now.replace(hour=23, minute=55))
    return utc_iso(starts), utc_iso(ends)


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
