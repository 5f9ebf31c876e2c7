"""Reset durations (`1m 5m 1h 1d 1w 1M 1Y`) and the windows they cut time into (all in UTC).

Rate limits use fixed windows on multiples of the duration since the Unix epoch: every process agrees where a
window starts without asking the others. Budgets reset every `reset_duration` counted from the budget's start
(its anchor), or, with `calendar_aligned`, at UTC calendar boundaries: midnight, Monday 00:00, the 1st of the
month, January 1st.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Duration = Literal["1m", "5m", "1h", "1d", "1w", "1M", "1Y"]
SECONDS: dict[str, int] = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86_400, "1w": 604_800}
MONTHS: dict[str, int] = {"1M": 1, "1Y": 12}
EPOCH_MONDAY = 4 * 86_400  # 1970-01-01 was a Thursday


def rate_window(duration: str, now: float) -> tuple[float, float]:
    """The fixed [start, end) window containing `now`."""
    if duration in MONTHS:
        return _calendar(duration, now)
    length = SECONDS[duration]
    start = now - now % length
    return start, start + length


def budget_window(duration: str, now: float, anchor: float, calendar_aligned: bool) -> tuple[float, float]:
    """The [start, end) budget period containing `now`."""
    if calendar_aligned:
        if duration in MONTHS:
            return _calendar(duration, now)
        length = SECONDS[duration]
        offset = EPOCH_MONDAY if duration == "1w" else 0
        start = now - (now - offset) % length
        return start, start + length
    if duration in MONTHS:
        return _months_from(anchor, MONTHS[duration], now)
    length = SECONDS[duration]
    start = now - (now - anchor) % length
    return start, start + length


def _calendar(duration: str, now: float) -> tuple[float, float]:
    at = datetime.fromtimestamp(now, UTC)
    month = 1 if duration == "1Y" else at.month
    start = datetime(at.year, month, 1, tzinfo=UTC)
    return start.timestamp(), _add_months(start, MONTHS[duration]).timestamp()


def _months_from(anchor: float, step: int, now: float) -> tuple[float, float]:
    """Periods of `step` months from the anchor (a period starting on the 31st ends on the month's last day)."""
    base = datetime.fromtimestamp(anchor, UTC)
    at = datetime.fromtimestamp(now, UTC)
    elapsed = (at.year - base.year) * 12 + at.month - base.month
    periods = max(elapsed // step, 0)
    start = _add_months(base, periods * step)
    if start.timestamp() > now:
        periods -= 1
        start = _add_months(base, periods * step)
    return start.timestamp(), _add_months(base, (periods + 1) * step).timestamp()


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    last_day = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
