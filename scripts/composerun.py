"""Run compose.yaml's services as local processes, for machines without a container engine.

Used by `make smoke` (scripts/smoke.py) and the fault tests (bench/faults.py). What each app
service runs comes from compose.yaml itself: its command, its environment (``${VAR:-default}``
filled in from the values given here), and the image's ENV lines from the Dockerfile. The proxy
runs Debian's nginx with deploy/nginx.conf. Only what a machine without compose's network needs
is changed, and each change is listed here:

- the host names of the compose network: DATABASE_URL and REDIS_URL point at the servers given,
  and nginx's upstreams (``server web:8000``) and ``listen`` at local ports;
- where servers bind: GUNICORN_BIND / GRANIAN_HOST and GRANIAN_PORT, daphne's ``-b/-p``, on
  127.0.0.1;
- beat's ``--schedule`` file goes to a temporary folder;
- the executables are this Python's (``granian`` -> ``python -m granian``);
- ``extra_env`` (tuning such as GRANIAN_WORKERS) is added to every app service.

Standard library and PyYAML (a dependency of drf-spectacular, so in every environment).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON_TOOLS = {"gunicorn", "granian", "daphne", "celery"}


class StackError(Exception):
    """Something the stack could not do; the message says what."""


@dataclass
class Service:
    name: str
    command: list[str]
    environment: dict[str, str]
    image: str = ""
    restart: str = ""
    volumes: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)

    @property
    def is_app(self) -> bool:
        """Built from this repository's Dockerfile (migrate, web, ws, worker, beat...)."""
        return self.image.startswith("ccportal")


_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}|\$(\w+)")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's variable syntax: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    and $$ for a dollar sign."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(5)
        colon, kind, word = match.group(2), match.group(3), match.group(4)
        present = name in variables and (variables[name] != "" or not colon)
        if kind == "-":
            return variables[name] if present else word
        if kind == "?" and not present:
            raise StackError(f"compose.yaml needs {name}: {word}")
        return variables.get(name, "")

    return _VARIABLE.sub(replace, value)


def load_compose(path: Path, variables: dict[str, str]) -> dict[str, Service]:
    """compose.yaml's services, anchors and merge keys resolved, variables filled in."""
    document = yaml.safe_load(path.read_text())
    services = {}
    for name, spec in document["services"].items():
        command = spec.get("command") or []
        if isinstance(command, str):
            command = command.split()
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        depends = spec.get("depends_on") or []
        services[name] = Service(
            name=name,
            command=[interpolate(str(part), variables) for part in command],
            environment={
                key: interpolate("" if value is None else str(value), variables)
                for key, value in environment.items()
            },
            image=str(spec.get("image", "")),
            restart=str(spec.get("restart", "")),
            volumes=[str(v) for v in spec.get("volumes") or []],
            depends_on=list(depends),
        )
    return services


