"""The mediation service: rooms, mediators, sessions on site and by video, outcomes,
agreements and risk follow-ups (DESIGN.md §2, issue 5; docs/mediation.md).

The entrypoints live in services/mediation/api/ by subject; this class puts them together
with the dependencies they share.
"""

from __future__ import annotations

from services.common.dependencies import Store
from services.common.platform import PlatformService
from services.common.rpc import TimedRpcProxy
from services.mediation.api.common import MediationMetrics
from services.mediation.api.files import FilesApi
from services.mediation.api.followups import FollowupsApi
from services.mediation.api.outcomes import OutcomesApi
from services.mediation.api.resources import ResourcesApi
from services.mediation.api.sessions import SessionsApi
from services.mediation.dependencies import Clock, RulesProvider
from services.mediation.store import MediationRepository


class MediationService(PlatformService, ResourcesApi, FilesApi, SessionsApi, OutcomesApi, FollowupsApi):
    name = "mediation"
    declare_metrics = MediationMetrics

    store = Store(MediationRepository)
    rules = RulesProvider()
    clock = Clock()
    intake_rpc = TimedRpcProxy("intake")
