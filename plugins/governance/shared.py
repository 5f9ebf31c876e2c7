"""Budgets and rate limits shared by every gateway process on one Redis (the `redis` section): SharedCounters.

Each meter is a Redis hash (`<prefix>gov:<meter key>`: window end, used, reserved). Admission is ONE Lua script per
call: it rolls each meter's window, checks every level and reserves on all of them, or denies naming the first
that cannot take its amount, with no window between check and reservation for any process. So calls of all
processes together overspend a budget by no more than calls of one process do: at most what a call used beyond
its reservation (the reservation is the call's worst case).

Settlements (a call's real cost and tokens replacing its reservation; a release is a settlement of nothing) add
up, so they are gathered per meter and go to Redis in the same script as the next admission, which applies them
first; when no admission comes within SETTLE_DELAY_S, a script of their own sends them. Holding a reservation a
little longer only makes admissions more careful, and it halves the round trips of a call.

Windows: each process computes the window containing its `now` (durations.py, the same for all processes but for
a budget's anchor, which is each process's first sight of its owner); the first process to see a window end starts
the next one, and the others take it. The local meters mirror the last values Redis answered; their `used` is what
the store persists (a snapshot of the shared total, which each process may save: nothing is summed, so nothing is
counted twice), and what a Redis that lost its data is seeded with by the first process that touches the meter.

While Redis is out of reach, `on_failure` decides: "deny" refuses calls (503, naming Redis); "allow_local" admits
them on this process's ledger alone (what nodes spend then is not merged back). Redis is tried again after
RETRY_S; one warning is logged per transition. Settlements wait (per meter, so bounded) until it answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal

from gateway import Overloaded
from gateway.api import Outage, RedisUnavailable, SharedRedis

from .ledger import Ledger, Meter, Reservation, denial

log = logging.getLogger("gateway.governance")
RETRY_S = 1.0  # after a failure, calls do not wait on Redis again for this long
GRACE_S = 3600  # a meter's hash outlives its window by this much: calls still in flight settle into it
SETTLE_DELAY_S = 0.02  # settlements wait this long for an admission to carry them

# KEYS: the meters to settle (ARGV[2] of them), then those to reserve. ARGV: now, the count to settle, then per
# meter to settle: window end, amount held, amount used, seed; per meter to reserve: window end, limit, amount,
# counted at admission (1/0), seed. The seed is what a meter missing from Redis starts from (the process's last
# view). Answers {0, used, reserved for each meter} or, denied, {index among those to reserve, used, reserved, end}.
SCRIPT = """
local function num(x) return string.format('%.17g', x) end
local function load(key, now, stop, seed)
  local h = redis.call('HMGET', key, 'end', 'used', 'reserved')
  local wend, used, reserved = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
  if wend == nil then return seed, 0, stop end
  if now >= wend then return 0, reserved, stop end
  return used, reserved, wend
end
local function save(key, used, reserved, wend)
  redis.call('HSET', key, 'end', num(wend), 'used', num(used), 'reserved', num(reserved))
  redis.call('EXPIREAT', key, math.ceil(wend) + GRACE)
end
local now, settled, out = tonumber(ARGV[1]), tonumber(ARGV[2]), {0}
for i = 1, settled do
  local a = 2 + (i - 1) * 4
  local used, reserved, wend = load(KEYS[i], now, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 4]))
  reserved = reserved - tonumber(ARGV[a + 2])
  if reserved < 1e-12 then reserved = 0 end
  used = used + tonumber(ARGV[a + 3])
  save(KEYS[i], used, reserved, wend)
  out[#out + 1] = num(used)
  out[#out + 1] = num(reserved)
end
local base, state = 2 + settled * 4, {}
for i = settled + 1, #KEYS do
  local a = base + (i - settled - 1) * 5
  local used, reserved, wend = load(KEYS[i], now, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 5]))
  if used + reserved + tonumber(ARGV[a + 3]) > tonumber(ARGV[a + 2]) then
    return {i - settled, num(used), num(reserved), num(wend)}
  end
  state[i] = {used, reserved, wend}
