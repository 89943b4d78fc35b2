"""What a person's API token lets them do through the server; each role may do what the ones before it may."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # read the API: status, deployments, events, gates
    APPROVER = "approver"  # and approve or reject the gates whose approvers list names them
    ADMIN = "admin"  # and create, list and revoke tokens

    def allows(self, needed: Role) -> bool:
        """Whether a token of this role may do what ``needed`` may."""
        ranks = list(Role)
        return ranks.index(self) >= ranks.index(needed)
