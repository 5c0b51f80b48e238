"""The reference directory: real divisions, well-formed units, the lookup the other services use."""

import copy
import re

import pytest
import yaml

from services.routing.dependencies import DEFAULT_DIRECTORY, DEFAULT_RULES, load_reference
from services.routing.domain import Reference, ReferenceDataError
from services.routing.domain.reference import Directory, scope_keys

REF = load_reference(DEFAULT_DIRECTORY, DEFAULT_RULES)
DIRECTORY = REF.directory

TAIYUAN = {"140105": "小店区", "140106": "迎泽区", "140107": "杏花岭区", "140108": "尖草坪区", "140109": "万柏林区",
           "140110": "晋源区", "140121": "清徐县", "140122": "阳曲县", "140123": "娄烦县", "140181": "古交市"}
CATEGORIES = ("labour", "family", "domestic_violence", "neighbour", "property_management", "lending", "consumer",
              "traffic", "medical", "land", "construction", "education", "environment", "tenancy", "contract", "other")


def raw(path=DEFAULT_DIRECTORY):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


# Resident population of the 7th national census (第七次全国人口普查, 1 November 2020).
CENSUS_2020 = {
    "140100": 5_304_061, "140105": 1_357_246, "140106": 720_186, "140107": 740_195, "140108": 538_446,
    "140109": 943_148, "140110": 290_681, "140121": 340_556, "140122": 118_064, "140123": 91_259,
    "140181": 164_280,
    "620100": 4_359_446, "620102": 1_497_000, "620104": 364_000,
    "620700": 1_131_016, "620702": 519_100,
    "360900": 5_007_702, "360902": 1_122_155, "360921": 287_957, "360922": 437_574, "360923": 328_617,
    "360924": 252_455, "360925": 133_937, "360926": 115_885, "360981": 1_098_745, "360982": 517_565,
    "360983": 712_812,
}


def test_the_real_divisions_of_design_6_with_populations():
    for code, name in TAIYUAN.items():
        division = DIRECTORY.division(code)
        assert division.name == name and division.parent == "140100" and division.population > 50_000
    assert DIRECTORY.division("620102").name == "城关区" and DIRECTORY.division("620104").name == "西固区"
    assert DIRECTORY.division("620702").name == "甘州区" and DIRECTORY.division("620702").parent == "620700"
    assert DIRECTORY.division("360900").name == "宜春市"


@pytest.mark.parametrize("code,population", sorted(CENSUS_2020.items()))
def test_every_shipped_population_is_the_2020_census_figure(code, population):
    assert DIRECTORY.population(code) == population


def test_every_city_and_county_carries_a_census_population():
    shipped = {d.code for d in DIRECTORY.divisions.values() if d.level in ("city", "county")}
    assert shipped == set(CENSUS_2020)
    assert DIRECTORY.population("140105") > DIRECTORY.population("140109") > DIRECTORY.population("140107")
    assert min(TAIYUAN, key=DIRECTORY.population) == "140123"  # 娄烦, 9.12万, the smallest


def test_where_a_city_ships_all_its_counties_they_add_up_to_the_city():
    whole_cities = {"140100": 10, "360900": 10}  # Lanzhou and Zhangye ship only the counties of §6
    for city, count in whole_cities.items():
        counties = DIRECTORY.children(city)
        assert len(counties) == count
        total = sum(county.population for county in counties)
        assert abs(total - DIRECTORY.population(city)) <= DIRECTORY.population(city) * 0.005, city
    for city in ("620100", "620700"):
        assert sum(c.population for c in DIRECTORY.children(city)) < DIRECTORY.population(city)


def test_townships_communities_and_grids_are_well_formed_and_nested():
    levels = {"city": 6, "county": 6, "township": 9, "community": 12}
    for division in DIRECTORY.divisions.values():
        assert re.fullmatch(r"\d+", division.code) and len(division.code) == levels[division.level]
        if division.parent:
            parent = DIRECTORY.division(division.parent)
            assert parent is not None
            assert division.code.startswith(parent.code if division.level != "county" else parent.code[:4])
    grids = [unit for unit in DIRECTORY.units.values() if unit.kind == "grid"]
    assert grids and all(DIRECTORY.division(unit.jurisdiction).level == "community" for unit in grids)
    assert len([d for d in DIRECTORY.divisions.values() if d.code.startswith("140106") and d.level == "township"]) == 7


def test_every_unit_id_follows_the_cross_service_agreement():
    patterns = {
        "centre": r"\d{6}:centre", "city": r"\d{6}:centre", "department": r"\d{6}:[a-z_]+",
        "township": r"\d{9}:office", "community": r"\d{12}:committee", "grid": r"grid:\d{12}-\d{2}",
        "committee": r"\d{6}:committee:[a-z_]+",
    }
    for unit in DIRECTORY.units.values():
        assert re.fullmatch(patterns[unit.kind], unit.unit_id), unit.unit_id
        assert set(unit.contacts) == {"phone", "email", "wechat_openid", "inbox_id"}
        assert all(unit.contacts.values()), unit.unit_id
        assert unit.leaders and all(leader["name"] and leader["phone"] for leader in unit.leaders)


