"""The reference directory: divisions, units (centres, departments, committees, offices, grids)
and categories, parsed from the directory YAML. Pure: the caller reads the file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from services.common.pii import mask_email, mask_name, mask_phone

DIVISION_LEVELS = ("city", "county", "township", "community")
UNIT_KINDS = ("grid", "community", "township", "centre", "department", "committee", "city")
STATIONING_MODES = ("permanent", "rotating", "on_call")
MEDIATION_TYPES = ("people", "industry", "administrative", "judicial")


class ReferenceDataError(ValueError):
    """The reference data cannot be used; the message names the entry and what is wrong."""


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str
    parent: str | None
    population: int | None = None

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level, "parent": self.parent,
                "population": self.population}


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    kind: str
    level: str
    jurisdiction: str
    contacts: dict
    leaders: tuple[dict, ...] = ()
    key: str | None = None
    short_name: str | None = None
    stationing: dict | None = None
    distance_minutes: int | None = None

    def as_lookup(self) -> dict:
        """The shape of the routing.lookup_unit RPC (the cross-service agreement)."""
        return {
            "unit_id": self.unit_id,
            "name": self.name,
            "kind": self.kind,
            "level": self.level,
            "jurisdiction": self.jurisdiction,
            "contacts": dict(self.contacts),
            "leaders": [dict(leader) for leader in self.leaders],
        }

    def as_department(self, full: bool = True) -> dict:
        """A department for the directory listing; with `full` False (a department outside the reader's
        jurisdictions) its contacts and leaders are masked: phones and e-mails partly hidden, leaders'
        names reduced to the surname, the WeChat openid left out."""
        row = {**self.as_lookup(), "key": self.key, "short_name": self.short_name,
               "stationing": dict(self.stationing or {}), "distance_minutes": self.distance_minutes,
               "contacts_masked": not full}
        if not full:
            row["contacts"] = masked_contacts(self.contacts)
            row["leaders"] = [masked_leader(leader) for leader in self.leaders]
        return row


def masked_contacts(contacts: dict) -> dict:
    """A unit's contacts as shown outside the reader's jurisdictions (no openid; the inbox id is the unit id)."""
    return {"phone": mask_phone(contacts.get("phone")), "email": mask_email(contacts.get("email")),
            "inbox_id": contacts.get("inbox_id")}


def masked_leader(leader: dict) -> dict:
    return {"name": mask_name(leader.get("name")), "title": leader.get("title"),
            "phone": mask_phone(leader.get("phone")), "email": mask_email(leader.get("email")),
            "inbox_id": leader.get("inbox_id")}


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    lead_department: str | None
    co_departments: tuple[str, ...]
    committee: str | None
    mediation_type: str

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "lead_department": self.lead_department,
                "co_departments": list(self.co_departments), "committee": self.committee,
                "mediation_type": self.mediation_type}


@dataclass(frozen=True)
class Location:
    """Where a case is, as far as the directory knows it; `problem` says why it is ambiguous."""

    city: str | None = None
    county: str | None = None
    township: str | None = None
    community: str | None = None
    grid: str | None = None
    problem: str | None = None

    def as_dict(self) -> dict:
        return {"city": self.city, "county": self.county, "township": self.township,
                "community": self.community, "grid": self.grid, "problem": self.problem}

    @classmethod
    def from_dict(cls, data: dict) -> Location:
        return cls(**{key: data.get(key) for key in ("city", "county", "township", "community", "grid",
                                                     "problem")})


def scope_keys(code: str) -> list[str]:
    """Every prefix of a division code that a token's jurisdiction may name (see auth.significant_prefix)."""
    return [code[:length] for length in (2, 4, 6, 9, 12) if len(code) >= length]


def _require(mapping: dict, key: str, where: str):
    if not isinstance(mapping, dict) or mapping.get(key) in (None, ""):
        raise ReferenceDataError(f"{where}: '{key}' is required")
    return mapping[key]


def _contacts(entry: dict, where: str) -> dict:
    contacts = entry.get("contacts")
    if not isinstance(contacts, dict):
        raise ReferenceDataError(f"{where}: 'contacts' is required")
    return {key: contacts.get(key) for key in ("phone", "email", "wechat_openid", "inbox_id")}


def _leaders(entry: dict) -> tuple[dict, ...]:
    return tuple(
        {key: leader.get(key) for key in ("name", "title", "phone", "email", "inbox_id")}
        for leader in entry.get("leaders") or ()
    )


