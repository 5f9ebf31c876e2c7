"""Budgets and rate limits in memory, exact under concurrency: admission reserves, completion settles.

A call is admitted only if, at every level, used + reserved + its reservation stays within the limit; the
check and the reservation happen with no `await` between them, so concurrent calls of this process cannot both
take the last of a budget. Settling replaces the reservation by the real amount, so a budget is overspent by at
most what one call used beyond its reservation. What was used is persisted by the store (see `dirty`).

The Ledger is this process's `Counters`; with the `redis` section, SharedCounters (shared.py) holds the same
amounts in Redis for every gateway process, and keeps these meters as its mirror of the shared values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from gateway import PaymentRequired, RateLimited

from .durations import budget_window, rate_window

Clock = Callable[[], float]
RESIDUE = 1e-12  # below this a held amount is rounding left over from additions and subtractions


@dataclass(slots=True)
class Meter:
    """One limit at one level: a budget (USD) or a rate limit (requests or tokens) and its current window."""

    key: str  # e.g. "budget:vk:vk-1:0", "tokens:vk:vk-1", "requests:vk:vk-1/openai"
    label: str  # how denials name it, e.g. "budget of virtual key 'ci'"
    limit: float
    duration: str
    is_budget: bool
    counts_at_admission: bool = False  # request limits: a call counts when admitted, whatever happens next
    calendar_aligned: bool = False
    anchor: float = 0.0  # budgets: when the first period started
    window_start: float = 0.0
    window_end: float = 0.0
    used: float = 0.0
    reserved: float = 0.0  # in flight: carried across a window change, since those calls still run

    def roll(self, now: float) -> None:
        if now < self.window_end:
            return
        if self.is_budget:
            self.window_start, self.window_end = budget_window(self.duration, now, self.anchor, self.calendar_aligned)
        else:
            self.window_start, self.window_end = rate_window(self.duration, now)
        self.used = 0.0


@dataclass(slots=True)
class Reservation:
    """What one call holds: an amount on each meter, until settled or released (each at most once)."""

    amounts: list[tuple[Meter, float]]
    open: bool = True
    shared: bool = False  # held in Redis (SharedCounters), not in this process's ledger


class Counters(Protocol):
    """Where admissions are decided and amounts held: this process (Ledger) or Redis (SharedCounters)."""

    async def admit(self, amounts: list[tuple[Meter, float]]) -> Reservation:
        """Reserve every amount, or raise (402/429 naming the meter, 503 when shared counters are out of reach)."""
        ...

    def settle(self, reservation: Reservation, actual: Callable[[Meter], float]) -> None: ...

    def release(self, reservation: Reservation) -> None: ...


@dataclass
class Ledger:
    clock: Clock
    meters: dict[str, Meter] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)  # meters whose `used` changed since the store last saved
    restored: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (window_start, used) saved

    def meter(self, template: Meter) -> Meter:
        """The live meter for a limit; a config change of the limit applies at once, its usage is kept."""
        live = self.meters.get(template.key)
        if live is None:
            live = self.meters[template.key] = template
            live.roll(self.clock())
            saved = self.restored.pop(live.key, None)
            if saved is not None and saved[0] == live.window_start:  # usage saved earlier in this same window
                live.used = saved[1]
        else:
            live.limit, live.label = template.limit, template.label
            live.roll(self.clock())
        return live

    async def admit(self, amounts: list[tuple[Meter, float]]) -> Reservation:
        return self.reserve(amounts)

    def reserve(self, amounts: list[tuple[Meter, float]]) -> Reservation:
        """Hold `amount` on each meter, or raise (402 for a budget, 429 for a rate limit) naming the first
        meter that cannot take it, holding nothing."""
        now = self.clock()
        for meter, amount in amounts:
            meter.roll(now)
            if meter.used + meter.reserved + amount > meter.limit:
                raise denial(meter, now)
        held = []
        for meter, amount in amounts:
            if meter.counts_at_admission:
                meter.used += amount
                self.dirty.add(meter.key)
            else:
                meter.reserved += amount
                held.append((meter, amount))
        return Reservation(held)

    def settle(self, reservation: Reservation, actual: Callable[[Meter], float]) -> None:
        """Replace each held amount by the real one (`actual(meter)`), in the meter's current window."""
        if not reservation.open:
            return
        reservation.open = False
        now = self.clock()
        for meter, amount in reservation.amounts:
            meter.roll(now)
            meter.reserved = _less(meter.reserved, amount)
            meter.used += actual(meter)
            self.dirty.add(meter.key)

    def release(self, reservation: Reservation) -> None:
        if not reservation.open:
            return
        reservation.open = False
        for meter, amount in reservation.amounts:
            meter.reserved = _less(meter.reserved, amount)

    def exhausted(self, meter: Meter) -> bool:
        meter.roll(self.clock())
        return meter.used + meter.reserved >= meter.limit


def denial(meter: Meter, now: float) -> PaymentRequired | RateLimited:
    if meter.is_budget:
        return PaymentRequired(
            f"{meter.label} is exhausted: ${meter.used:.6f} of ${meter.limit:.6f} used, with calls in flight"
            f" holding ${meter.reserved:.6f}; it resets in {meter.window_end - now:.0f}s"
        )
    unit = "requests" if meter.key.startswith("requests:") else "tokens"
    return RateLimited(
        f"{meter.label} reached: {meter.used + meter.reserved:.0f} of {meter.limit:.0f} {unit} per {meter.duration}",
        retry_after=max(meter.window_end - now, 1.0),
    )


def _less(held: float, amount: float) -> float:
    """`held - amount`, where float residue (1e-19 after many calls) counts as nothing held."""
    left = held - amount
    return left if left > RESIDUE else 0.0
