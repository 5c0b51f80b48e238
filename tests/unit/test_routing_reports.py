"""KPIs, the heat map, periods and the command board, on hand-built cases."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.routing.dependencies import DEFAULT_DIRECTORY, DEFAULT_RULES, load_reference
from services.routing.domain.reports import board, heatmap, kpis, period_window

REF = load_reference(DEFAULT_DIRECTORY, DEFAULT_RULES)
CST = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def case(code="140106", category="labour", outcome=None, hours=None, returns=0, court=False, mediation=None,
         filed=False, score=None, responded=None, resolve_on_time=None, state=None, colour="none"):
    clocks = []
    if responded is not None:
        clocks.append({"id": "first_contact", "name": "first_contact", "status": "met", "on_time": responded})
    if resolve_on_time is not None:
        clocks.append({"id": "resolve", "name": "resolve", "status": "met", "on_time": resolve_on_time})
    return {"jurisdiction": code, "category": category, "registered_at": T0, "outcome": outcome,
            "ended_at": T0 + timedelta(hours=hours) if hours is not None else None, "returns": returns,
            "court_referred": court, "mediation_outcome": mediation, "filed": {"docket_number": "x"} if filed else None,
            "rating": {"score": score} if score else None, "clocks": clocks, "state": state or "ended",
            "colour": colour}


def test_every_kpi_by_its_definition():
    cases = [
        case(outcome="resolved", hours=10, responded=True, resolve_on_time=True, score=5),
        case(outcome="agreement", hours=30, responded=True, resolve_on_time=False, court=True, mediation="agreement",
             score=4),
        case(outcome="filed", hours=50, responded=False, court=True, mediation="failed", filed=True, score=2,
             resolve_on_time=True),
        case(court=True, returns=2, state="assigned"),
        case(state="merged", outcome="merged"),  # a duplicate: not counted at all
    ]
    result = kpis(cases, population=668_000)
    assert result["registered"] == 4 and result["resolved"] == 2
    assert result["resolution_rate"] == 0.5
    assert result["average_handling_hours"] == 20.0
    assert result["on_time_rate"] == round(2 / 3, 4)
    assert result["response_rate"] == 0.5
    assert result["return_rate"] == 0.25
    assert result["presuit_success_rate"] == 0.5  # one agreement of two court-referred cases that ended
    assert result["litigation_per_10k"] == round(1 / 668_000 * 10_000, 4)
    assert result["satisfaction"] == round(11 / 3, 2) and result["satisfied_rate"] == round(2 / 3, 4)


def test_kpis_of_nothing_are_empty_not_errors():
    result = kpis([], population=None)
    assert result["registered"] == 0 and result["resolution_rate"] is None
    assert result["litigation_per_10k"] is None and result["satisfaction"] is None


def test_periods_are_local_days_iso_weeks_and_months():
    day = date(2026, 11, 25)  # a Wednesday
    assert period_window("day", day, CST) == (datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
                                              datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    start, end = period_window("week", day, CST)
    assert start.astimezone(CST).date() == date(2026, 11, 23) and end - start == timedelta(days=7)
    start, end = period_window("month", date(2026, 12, 31), CST)
    assert start.astimezone(CST).date() == date(2026, 12, 1) and end.astimezone(CST).date() == date(2027, 1, 1)


def test_heatmap_by_area_below_the_scope_and_category():
    cases = [case("140106"), case("140105001"), case("140105", "family"), case("140105", "family"),
             case("140106001001", state="merged")]
    city = heatmap(cases, "140100", REF.directory)
    cells = {(c["jurisdiction"], c["category"]): c for c in city["cells"]}
    assert cells[("140105", "family")]["count"] == 2 and cells[("140105", "family")]["name"] == "小店区"
    assert cells[("140105", "family")]["per_10k"] == round(2 / 1_357_246 * 10_000, 4)
    assert cells[("140105", "labour")]["count"] == 1 and city["total"] == 4
    assert city["categories"] == {"family": 2, "labour": 2}
    county = heatmap(cases, "140106", REF.directory)
    assert [(a["jurisdiction"], a["name"]) for a in county["areas"]] == [("140106", "迎泽区（未细分）")]


def test_board_groups_open_cases_and_lists_the_overdue_and_the_summons():
    now = T0 + timedelta(hours=2)
    late_clock = {"id": "first_contact", "name": "first_contact", "status": "running",
                  "deadline": T0 + timedelta(minutes=30)}
    open_cases = [
        {"case_code": "A", "colour": "red", "level": "county", "unit": "140106:centre", "tier": "complex",
         "triage": False, "rule": {"reason": "r"}, "registered_at": T0, "clocks": [late_clock],
         "tags": ["key_project"]},
        {"case_code": "B", "colour": "none", "level": "county", "unit": "140106:centre", "tier": "simple",
         "triage": True, "rule": {"reason": "分流"}, "registered_at": T0, "clocks": []},
    ]
    summons = [{"summons_id": "s1", "case_code": "A", "department": "140106:hrss", "on_site": True,
                "report_by": T0 + timedelta(minutes=10)}]
    result = board(open_cases, summons, now, REF.directory)
    assert result["open"]["total"] == 2 and result["open"]["by_colour"] == {"none": 1, "blue": 0, "yellow": 0,
                                                                            "red": 1}
    assert result["open"]["by_unit"][0]["name"] == "迎泽区社会治安综合治理中心"
    assert result["overdue"][0]["case_code"] == "A" and result["overdue"][0]["overdue_minutes"] == 90
    assert [t["case_code"] for t in result["triage"]] == ["B"]
    assert result["summons_outstanding"][0]["late"] is True
