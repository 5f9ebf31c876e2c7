"""`gateway serve --workers N`: a supervisor process and N worker processes serving one port.

The supervisor checks the config, holds the app dir's lock for all its workers (they share the directory; no
other gateway may use it) and opens the listening sockets: one per worker slot, all on one port with
SO_REUSEPORT, so the kernel spreads new connections over them. Worker k serves on slot k's socket, inherited
(`gateway serve --worker-fds`). The sockets outlive the workers: a connection waiting in a slot's queue is taken
by whichever worker serves the slot next, so a reload or a restart resets none. A worker is ready when it
prints its start-up line (the supervisor relays its output).

The supervisor restarts a worker that dies, forwards SIGTERM and SIGINT (each worker drains, then the supervisor
exits 0), and on SIGHUP reloads: it checks the file again and, when it is good, starts N new workers on it, and
only once all of them listen does it drain the old ones, so that no connection is refused during the swap. A bad
file is logged, error by error, and the running workers keep the old config.

More than one worker needs the config's `redis` section: without shared state every worker would keep its own
budgets, rate limits, async jobs and sticky sessions, and enforce them apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError
from .loading import first_problem, invalid, load_config
from .startup import EXIT_FAILED, EXIT_USAGE, StartupError, app_dir_lock, bind_error

log = logging.getLogger("gateway.supervisor")
LISTEN_BACKLOG = 1024
START_TIMEOUT_S = 60.0  # a worker that has not printed its start-up line by then is killed
RESTART_DELAY_S = 1.0  # between a worker's death and its replacement (a crash loop must not spin)
NEEDS_REDIS = (
    "--workers {n} needs the config's `redis` section: without shared state each worker would keep its own "
    "budgets, rate limits, async jobs and virtual keys (run one worker, or configure redis)"
)


@dataclass(frozen=True)
class Plan:
    """What the supervisor runs: `count` workers, each `python -m gateway serve` with `argv` plus the port."""

    config_path: str
    count: int
    strict: bool
    drain_timeout_s: float
    argv: list[str]  # the workers' command line after `serve`, without --port/--admin-port
    listeners: list[tuple[str, int, str]]  # (host, port, flag): the main listener, and the admin one if any
    app_dir: Path


def config_problems(plan: Plan) -> list[str]:
    """Why the config file cannot be served by `plan.count` workers (empty: it can)."""
    try:
        loaded = load_config(plan.config_path, strict=plan.strict)
    except ConfigError as exc:
        return invalid(plan.config_path, exc)
    if plan.count > 1 and loaded.settings.redis is None:
        return [NEEDS_REDIS.format(n=plan.count)]
    return []


def supervise(plan: Plan) -> int:
    """Run the workers until SIGTERM or SIGINT; the exit code of `gateway serve --workers`."""
    if problems := config_problems(plan):
        print(first_problem(plan.config_path, problems), file=sys.stderr)
        return EXIT_USAGE
    try:
        with app_dir_lock(plan.app_dir), _listening(plan.listeners, plan.count) as slots:
            return asyncio.run(Supervisor(plan, slots).run())
    except StartupError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return EXIT_FAILED


@contextlib.contextmanager
def _listening(listeners: list[tuple[str, int, str]], count: int) -> Iterator[list[list[socket.socket]]]:
    """`count` listening sockets on each (host, port) with SO_REUSEPORT (port 0: the first one picks), by slot:
    slot k's are [main, admin]."""
    with contextlib.ExitStack() as stack:
        slots: list[list[socket.socket]] = [[] for _ in range(count)]
        for host, port, flag in listeners:
            for slot in slots:
                sock = stack.enter_context(socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                try:
                    sock.bind((host, port))
                except OSError as exc:
                    raise bind_error(exc, host, port, flag) from None
                port = int(sock.getsockname()[1])
                sock.listen(LISTEN_BACKLOG)
                sock.set_inheritable(True)
                slot.append(sock)
        yield slots


@dataclass
class Supervisor:
    plan: Plan
    slots: list[list[socket.socket]]  # slot -> its listening sockets (main, then admin)
    workers: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)  # slot -> the current one
    retiring: set[asyncio.subprocess.Process] = field(default_factory=set)  # old workers draining
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: bool = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        signals: asyncio.Queue[int] = asyncio.Queue()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, signals.put_nowait, sig)
        started = await self._start_all()
        if isinstance(started, int):
            return started
        self._adopt(started)
        url = f"http://{self.plan.listeners[0][0]}:{self.slots[0][0].getsockname()[1]}"
        print(f"gateway supervisor (pid {os.getpid()}): {self.plan.count} workers on {url}", flush=True)
        while await signals.get() == signal.SIGHUP:
            await self._reload()
        await self._stop()
        return 0

    def _command(self, slot: int) -> list[str]:
        socks = self.slots[slot]
        ports = ["--port", str(socks[0].getsockname()[1])]
        if len(socks) > 1:
            ports += ["--admin-port", str(socks[1].getsockname()[1])]
        fds = ",".join(str(sock.fileno()) for sock in socks)
        return [sys.executable, "-m", "gateway", "serve", *self.plan.argv, *ports, "--worker-fds", fds]

    async def _spawn(self, slot: int) -> asyncio.subprocess.Process | int:
        """Slot `slot`'s worker, once it listens; else its exit code (it said why on stderr)."""
        process = await asyncio.create_subprocess_exec(
            *self._command(slot),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            pass_fds=[sock.fileno() for sock in self.slots[slot]],
        )
        assert process.stdout is not None
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                line = await process.stdout.readline()
        except TimeoutError:
            line = b""
        if not line:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            code = await process.wait()
            return code if code > 0 else EXIT_FAILED
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()
        self._task(self._relay(process))
        return process

    async def _start_all(self) -> list[asyncio.subprocess.Process] | int:
        """N ready workers, or the first failure's exit code (the ones already started are stopped)."""
        started: list[asyncio.subprocess.Process] = []
        for slot in range(self.plan.count):
            spawned = await self._spawn(slot)
            if isinstance(spawned, int):
                await _terminate(started, self.plan.drain_timeout_s)
                return spawned
            started.append(spawned)
        return started

    def _adopt(self, processes: list[asyncio.subprocess.Process]) -> None:
        for slot, process in enumerate(processes):
            self.workers[slot] = process
            self._task(self._watch(slot, process))

    async def _watch(self, slot: int, process: asyncio.subprocess.Process) -> None:
        """Replace the worker of `slot` when it dies (not when it was retired or the supervisor stops)."""
        code = await process.wait()
        while not self.stopping and self.workers.get(slot) is process:
            log.warning("worker pid %d exited with code %d; starting another", process.pid, code)
            await asyncio.sleep(RESTART_DELAY_S)
            if self.stopping:
                return
            spawned = await self._spawn(slot)
            if not isinstance(spawned, int):
                self.workers[slot] = spawned
                self._task(self._watch(slot, spawned))
                return

    async def _reload(self) -> None:
        """SIGHUP: new workers on the file as it is now, then the old ones drained; a bad file changes nothing."""
        if problems := config_problems(self.plan):
            for line in problems:
                log.error("reload refused: %s", line)
            log.error(
                "reload refused: %s has errors; the workers keep the config they started with", self.plan.config_path
            )
            return
        log.info("reloading %s: starting %d new workers", self.plan.config_path, self.plan.count)
        started = await self._start_all()
        if isinstance(started, int):
            log.error(
                "reload failed: a new worker could not start (exit code %d); the old workers keep serving", started
            )
            return
        old = list(self.workers.values())
        self._adopt(started)
        self.retiring.update(old)
        self._task(self._retire(old))

    async def _retire(self, old: list[asyncio.subprocess.Process]) -> None:
        await _terminate(old, self.plan.drain_timeout_s)
        self.retiring.difference_update(old)
        log.info("reload done: the old workers drained")

    async def _stop(self) -> None:
        self.stopping = True
        for sock in (sock for socks in self.slots for sock in socks):
            sock.close()  # once the workers close theirs too, new connections are refused
        await _terminate([*self.workers.values(), *self.retiring], self.plan.drain_timeout_s)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _relay(self, process: asyncio.subprocess.Process) -> None:
        """A worker's output after its start-up line, to ours (a worker must never block on a full pipe)."""
        assert process.stdout is not None
        async for line in process.stdout:
            sys.stdout.write(line.decode(errors="replace"))
            sys.stdout.flush()

    def _task(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def _terminate(processes: list[asyncio.subprocess.Process], drain_timeout_s: float) -> None:
    """SIGTERM (each drains for up to its --drain-timeout), then SIGKILL for any still there well after it."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    waits = [asyncio.ensure_future(p.wait()) for p in processes]
    if not waits:
        return
    # After the drain come the app's cleanups (async jobs get their own grace): allow for them too.
    _, late = await asyncio.wait(waits, timeout=drain_timeout_s + 30.0)
    for process in processes:
        if process.returncode is None:
            log.warning("worker pid %d did not stop in time; killing it", process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    await asyncio.gather(*late)


async def stop_when_orphaned(stop: asyncio.Event, every_s: float = 1.0) -> None:
    """In a worker: a supervisor that died (SIGKILL: it could not forward anything) has the worker drain."""
    parent = os.getppid()
    while True:
        await asyncio.sleep(every_s)
        if os.getppid() != parent:
            stop.set()
            return
