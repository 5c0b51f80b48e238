"""De-duplication: when a report joins an earlier file, when it is a repeat visit, and history."""

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.dedup import Candidate, Report, decide, parse_dedup
from services.intake.domain.parties import match_keys, normalise_phone, phone_tail
from services.intake.domain.rules import RulesError
from services.intake.rulebook import DATA_DIR, read_yaml

POLICY = parse_dedup(read_yaml(DATA_DIR / "dedup.yaml"))
LOOKBACK = timedelta(days=365)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
WANG = frozenset({"i:wang", "p:wang"})


def earlier(code="A", *, days_ago=1, status="registered", category="labour", jurisdiction="140106",
            channels=("walk_in",), keys=WANG, applicants=WANG):
    return Candidate(case_id=code, case_code=code, status=status, category=category, jurisdiction=jurisdiction,
                     channels=tuple(channels), registered_at=NOW - timedelta(days=days_ago),
                     person_keys=frozenset(keys), applicant_keys=frozenset(applicants))


def report(channel="grid_report", *, category="labour", jurisdiction="140106001001", keys=WANG, applicants=WANG):
    return Report(channel=channel, category=category, jurisdiction=jurisdiction, at=NOW,
                  person_keys=frozenset(keys), applicant_keys=frozenset(applicants))


def test_the_same_dispute_from_another_inlet_merges_into_the_earliest_open_file():
    files = [earlier("B", days_ago=2), earlier("A", days_ago=5)]
    decision = decide(report(), files, POLICY, LOOKBACK)
    assert decision.merge_into.case_code == "A" and decision.repeat_of is None


def test_a_file_committed_first_but_stamped_a_moment_later_still_counts():
    # two replicas: the file's transaction read the clock after this report's did
    file = earlier(days_ago=-0.0001)
    decision = decide(report(), [file], POLICY, LOOKBACK)
    assert decision.merge_into is file


def test_one_shared_phone_is_enough():
    decision = decide(report(keys={"p:wang"}, applicants={"p:wang"}), [earlier()], POLICY, LOOKBACK)
    assert decision.merge_into is not None


@pytest.mark.parametrize("candidate", [
    earlier(days_ago=31),                      # outside the 30-day window
    earlier(status="resolved"),                # the file is no longer open
    earlier(status="merged"),
    earlier(category="family"),                # another matter
    earlier(jurisdiction="140106002001"),      # another village
    earlier(jurisdiction="140105"),            # another county
    earlier(keys={"p:li"}, applicants={"p:li"}),  # other people
])
def test_no_merge_when_anything_differs(candidate):
    assert decide(report(), [candidate], POLICY, LOOKBACK).merge_into is None


def test_the_window_edge_still_merges():
    assert decide(report(), [earlier(days_ago=30)], POLICY, LOOKBACK).merge_into is not None


def test_swapped_roles_are_the_same_dispute():
    # neighbour B complains about A, after A complained about B
    file = earlier(keys={"p:a", "p:b"}, applicants={"p:a"}, channels=("hotline",), category="neighbour")
    decision = decide(report("walk_in", category="neighbour", keys={"p:b", "p:a"}, applicants={"p:b"}),
                      [file], POLICY, LOOKBACK)
    assert decision.merge_into is file


def test_by_default_the_same_person_back_through_the_same_window_is_merged():
    file = earlier(channels=("walk_in", "grid_report"))
    decision = decide(report("walk_in", jurisdiction="140106"), [file], POLICY, LOOKBACK)
    assert decision.merge_into is file and decision.repeat_of is None


def test_where_a_centre_counts_repeat_visits_the_same_window_gives_a_linked_case():
    policy = parse_dedup({**read_yaml(DATA_DIR / "dedup.yaml"),
                          "repeat_visit_channels": ["walk_in", "hotline", "letter", "online"]})
    file = earlier(channels=("walk_in", "grid_report"))
    decision = decide(report("walk_in", jurisdiction="140106"), [file], policy, LOOKBACK)
    assert decision.merge_into is None and decision.repeat_of is file
    assert decision.same_matter_earlier == 1


def test_a_second_grid_report_merges_even_though_grid_reports_are_on_the_file():
    file = earlier(channels=("walk_in", "grid_report"))
    assert decide(report("grid_report"), [file], POLICY, LOOKBACK).merge_into is file


def test_a_merged_report_does_not_count_the_file_as_the_applicants_history():
    decision = decide(report(), [earlier("A")], POLICY, LOOKBACK)
    assert decision.merge_into is not None
    assert (decision.same_matter_earlier, decision.any_matter_earlier) == (0, 0)


def test_history_counts_the_applicants_earlier_cases_within_the_lookback():
    files = [earlier("A", status="closed", days_ago=100), earlier("B", status="resolved", category="family"),
             earlier("C", status="closed", days_ago=400), earlier("D", status="merged"),
             earlier("E", keys={"p:wang"}, applicants={"p:li"}, status="closed")]  # Wang was the respondent
    decision = decide(report(), files, POLICY, LOOKBACK)
    assert decision.merge_into is None
    assert (decision.same_matter_earlier, decision.any_matter_earlier) == (1, 2)


def test_organisations_are_never_matched_and_phones_are_normalised():
    blind = str.upper
    company = {"kind": "organisation", "id_number": "91140100MA0K", "phone": "0351-1234567"}
    person = {"kind": "person", "id_number": " 140106198001011234 ", "phone": "+86 138-1234-5678"}
    assert match_keys(company, blind) == []
    assert match_keys(person, blind) == ["i:ID:140106198001011234", "p:PHONE:13812345678"]
    assert normalise_phone("8613812345678") == "13812345678"
    assert phone_tail("+86 138 1234 5678") == "5678" and phone_tail("12") is None


def test_an_id_number_typed_in_full_width_is_the_same_person():
    blind = str.upper
    typed = {"kind": "person", "id_number": "１４０１０６１９８００１０１１２３ｘ", "phone": None}
    plain = {"kind": "person", "id_number": "14010619800101123X", "phone": None}
    assert match_keys(typed, blind) == match_keys(plain, blind) == ["i:ID:14010619800101123X"]
    assert normalise_phone("１３８ １２３４ ５６７８") == "13812345678"


def test_bad_dedup_data_is_refused():
    with pytest.raises(RulesError, match="window_days"):
        parse_dedup({})
    with pytest.raises(RulesError, match="only registered"):
        parse_dedup({"window_days": 30, "open_statuses": ["closed"]})
    with pytest.raises(RulesError, match="unknown channels"):
        parse_dedup({"window_days": 30, "repeat_visit_channels": ["fax"]})
