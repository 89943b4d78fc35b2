"""What people can be told about: the kinds of notice, named once for the config and the senders."""

from __future__ import annotations

KINDS = (
    "deployment_started",
    "deployment_succeeded",
    "deployment_failed",
    "deployment_rolled_back",
    "approval_requested",
    "approval_approved",
    "approval_rejected",
    "approval_expired",
    "canary_weight",
    "canary_paused",
    "canary_promoted",
    "canary_aborted",
)