def test_lookup_unit_answers_the_agreed_shape():
    hrss = DIRECTORY.lookup_unit("140106:hrss")
    assert set(hrss) == {"unit_id", "name", "kind", "level", "jurisdiction", "contacts", "leaders"}
    assert hrss["name"] == "迎泽区人力资源和社会保障局" and hrss["kind"] == "department"
    assert hrss["level"] == "county" and hrss["jurisdiction"] == "140106"
    assert set(hrss["leaders"][0]) == {"name", "title", "phone", "email", "inbox_id"}
    assert DIRECTORY.lookup_unit("140100:centre")["kind"] == "city"
    assert DIRECTORY.lookup_unit("140106:centre")["kind"] == "centre"
    assert DIRECTORY.lookup_unit("140106:committee:labour")["kind"] == "committee"
    assert DIRECTORY.lookup_unit("140106:nowhere") is None


def test_every_category_has_a_lead_and_a_committee_in_every_county_except_other():
    assert tuple(DIRECTORY.categories) == CATEGORIES
    counties = [d.code for d in DIRECTORY.divisions.values() if d.level == "county"]
    for category in DIRECTORY.categories.values():
        if category.code == "other":
            assert category.lead_department is None
            continue
        for county in counties:
            assert DIRECTORY.department(county, category.lead_department), (county, category.code)
            assert DIRECTORY.committee(county, category.committee), (county, category.code)
    labour = DIRECTORY.categories["labour"]
    assert labour.lead_department == "hrss" and labour.committee == "labour"
    assert DIRECTORY.categories["family"].lead_department == "women"


def test_departments_have_stationing_and_a_20_to_40_minute_band():
    departments = DIRECTORY.listing("departments", "140106")
    assert {row["key"] for row in departments} >= {"hrss", "housing", "court", "justice", "police", "petition"}
    for row in departments:
        assert 20 <= row["distance_minutes"] <= 40
        assert row["stationing"]["mode"] in ("permanent", "rotating", "on_call")
    by_key = {row["key"]: row for row in departments}
    # 迎泽: 卫健、人社、教育、住建、城管等部门常驻
    assert all(by_key[key]["stationing"]["mode"] == "permanent" for key in ("health", "hrss", "education", "housing"))
    assert any(row["stationing"]["mode"] == "rotating" and row["stationing"]["weekdays"] for row in departments)


def test_locate_places_codes_and_grids_or_says_why_not():
    place = DIRECTORY.locate("140106001001")
    assert (place.county, place.township, place.community, place.problem) == (
        "140106", "140106001", "140106001001", None)
    grid = DIRECTORY.locate("140106", "140106001001-01")
    assert grid.community == "140106001001" and grid.grid == "140106001001-01" and grid.problem is None
    assert "unknown township" in DIRECTORY.locate("140106999").problem
    assert "a city" in DIRECTORY.locate("140100").problem and DIRECTORY.locate("140100").city == "140100"
    assert "not inside" in DIRECTORY.locate("140105", "140106001001-01").problem
    assert "unknown county" in DIRECTORY.locate("999999").problem


def test_scope_keys_are_every_prefix_a_token_may_name():
    assert scope_keys("140106001001") == ["14", "1401", "140106", "140106001", "140106001001"]
    assert scope_keys("620702") == ["62", "6207", "620702"]


def test_listing_and_its_kinds():
    assert {row["code"] for row in DIRECTORY.listing("jurisdictions", "1401")} >= set(TAIYUAN)
    assert len(DIRECTORY.listing("categories")) == 16
    with pytest.raises(KeyError):
        DIRECTORY.listing("rooms")


def test_bad_reference_data_is_refused_with_the_entry_named():
    data = raw()
    broken = copy.deepcopy(data)
    broken["cities"][0]["counties"][0]["departments"]["hrss"]["distance_minutes"] = "far"
    with pytest.raises(ReferenceDataError, match="140105:hrss"):
        Directory.from_data(broken)
    broken = copy.deepcopy(data)
    broken["categories"]["labour"]["lead_department"] = "ministry_of_magic"
    with pytest.raises(ReferenceDataError, match="category labour"):
        Directory.from_data(broken)
    broken = copy.deepcopy(data)
    broken["cities"][0]["counties"][0]["townships"][0]["code"] = "1401"
    with pytest.raises(ReferenceDataError, match="9-digit"):
        Directory.from_data(broken)
    rules = raw(DEFAULT_RULES)
    rules["triage"]["fallback_unit"] = "999999:centre"
    with pytest.raises(ReferenceDataError, match="fallback_unit"):
        Reference.from_data(data, rules)


def test_a_listing_masks_contacts_and_leaders_where_it_does_not_reveal():
    from services.common.auth import covers

    rows = {row["unit_id"]: row for row in DIRECTORY.listing("departments", "1401",
                                                            lambda code: covers("140106", code))}
    full = DIRECTORY.lookup_unit("140100:discipline")
    city, own = rows["140100:discipline"], rows["140106:hrss"]
    assert own["contacts"] == DIRECTORY.lookup_unit("140106:hrss")["contacts"] and not own["contacts_masked"]
    assert city["contacts_masked"] and set(city["contacts"]) == {"phone", "email", "inbox_id"}
    assert city["contacts"]["phone"] == "035****0782" and city["contacts"]["email"] == "d***@onestop.example.cn"
    leader, real = city["leaders"][0], full["leaders"][0]
    assert leader == {"name": real["name"][0] + "*" * (len(real["name"]) - 1), "title": real["title"],
                      "phone": real["phone"][:3] + "****" + real["phone"][-4:],
                      "email": real["email"][0] + "***@" + real["email"].split("@")[1],
                      "inbox_id": real["inbox_id"]}
    # without a predicate (the internal RPC) everything is in full
    assert not any(row["contacts_masked"] for row in DIRECTORY.listing("departments"))
