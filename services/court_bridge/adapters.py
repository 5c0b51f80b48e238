"""The court adapter: one internal contract for talking to a court's case system, one
implementation per kind of system (`system` in data/courts.yaml).

Every sending operation carries our message id as an idempotency key, so a retry after a
lost answer never gives the court a second application. Failures come in two kinds:
`CourtUnavailable` (network, timeout, 5xx, 429: try again later) and `CourtRefused`
(the court's system answered that it will never accept this request as it is).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import datetime

import requests

from services.common.contracts import iso
from services.court_bridge.domain.model import Court


class CourtError(Exception):
    def __init__(self, court_id: str, operation: str, message: str):
        super().__init__(f"{court_id} {operation}: {message}")
        self.court_id = court_id
        self.operation = operation


class CourtUnavailable(CourtError):
    """Transient: the court did not answer, or answered that it cannot now."""


class CourtRefused(CourtError):
    """Permanent: the court's system refused the request as it is."""


class CourtAdapter(ABC):
    """What court_bridge needs from a court's system. Payloads and answers are plain dicts."""

    def __init__(self, court: Court, timeout: float, unusable: str | None = None):
        self.court = court
        self.timeout = timeout
        self.unusable = unusable  # why this court must not be called, if it must not

    @abstractmethod
    def send_feedback(self, message_id: str, feedback: dict) -> dict:
        """The outcome of one referral. → {"receipt_id"}"""

    @abstractmethod
    def notify_extension(self, message_id: str, extension: dict) -> dict:
        """A mediation period extended with the parties' consent. → {"receipt_id"}"""

    @abstractmethod
    def apply_confirmation(self, message_id: str, application: dict) -> dict:
        """Apply for judicial confirmation. → {"application_id"}"""

    @abstractmethod
    def confirmation_status(self, application_id: str) -> dict:
        """→ {"status": received|accepted|granted|rejected, "accepted_at", "ruling_number", "reasons"}"""

    @abstractmethod
    def request_filing(self, message_id: str, filing: dict) -> dict:
        """File a case. → {"filing_id"}"""

    @abstractmethod
    def filing_status(self, filing_id: str) -> dict:
        """→ {"status": received|filed|refused, "docket_number", "filed_at", "reasons"}"""

    @abstractmethod
    def apply_enforcement(self, message_id: str, application: dict) -> dict:
        """Apply for enforcement of a confirmed agreement. → {"application_id", "docket_number"}"""

    def send(self, operation: str, message_id: str, payload: dict) -> dict:
        """Deliver one queued message by its operation name."""
        method = {
            "feedback": self.send_feedback,
            "extension": self.notify_extension,
            "confirmation": self.apply_confirmation,
            "filing": self.request_filing,
            "enforcement": self.apply_enforcement,
        }.get(operation)
        if method is None:
            raise ValueError(f"no such court operation {operation!r}")
        return method(message_id, payload)


def _json_default(value):
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


def _parse_times(answer: dict, *keys: str) -> dict:
    for key in keys:
        value = answer.get(key)
        if isinstance(value, str):
            answer[key] = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return answer


class HttpCourtAdapter(CourtAdapter):
    """`court_http_v1`: JSON over HTTP, a bearer key per court, the simulator's API."""

    def __init__(self, court: Court, timeout: float, session: requests.Session | None = None,
                 unusable: str | None = None):
        super().__init__(court, timeout, unusable)
        self.http = session or requests.Session()

    def _url(self, *parts: str) -> str:
        return "/".join([self.court.base_url, "courts", self.court.court_id, *parts])

    def _call(self, operation: str, method: str, url: str, body: dict | None = None,
              message_id: str | None = None) -> dict:
        if self.unusable:
            # held and retried like an unreachable court, until the deployment configures it
            raise CourtUnavailable(self.court.court_id, operation, self.unusable)
        headers = {"Authorization": f"Bearer {self.court.api_key}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False, default=_json_default).encode()
        if message_id:
            headers["Idempotency-Key"] = message_id
        try:
            response = self.http.request(method, url, data=data, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CourtUnavailable(self.court.court_id, operation, f"no answer ({exc.__class__.__name__})") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise CourtUnavailable(self.court.court_id, operation, f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise CourtUnavailable(self.court.court_id, operation,
                                   f"HTTP {response.status_code} with a body that is not JSON") from exc
        if response.status_code >= 400:
            detail = answer.get("message") if isinstance(answer, dict) else None
            raise CourtRefused(self.court.court_id, operation, f"HTTP {response.status_code}: {detail or 'refused'}")
        if not isinstance(answer, dict):
            raise CourtUnavailable(self.court.court_id, operation, "the answer is not a JSON object")
        return answer

    def _require(self, operation: str, answer: dict, key: str) -> dict:
        if not answer.get(key):
            raise CourtUnavailable(self.court.court_id, operation, f"the answer has no {key}")
        return answer

    def send_feedback(self, message_id: str, feedback: dict) -> dict:
        answer = self._call("feedback", "POST", self._url("referral-feedback"), feedback, message_id)
        return self._require("feedback", answer, "receipt_id")

    def notify_extension(self, message_id: str, extension: dict) -> dict:
        answer = self._call("extension", "POST", self._url("deadline-extensions"), extension, message_id)
        return self._require("extension", answer, "receipt_id")

    def apply_confirmation(self, message_id: str, application: dict) -> dict:
        answer = self._call("confirmation", "POST", self._url("confirmations"), application, message_id)
        return self._require("confirmation", answer, "application_id")

    def _status(self, operation: str, answer: dict, required: dict[str, str]) -> dict:
        """Check a status answer: a known status, and the number a decision must carry."""
        status = answer.get("status")
        if status not in required:
            raise CourtUnavailable(self.court.court_id, operation, f"unknown status {status!r}")
        if required[status] and not answer.get(required[status]):
            raise CourtUnavailable(self.court.court_id, operation, f"status {status} without {required[status]}")
        return answer

    def confirmation_status(self, application_id: str) -> dict:
        answer = self._call("confirmation_status", "GET", self._url("confirmations", application_id))
        self._status("confirmation_status", answer,
                     {"received": "", "accepted": "", "granted": "ruling_number", "rejected": ""})
        return _parse_times(answer, "accepted_at", "decided_at")

    def request_filing(self, message_id: str, filing: dict) -> dict:
        answer = self._call("filing", "POST", self._url("filings"), filing, message_id)
        return self._require("filing", answer, "filing_id")

    def filing_status(self, filing_id: str) -> dict:
        answer = self._call("filing_status", "GET", self._url("filings", filing_id))
        self._status("filing_status", answer, {"received": "", "filed": "docket_number", "refused": ""})
        return _parse_times(answer, "filed_at")

    def apply_enforcement(self, message_id: str, application: dict) -> dict:
        answer = self._call("enforcement", "POST", self._url("enforcements"), application, message_id)
        return self._require("enforcement", answer, "application_id")


ADAPTERS: dict[str, type[CourtAdapter]] = {
    "court_http_v1": HttpCourtAdapter,
}


def adapter_for(court: Court, timeout: float, unusable: str | None = None) -> CourtAdapter:
    """`unusable` says why this court must not be called (its credential is the development
    key in production): every call then fails as if the court did not answer."""
    try:
        adapter_cls = ADAPTERS[court.system]
    except KeyError as exc:
        raise ValueError(f"court {court.court_id}: no adapter for system {court.system!r}") from exc
    return adapter_cls(court, timeout, unusable=unusable)
