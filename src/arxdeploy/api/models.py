"""The API's request and response bodies, as pydantic models: they are the OpenAPI description."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from arxdeploy.config.durations import Duration
from arxdeploy.domain.roles import Role

MAX_REASON = 2000


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------


class ErrorDetail(_Out):
    code: str = Field(description="Stable snake_case code: not_found, unauthenticated, forbidden, ...")
    message: str = Field(description="What went wrong, for people.")
    hint: str | None = Field(description="What to do next, when there is something to do.")


class ErrorBody(_Out):
    error: ErrorDetail


# --- health -------------------------------------------------------------------------------


class Health(_Out):
    status: str = Field(description="Always ok when the server answers.")


# --- deployments --------------------------------------------------------------------------


class StepOut(_Out):
    step: str
    outcome: str
    started_at: str
    ended_at: str
    seconds: float
    detail: str


class FailureOut(_Out):
    step: str
    reason: str
    check: str | None
    answer: str | None


class CanaryOut(_Out):
    weight: int = Field(description="The new version's percent of new requests, as last recorded.")
    step: str | None = Field(description='Where the canary is, e.g. "3/6 pause (weight 10%)"; null before its steps.')
    paused: str | None = Field(description="Why it waits for a person (promote or abort), while it does.")


class DeploymentOut(_Out):
    """One deployment, as ``arxdeploy show --json`` prints it."""

    id: str
    service: str
    environment: str
    kind: str
    state: str
    version: str
    previous_version: str | None
    new_color: str
    old_color: str | None
    requested_by: str
    reason: str
    critical: bool
    git_ref: str | None
    git_sha: str | None
    actor: str | None = Field(description="Who triggered the CI run that asked for it (GITHUB_ACTOR), if one did.")
    run_url: str | None = Field(description="The CI run that asked for it, if one did.")
    created_at: str
    finished_at: str | None
    traffic_on: str | None
    restores_database: bool = Field(description="A restore or rollback that puts the database back too.")
    database_restored_from: str | None = Field(description="The backup whose database dump it restored, once it did.")
    canary: CanaryOut | None = Field(default=None, description="A canary deploy: where it is; null otherwise.")
    failure: FailureOut | None
    steps: list[StepOut]


class EventOut(BaseModel):
    """One recorded event: its type and time, then its own fields."""

    model_config = ConfigDict(extra="allow")

    type: str
    v: int = Field(description="Version of the event format.")
    at: str


# --- status -------------------------------------------------------------------------------


class LiveOut(_Out):
    version: str | None
    color: str | None
    deployment_id: str
    at: str


class LastDeploymentOut(_Out):
    id: str
    kind: str
    version: str
    state: str
    created_at: str


class EnvironmentStatus(_Out):
    environment: str
    live: LiveOut | None = Field(description="What the record says takes traffic; null if traffic never moved.")
    last_deployment: LastDeploymentOut | None
    pending_approvals: int


class StatusOut(_Out):
    service: str
    environments: list[EnvironmentStatus]


# --- approvals ----------------------------------------------------------------------------


class PendingApproval(DeploymentOut):
    """A deployment whose gate waits for people, with what they are asked."""

    changes: list[str]
    approvers: list[str]
    min_approvals: int
    approved_by: list[str]
    asked_at: str
    expires_at: str
    seconds_left: int


class RequestOut(_Out):
    requested_by: str
    version: str
    config_digest: str
    approvers: list[str]
    min_approvals: int
    allow_self_approval: bool
    asked_at: str
    expires_at: str
    changes: list[str]
    server_only: bool = Field(description="Only decisions made through this server (with a token) count.")
    actor: str | None = Field(description="The CI login that asked (GITHUB_ACTOR), when a CI run did.")


class DecisionOut(_Out):
    who: str
    verdict: str
    at: str
    via: str
    reason: str


class RefusalOut(_Out):
    who: str
    why: str
    at: str


class GateOut(_Out):
    """Where one deployment's gate stands now, with the deployment it guards."""

    deployment_id: str
    service: str
    environment: str
    state: str = Field(description="The deployment's state.")
    version: str
    previous_version: str | None
    requested_by: str
    reason: str
    status: str = Field(description="not_asked, pending, approved, rejected or expired.")
    request: RequestOut | None = Field(description="What was asked and of whom; null if the gate was never asked.")
    approvals: list[DecisionOut]
    approved_by: list[str]
    rejection: DecisionOut | None
    refusals: list[RefusalOut]
    seconds_left: int


# --- decisions ----------------------------------------------------------------------------


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(max_length=MAX_REASON)] = Field(default="", description="Why, optional.")


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON)] = Field(
        description="Why not: required, shown to the person who asked."
    )


# --- tokens -------------------------------------------------------------------------------

_ROLE = "viewer: reads the API; approver: and decides on the gates that list them; admin: and manages tokens."


class TokenOut(_Out):
    """A person's API token as listed: never its secret."""

    id: str
    email: str
    role: Role = Field(description=_ROLE)
    github: str | None = Field(description="Their GitHub login: CI runs it starts are theirs too.")
    created_at: str
    created_by: str = Field(description="Who created it: the admin, or who ran `arxdeploy token bootstrap`.")
    expires_at: str | None = Field(description="Refused from then on; null: until revoked.")
    revoked_at: str | None
    active: bool = Field(description="Neither revoked nor expired now.")


class TokenCreated(TokenOut):
    token: str = Field(description="The token, arx_<id>_<secret>: in this answer only, never stored or shown again.")


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)] = Field(
        description="The person's email, as approval_gates.approvers lists it."
    )
    role: Role = Field(default=Role.APPROVER, description=_ROLE)
    github: Annotated[str, StringConstraints(max_length=39)] | None = Field(
        default=None, description="Their GitHub login, e.g. ana-dev: CI runs it starts are theirs too."
    )
    expires_in: Duration | None = Field(
        default=None, description="How long it is valid, e.g. 90d (at most 366d); null: until revoked."
    )


# --- promote and abort --------------------------------------------------------------------


class AnswerOut(_Out):
    """A person's promote or abort of a canary (or of a deployment paused for them), as recorded."""

    deployment_id: str
    action: str = Field(description="promote or abort.")
    who: str
    via: str = Field(description="How they were identified: server (a token).")
    reason: str
    at: str
    state: str = Field(description="The deployment's state when it was recorded.")
    line: str = Field(description="The answer for people.")