def image_environment(dockerfile: Path) -> dict[str, str]:
    """The ENV lines of the Dockerfile (``ENV A=1 B=2``, continued lines joined)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip().upper().startswith("ENV "):
            for pair in line.strip()[4:].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_http(url: str, *, seconds: float, alive: tuple[subprocess.Popen[bytes], ...] = ()) -> None:
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        for process in alive:
            if process.poll() is not None:
                raise StackError(f"{url}: the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(0.2)
    raise StackError(f"{url} did not answer 200 within {seconds:.0f} s ({last})")


@dataclass
class Running:
    service: str
    process: subprocess.Popen[bytes]
    log: Path


class Stack:
    """The compose services as processes; ``close()`` stops every one of them."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        variables: dict[str, str],
        ports: dict[str, int],
        extra_env: dict[str, str] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.ports = ports  # web, ws, proxy
        self.extra_env = extra_env or {}
        self.tmp = Path(workdir or tempfile.mkdtemp(prefix="ccportal-stack-"))
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.tmp.chmod(0o755)  # nginx's workers (nobody) need to reach their temp folders
        self.services = load_compose(ROOT / "compose.yaml", variables)
        self.image_env = image_environment(ROOT / "Dockerfile")
        self.running: dict[str, Running] = {}
        self.generation: dict[str, int] = {}

    # --- what each service runs ------------------------------------------------------------

    def environment(self, name: str) -> dict[str, str]:
        service = self.services[name]
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TZ") if key in os.environ}
        env.update(self.image_env)
        env.update(service.environment)
        env["DATABASE_URL"] = self.database_url
        env["REDIS_URL"] = self.redis_url
        if name in ("web",):
            env["GUNICORN_BIND"] = f"127.0.0.1:{self.ports['web']}"
            env["GRANIAN_HOST"] = "127.0.0.1"
            env["GRANIAN_PORT"] = str(self.ports["web"])
        env.update(self.extra_env)
        return env

    def command(self, name: str) -> list[str]:
        command = list(self.services[name].command)
        if not command:
            raise StackError(f"compose service {name} has no command")
        if command[0] in PYTHON_TOOLS:
            command = [sys.executable, "-m", *command]
        elif command[0] == "python":
            command[0] = sys.executable
        if "daphne" in command[:3]:
            command = _set_option(command, "-b", "127.0.0.1")
            command = _set_option(command, "-p", str(self.ports["ws"]))
        if "--schedule" in command:
            command = _set_option(command, "--schedule", str(self.tmp / f"beat-{name}"))
        return command

    def app_services(self) -> list[str]:
        return [name for name, service in self.services.items() if service.is_app]

    # --- processes -------------------------------------------------------------------------

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """Start a service (again); its output goes to a log file of its own."""
        if name == "proxy":
            return self._start_nginx()
        generation = self.generation.get(name, 0) + 1
        self.generation[name] = generation
        log = self.tmp / f"{name}.{generation}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                self.command(name),
                env=self.environment(name),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a Celery worker's pool stops with it
            )
        self.running[name] = Running(name, process, log)
        return process

    def run_once(self, name: str, *, timeout: float = 300) -> None:
        """A one-off service (migrate): run it to the end; fail with its output if it fails."""
        process = self.start(name)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(name, force=True)
            raise StackError(f"{name} did not finish within {timeout:.0f} s") from None
        if code != 0:
            raise StackError(f"{name} exited with {code}:\n{self.tail(name)}")

    def stop(self, name: str, *, force: bool = False, seconds: float = 10) -> None:
        running = self.running.get(name)
        if running is None or running.process.poll() is not None:
            return
        _stop_group(running.process, signal.SIGKILL if force else signal.SIGTERM, seconds)

    def alive(self, name: str) -> bool:
        running = self.running.get(name)
        return running is not None and running.process.poll() is None

    def tail(self, name: str, lines: int = 30) -> str:
        running = self.running.get(name)
        if running is None or not running.log.exists():
            return ""
        return "\n".join(running.log.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self, name: str) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.tmp.glob(f"{name}.*.log"))
        )

    def close(self) -> None:
        """Stop everything, newest first, together: SIGTERM, SIGKILL after 10 s."""
        live = [r.process for r in reversed(self.running.values()) if r.process.poll() is None]
        for process in live:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)  # the main process stops its own children
        deadline = time.monotonic() + 10
        for process in live:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # A Celery pool child whose parent was killed outlives it in the same group.
        for running in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.process.pid, signal.SIGKILL)

    def remove_files(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- nginx -----------------------------------------------------------------------------

    def nginx_config(self) -> Path:
        """deploy/nginx.conf with its upstream hosts and listen port made local, inside the
        main configuration of the nginx image (mime types, conf.d include)."""
        proxy = self.services["proxy"]
        mount = next((v for v in proxy.volumes if "nginx.conf" in v), "")
        source = ROOT / (mount.split(":")[0] if mount else "deploy/nginx.conf")
        site = source.read_text()
        local = {"web": self.ports["web"], "ws": self.ports["ws"]}

        def upstream(match: re.Match[str]) -> str:
            host = match.group(1)
            if host not in local:
                raise StackError(f"{source.name}: upstream {host} is not a service run here")
            return f"server 127.0.0.1:{local[host]}"

        site, upstreams = re.subn(r"server\s+([\w.-]+):\d+", upstream, site)
        site, listens = re.subn(
            r"listen\s+\d+\s*;", f"listen 127.0.0.1:{self.ports['proxy']};", site
        )
        if upstreams < 2 or listens != 1:
            raise StackError(f"{source}: expected two upstream servers and one listen directive")
        (self.tmp / "site.conf").write_text(site)
        main = self.tmp / "nginx.conf"
        main.write_text(
            f"""daemon off;
worker_processes 1;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {self.tmp}/nginx-access.log;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {self.tmp}/nginx-body;
    proxy_temp_path {self.tmp}/nginx-proxy;
    fastcgi_temp_path {self.tmp}/nginx-fastcgi;
    uwsgi_temp_path {self.tmp}/nginx-uwsgi;
    scgi_temp_path {self.tmp}/nginx-scgi;
    include {self.tmp}/site.conf;
}}
"""
        )
        return main

    def _start_nginx(self) -> subprocess.Popen[bytes]:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise StackError("nginx is not installed (Debian: apt-get install -y nginx)")
        config = self.nginx_config()
        test = subprocess.run(
            [nginx, "-t", "-q", "-c", str(config), "-p", str(self.tmp), "-e", "stderr"],
            capture_output=True,
            text=True,
        )
        if test.returncode != 0:
            raise StackError(f"nginx refused the configuration:\n{test.stderr}")
        generation = self.generation.get("proxy", 0) + 1
        self.generation["proxy"] = generation
        log = self.tmp / f"proxy.{generation}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [nginx, "-c", str(config), "-p", str(self.tmp), "-e", "stderr"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running["proxy"] = Running("proxy", process, log)
        return process


def _set_option(command: list[str], option: str, value: str) -> list[str]:
    command = list(command)
    if option in command:
        command[command.index(option) + 1] = value
    else:
        command += [option, value]
    return command


def _stop_group(process: subprocess.Popen[bytes], sig: int, seconds: float) -> None:
    """SIGTERM to the main process (it stops its children: a Celery pool finishes its tasks);
    SIGKILL to the whole group, pool children included."""
    with contextlib.suppress(ProcessLookupError):
        if sig == signal.SIGKILL:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def compose_variables(**values: Any) -> dict[str, str]:
    """The shell variables compose.yaml reads (SECRET_KEY, PUBLIC_BASE_URL...), as strings."""
    return {key: str(value) for key, value in values.items() if value is not None}
