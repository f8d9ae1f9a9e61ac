"""Backing services for a distributed Airflow: Redis (Celery's broker), PostgreSQL (metadata DB and Celery's result
backend) and Celery workers, all started by the test from Debian's packages, bound to 127.0.0.1 on free ports, and
stopped through ``AirflowServices.stop_all`` like every Airflow process (backing services last).

PostgreSQL refuses to run as root: as root, its server runs as ``PG_USER`` (``nobody`` unless
``HUBSPOT_E2E_PG_USER`` says otherwise), and since pytest's tmp dirs are private to root, its data and socket
directory is then a fresh directory in the system's temp dir owned by that user, removed when the services stop.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.e2e._airflow import AirflowServices, free_port, wait_for

WORKER_SITE = Path(__file__).resolve().parent / "worker_site"
PG_USER = os.environ.get("HUBSPOT_E2E_PG_USER", "nobody")
PG_DATABASE = "airflow"
PG_ROLE = "airflow"


class MissingServiceError(RuntimeError):
    """A program the distributed e2e test needs is not installed."""


def postgres_bin() -> Path:
    """``/usr/lib/postgresql/<newest version>/bin`` (Debian's layout: initdb and postgres are not on PATH)."""
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise MissingServiceError("PostgreSQL is not installed: `make test-e2e` installs the Debian package postgresql")
    return versions[-1]


def redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise MissingServiceError("redis-server is not installed: `make test-e2e` installs the Debian package")
    return found


def _redis_answers(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def start_redis(af: AirflowServices, *, timeout: float = 30) -> str:
    """Start an in-memory Redis on a free port of 127.0.0.1; returns its URL (database 0)."""
    port = free_port()
    data = af.home / "redis"
    data.mkdir(exist_ok=True)
    argv = [redis_server(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data)]
    # A broker for one test run: nothing to persist, and no snapshot may block or slow it.
    argv += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"]
    af.spawn("redis", argv, env=os.environ, backing=True)

    def answers() -> bool:
        af.check_alive()
        return _redis_answers(port)

    wait_for("redis", answers, timeout=timeout, interval=0.2)
    return f"redis://127.0.0.1:{port}/0"


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL: TCP on 127.0.0.1:``port``, role ``airflow`` trusted, database ``airflow``."""

    port: int
    bin: Path

    def url(self) -> str:
        return f"postgresql+psycopg2://{PG_ROLE}@127.0.0.1:{self.port}/{PG_DATABASE}"


def _pg_directory(af: AirflowServices) -> tuple[Path, str | None]:
    if os.geteuid() != 0:
        path = af.home / "postgres"
        path.mkdir()
        return path, None
    path = Path(tempfile.mkdtemp(prefix="hubspot-e2e-pg-"))
    af.cleanups.append(lambda: shutil.rmtree(path, ignore_errors=True))
    shutil.chown(path, user=PG_USER)
    return path, PG_USER


def start_postgres(af: AirflowServices, *, timeout: float = 60) -> Postgres:
    """initdb a fresh cluster and start ``postgres`` on a free port of 127.0.0.1 (socket in its own directory).

    Durability is off (fsync, synchronous commit, full-page writes): the cluster lives for one test.
    """
    bin_dir = postgres_bin()
    root, user = _pg_directory(af)
    data, sockets = root / "data", root / "sockets"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    init = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", PG_ROLE, "--auth=trust", "-E", "UTF8", "--no-sync"],
        env=env,
        user=user,
        extra_groups=None if user is None else [],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    if init.returncode:
        raise AssertionError(f"initdb exited {init.returncode}:\n{init.stdout[-3000:]}\n{init.stderr[-3000:]}")
    (sockets).mkdir()
    if user is not None:
        shutil.chown(sockets, user=user)
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(sockets),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        # Scheduler, DAG processor, API server, two workers' pools and the result backend: well under 200.
        "max_connections": "200",
    }
    argv = [str(bin_dir / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    af.spawn("postgres", argv, env=env, user=user, backing=True)
    ready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-d", "postgres", "-U", PG_ROLE]

    def accepting() -> bool:
        af.check_alive()
        return subprocess.run(ready, env=env, timeout=10).returncode == 0

    wait_for("postgres", accepting, timeout=timeout, interval=0.2)
    create = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_ROLE, PG_DATABASE]
    subprocess.run(create, env=env, check=True, timeout=30, capture_output=True)
    return Postgres(port=port, bin=bin_dir)


def celery_env(broker_url: str, postgres: Postgres, *, parallelism: int) -> dict[str, str]:
    """Airflow settings for the CeleryExecutor on this Redis and PostgreSQL (for ``AirflowServices.extra_env``).

    :param parallelism: task slots of the whole installation (at least the workers' concurrency together).
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url(),
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        # The driver named: SQLAlchemy 2.1's default for postgresql:// is psycopg 3, which the extra does not install.
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url(),
        # Tasks of this test take seconds; the 24 h default only draws a warning in every process.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
    }


def start_celery_worker(af: AirflowServices, name: str, *, concurrency: int) -> None:
    """Start ``airflow celery worker`` as node ``<name>@<host>`` (``celery_worker_ready`` waits for it).

    Each worker has its own pid file (the default one is shared, and a second worker would refuse to start) and no
    log server (two on one port would clash). Its task instances' ``hostname`` is ``<name>@<host>``
    (``worker_site/e2e_worker_hostname.py``), so the metadata DB tells which worker ran each task.
    """
    af.start(
        name,
        "celery",
        "worker",
        "--celery-hostname",
        f"{name}@%h",
        "--concurrency",
        str(concurrency),
        "--pid",
        str(af.home / f"{name}.pid"),
        "--skip-serve-logs",
        "--without-gossip",
        env={
            "HUBSPOT_E2E_CELERY_WORKER": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "e2e_worker_hostname.worker_hostname",
            "PYTHONPATH": os.pathsep.join(p for p in (str(WORKER_SITE), os.environ.get("PYTHONPATH")) if p),
        },
    )


def celery_worker_ready(af: AirflowServices, name: str, *, timeout: float = 120) -> None:
    """Wait until the worker started as ``name`` logs that it is ready to take tasks."""
    ready = re.compile(rf"\b{re.escape(name)}@\S+ ready\.")

    def worker_ready() -> bool:
        af.check_alive()
        return ready.search(af.log_tail(name, 200_000)) is not None

    wait_for(f"celery worker {name}", worker_ready, timeout=timeout, interval=0.5)