end
for i = settled + 1, #KEYS do
  local a = base + (i - settled - 1) * 5
  local used, reserved, wend = state[i][1], state[i][2], state[i][3]
  if ARGV[a + 4] == '1' then used = used + tonumber(ARGV[a + 3]) else reserved = reserved + tonumber(ARGV[a + 3]) end
  save(KEYS[i], used, reserved, wend)
  out[#out + 1] = num(used)
  out[#out + 1] = num(reserved)
end
return out
"""
Unsent = dict[str, tuple[Meter, float, float]]  # meter key -> (meter, amount held, amount used) to settle


class SharedCounters:
    def __init__(self, redis: SharedRedis, ledger: Ledger, on_failure: Literal["deny", "allow_local"]) -> None:
        self._redis = redis
        self._ledger = ledger
        self._deny = on_failure == "deny"
        self._script = redis.script(SCRIPT.replace("GRACE", str(GRACE_S)))
        policy = "refusing governed calls" if self._deny else "counting on this process alone"
        self._outage = Outage(
            log, RETRY_S, f"shared budgets and rate limits: {{error}}; {policy} until it answers",
            "shared budgets and rate limits: Redis answers again; counting there",
        )  # fmt: skip
        self._unsent: Unsent = {}  # settlements not sent yet (and those that failed, until Redis answers)
        self._sender: asyncio.Task[None] | None = None

    async def admit(self, amounts: list[tuple[Meter, float]]) -> Reservation:
        if self._outage.skipping:
            return self._without_redis(amounts)
        now = self._ledger.clock()
        batch, self._unsent = self._unsent, {}
        keys, args, settled = self._settlements(batch, now)
        for meter, amount in amounts:
            meter.roll(now)
            keys.append(self._redis.key(f"gov:{meter.key}"))
            args += [meter.window_end, meter.limit, amount, int(meter.counts_at_admission), meter.used]
        try:
            reply = await self._redis.run(self._script, keys, args)
        except RedisUnavailable as error:
            self._went_down(error, batch)
            return self._without_redis(amounts)
        self._outage.answered()
        denied = int(reply[0])
        if denied:
            meter = amounts[denied - 1][0]
            meter.used, meter.reserved, meter.window_end = (float(x) for x in reply[1:4])
            raise denial(meter, now)
        self._mirror([*settled, *(meter for meter, _ in amounts)], reply[1:])
        return Reservation([(m, a) for m, a in amounts if not m.counts_at_admission], shared=True)

    def settle(self, reservation: Reservation, actual: Callable[[Meter], float]) -> None:
        if not reservation.shared:
            self._ledger.settle(reservation, actual)
        elif reservation.open:
            reservation.open = False
            self._add([(meter, held, actual(meter)) for meter, held in reservation.amounts])

    def release(self, reservation: Reservation) -> None:
        if not reservation.shared:
            self._ledger.release(reservation)
        elif reservation.open:
            reservation.open = False
            self._add([(meter, held, 0.0) for meter, held in reservation.amounts])

    async def close(self) -> None:
        """Send what is still unsent, once (bounded by the Redis timeout)."""
        if self._sender is not None:
            await self._sender  # not cancelled: it may hold a batch it took
        self._outage.since = None
        await self._send_unsent(delay=0.0)

    def _add(self, changes: list[tuple[Meter, float, float]]) -> None:
        _merge(self._unsent, changes)
        if self._unsent and self._outage.since is None and (self._sender is None or self._sender.done()):
            self._sender = asyncio.create_task(self._send_unsent(SETTLE_DELAY_S))

    async def _send_unsent(self, delay: float) -> None:
        """What no admission carried within `delay`, in a script of its own."""
        await asyncio.sleep(delay)
        if not self._unsent:
            return
        now = self._ledger.clock()
        batch, self._unsent = self._unsent, {}
        keys, args, settled = self._settlements(batch, now)
        try:
            reply = await self._redis.run(self._script, keys, args)
        except RedisUnavailable as error:
            self._went_down(error, batch)
            return
        self._mirror(settled, reply[1:])

    def _settlements(self, batch: Unsent, now: float) -> tuple[list[str], list[Any], list[Meter]]:
        keys, args, meters = [], [now, len(batch)], []
        for meter, held, used in batch.values():
            meter.roll(now)
            keys.append(self._redis.key(f"gov:{meter.key}"))
            args += [meter.window_end, held, used, meter.used]
            meters.append(meter)
        return keys, args, meters

    def _mirror(self, meters: list[Meter], values: list[Any]) -> None:
        for i, meter in enumerate(meters):
            meter.used, meter.reserved = float(values[2 * i]), float(values[2 * i + 1])
            self._ledger.dirty.add(meter.key)

    def _without_redis(self, amounts: list[tuple[Meter, float]]) -> Reservation:
        if self._deny:
            raise Overloaded(
                "budgets and rate limits are shared through Redis, which cannot be reached: try again shortly",
                status=503,
                retry_after=RETRY_S,
            )
        return self._ledger.reserve(amounts)

    def _went_down(self, error: RedisUnavailable, unsent: Unsent) -> None:
        _merge(self._unsent, list(unsent.values()))  # kept for when Redis answers again
        self._outage.failed(error)


def _merge(unsent: Unsent, changes: list[tuple[Meter, float, float]]) -> None:
    for meter, held, used in changes:
        _, held_before, used_before = unsent.get(meter.key, (meter, 0.0, 0.0))
        unsent[meter.key] = (meter, held_before + held, used_before + used)
