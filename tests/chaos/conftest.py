"""Fault injection (make test-chaos): every test reports what it attempted and what became of it."""

import pytest

from tests.support.fleet import Fleet

REPORTS: list[str] = []


@pytest.fixture
def report():
    def add(fault: str, *, attempted: int, confirmed: int, delivered: int, lost: int, duplicated: int,
            note: str = "") -> None:
        REPORTS.append(f"{fault}: attempted {attempted}, confirmed {confirmed}, delivered {delivered}, "
                       f"lost {lost}, duplicated effects {duplicated}{'; ' + note if note else ''}")
    return add


@pytest.fixture
def fleet(amqp_uri):
    running = Fleet(amqp_uri)
    try:
        yield running
    finally:
        running.close()


def pytest_terminal_summary(terminalreporter):
    if REPORTS:
        terminalreporter.section("fault injection report")
        for line in REPORTS:
            terminalreporter.write_line(line)
