"""A court's case system, for development and tests: the sandbox court_bridge talks to.

    python -m services.court_bridge.simulator --port 8010 [--delay 2] [--bridge-url URL]

It plays every court in data/courts.yaml (or --courts FILE) behind one address, keeps its
state in memory, and speaks the `court_http_v1` API of HttpCourtAdapter:

    POST /courts/{court_id}/referral-feedback      → 201 {"receipt_id"}
    POST /courts/{court_id}/deadline-extensions    → 201 {"receipt_id"}
    POST /courts/{court_id}/confirmations          → 201 {"application_id", "status": "received"}
    GET  /courts/{court_id}/confirmations/{id}     → {"status": received|accepted|granted|rejected, ...}
    POST /courts/{court_id}/filings                → 201 {"filing_id", "status": "received"}
    GET  /courts/{court_id}/filings/{id}           → {"status": received|filed|refused, "docket_number", ...}
    POST /courts/{court_id}/enforcements           → 201 {"application_id", "docket_number"}

each with `Authorization: Bearer <the court's api_key>`; a repeated `Idempotency-Key` gets
the first answer again. Decisions come after the configured delay (accepted after one
delay, decided after two) by simple rules: a confirmation is rejected when the application
carries no terms of the agreement, when the agreement names no performance deadline, when
its hash is not a SHA-256, or when it concerns domestic violence; docket numbers look like
（2026）晋0106民初1234号.

Admin (no key; bind it to loopback):

    GET  /admin/state                      what arrived: feedback, applications, filings, calls
    POST /admin/reset                      forget everything
    POST /admin/settings {"delay_seconds"}
    POST /admin/faults {"mode": "ok"|"fail"|"hang"|"slow", "operations": [...] | null,
                        "count": n | null, "hang_seconds": s}
                      fail: answer 503; hang: wait, then 503, having done nothing;
                      slow: do the work, then wait before answering (the answer is lost
                      to a caller that gives up: its retry must not do the work twice)
    POST /admin/batches {"court_id", "count", "batch_id"?, "seed"?}     make a referral batch
    POST /admin/batches/{batch_id}/push {"target"?}                     send it (again) to court_bridge
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import requests
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from services.court_bridge.domain.model import Court, Reference
from services.court_bridge.reference import load_reference

log = logging.getLogger("court_simulator")

OPERATIONS = ("feedback", "extension", "confirmation", "confirmation_status", "filing", "filing_status",
              "enforcement")
FEEDBACK_OUTCOMES = ("agreement", "failed", "withdrawn", "deadline_passed")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ("建国", "秀英", "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞")
COMPANIES = ("某物业服务有限公司", "某建筑工程有限公司", "某小额贷款有限公司", "某商贸有限公司", "某房地产经纪有限公司")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _json(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error": code, "message": message}, status)


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.response = _error(status, code, message)


class CourtSimulator:
    """The WSGI application and its in-memory state."""

    def __init__(self, reference: Reference, delay: float = 0.0, bridge_url: str = "http://127.0.0.1:8004"):
        self.reference = reference
        self.bridge_url = bridge_url.rstrip("/")
        self.lock = threading.Lock()
        self.urls = Map([
            Rule("/healthz", endpoint="healthz", methods=["GET"]),
            Rule("/courts/<court_id>/referral-feedback", endpoint="feedback", methods=["POST"]),
            Rule("/courts/<court_id>/deadline-extensions", endpoint="extension", methods=["POST"]),
            Rule("/courts/<court_id>/confirmations", endpoint="confirmation", methods=["POST"]),
            Rule("/courts/<court_id>/confirmations/<remote_id>", endpoint="confirmation_status", methods=["GET"]),
            Rule("/courts/<court_id>/filings", endpoint="filing", methods=["POST"]),
            Rule("/courts/<court_id>/filings/<remote_id>", endpoint="filing_status", methods=["GET"]),
            Rule("/courts/<court_id>/enforcements", endpoint="enforcement", methods=["POST"]),
            Rule("/admin/state", endpoint="admin_state", methods=["GET"]),
            Rule("/admin/reset", endpoint="admin_reset", methods=["POST"]),
            Rule("/admin/settings", endpoint="admin_settings", methods=["POST"]),
            Rule("/admin/faults", endpoint="admin_faults", methods=["POST"]),
            Rule("/admin/batches", endpoint="admin_make_batch", methods=["POST"]),
            Rule("/admin/batches/<batch_id>/push", endpoint="admin_push_batch", methods=["POST"]),
        ])
        self.delay = delay
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.feedback: list[dict] = []
            self.extensions: list[dict] = []
            self.confirmations: dict[str, dict] = {}
            self.filings: dict[str, dict] = {}
            self.enforcements: dict[str, dict] = {}
            self.answers: dict[tuple[str, str], tuple[int, dict]] = {}
            self.batches: dict[str, dict] = {}
            self.sequences: dict[tuple[str, str, int], int] = {}
            self.calls = {operation: 0 for operation in OPERATIONS}
            self.faults = {"mode": "ok", "operations": None, "remaining": None, "hang_seconds": 30.0}

    # -- WSGI -----------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, values = self.urls.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **values) if endpoint.startswith(
                ("admin_", "healthz")) else self.court_api(endpoint, request, **values)
        except Refusal as exc:
            response = exc.response
        except HTTPException as exc:
            response = _error(exc.code or 400, "http_error", exc.description or "")
        return response(environ, start_response)

    def court_api(self, operation: str, request: Request, court_id: str, remote_id: str | None = None) -> Response:
        with self.lock:
            self.calls[operation] += 1
        slow = self._inject_fault(operation)
        court = self._authorised_court(request, court_id)
        response = self._handle(operation, request, court, remote_id)
        if slow:
            time.sleep(slow)
        return response

    def _handle(self, operation: str, request: Request, court: Court, remote_id: str | None) -> Response:
        court_id = court.court_id
        if request.method == "GET":
            return getattr(self, f"on_{operation}")(court, remote_id)
        key = request.headers.get("Idempotency-Key")
        body = self._body(request)
        with self.lock:
            if key and (court_id, key) in self.answers:
                status, answer = self.answers[(court_id, key)]
                return _json(answer, status)
            status, answer = getattr(self, f"on_{operation}")(court, body)
            if key:
                self.answers[(court_id, key)] = (status, answer)
        return _json(answer, status)

    def _inject_fault(self, operation: str) -> float:
        """Fail or hang as told; for `slow`, the seconds to wait after doing the work."""
        with self.lock:
            faults = self.faults
            if faults["mode"] == "ok" or (faults["operations"] and operation not in faults["operations"]):
                return 0.0
            mode, hang = faults["mode"], faults["hang_seconds"]
            if faults["remaining"] is not None:
                faults["remaining"] -= 1
                if faults["remaining"] <= 0:
                    faults.update(mode="ok", operations=None, remaining=None)
        if mode == "slow":
            return hang
        if mode == "hang":
            time.sleep(hang)
        raise Refusal(503, "unavailable", f"the court's system is down ({mode})")

    def _authorised_court(self, request: Request, court_id: str) -> Court:
        court = self.reference.court(court_id)
        if court is None:
            raise Refusal(404, "unknown_court", f"no court {court_id}")
        if request.headers.get("Authorization") != f"Bearer {court.api_key}":
            raise Refusal(401, "unauthorised", "wrong or missing court key")
        return court

    @staticmethod
    def _body(request: Request) -> dict:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError as exc:
            raise Refusal(400, "invalid_json", "the body is not JSON") from exc
        if not isinstance(body, dict):
            raise Refusal(400, "invalid_json", "the body must be a JSON object")
        return body

    def _number(self, court: Court, kind: str) -> str:
        """（2026）晋0106民初1234号: year, the court's code, the kind of case, its sequence."""
        year = _now().year
        key = (court.court_id, kind, year)
        self.sequences[key] = self.sequences.get(key, 0) + 1
        return f"（{year}）{court.docket_code}{kind}{self.sequences[key]}号"

    def _stage(self, received_at: datetime) -> tuple[str, datetime | None]:
        """received → accepted after one delay → decided after two."""
        elapsed = (_now() - received_at).total_seconds()
        if elapsed >= 2 * self.delay:
            return "decided", received_at + timedelta(seconds=self.delay)
        if elapsed >= self.delay:
            return "accepted", received_at + timedelta(seconds=self.delay)
        return "received", None

    # -- the court's API ------------------------------------------------------------------
    def on_healthz(self, request: Request) -> Response:
        return _json({"status": "ok", "courts": len(self.reference.courts)})

    def on_feedback(self, court: Court, body: dict) -> tuple[int, dict]:
        if not body.get("referral_id") or body.get("outcome") not in FEEDBACK_OUTCOMES:
            return 422, {"error": "invalid_feedback", "message": "referral_id and a known outcome are required"}
        receipt = {"receipt_id": uuid.uuid4().hex, "court_id": court.court_id, "received_at": _iso(_now()),
                   "referral_id": body["referral_id"], "outcome": body["outcome"], "body": body}
        self.feedback.append(receipt)
        return 201, {"receipt_id": receipt["receipt_id"], "received_at": receipt["received_at"]}

    def on_extension(self, court: Court, body: dict) -> tuple[int, dict]:
        if not body.get("referral_id") or not body.get("days"):
            return 422, {"error": "invalid_extension", "message": "referral_id and days are required"}
        receipt = {"receipt_id": uuid.uuid4().hex, "court_id": court.court_id, "body": body}
        self.extensions.append(receipt)
        return 201, {"receipt_id": receipt["receipt_id"]}

    @staticmethod
    def confirmation_reasons(body: dict) -> list[str]:
        """Why a court would refuse to confirm: it reads the agreement's terms, and an agreement
        without terms, or without a time to perform them, cannot be enforced (司法确认的协议须
        权利义务明确、具体、可执行)."""
        reasons = []
        terms = body.get("terms")
        if not isinstance(terms, list) or not any(isinstance(term, str) and term.strip() for term in terms):
            reasons.append("申请未附调解协议条款，无法审查协议内容")
        if not body.get("performance_deadline"):
            reasons.append("调解协议未载明履行期限")
        if not SHA256.match(str(body.get("agreement_hash") or "")):
            reasons.append("调解协议文本摘要无效，无法核对协议内容")
        if body.get("category") == "domestic_violence":
            reasons.append("涉及人身安全保护的事项不适用司法确认程序")
        return reasons

    def on_confirmation(self, court: Court, body: dict) -> tuple[int, dict]:
        if not body.get("case_code") or not body.get("agreement_id"):
            return 422, {"error": "invalid_application", "message": "case_code and agreement_id are required"}
        application_id = f"SQ{uuid.uuid4().hex[:12].upper()}"
        reasons = self.confirmation_reasons(body)
        self.confirmations[application_id] = {
            "application_id": application_id, "court_id": court.court_id, "received_at": _now(), "body": body,
            "decision": ({"status": "rejected", "reasons": reasons} if reasons else
                         {"status": "granted", "ruling_number": self._number(court, "民特")}),
        }
        return 201, {"application_id": application_id, "status": "received"}

    def on_confirmation_status(self, court: Court, remote_id: str) -> Response:
        with self.lock:
            application = self.confirmations.get(remote_id)
            if application is None or application["court_id"] != court.court_id:
                return _error(404, "not_found", f"no application {remote_id}")
            stage, accepted_at = self._stage(application["received_at"])
            answer = {"application_id": remote_id, "status": "received" if stage == "received" else "accepted",
                      "accepted_at": _iso(accepted_at)}
            if stage == "decided":
                answer.update(application["decision"], decided_at=_iso(_now()))
        return _json(answer)

    def on_filing(self, court: Court, body: dict) -> tuple[int, dict]:
        if not body.get("case_code") or body.get("track") not in ("priority", "fast_track"):
            return 422, {"error": "invalid_filing", "message": "case_code and a track are required"}
        filing_id = f"LA{uuid.uuid4().hex[:12].upper()}"
        self.filings[filing_id] = {"filing_id": filing_id, "court_id": court.court_id, "received_at": _now(),
                                   "body": body, "docket_number": self._number(court, "民初")}
        return 201, {"filing_id": filing_id, "status": "received"}

    def on_filing_status(self, court: Court, remote_id: str) -> Response:
        with self.lock:
            filing = self.filings.get(remote_id)
            if filing is None or filing["court_id"] != court.court_id:
                return _error(404, "not_found", f"no filing {remote_id}")
            # Fast-track filings are docketed after one delay, the others after two.
            stage, _ = self._stage(filing["received_at"])
            fast = filing["body"]["track"] == "fast_track"
            if stage == "decided" or (fast and stage == "accepted"):
                answer = {"filing_id": remote_id, "status": "filed", "docket_number": filing["docket_number"],
                          "track": filing["body"]["track"], "filed_at": _iso(_now())}
            else:
                answer = {"filing_id": remote_id, "status": "received"}
        return _json(answer)

    def on_enforcement(self, court: Court, body: dict) -> tuple[int, dict]:
        if not body.get("case_code") or not body.get("ruling_number"):
            return 422, {"error": "invalid_enforcement", "message": "case_code and ruling_number are required"}
        application_id = f"ZX{uuid.uuid4().hex[:12].upper()}"
        docket = self._number(court, "执")
        self.enforcements[application_id] = {"application_id": application_id, "court_id": court.court_id,
                                             "body": body, "docket_number": docket}
        return 201, {"application_id": application_id, "docket_number": docket}

    # -- admin ----------------------------------------------------------------------------
    def on_admin_state(self, request: Request) -> Response:
        with self.lock:
            return _json({
                "delay_seconds": self.delay,
                "faults": self.faults,
                "calls": self.calls,
                "feedback": self.feedback,
                "extensions": self.extensions,
                "confirmations": [{**{k: v for k, v in item.items() if k != "received_at"},
                                   "received_at": _iso(item["received_at"])} for item in self.confirmations.values()],
                "filings": [{**{k: v for k, v in item.items() if k != "received_at"},
                             "received_at": _iso(item["received_at"])} for item in self.filings.values()],
                "enforcements": list(self.enforcements.values()),
                "batches": {batch_id: {"court_id": batch["court_id"], "items": len(batch["items"])}
                            for batch_id, batch in self.batches.items()},
            })

    def on_admin_reset(self, request: Request) -> Response:
        self.reset()
        return _json({"reset": True})

    def on_admin_settings(self, request: Request) -> Response:
        body = self._body(request)
        delay = body.get("delay_seconds")
        if not isinstance(delay, int | float) or delay < 0:
            raise Refusal(400, "invalid", "delay_seconds is a number ≥ 0")
        with self.lock:
            self.delay = float(delay)
        return _json({"delay_seconds": self.delay})

    def on_admin_faults(self, request: Request) -> Response:
        body = self._body(request)
        mode = body.get("mode")
        operations = body.get("operations")
        if mode not in ("ok", "fail", "hang", "slow"):
            raise Refusal(400, "invalid", "mode is ok, fail, hang or slow")
        if operations is not None and (not isinstance(operations, list) or set(operations) - set(OPERATIONS)):
            raise Refusal(400, "invalid", f"operations are among {', '.join(OPERATIONS)}")
        with self.lock:
            self.faults = {"mode": mode, "operations": operations, "remaining": body.get("count"),
                           "hang_seconds": float(body.get("hang_seconds", 30))}
            return _json(self.faults)

    def make_items(self, court: Court, count: int, batch_id: str, seed: int) -> list[dict]:
        """Referral items as a court's mediation platform sends them (causes it refers)."""
        rng = random.Random(seed)
        causes = [cause for cause in self.reference.causes.values() if cause.category in court.categories]
        county = court.jurisdictions[0][:6]
        items = []
        for number in range(1, count + 1):
            cause = causes[(number - 1) % len(causes)]
            applicant = rng.choice(SURNAMES) + rng.choice(GIVEN)
            respondent_is_company = cause.category in ("property_management", "lending", "construction", "consumer")
            respondent = rng.choice(COMPANIES) if respondent_is_company else rng.choice(SURNAMES) + rng.choice(GIVEN)
            amount = float(rng.randrange(2, 400) * 500)
            items.append({
                "channel": "court_referral",
                "channel_ref": f"{batch_id}-{number:05d}",
                "jurisdiction": f"{county}{rng.randrange(1, 10):03d}",
                "category": cause.category,
                "cause": cause.cause,
                "summary": f"{cause.name}：{applicant}诉{respondent}"[:200],
                "description": f"原告{applicant}诉被告{respondent}{cause.name}一案，经{court.name}诉前委派调解。",
                "parties": [
                    {"role": "applicant", "kind": "person", "name": applicant,
                     "phone": f"13{rng.randrange(0, 10**9):09d}", "id_number": None, "address": None},
                    {"role": "respondent", "kind": "organisation" if respondent_is_company else "person",
                     "name": respondent, "phone": None, "id_number": None, "address": None},
                ],
                "people_involved": 2,
                "amount": amount,
                "occurred_at": (date(2026, 1, 1) + timedelta(days=rng.randrange(0, 300))).isoformat(),
                "attachments": [{"name": "起诉状.pdf", "content_type": "application/pdf", "size": 20480,
                                 "sha256": hashlib.sha256(f"{batch_id}-{number}".encode()).hexdigest()}],
            })
        return items

    def on_admin_make_batch(self, request: Request) -> Response:
        body = self._body(request)
        court = self.reference.court(body.get("court_id"))
        count = body.get("count")
        if court is None:
            raise Refusal(404, "unknown_court", f"no court {body.get('court_id')}")
        if not isinstance(count, int) or not 1 <= count <= 10_000:
            raise Refusal(400, "invalid", "count is 1 to 10000")
        batch_id = str(body.get("batch_id") or f"{court.docket_code}-{uuid.uuid4().hex[:8]}")
        items = self.make_items(court, count, batch_id, int(body.get("seed", 0)))
        with self.lock:
            self.batches[batch_id] = {"court_id": court.court_id, "items": items}
        return _json({"batch_id": batch_id, "court_id": court.court_id, "count": count,
                      "referral_ids": [item["channel_ref"] for item in items]}, 201)

    def on_admin_push_batch(self, request: Request, batch_id: str) -> Response:
        body = self._body(request) if request.get_data() else {}
        batch = self.batches.get(batch_id)
        if batch is None:
            raise Refusal(404, "not_found", f"no batch {batch_id}")
        court = self.reference.court(batch["court_id"])
        target = str(body.get("target") or self.bridge_url).rstrip("/")
        token = body.get("token") or self.court_token(court)
        started = time.perf_counter()
        try:
            response = requests.post(
                f"{target}/api/v1/court/referrals",
                json={"court_id": court.court_id, "batch_id": batch_id, "items": batch["items"]},
                headers={"Authorization": f"Bearer {token}"}, timeout=float(body.get("timeout", 300)))
        except requests.RequestException as exc:
            return _json({"error": "bridge_unreachable", "message": str(exc)}, 502)
        answer = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        return _json({"status": response.status_code, "seconds": round(time.perf_counter() - started, 3),
                      "answer": answer})

    @staticmethod
    def court_token(court: Court) -> str:
        """A court-role token for pushing batches, signed with the deployment's JWT secret."""
        from services.common.auth import mint_token
        from services.common.config import load_config

        secret = load_config()["ONESTOP_JWT_SECRET"]
        return mint_token(secret, sub=f"court-system:{court.court_id}", roles=["court"],
                          jurisdictions=list(court.jurisdictions), agency=court.court_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OneStop court simulator (a court's case system)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds before a court accepts, and again before"
                                                                 " it decides")
    parser.add_argument("--courts", default=None, help="courts file (default: court_bridge's data/courts.yaml)")
    parser.add_argument("--bridge-url", default="http://127.0.0.1:8004", help="where court_bridge answers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reference = load_reference({"COURT_COURTS_FILE": args.courts} if args.courts else {})
    app = CourtSimulator(reference, delay=args.delay, bridge_url=args.bridge_url)
    server = make_server(args.host, args.port, app, threaded=True)
    log.info("court simulator on http://%s:%d for %d courts (delay %.1f s)", args.host, args.port,
             len(reference.courts), args.delay)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