def _stationing(entry: dict, where: str) -> dict:
    stationing = entry.get("stationing") or {}
    mode = stationing.get("mode")
    if mode not in STATIONING_MODES:
        raise ReferenceDataError(f"{where}: stationing mode must be one of {STATIONING_MODES}")
    if mode == "rotating":
        weekdays = stationing.get("weekdays") or []
        if not weekdays or any(day not in range(1, 8) for day in weekdays):
            raise ReferenceDataError(f"{where}: a rotating department needs weekdays 1-7")
        return {"mode": mode, "weekdays": sorted(weekdays)}
    return {"mode": mode}


@dataclass
class Directory:
    divisions: dict[str, Division] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    department_catalog: dict[str, dict] = field(default_factory=dict)
    grid_parent: dict[str, str] = field(default_factory=dict)

    # -- building -----------------------------------------------------------------------
    @classmethod
    def from_data(cls, data: dict) -> Directory:
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ReferenceDataError("directory: expected a mapping with version: 1")
        directory = cls(department_catalog=dict(data.get("department_catalog") or {}))
        for code, entry in (data.get("categories") or {}).items():
            directory._add_category(code, entry)
        for city in data.get("cities") or ():
            directory._add_city(city)
        if not directory.divisions:
            raise ReferenceDataError("directory: no cities")
        return directory

    def _add_category(self, code: str, entry: dict) -> None:
        where = f"category {code}"
        mediation_type = entry.get("mediation_type")
        if mediation_type not in MEDIATION_TYPES:
            raise ReferenceDataError(f"{where}: mediation_type must be one of {MEDIATION_TYPES}")
        keys = [entry.get("lead_department"), *(entry.get("co_departments") or ())]
        unknown = [key for key in keys if key and key not in self.department_catalog]
        if unknown:
            raise ReferenceDataError(f"{where}: unknown departments {unknown}")
        self.categories[code] = Category(
            code=code, name=_require(entry, "name", where), lead_department=entry.get("lead_department"),
            co_departments=tuple(entry.get("co_departments") or ()), committee=entry.get("committee"),
            mediation_type=mediation_type,
        )

    def _division(self, code, name, level, parent, population=None) -> None:
        expected = {"city": 6, "county": 6, "township": 9, "community": 12}[level]
        if not (isinstance(code, str) and code.isdigit() and len(code) == expected):
            raise ReferenceDataError(f"{level} {code!r}: a {expected}-digit division code is required")
        if parent and not code.startswith(parent[: 4 if level == "county" else len(parent)]):
            raise ReferenceDataError(f"{level} {code}: not inside {parent}")
        if code in self.divisions:
            raise ReferenceDataError(f"division {code} is listed twice")
        self.divisions[code] = Division(code=code, name=name, level=level, parent=parent, population=population)

    def _unit(self, unit_id, entry, kind, level, jurisdiction, **extra) -> None:
        if unit_id in self.units:
            raise ReferenceDataError(f"unit {unit_id} is listed twice")
        where = f"unit {unit_id}"
        self.units[unit_id] = Unit(
            unit_id=unit_id, name=_require(entry, "name", where), kind=kind, level=level,
            jurisdiction=jurisdiction, contacts=_contacts(entry, where), leaders=_leaders(entry), **extra,
        )

    def _add_city(self, city: dict) -> None:
        code = _require(city, "code", "city")
        self._division(code, _require(city, "name", f"city {code}"), "city", None, city.get("population"))
        self._unit(f"{code}:centre", _require(city, "centre", f"city {code}"), "city", "city", code)
        for key, entry in (city.get("departments") or {}).items():
            self._unit(f"{code}:{key}", entry, "department", "city", code, key=key,
                       short_name=entry.get("short_name"))
        for county in city.get("counties") or ():
            self._add_county(county, code)

    def _add_county(self, county: dict, city: str) -> None:
        code = _require(county, "code", f"county of {city}")
        self._division(code, _require(county, "name", f"county {code}"), "county", city, county.get("population"))
        self._unit(f"{code}:centre", _require(county, "centre", f"county {code}"), "centre", "county", code)
        for key, entry in (county.get("departments") or {}).items():
            where = f"department {code}:{key}"
            if key not in self.department_catalog:
                raise ReferenceDataError(f"{where}: '{key}' is not in department_catalog")
            distance = entry.get("distance_minutes")
            if not isinstance(distance, int) or not 1 <= distance <= 240:
                raise ReferenceDataError(f"{where}: distance_minutes must be minutes (1-240)")
            self._unit(f"{code}:{key}", entry, "department", "county", code, key=key,
                       short_name=entry.get("short_name"), stationing=_stationing(entry, where),
                       distance_minutes=distance)
        for key, entry in (county.get("committees") or {}).items():
            self._unit(f"{code}:committee:{key}", entry, "committee", "county", code, key=key)
        for township in county.get("townships") or ():
            self._add_township(township, code)

    def _add_township(self, township: dict, county: str) -> None:
        code = _require(township, "code", f"township of {county}")
        self._division(code, _require(township, "name", f"township {code}"), "township", county,
                       township.get("population"))
        self._unit(f"{code}:office", township, "township", "township", code)
        for community in township.get("communities") or ():
            ccode = _require(community, "code", f"community of {code}")
            self._division(ccode, _require(community, "name", f"community {ccode}"), "community", code,
                           community.get("population"))
            self._unit(f"{ccode}:committee", community, "community", "community", ccode)
            for grid in community.get("grids") or ():
                gcode = _require(grid, "code", f"grid of {ccode}")
                self._unit(f"grid:{gcode}", grid, "grid", "grid", ccode)
                self.grid_parent[gcode] = ccode

    # -- queries ------------------------------------------------------------------------
    def lookup_unit(self, unit_id: str) -> dict | None:
        unit = self.units.get(unit_id)
        return unit.as_lookup() if unit else None

    def unit(self, unit_id: str | None) -> Unit | None:
        return self.units.get(unit_id) if unit_id else None

    def unit_name(self, unit_id: str | None) -> str | None:
        unit = self.unit(unit_id)
        return unit.name if unit else None

    def division(self, code: str | None) -> Division | None:
        return self.divisions.get(code) if code else None

    def population(self, code: str) -> int | None:
        division = self.divisions.get(code)
        return division.population if division else None

    def children(self, code: str) -> list[Division]:
        return sorted((d for d in self.divisions.values() if d.parent == code), key=lambda d: d.code)

    def city_of(self, code: str) -> str | None:
        """The city a code lies in: the city itself, or the city whose counties share its first 4 digits."""
        division = self.divisions.get(code[:6])
        if division and division.level == "city":
            return division.code
        if division and division.level == "county":
            return division.parent
        candidate = f"{code[:4]}00"
        found = self.divisions.get(candidate)
        return candidate if found and found.level == "city" else None

    def department(self, county: str, key: str | None) -> Unit | None:
        return self.units.get(f"{county}:{key}") if key else None

    def committee(self, county: str, key: str | None) -> Unit | None:
        return self.units.get(f"{county}:committee:{key}") if key else None

    def locate(self, jurisdiction: str, grid: str | None = None) -> Location:
        """Resolve a case's division code (and grid) to the known units above it."""
        code = jurisdiction or ""
        city = self.city_of(code) if len(code) >= 6 else None
        county_division = self.divisions.get(code[:6])
        if county_division is None or county_division.level != "county":
            what = "a city, not a county" if county_division else f"unknown county {code[:6] or '?'}"
            return Location(city=city, problem=f"{code}: {what}")
        county = county_division.code
        township = community = None
        if len(code) >= 9:
            if code[:9] not in self.divisions:
                return Location(city=city, county=county, problem=f"unknown township {code[:9]}")
            township = code[:9]
        if len(code) == 12:
            if code not in self.divisions:
                return Location(city=city, county=county, township=township, problem=f"unknown community {code}")
            community = code
        if grid:
            parent = self.grid_parent.get(grid)
            if parent is None:
                return Location(city=city, county=county, township=township, community=community,
                                problem=f"unknown grid {grid}")
            if not parent.startswith(code):
                return Location(city=city, county=county, township=township, community=community,
                                problem=f"grid {grid} is not inside {code}")
            community, township = parent, parent[:9]
        return Location(city=city, county=county, township=township, community=community, grid=grid)

    def listing(self, kind: str, within: str | None = None,
                reveals: Callable[[str], bool] | None = None) -> list[dict]:
        """The routing.directory RPC and GET /api/v1/directory/{kind}. `reveals(jurisdiction)` says whether
        a department's contacts and leaders are given in full; without it (the internal RPC) they all are."""
        if kind == "jurisdictions":
            rows = [d.as_dict() for d in self.divisions.values() if not within or d.code.startswith(within)]
            return sorted(rows, key=lambda row: row["code"])
        if kind == "departments":
            rows = [u.as_department(reveals is None or reveals(u.jurisdiction)) for u in self.units.values()
                    if u.kind == "department" and (not within or u.jurisdiction.startswith(within))]
            return sorted(rows, key=lambda row: row["unit_id"])
        if kind == "categories":
            return [c.as_dict() for c in self.categories.values()]
        raise KeyError(kind)
