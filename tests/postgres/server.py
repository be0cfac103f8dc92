"""A throw-away PostgreSQL server started from the local binaries.

No service, no Docker, no pytest plugin: ``initdb`` a temporary directory, start
``postgres`` on a free loopback port with ``pg_ctl``, create one database, and
remove everything afterwards. PostgreSQL refuses to run as root, so under root
the server runs as the ``postgres`` system user (created if it is missing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

SUPERUSER = "postgres"
DATABASE = "ormar_signals"
SERVER_ACCOUNT = "postgres"
INSTALL_HINT = "apt-get install postgresql"


class PostgresNotInstalled(RuntimeError):
    """No ``initdb`` / ``pg_ctl`` pair on PATH or under /usr/lib/postgresql."""


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``createdb``.

    PATH first (resolving symlinks, since Debian links only some of the tools
    into /usr/local/bin or wraps them in /usr/bin), then the newest
    /usr/lib/postgresql/<major>/bin.
    """
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(d) for d in sorted(versioned, key=_major, reverse=True)]
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "createdb")):
            return bindir
    raise PostgresNotInstalled(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in "
        f"/usr/lib/postgresql/*/bin; `{INSTALL_HINT}` installs them"
    )


def _major(bindir: str) -> int:
    found = re.search(r"/postgresql/(\d+)", bindir)
    return int(found.group(1)) if found else 0


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: None means the current (non-root) user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        subprocess.run(
            [
                "useradd", "--system", "--user-group", "--no-create-home",
                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                SERVER_ACCOUNT,
            ],
            check=True,
        )  # fmt: skip
        return pwd.getpwnam(SERVER_ACCOUNT)


def _run(command: Sequence[str], account: pwd.struct_passwd | None) -> None:
    if account is not None:
        command = ["runuser", "-u", account.pw_name, "--", *command]
    # `postgres` must not inherit a cwd its account cannot enter (root's home).
    completed = subprocess.run(
        command,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LC_ALL": "C", "LANG": "C"},
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with exit code {completed.returncode}:\n"
            f"{completed.stdout}"
        )


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a private server, yield it, then stop it and delete its files."""
    bindir = find_bindir()
    account = _server_account()
    # Directly under the system temp dir: pytest's own tmp dirs are 0700 root,
    # which the server account could not enter.
    base = Path(tempfile.mkdtemp(prefix="ormar-signals-pg-"))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir()
    if account is not None:
        for path in (base, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    port = free_loopback_port()
    started = False
    try:
        _run(
            [
                str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER,
                "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
            ],
            account,
        )  # fmt: skip
        # Durability is worth nothing for a server deleted after the session.
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            _run(
                [
                    str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log),
                    "-o", options, "-w", "-t", "60", "start",
                ],
                account,
            )  # fmt: skip
        except RuntimeError as error:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"{error}\nserver log:\n{server_log}") from None
        started = True
        _run(
            [
                str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                "-U", SUPERUSER, DATABASE,
            ],
            account,
        )  # fmt: skip
        yield PostgresServer("127.0.0.1", port, SUPERUSER, DATABASE)
    finally:
        if started:
            _run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                account,
            )
        shutil.rmtree(base, ignore_errors=True)
