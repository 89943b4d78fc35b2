"""Fixtures more than one suite uses, and session-wide guards. Heavy imports wait inside fixtures.

No process the tests started may outlive the run. At the start of the session a unique marker
goes into this process's environment; every process the tests start inherits it (detached
daemons and their replicas included; tests that pass ``env=`` keep it with
``tests.support.marked``). At the end, the processes carrying it get a few seconds to exit; those
still there are listed with their command lines, killed, and the run fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import psutil
import pytest

from tests.support import CACHE_DIR, SESSION_MARKER, Children

if TYPE_CHECKING:
    from tests.fixtures.database import AppDatabase
    from tests.fixtures.kube import Cluster
    from tests.fixtures.storage import AzureServer, S3Server

POSTGRES_ENV = "ARXDEPLOY_TEST_POSTGRES_URL"
GRACE = 10.0  # seconds for processes on their way out (a runtime draining, replicas after SIGTERM)
_SURVIVORS = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    os.environ[SESSION_MARKER] = f"{os.getpid()}-{secrets.token_hex(8)}"
    # Reading commands keep validated configs (config.cache): in a folder of this session's, not the
    # home of whoever runs the tests. Every process the tests start inherits it.
    os.environ[CACHE_DIR] = tempfile.mkdtemp(prefix="arxdeploy-test-cache-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    survivors = _stop_survivors(os.environ.get(SESSION_MARKER, ""))
    shutil.rmtree(os.environ.get(CACHE_DIR, ""), ignore_errors=True)
    session.config.stash[_SURVIVORS] = survivors
    if survivors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    survivors = config.stash.get(_SURVIVORS, [])
    if survivors:
        terminalreporter.section("processes the tests left running (killed now; the run fails)", red=True, bold=True)
        for line in survivors:
            terminalreporter.line(line)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """One Kubernetes API emulator for the whole session (or the real cluster in ARXDEPLOY_TEST_KUBECONFIG)."""
    from tests.fixtures.kube import open_cluster

    with open_cluster() as made:
        yield made


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL database for the whole session: ARXDEPLOY_TEST_POSTGRES_URL when it
    is set (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5439/arx_test``), otherwise a throwaway
    server (tests/fixtures/postgres.py). Without either the tests that need it skip, except under CI
    as root, where they fail: CI must exercise PostgreSQL."""
    from tests.fixtures.postgres import postgres_bindir, throwaway_cluster

    if url := os.environ.get(POSTGRES_ENV):
        yield url
        return
    bindir = postgres_bindir()
    if bindir is None:
        reason = (
            f"no PostgreSQL server: set {POSTGRES_ENV}, or install the server (apt-get install postgresql;"
            " scripts/install-test-deps.sh does when run as root)"
        )
        if os.environ.get("CI", "").lower() == "true" and os.geteuid() == 0:
            pytest.fail(f"CI must run the PostgreSQL tests; {reason}", pytrace=False)
        pytest.skip(reason)
    with throwaway_cluster(bindir) as url:
        yield url


@pytest.fixture
def app_database(postgres_server: str) -> Iterator[AppDatabase]:
    """A database of the test's own, with rows, on the session's server (tests/fixtures/database.py)."""
    from tests.fixtures.database import app_database

    with app_database(postgres_server) as made:
        yield made


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One SeaweedFS for the session: a real S3 API that checks signatures (a bucket per test)."""
    from tests.fixtures.storage import seaweedfs

    with seaweedfs() as server:
        yield server


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzureServer]:
    """One Azurite for the session: the Azure Blob API with shared-key auth (a container per test)."""
    from tests.fixtures.storage import azurite

    with azurite() as server:
        yield server


@pytest.fixture
def children() -> Iterator[Children]:
    """Start subprocesses through this: each one is stopped and reaped after the test, pass or fail."""
    started = Children()
    try:
        yield started
    finally:
        started.stop()


def _stop_survivors(marker: str) -> list[str]:
    """Describe, then kill, the processes carrying ``marker`` still alive after GRACE seconds."""
    if not marker:
        return []
    psutil.wait_procs(_marked(marker), timeout=GRACE)
    described = []
    for proc in _marked(marker):  # scanned again: a supervisor may have started new ones meanwhile
        try:
            described.append(f"pid {proc.pid} (parent {proc.ppid()}, cwd {proc.cwd()}): {' '.join(proc.cmdline())}")
            proc.kill()
        except psutil.Error:
            continue
    return described


def _marked(marker: str) -> list[psutil.Process]:
    mine = os.getpid()
    found = []
    for proc in psutil.process_iter(["status", "ppid", "cmdline"]):
        if proc.pid == mine or proc.info["status"] == psutil.STATUS_ZOMBIE or _helper_of_this_process(proc):
            continue
        try:
            if proc.environ().get(SESSION_MARKER) == marker:
                found.append(proc)
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
    return found


def _helper_of_this_process(proc: psutil.Process) -> bool:
    """multiprocessing's resource tracker (spawn context): this process's child, it ends with it."""
    cmdline = " ".join(proc.info["cmdline"] or ())
    return proc.info["ppid"] == os.getpid() and "from multiprocessing.resource_tracker import main" in cmdline


@pytest.fixture(autouse=True)
def _as_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs as on a person's terminal unless it says otherwise: CI's own ``CI`` and
    ``GITHUB_ACTIONS`` would change what deploy and approve do (they refuse runner-local state and
    declared identities in CI). Session fixtures, set up before this, still see them."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
