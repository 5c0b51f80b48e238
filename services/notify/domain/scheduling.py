"""When a message may go out: quiet hours for non-urgent messages, retries with back-off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_clock_time(text: str) -> time:
    """"22:00" → time(22, 0); a clear ValueError for anything else."""
    try:
        hours, minutes = (int(part) for part in str(text).split(":"))
        return time(hours, minutes)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a clock time HH:MM: {text!r}") from exc


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which non-urgent messages on some channels wait (deferred, never dropped)."""

    start: time
    end: time
    timezone: str
    channels: frozenset[str]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_quiet(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # the window crosses midnight

    def applies(self, channel: str, urgent: bool) -> bool:
        return not urgent and channel in self.channels

    def release(self, moment: datetime) -> datetime:
        """The first moment at or after `moment` outside the window (UTC)."""
        if not self.is_quiet(moment):
            return moment
        local = moment.astimezone(self.zone)
        candidate = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate.astimezone(UTC)

    def earliest(self, moment: datetime, channel: str, urgent: bool) -> tuple[datetime, bool]:
        """When a message due at `moment` may be sent, and whether quiet hours deferred it."""
        if not self.applies(channel, urgent):
            return moment, False
        released = self.release(moment)
        return released, released != moment


@dataclass(frozen=True)
class RetryPolicy:
    """Seconds to wait after the 1st, 2nd … failed attempt; after the last, the message fails."""

    delays: tuple[float, ...]

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def next_attempt(self, attempts_made: int, now: datetime) -> datetime | None:
        if attempts_made < 1 or attempts_made > len(self.delays):
            return None
        return now + timedelta(seconds=self.delays[attempts_made - 1])
