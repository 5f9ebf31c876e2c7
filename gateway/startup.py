"""What can stop a gateway from starting, said in one line that tells the operator what to do (`gateway serve`
prints it and exits 1), and the app-dir lock that keeps a second gateway off a data directory in use.

The lock is `flock` on `<app dir>/gateway.lock`: the kernel drops it when the holder's process ends, however it
ends, so a crashed or killed gateway never blocks the next one; the file keeps the holder's pid for the message.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

EXIT_FAILED = 1  # could not start (or check-config found errors)
EXIT_USAGE = 2  # bad arguments or config
LOCK_FILE = "gateway.lock"


class StartupError(Exception):
    """The gateway cannot start; the message is the whole story (no traceback)."""


def prepare_app_dir(path: Path) -> None:
    """Create the app dir if needed; refuse a file or a place we may not create it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StartupError(f"app dir {path} is a file, not a directory (pass another --app-dir)") from None
    except NotADirectoryError:
        raise StartupError(f"app dir {path} is inside a file, not a directory (pass another --app-dir)") from None
    except OSError as exc:
        raise StartupError(f"cannot create app dir {path}: {_reason(exc)} (pass another --app-dir)") from None


@contextlib.contextmanager
def app_dir_lock(path: Path) -> Iterator[None]:
    """Hold the app dir for this gateway while the context is open (see the module's docstring)."""
    prepare_app_dir(path)
    lock_path = path / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StartupError(f"cannot write in app dir {path}: {_reason(exc)} (pass another --app-dir)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise StartupError(
            f"app dir {path} is in use by another gateway ({holder}); stop that one or pass another --app-dir"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        # Closing releases the lock. The file stays: unlinking it could race a gateway that just opened it.
        os.close(fd)


def _holder(fd: int) -> str:
    """The pid the lock's holder wrote, as the message shows it."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f"pid {pid}"
    return "pid unknown"


def bind_error(exc: OSError, host: str, port: int, flag: str) -> StartupError:
    """Why a listener could not be opened on host:port, and which option to change (`flag`: --port or
    --admin-port)."""
    host_flag = "--admin-host" if flag == "--admin-port" else "--host"
    if isinstance(exc, socket.gaierror):
        return StartupError(f"cannot resolve {host_flag} {host!r} (pass an IP address or a name this machine knows)")
    if exc.errno == errno.EADDRINUSE:
        return StartupError(f"port {port} on {host} is in use (another gateway? pass {flag})")
    if exc.errno == errno.EADDRNOTAVAIL:
        return StartupError(
            f"{host_flag} {host} is not an address of this machine (pass 127.0.0.1, 0.0.0.0 or one of its own)"
        )
    if exc.errno == errno.EACCES:
        return StartupError(f"not allowed to listen on port {port} (ports below 1024 need privileges; pass {flag})")
    return StartupError(f"cannot listen on {host} port {port}: {_reason(exc)} (check {host_flag} and {flag})")


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
