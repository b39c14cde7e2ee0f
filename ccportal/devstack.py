"""Local stack for `make run` and `make test`.

    python -m ccportal.devstack exec -- CMD ...   run CMD with DATABASE_URL/REDIS_URL/SECRET_KEY set
    python -m ccportal.devstack run               migrate, load the demo, serve web + worker + beat,
                                                  and replay demo calls as live traffic
                                                  (--no-simulate: without the calls)

When DATABASE_URL or REDIS_URL is not set, a real PostgreSQL 16 and a real Valkey (the
Redis-compatible server) are started from their wheels under ``.data/<profile>/`` and stopped on
exit (ccportal/devservers.py), so a new machine needs nothing but Python. When they are set,
external servers are used unchanged.

What the person at the keyboard must fix (a port in use, a broken data folder, missing extras)
ends the command with one `[ccportal]` line that says what to do, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from ccportal import devservers
from ccportal.devservers import SetupError
from ccportal.devservers import log as _log

ROOT = Path(__file__).resolve().parent.parent


def _secret_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _twilio_token(data_dir: Path) -> str:
    """A local Twilio auth token, so the call simulator can sign what the portal verifies."""
    path = data_dir / "twilio_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))  # the shape of a real auth token
        path.chmod(0o600)
    return path.read_text().strip()


def prepare_environment(profile: str, stack: ExitStack) -> dict[str, str]:
    """Return os.environ plus whatever is missing to reach a database and Redis."""
    env = dict(os.environ)
    data_dir = Path(env.get("CCPORTAL_DATA_DIR", ROOT / ".data")) / profile
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = devservers.start_postgres(data_dir, stack)
    else:
        _log("using DATABASE_URL from the environment")
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = devservers.start_valkey(data_dir, stack)
    else:
        _log("using REDIS_URL from the environment")
    env.setdefault("SECRET_KEY", _secret_key(data_dir))
    # Only the local run: tests configure their own tokens, and a real deployment must set them.
    if profile == "run" and not (env.get("TWILIO_AUTH_TOKENS") or env.get("TWILIO_AUTH_TOKEN")):
        env["TWILIO_AUTH_TOKENS"] = _twilio_token(data_dir)
        _log(f"Twilio auth token for local use: {data_dir / 'twilio_token'}")
    env.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    return env


def _exec(command: list[str]) -> int:
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        _log("nothing to run: give a command after `exec --`")
        return 2
    with ExitStack() as stack:
        env = prepare_environment(os.environ.get("CCPORTAL_PROFILE", "test"), stack)
        return subprocess.call(command, env=env, cwd=ROOT)


def _wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Daphne binds
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise SetupError(f"cannot listen on {host}:{port} ({error.strerror})") from error
            raise SetupError(
                f"port {port} on {host} is in use (another `make run`?): stop that program, "
                f"or choose another port with `make run PORT={port + 1}`"
            ) from error


def _record_processes(run_dir: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    record = {"run": os.getpid(), "children": [p.pid for p in processes]}
    (run_dir / "processes.json").write_text(json.dumps(record))


def _stop_leftovers(run_dir: Path) -> None:
    """Stop what a killed `make run` left running.

    Its children run in sessions of their own (so that Ctrl+C reaches only the run, which stops
    them in order), so they outlive a run that is killed, and keep port 8000 and the servers.
    """
    try:
        record = json.loads((run_dir / "processes.json").read_text())
        run, children = int(record["run"]), [int(pid) for pid in record["children"]]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if devservers.alive(run):
        return  # that run is still going: the port check says so
    # Pids are reused: only what still runs our code (celery -A ccportal, ccportal.asgi, manage.py).
    left = [
        pid
        for pid in children
        if devservers.command_contains(pid, str(ROOT))
        or devservers.command_contains(pid, "ccportal")
    ]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)  # each child leads its own group: pool workers too
    deadline = time.monotonic() + 10
    while any(devservers.alive(pid) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    if left:
        _log(f"stopped {len(left)} processes left running by an earlier `make run` that was killed")
    (run_dir / "processes.json").unlink(missing_ok=True)


def _run(args: argparse.Namespace) -> int:
    python = sys.executable
    manage = [python, str(ROOT / "manage.py")]
    run_dir = Path(os.environ.get("CCPORTAL_DATA_DIR", ROOT / ".data")) / "run"
    _stop_leftovers(run_dir)
    _check_port_free(args.host, args.port)
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _stop_requested)
    with ExitStack() as stack:
        stack.callback(lambda: (run_dir / "processes.json").unlink(missing_ok=True))
        env = prepare_environment("run", stack)
        env.setdefault("DJANGO_DEBUG", "true")
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{args.port}")
        run_dir.mkdir(parents=True, exist_ok=True)
        # Beat's schedule is a shelve file: a killed run can leave it half-written, and another
        # Python's dbm cannot read it. It only remembers last run times, so start from none.
        for stale in run_dir.glob("celerybeat-schedule*"):
            stale.unlink()
        for step in (["migrate", "--no-input"], ["load_demo"]):
            code = subprocess.call(manage + step, env=env, cwd=ROOT)
            if code != 0:
                _log(f"`manage.py {' '.join(step)}` failed with exit code {code}")
                return code
        commands = {
            "web": [
                python,
                "-m",
                "daphne",
                "-b",
                args.host,
                "-p",
                str(args.port),
                "ccportal.asgi:application",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "ccportal",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "-Q",
                "default,ingest,insights",
            ],
            # Rule executions (one per communication) in their own process, so a burst of
            # webhooks or a slow language model never delays the other.
            "operators": [
                python,
                "-m",
                "celery",
                "-A",
                "ccportal",
                "worker",
                "--loglevel=INFO",
                "--concurrency=1",
                "-n",
                "operators@%h",
                "-Q",
                "operators",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "ccportal",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(run_dir / "celerybeat-schedule"),
            ],
        }
        processes: dict[str, subprocess.Popen[bytes]] = {}
        stack.callback(lambda: _terminate(list(processes.values())))
        for name, command in commands.items():
            # Own session: Ctrl+C reaches only this process, which stops the children in order
            # (simulator first, so its calls are closed while the portal still listens).
            processes[name] = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
            _record_processes(run_dir, list(processes.values()))
        url = f"http://{args.host}:{args.port}"
        if not _wait_healthy(f"{url}/healthz", list(processes.values()), 60):
            _log("the portal did not become healthy; see the output above")
            return 1
        _log(f"ccportal is running at {url}/  (API docs: {url}/api/docs/)")
        _log("demo logins (password for all: demo): admin, qa, coach, supervisor, agent")
        simulator = None
        if not args.no_simulate:
            simulator = subprocess.Popen(
                # Human-only calls, and a call to the virtual agent (ConversationRelay) every
                # 20 s, the first at once: AI -> human calls on the floor within a minute.
                [
                    *manage,
                    "simulate_calls",
                    "--loop",
                    "--concurrency",
                    "2",
                    "--speed",
                    "1",
                    "--mix-virtual-agent",
                    "20",
                ],
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )
            stack.callback(_terminate, [simulator])
            _record_processes(run_dir, [*processes.values(), simulator])
            _log(
                "replaying demo calls as live Twilio traffic, 2 at a time, and a virtual-agent "
                "call every 20 s (--no-simulate: off)"
            )
        _log("press Ctrl+C to stop")
        try:
            while all(p.poll() is None for p in processes.values()):
                if simulator is not None and (status := simulator.poll()) is not None:
                    # Demo traffic is a nicety: the portal keeps running without it.
                    _log(f"the call simulator exited with {status}; the portal keeps running")
                    simulator = None
                time.sleep(0.5)
        except KeyboardInterrupt:
            _log("stopping")
            return 0
        dead = [name for name, p in processes.items() if p.poll() is not None]
        _log(f"stopped because {', '.join(dead)} exited")
        return 1


def _stop_requested(signum: int, frame: object) -> None:
    """Ctrl+C, SIGTERM or SIGHUP (the terminal closed) stops the stack, children in order. Once:
    another one meanwhile (an impatient second Ctrl+C, the window closing) must not cut the
    stopping short and leave servers behind."""
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_IGN)
    raise KeyboardInterrupt


def _terminate(processes: list[subprocess.Popen[bytes]], seconds: float = 10) -> None:
    """Stop them together: SIGTERM, then SIGKILL to each one's process group after `seconds`
    (a Celery worker's pool processes too, should the worker itself hang)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + seconds
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # each leads a session of its own
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccportal.devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the portal with demo data")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.add_argument(
        "--no-simulate", action="store_true", help="do not replay demo calls as live traffic"
    )
    sub.add_parser("exec", help="run a command with the services' environment")
    sub.add_parser("reset", help="delete the embedded servers' data (.data/)")
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "exec":
            return _exec(rest)
        if args.command == "reset":
            return _reset()
        return _run(args)
    except SetupError as error:
        _log(str(error))
        return 1


def _reset() -> int:
    data_dir = Path(os.environ.get("CCPORTAL_DATA_DIR", ROOT / ".data"))
    users = devservers.servers_in_use(data_dir)
    if users:
        raise SetupError(
            f"the embedded servers in {data_dir} are in use by pid {', '.join(map(str, users))} "
            "(a `make run`, `make test` or manage.py): stop those first, then `make reset`"
        )
    _stop_leftovers(data_dir / "run")
    devservers.stop_strays(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    _log(f"removed {data_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
