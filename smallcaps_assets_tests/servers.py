"""Real servers for the beyond-one-machine tests, started and stopped by the tests themselves:
an S3 endpoint (moto's server) and a PostgreSQL cluster from Debian's packages (initdb into a
temporary folder, on a free port, as an unprivileged user when the tests run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_s3(*buckets: str) -> Iterator[str]:
    """An S3-compatible server on 127.0.0.1 with ``buckets`` created; yields its endpoint URL.
    The caller sets ``AWS_ENDPOINT_URL`` and :data:`S3_ENV` where its clients need them."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its buckets in module state shared by every server of this process: empty it, or
    # a second test would list the first one's objects under the same bucket and prefix.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL binaries (``apt-get install postgresql``), the newest version installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db}"

    def env(self) -> dict[str, str]:
        """The ``DAGSTER_PG_*`` variables deploy/postgres/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster in a fresh temporary folder on a free port, stopped and
    removed on exit.

    initdb refuses to run as root, so under root the cluster belongs to the ``postgres`` user the
    Debian package creates (``nobody`` otherwise). The folder is made with ``mkdtemp`` (not
    pytest's ``tmp_path``, whose parents that user cannot enter)."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL is not installed: apt-get install postgresql (make deps does it as root)"
        )
    user = None
    if os.getuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
    folder = Path(tempfile.mkdtemp(prefix="smallcaps-pg-"))
    data = folder / "pgdata"
    sock = folder / "sock"
    for d in (folder, sock):
        d.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(d, user)
    pwfile = folder / "pw"
    pwfile.write_text("smallcaps\n")
    if user:
        shutil.chown(pwfile, user)
    subprocess.run(
        _as_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "smallcaps",
                "--pwfile",
                str(pwfile),
                "-A",
                "md5",
            ],
            user,
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_user(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-l", str(folder / "log"), "start"],
            user,
        ),
        check=True,
        capture_output=True,
    )
    try:
        pg = Postgres("127.0.0.1", port, "smallcaps", "smallcaps", "postgres")
        _wait_ready(pg)
        yield pg
    finally:
        subprocess.run(
            _as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user),
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _wait_ready(pg: Postgres, timeout: float = 30.0) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg2.connect(pg.url).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
