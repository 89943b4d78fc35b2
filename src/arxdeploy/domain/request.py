"""What someone asks of an environment: the one door every change to what runs comes in through."""

from __future__ import annotations

from dataclasses import dataclass

from arxdeploy.domain.states import Kind


@dataclass(frozen=True)
class Request:
    """A deploy, rollback, restore, reconcile or stop, as the CLI or CI asked for it.

    ``version``: required for a deploy and a restore (with ``backup``); for a rollback, None means the previous
    good version; a reconcile takes the record's live version and a stop none.
    """

    environment: str
    kind: Kind = Kind.DEPLOY
    version: str | None = None
    reason: str = ""
    critical: bool = False
    git_ref: str | None = None
    git_sha: str | None = None
    actor: str | None = None  # who triggered the CI run (GITHUB_ACTOR), when a CI run asked
    run_url: str | None = None  # the CI run that asked
    backup: str | None = None  # a restore: the backup to return to, exactly that one
    with_database: bool = False  # a restore: put the database back from that backup's dump too
