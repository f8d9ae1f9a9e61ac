"""Real Airflow services for end-to-end tests: a private AIRFLOW_HOME, the CLI, and processes that always stop.

Every service runs in its own process group (``start_new_session``), writes to a log file in the home, and is
stopped with SIGTERM, then SIGKILL after a grace period. Everything binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
T = TypeVar("T")
# Errors of a re-run (after "database is locked") that say the first run's write landed, by CLI command group.
# uvicorn's access log: `INFO:     127.0.0.1:41550 - "GET /api/v2/... HTTP/1.1" 200 OK`
ACCESS_LINE = re.compile(r'INFO: +127\.0\.0\.1:\d+ - "')
ALREADY_DONE: dict[str, tuple[str, ...]] = {"backfill": ("AlreadyRunningBackfill",)}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.5,
    retry_on: tuple[type[BaseException], ...] = (OSError,),
) -> T:
    """Call ``probe`` until it returns something other than None or False; fail after ``timeout`` seconds.

    Exceptions in ``retry_on`` (a service still starting refuses connections) count as "not yet"; others fail.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
            last = value
        except retry_on as exc:
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s (last: {last!r})")
        time.sleep(interval)


def http_request(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """Send one HTTP request (JSON body if given); returns the status and the body, errors included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_get(url: str, *, timeout: float = 5, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """GET a URL; returns the status and the body (errors included)."""
    return http_request(url, headers=headers, timeout=timeout)


@dataclass
class AirflowServices:
    """A private Airflow installation: one home, one SQLite database, services started on demand."""

    home: Path
    api_port: int = field(default_factory=free_port)
    dags_folder: Path = field(default_factory=lambda: Path(os.environ.get("HUBSPOT_E2E_DAGS_FOLDER", EXAMPLE_DAGS)))
    extra_env: Mapping[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: Processes replaced by a restart (their groups are stopped with the rest) and each service's command line.
    retired: list[subprocess.Popen[bytes]] = field(default_factory=list)
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    #: Backing services (databases, brokers) by name: stopped after Airflow's processes, which still use them.
    backing: set[str] = field(default_factory=set)
    #: Environment added to one service's processes only (e.g. each Celery worker's name), by service name.
    process_env: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Run after every process has stopped, last added first (e.g. removing a data directory outside the home).
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        # Start from the caller's environment without its Airflow settings (the unit tests' conftest sets some).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                # SQLite's default 5 s lock wait is too short on a loaded 2-core CI machine: the CLI's backfill and
                # the scheduler write at the same time, and the loser failed with "database is locked".
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db?timeout=60",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__BASE_URL": self.api_url,
                # One secret for every process: tokens the API server signs must verify in the workers.
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
                "AIRFLOW__API__SECRET_KEY": self._jwt_secret,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._log_port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self._jwt_secret = secrets.token_urlsafe(64)
        self._log_port = free_port()
        self._token: str | None = None

    def airflow(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one Airflow CLI command with this installation's settings.

        SQLite refuses a write at once ("database is locked", no busy wait) when a transaction that already read must
        upgrade its lock while the scheduler writes, so the command is run again, up to three more times. The refusal
        may come after the command's own write committed (seen on Airflow 3.2: `backfill create` then answered the
        re-run with AlreadyRunningBackfill): a re-run whose error names what the first run already did is a success.
        Such a refusal may also come midway (3.1.8 commits a backfill's runs one by one): a caller that needs all of
        a command's writes checks them, as the backfill test counts its runs.
        """
        for attempt in range(4):
            result = subprocess.run(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
            if attempt and result.returncode and any(done in result.stderr for done in ALREADY_DONE.get(args[0], ())):
                return subprocess.CompletedProcess(result.args, 0, result.stdout, result.stderr)
            if result.returncode == 0 or "database is locked" not in result.stderr or attempt == 3:
                break
            time.sleep(2)
        if check and result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def airflow_json(self, *args: str, timeout: float = 120) -> Any:
        """Run an Airflow CLI command with ``-o json`` and parse its output (log lines before the JSON skipped)."""
        out = self.airflow(*args, "-o", "json", timeout=timeout).stdout
        lines = out.splitlines()
        # Airflow logs to stdout too (``... [warning ] ...``): the JSON is the last block that parses.
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].startswith(("[", "{")):
                with contextlib.suppress(json.JSONDecodeError):
                    return json.loads("\n".join(lines[i:]))
        raise AssertionError(f"airflow {' '.join(args)}: no JSON in output:\n{out[-2000:]}")

    def migrate(self) -> None:
        self.airflow("db", "migrate", timeout=180)

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``airflow <args>`` in its own process group, logging to ``<home>/<name>.log``.

        :param env: variables for this service only, on top of the installation's (kept for a restart).
        """
        if env is not None:
            self.process_env[name] = dict(env)
        proc = self.spawn(
            name, [sys.executable, "-m", "airflow", *args], env={**self.env, **self.process_env.get(name, {})}
        )
        self.commands[name] = args
        return proc

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str],
        user: str | None = None,
        backing: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start any program in its own process group, logging to ``<home>/<name>.log``, stopped by ``stop_all``.

        :param user: run as this user (and its group only), e.g. for PostgreSQL, which refuses to run as root.
        :param backing: a backing service (database, broker): stopped after Airflow's processes.
        """
        restart = name in self.processes
        log = open(self.home / f"{name}.log", "ab" if restart else "wb")  # noqa: SIM115 - the child keeps it open
        proc = subprocess.Popen(
            argv,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            user=user,
            group=None if user is None else pwd.getpwnam(user).pw_gid,
            extra_groups=None if user is None else [],
        )
        log.close()
        if restart:
            self.retired.append(self.processes[name])
        self.processes[name] = proc
        if backing:
            self.backing.add(name)
        return proc

    def start_api_server(self, *, timeout: float = 90) -> None:
        """Start the API server (UI + REST + execution API) and wait until it answers."""
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port))
        wait_for(
            "api-server",
            lambda: self._alive("api-server") and http_get(f"{self.api_url}/api/v2/monitor/health")[0] == 200,
            timeout=timeout,
        )

    def api(self, path: str, *, method: str = "GET", body: Any = None) -> Any:
        """Call ``/api/v2/<path>`` as the (all-admins) simple auth manager's user; the JSON answer, None for 404."""
        if self._token is None:
            status, answer = http_get(f"{self.api_url}/auth/token")
            assert status in (200, 201), f"no token from the simple auth manager: {status} {answer[:300]!r}"
            self._token = json.loads(answer)["access_token"]
        status, answer = http_request(
            f"{self.api_url}/api/v2/{path}",
            method=method,
            body=body,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        if status == 404 and method == "GET":
            return None
        assert 200 <= status < 300, f"{method} /api/v2/{path}: {status} {answer[:500]!r}"
        return json.loads(answer) if answer else None

    def _alive(self, name: str) -> bool:
        proc = self.processes[name]
        if proc.poll() is not None:
            if name == "scheduler" and self._restart_after_sqlite_crash(name):
                return True
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
        return True

    def _restart_after_sqlite_crash(self, name: str) -> bool:
        """Restart a scheduler that SQLite crashed, at most twice, as a deployment's supervisor would.

        Under load SQLite refuses a lock upgrade at once; Airflow's scheduler then retries its transaction, and the
        retry can meet a DagRun its rolled-back session no longer has (ObjectDeletedError) and exit. That is Airflow
        on SQLite (which Airflow supports for development only), not this provider; the restart is printed.
        """
        tail = self.log_tail(name, 20000)
        if self.restarts.get(name, 0) >= 2 or not any(s in tail for s in ("ObjectDeletedError", "database is locked")):
            return False
        self.restarts[name] = self.restarts.get(name, 0) + 1
        print(f"[e2e] {name} exited after a SQLite lock error; restarting it ({self.restarts[name]} of 2)")
        self.start(name, *self.commands[name])
        return True

    def check_alive(self) -> None:
        for name in self.processes:
            self._alive(name)

    def log_tail(self, name: str, chars: int = 6000) -> str:
        """The end of a service's log, without the API server's access lines (the tests' polling filled the tail
        with them, and CI's output then cut the scheduler's log that followed)."""
        path = self.home / f"{name}.log"
        if not path.exists():
            return "(no log)"
        lines = path.read_text(errors="replace").splitlines(keepends=True)
        return "".join(line for line in lines if not ACCESS_LINE.match(line))[-chars:]

    def logs(self) -> str:
        return "\n".join(f"===== {name}.log (tail) =====\n{self.log_tail(name)}" for name in self.processes)

    def stop_all(self, *, grace: float = 20) -> None:
        """Stop Airflow's processes, then the backing services they used, then run the cleanups.

        Each tier: SIGTERM every process group, wait up to ``grace`` seconds, then SIGKILL what is left.
        """
        try:
            airflow = [proc for name, proc in self.processes.items() if name not in self.backing]
            self._stop_groups([*self.retired, *airflow], grace=grace)
            self._stop_groups([self.processes[name] for name in self.backing], grace=grace)
        finally:
            while self.cleanups:
                self.cleanups.pop()()

    @staticmethod
    def _stop_groups(everything: list[subprocess.Popen[bytes]], *, grace: float) -> None:
        for proc in everything:
            with contextlib.suppress(ProcessLookupError):
                # The group, not only the leader: a leader that died may leave children (executor workers) behind.
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in everything:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in everything:
            # The group may hold children (LocalExecutor workers, gunicorn/uvicorn workers) even after the leader.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


@contextlib.contextmanager
def airflow_services(home: Path, **kwargs: Any) -> Iterator[AirflowServices]:
    """An ``AirflowServices`` whose processes are stopped however the block ends; logs printed on failure."""
    services = AirflowServices(home=home, **kwargs)
    try:
        yield services
    except BaseException:
        print(services.logs())
        raise
    finally:
        services.stop_all()
