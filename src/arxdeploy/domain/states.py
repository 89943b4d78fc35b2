"""Deployment states, the steps that run in them, and the outcomes a step can have."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    REQUESTED = "requested"
    VALIDATING = "validating"
    RECONCILING = "reconciling"  # a deploy found nothing live: the recorded version comes back first
    AWAITING_APPROVAL = "awaiting_approval"
    BACKING_UP = "backing_up"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    PROGRESSING = "progressing"  # a canary: the new color takes a growing share of the traffic, step by step
    RESTORING_DATABASE = "restoring_database"  # a restore or rollback asked to put the database back
    SWITCHING = "switching"
    MONITORING = "monitoring"
    FINALIZING = "finalizing"
    STOPPING = "stopping"
    CLEANING_UP = "cleaning_up"
    ROLLING_BACK = "rolling_back"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({State.SUCCEEDED, State.FAILED, State.ROLLED_BACK, State.REJECTED, State.EXPIRED})


class Step(StrEnum):
    VALIDATE = "validate"
    RECONCILE = "reconcile"
    GATE = "gate"
    BACKUP = "backup"
    DEPLOY = "deploy"
    VERIFY = "verify"
    CANARY = "canary"
    RESTORE_DATABASE = "restore_database"
    SWITCH = "switch"
    MONITOR = "monitor"
    FINALIZE = "finalize"
    STOP = "stop"
    CLEANUP = "cleanup"
    ROLLBACK = "rollback"


STEP_OF: dict[State, Step] = {
    State.VALIDATING: Step.VALIDATE,
    State.RECONCILING: Step.RECONCILE,
    State.AWAITING_APPROVAL: Step.GATE,
    State.BACKING_UP: Step.BACKUP,
    State.DEPLOYING: Step.DEPLOY,
    State.VERIFYING: Step.VERIFY,
    State.PROGRESSING: Step.CANARY,
    State.RESTORING_DATABASE: Step.RESTORE_DATABASE,
    State.SWITCHING: Step.SWITCH,
    State.MONITORING: Step.MONITOR,
    State.FINALIZING: Step.FINALIZE,
    State.STOPPING: Step.STOP,
    State.CLEANING_UP: Step.CLEANUP,
    State.ROLLING_BACK: Step.ROLLBACK,
}


class Outcome(StrEnum):
    """What happened to the step that ran in the current state."""

    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the process running it died; found on recovery
    REJECTED = "rejected"
    EXPIRED = "expired"


class Kind(StrEnum):
    """Why the deployment exists. Every change to what runs is one of these, recorded."""

    DEPLOY = "deploy"  # a new version
    ROLLBACK = "rollback"  # back to an earlier version, by hand
    RESTORE = "restore"  # back to what was live when a backup was taken
    RECONCILE = "reconcile"  # the target back to the version the record says is live
    STOP = "stop"  # take the environment off the air: recorded so nothing brings it back


class Color(StrEnum):
    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> Color:
        return Color.GREEN if self is Color.BLUE else Color.BLUE
