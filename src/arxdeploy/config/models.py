"""The shape of ``deployment_config.yaml`` as pydantic models.

Every field has a one-line description: the JSON Schema and the reference docs are generated
from them. Checks that span several fields raise ``ValidationError`` with the exact location
of each problem, so the loader can point at the right line.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from arxdeploy.config import fields
from arxdeploy.config.durations import PATTERN as DURATION_PATTERN
from arxdeploy.config.durations import Duration, format_duration, parse_duration
from arxdeploy.domain import notices
from arxdeploy.domain.approvals import ApprovalPolicy
from arxdeploy.domain.plan import (
    AnalysisPlan,
    AnalysisRun,
    CanaryPlan,
    CanaryStep,
    CheckPolicy,
    EnvironmentPlan,
    MetricCheck,
    SyntheticLoad,
)
from arxdeploy.errors import unknown_environment

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_DRAIN_TIMEOUT = timedelta(seconds=30)
DEFAULT_CPU_UTILIZATION = 70
CRITICAL_UPDATES = "critical_updates"
# Upper bounds keep absurd numbers out of the engine's arithmetic (and its datetimes).
MAX_COUNT = 1000
MAX_APPROVAL_MINUTES = 366 * 24 * 60

ServiceName = Annotated[str, AfterValidator(fields.dns_label(53)), fields.dns_label_schema(53)]
EnvironmentName = Annotated[str, AfterValidator(fields.dns_label(63)), fields.dns_label_schema(63)]
Listen = Annotated[str, AfterValidator(fields.check_listen)]
HttpName = Annotated[
    str, AfterValidator(fields.check_http_name), WithJsonSchema({"type": "string", "pattern": fields.HTTP_NAME})
]
StoreUrl = Annotated[str, AfterValidator(fields.check_store_url)]
CommandPart = Annotated[str, AfterValidator(fields.template(fields.COMMAND_PLACEHOLDERS))]
Email = Annotated[str, AfterValidator(fields.check_email), WithJsonSchema({"type": "string", "format": "email"})]
Endpoint = Annotated[str, AfterValidator(fields.check_endpoint), WithJsonSchema({"type": "string", "pattern": "^/"})]
Port = Annotated[int, Field(ge=1, le=65535)]
Recipient = Annotated[str, AfterValidator(fields.check_recipient)]
Bucket = Annotated[str, AfterValidator(fields.check_bucket)]
Container = Annotated[str, AfterValidator(fields.check_container)]
KeyPrefix = Annotated[str, AfterValidator(fields.check_key_prefix)]
PathText = Annotated[str, AfterValidator(fields.check_path)]  # a file or folder, relative to the config file
Cidr = Annotated[str, AfterValidator(fields.check_cidr)]
LabelKey = Annotated[str, AfterValidator(fields.check_label_key)]
LabelValue = Annotated[str, AfterValidator(fields.check_label_value)]
NamespaceName = Annotated[str, AfterValidator(fields.dns_label(63)), fields.dns_label_schema(63)]
HttpUrlText = Annotated[
    str, AfterValidator(fields.check_http_url), WithJsonSchema({"type": "string", "pattern": "^https?://"})
]
NoticeKind = Annotated[
    str, AfterValidator(fields.one_of(notices.KINDS)), WithJsonSchema({"type": "string", "enum": list(notices.KINDS)})
]


class _Model(BaseModel):
    # Validators are built on first use, not when the module is imported: a reading command that
    # finds its config in the cache (config.cache) builds none. A section left out of the file is
    # validated from {} by its parent's validator (validate_default), so it builds none of its own.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _problems(title: str, errors: list[InitErrorDetails]) -> None:
    """Raise every cross-field problem at once, each at its own location."""
    if errors:
        raise ValidationError.from_exception_data(title, errors)


def _problem(
    loc: tuple[str | int, ...], kind: str, message: str, value: object, hint: str | None = None
) -> InitErrorDetails:
    # The loader turns ctx["hint"] into ConfigProblem.hint; the message template does not use it.
    context = {"hint": hint} if hint else None
    return InitErrorDetails(type=PydanticCustomError(kind, message, context), loc=loc, input=value)


# --- target -------------------------------------------------------------------------------


class LocalTarget(_Model):
    listen: Listen = Field(
        default=DEFAULT_LISTEN, description="Address (host:port) of the router that sends traffic to the live color."
    )
    command: list[CommandPart] = Field(
        min_length=1,
        description="The app's command line; may use {port}, {version}, {color}, {replica} and {environment}.",
    )
    cwd: PathText | None = Field(
        default=None, description="Working folder for the app, relative to the config file; defaults to its folder."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the app's processes."
    )
    drain_timeout: Duration = Field(
        default=timedelta(seconds=30), description="How long a stopped replica may finish in-flight requests."
    )
    crash_loop_restarts: int = Field(
        default=3,
        ge=1,
        le=MAX_COUNT,
        description="Restarts within crash_loop_window after which a replica counts as crash-looping.",
    )
    crash_loop_window: Duration = Field(
        default=timedelta(seconds=60), description="The window crash_loop_restarts is counted in."
    )

    def render_command(self, *, port: int, version: str, color: str, replica: int, environment: str) -> list[str]:
        """The command with its placeholders filled in (``{{`` and ``}}`` are literal braces)."""
        values = {"port": port, "version": version, "color": color, "replica": replica, "environment": environment}
        return [part.format(**values) for part in self.command]


# Gateway API field patterns (kubernetes-sigs/gateway-api apis/v1/shared_types.go: ObjectName,
# SectionName, Hostname), so that a bad value is refused here rather than by the API server mid-deploy.
GatewayObjectName = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
]
GatewayHostname = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]


def _route_hostnames(values: list[str]) -> list[str]:
    if len(values) > MAX_ROUTE_HOSTNAMES:  # HTTPRouteSpec.Hostnames: MaxItems=16
        raise PydanticCustomError(
            "too_many_hostnames", "has {count} host names; an HTTPRoute takes at most 16", {"count": len(values)}
        )
    return values


MAX_ROUTE_HOSTNAMES = 16


class GatewayRoute(_Model):
    name: GatewayObjectName = Field(description="Name of the Gateway the HTTPRoute attaches to (its parentRef).")
    namespace: NamespaceName | None = Field(
        default=None,
        description="Namespace of that Gateway; defaults to the environment's (another one must allow the "
        "route in its listener's allowedRoutes).",
    )
    section_name: GatewayObjectName | None = Field(
        default=None, description="The Gateway listener to attach to (parentRef sectionName); default: all of them."
    )
    hostnames: Annotated[list[GatewayHostname], AfterValidator(_route_hostnames)] = Field(
        default_factory=list,
        description="Host names the route answers for, like app.example.com or *.example.com; empty: the listener's.",
    )
    path: Endpoint = Field(default="/", description="Path prefix the route answers for.")


class KubernetesTarget(_Model):
    kubeconfig: PathText | None = Field(
        default=None, description="Path to the kubeconfig file; defaults to the usual lookup."
    )
    context: str | None = Field(default=None, description="kubeconfig context to use; defaults to the current context.")
    namespace: Annotated[str, AfterValidator(fields.template(fields.NAMESPACE_PLACEHOLDERS))] = Field(
        default="{service}-{environment}",
        description="Namespace of each environment; may use {service} and {environment}.",
    )
    image: Annotated[str, AfterValidator(fields.template(fields.IMAGE_PLACEHOLDERS))] | None = Field(
        default=None,
        description="Container image to deploy, {version} replaced by the version (without manifests; "
        "default <service>:{version}).",
    )
    container_port: Port = Field(
        default=8080, description="Port the app listens on inside its container (without manifests)."
    )
    manifests: PathText | None = Field(
        default=None,
        description="Folder of templates, one subfolder per environment, relative to the config file: "
        "they are the objects applied, instead of the built-in ones.",
    )
    traffic_router: Literal["service", "gateway"] = Field(
        default="service",
        description="How traffic reaches the live color: service (the Service's selector is switched) or "
        "gateway (a Gateway API HTTPRoute's backend weights, which canary weights need).",
    )
    gateway: GatewayRoute | None = Field(default=None, description="The Gateway and route for traffic_router: gateway.")

    @model_validator(mode="after")
    def _gateway_for_router(self) -> KubernetesTarget:
        if self.traffic_router == "gateway" and self.gateway is None:
            hint = "add gateway: {name: <your Gateway>} under target.kubernetes"
            _problems(
                "KubernetesTarget",
                [
                    _problem(
                        ("gateway",), "missing_section", "is required because traffic_router is gateway", None, hint
                    )
                ],
            )
        if self.traffic_router == "service" and self.gateway is not None:
            hint = "add traffic_router: gateway, or remove the gateway section"
            _problems(
                "KubernetesTarget",
                [_problem(("gateway",), "unused_section", "has no effect while traffic_router is service", None, hint)],
            )
        return self


class Target(_Model):
    type: Literal["local", "kubernetes"] = Field(
        default="local", description="Where the app runs: local processes or Kubernetes."
    )
    local: LocalTarget | None = Field(default=None, description="Settings for type: local.")
    kubernetes: KubernetesTarget | None = Field(default=None, description="Settings for type: kubernetes.")

    @model_validator(mode="after")
    def _section_for_type(self) -> Target:
        if getattr(self, self.type) is None:
            _problems(
                "Target",
                [
                    _problem(
                        (self.type,),
                        "missing_section",
                        f"is required because target.type is {self.type}",
                        None,
                        hint=f"add a '{self.type}:' section under target:",
                    )
                ],
            )
        return self


# --- environments --------------------------------------------------------------------------


class ResourceAmounts(_Model):
    cpu: fields.CpuQuantity | None = Field(
        default=None, description="CPU: cores like 0.5 or 2, or millicores like 250m."
    )
    memory: fields.MemoryQuantity | None = Field(default=None, description="Memory like 64Mi, 1Gi or 128M.")


class Resources(_Model):
    requests: ResourceAmounts = Field(
        default_factory=dict, validate_default=True, description="What each replica is guaranteed."
    )
    limits: ResourceAmounts = Field(
        default_factory=dict, validate_default=True, description="The most each replica may use."
    )

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Resources:
        errors = []
        for name, amount in (("cpu", fields.cpu_millis), ("memory", fields.memory_bytes)):
            request, limit = getattr(self.requests, name), getattr(self.limits, name)
            if request is not None and limit is not None and amount(limit) < amount(request):
                # No values in the message: either may have come from a secret.
                errors.append(
                    _problem(("limits", name), "limit_below_request", f"is lower than requests.{name}", limit)
                )
        _problems("Resources", errors)
        return self


class Autoscaling(_Model):
    max_replicas: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        description="The most replicas the HorizontalPodAutoscaler may give one color; default: twice replicas.",
    )
    cpu_utilization: int = Field(
        default=DEFAULT_CPU_UTILIZATION,
        ge=1,
        le=1000,
        description="Average CPU use, in percent of the CPU request, that the autoscaler keeps each color at.",
    )


class EgressRule(_Model):
    cidr: Cidr | None = Field(
        default=None, description="Addresses the app may reach, like 10.20.0.0/16 (a database's subnet)."
    )
    namespace: NamespaceName | None = Field(
        default=None, description="A namespace whose pods the app may reach (all of them, unless pods narrows it)."
    )
    pods: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="Labels of the pods the app may reach, in namespace (or in its own namespace without one).",
    )
    ports: list[Port] = Field(default_factory=list, description="Ports the app may reach there; empty: every port.")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(default="TCP", description="Protocol of those ports.")

    @model_validator(mode="after")
    def _one_destination(self) -> EgressRule:
        by_address, by_pods = self.cidr is not None, self.namespace is not None or bool(self.pods)
        if by_address == by_pods:
            message = "names both an address and pods" if by_address else "names no destination"
            hint = "give either cidr, or namespace and/or pods (one rule each)"
            _problems("EgressRule", [_problem(("cidr",), "egress_destination", message, None, hint=hint)])
        return self


class StickyRouting(_Model):
    header: HttpName | None = Field(
        default=None, description="Request header whose value keeps a client on one color (like X-User-Id)."
    )
    cookie: HttpName | None = Field(
        default=None, description="Cookie whose value keeps a client on one color (like session)."
    )

    @model_validator(mode="after")
    def _one_key(self) -> StickyRouting:
        if (self.header is None) == (self.cookie is None):
            message = "needs exactly one of header and cookie"
            _problems("StickyRouting", [_problem((), "sticky_key", message, None, hint="e.g. header: X-User-Id")])
        return self


class Environment(_Model):
    branches: list[str] = Field(default_factory=list, description="Git branches that deploy to this environment.")
    tags: list[str] = Field(
        default_factory=list, description="Git tag patterns (like v*) that deploy to this environment."
    )
    replicas: int = Field(ge=1, le=MAX_COUNT, description="How many copies of the app run in this environment.")
    approval_required: bool = Field(
        default=False, description="Whether deployments here wait for an approval (when gates are enabled)."
    )
    monitoring_duration: Duration = Field(
        default=timedelta(minutes=5),
        description="How long the new color is watched after the switch before it is final.",
    )
    rollback_timeout: Duration = Field(
        default=timedelta(minutes=5), description="How long a rollback may take before it is reported as stuck."
    )
    resources: Resources | None = Field(
        default=None, description="Kubernetes target without manifests: CPU and memory requests and limits per replica."
    )
    autoscaling: Autoscaling = Field(
        default_factory=dict,
        validate_default=True,
        description="Kubernetes target without manifests: the bounds of each color's HorizontalPodAutoscaler.",
    )
    egress: list[EgressRule] | None = Field(
        default=None,
        description="Kubernetes target without manifests: where the app's pods may connect besides DNS; "
        "unset, arxdeploy does not restrict their egress.",
    )
    listen: Listen | None = Field(
        default=None,
        description="Local target only: this environment's router address, instead of target.local.listen.",
    )
    sticky: StickyRouting | None = Field(
        default=None,
        description="Local target only: while traffic is split between two colors, keep each client on one "
        "color by a header's or a cookie's value (without it, requests take turns).",
    )
    restore_database_on_rollback: bool = Field(
        default=False,
        description="Whether a rollback here also restores the database from the dump taken before the change "
        "it undoes (with backup.database); the writes made since are lost. Off: rollbacks leave the database alone.",
    )
    url: HttpUrlText | None = Field(
        default=None,
        description="The environment's public URL, like https://app.example.com: its certificate is checked by "
        "security.tls before each deployment.",
    )
    analysis: AnalysisPhases | None = Field(
        default=None,
        description="Where metric analysis runs in this environment (verify, monitor, canary), instead of the "
        "top-level analysis section's phases; its metrics come from analysis.metrics.",
    )

    @model_validator(mode="after")
    def _room_to_scale(self) -> Environment:
        most = self.autoscaling.max_replicas
        if most is not None and most < self.replicas:
            message = f"is lower than replicas ({self.replicas})"
            _problems(
                "Environment",
                [
                    _problem(
                        ("autoscaling", "max_replicas"), "below_replicas", message, most, hint="raise it, or remove it"
                    )
                ],
            )
        return self

    def max_replicas(self) -> int:
        """The autoscaler's upper bound: ``autoscaling.max_replicas``, or twice ``replicas``."""
        return self.autoscaling.max_replicas or 2 * self.replicas


# --- strategy, checks, gates ---------------------------------------------------------------


class BlueGreen(_Model):
    enabled: bool = Field(default=True, description="Whether blue-green deployment is used.")
    traffic_switch_delay: Duration = Field(
        default=timedelta(seconds=30), description="Pause between a healthy new color and the traffic switch."
    )
    scale_down_delay: Duration = Field(
        default=timedelta(seconds=60), description="How long the old color keeps running after the switch."
    )


UNTIL_APPROVED = "until_approved"


def _pause(value: object) -> timedelta | str:
    """A canary pause: ``until_approved`` (a person answers) or a duration."""
    return UNTIL_APPROVED if value == UNTIL_APPROVED else parse_duration(value)


Pause = Annotated[
    timedelta | str,
    BeforeValidator(_pause),
    PlainSerializer(lambda v: format_duration(v) if isinstance(v, timedelta) else v, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"const": UNTIL_APPROVED},
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ]
        }
    ),
]


class CanaryStepConfig(_Model):
    weight: int | None = Field(
        default=None, ge=0, le=100, description="Send this percent (0 to 100) of new requests to the new version."
    )
    pause: Pause | None = Field(
        default=None,
        description="Wait: a duration (e.g. 2m), or until_approved to wait for `arxdeploy promote` (or abort).",
    )
    analysis: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Judge the new version against the old on these metrics (names in analysis.metrics).",
    )

    @model_validator(mode="after")
    def _one_key(self) -> CanaryStepConfig:
        given = [key for key in ("weight", "pause", "analysis") if getattr(self, key) is not None]
        if len(given) != 1:
            message = "is " + (" and ".join(given) if given else "empty") + "; a step is one of weight, pause, analysis"
            hint = "write each as its own step, e.g. `- weight: 10` then `- pause: 2m`"
            _problems("CanaryStep", [_problem((), "canary_step", message, None, hint=hint)])
        return self

    def resolve(self) -> CanaryStep:
        if self.pause == UNTIL_APPROVED:
            return CanaryStep(until_approved=True)
        if isinstance(self.pause, timedelta):
            return CanaryStep(pause=self.pause)
        return CanaryStep(weight=self.weight, analysis=tuple(self.analysis) if self.analysis is not None else None)


class Canary(_Model):
    steps: list[CanaryStepConfig] = Field(
        min_length=1,
        description="The canary's steps, in order: {weight: N}, {pause: DURATION}, {pause: until_approved}, "
        "{analysis: [names]}. Weights never go down; after the last step the new version takes all the traffic.",
    )

    @model_validator(mode="after")
    def _weights_grow(self) -> Canary:
        errors, highest = [], 0
        for index, step in enumerate(self.steps):
            if step.weight is None:
                continue
            if step.weight < highest:
                message = f"is {step.weight}, lower than the {highest} before it: a canary's weights never go down"
                hint = f"use {highest} or more, or `arxdeploy abort` to send the traffic back"
                errors.append(_problem(("steps", index, "weight"), "weight_down", message, step.weight, hint=hint))
            highest = max(highest, step.weight)
        _problems("Canary", errors)
        return self

    def plan(self) -> CanaryPlan:
        return CanaryPlan(steps=tuple(step.resolve() for step in self.steps))


class DeploymentStrategy(_Model):
    type: Literal["blue_green", "canary"] = Field(
        default="blue_green",
        description="The deployment strategy: blue_green (the default: all traffic at once) or canary "
        "(a growing share, step by step).",
    )
    blue_green: BlueGreen = Field(
        default_factory=dict, validate_default=True, description="Settings for the blue_green strategy."
    )
    canary: Canary | None = Field(default=None, description="Settings for the canary strategy: its steps.")

    @model_validator(mode="after")
    def _canary_has_steps(self) -> DeploymentStrategy:
        if self.type == "canary" and self.canary is None:
            hint = "add deployment_strategy.canary.steps, e.g. [{weight: 10}, {pause: 2m}, {weight: 50}]"
            missing = _problem(("canary",), "missing", "is required for type canary", None, hint=hint)
            _problems("DeploymentStrategy", [missing])
        if self.type != "canary" and self.canary is not None:
            hint = "set deployment_strategy.type: canary, or remove deployment_strategy.canary"
            message = f"has no effect: the strategy is {self.type}"
            _problems("DeploymentStrategy", [_problem(("canary",), "unused", message, None, hint=hint)])
        return self


class CustomCheck(_Model):
    name: str = Field(min_length=1, description="Name of the check, shown in reports.")
    script: PathText = Field(
        description="Executable run as the check (relative to the config file); exit 0 means healthy."
    )
    timeout: Duration | None = Field(
        default=None, description="How long the script may run; defaults to health_checks.timeout."
    )


class HealthChecks(_Model):
    endpoints: list[Endpoint] = Field(
        default_factory=lambda: ["/health"], description="HTTP paths that must answer 2xx on every replica."
    )
    interval: Duration = Field(default=timedelta(seconds=2), description="Time between two rounds of checks.")
    timeout: Duration = Field(default=timedelta(seconds=2), description="How long one check may take.")
    success_threshold: int = Field(
        default=2, ge=1, le=MAX_COUNT, description="Passing rounds in a row needed to call a color healthy."
    )
    failure_threshold: int = Field(
        default=3, ge=1, le=MAX_COUNT, description="Failing rounds in a row that make a color unhealthy."
    )
    progress_deadline: Duration = Field(
        default=timedelta(minutes=5), description="How long a new color may take to become healthy."
    )
    custom_checks: list[CustomCheck] = Field(default_factory=list, description="Scripts run as extra health checks.")

    @model_validator(mode="after")
    def _unique_check_names(self) -> HealthChecks:
        seen: set[str] = set()
        errors = []
        for index, check in enumerate(self.custom_checks):
            if check.name in seen:
                errors.append(
                    _problem(
                        ("custom_checks", index, "name"), "duplicate_name", "is used by an earlier check", check.name
                    )
                )
            seen.add(check.name)
        _problems("HealthChecks", errors)
        return self

    def policy(self) -> CheckPolicy:
        return CheckPolicy(
            interval=self.interval,
            timeout=self.timeout,
            success_threshold=self.success_threshold,
            failure_threshold=self.failure_threshold,
            progress_deadline=self.progress_deadline,
        )


class ApprovalOverride(_Model):
    approvers: list[Email] | None = Field(default=None, description="Who may approve here, instead of the list above.")
    min_approvals: int | None = Field(default=None, ge=1, le=MAX_COUNT, description="Distinct approvals needed here.")
    timeout_minutes: int | None = Field(
        default=None, ge=1, le=MAX_APPROVAL_MINUTES, description="Minutes to wait here before the deployment expires."
    )
    allow_self_approval: bool | None = Field(default=None, description="Whether the person who asked may approve here.")


class ApprovalGates(_Model):
    enabled: bool = Field(default=False, description="Whether approval gates are used at all.")
    required_for: list[str] = Field(
        default_factory=list, description="Environments (or critical_updates) whose deployments need an approval."
    )
    approvers: list[Email] = Field(default_factory=list, description="Email addresses of the people who may approve.")
    min_approvals: int = Field(
        default=1, ge=1, le=MAX_COUNT, description="How many different approvers must approve a deployment."
    )
    allow_self_approval: bool = Field(
        default=False, description="Whether the person who asked for a deployment may approve it."
    )
    timeout_minutes: int = Field(
        default=60,
        ge=1,
        le=MAX_APPROVAL_MINUTES,
        description="Minutes to wait for an approval before the deployment expires.",
    )
    auto_approve_staging: bool = Field(
        default=True, description="Whether deployments to staging are approved automatically (unless critical)."
    )
    overrides: dict[EnvironmentName, ApprovalOverride] = Field(
        default_factory=dict, description="Per-environment changes to the settings above, by environment name."
    )


class Server(_Model):
    url: HttpUrlText | None = Field(
        default=None,
        description="Where people reach `arxdeploy server` (e.g. https://deploy.example.com): "
        "approval links point there and `arxdeploy approve` talks to it.",
    )


class SlackNotifications(_Model):
    webhook_url: HttpUrlText = Field(description="Slack incoming-webhook URL; a secret: use ${SLACK_WEBHOOK_URL}.")


class EmailNotifications(_Model):
    smtp_host: str = Field(min_length=1, description="SMTP server host name.")
    smtp_port: Port = Field(default=587, description="SMTP port: 587 for STARTTLS, 465 for implicit TLS.")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (upgrade a plain connection), tls (port 465), or none (no login)."
    )
    username: str | None = Field(default=None, description="SMTP login name; none for no login.")
    password: str | None = Field(default=None, description="SMTP password; a secret: use ${SMTP_PASSWORD}.")
    sender: Email = Field(description="The From address.")
    recipients: list[Email] = Field(min_length=1, description="Who receives the mails.")


class WebhookNotification(_Model):
    url: HttpUrlText = Field(description="Where the JSON is POSTed.")
    secret: str = Field(min_length=16, description="HMAC-SHA256 key for the signature header; use ${VAR}.")


class Notifications(_Model):
    slack: SlackNotifications | None = Field(default=None, description="Post to a Slack channel.")
    email: EmailNotifications | None = Field(default=None, description="Send mails over SMTP.")
    webhooks: list[WebhookNotification] = Field(default_factory=list, description="Signed JSON webhooks.")
    events: list[NoticeKind] = Field(
        default_factory=lambda: list(notices.KINDS), description="Which events are sent (default: all of them)."
    )

    @property
    def has_channels(self) -> bool:
        return self.slack is not None or self.email is not None or bool(self.webhooks)


class BackupStorage(_Model):
    type: Literal["local", "s3", "azure_blob"] = Field(
        default="local",
        description="Where backups are kept: a folder on this machine, an S3 bucket, or an Azure Blob container.",
    )
    path: PathText | None = Field(
        default=None,
        description="type local: the folder, relative to the config file (default: backups/ in state_dir).",
    )
    bucket: Bucket | None = Field(default=None, description="type s3: the bucket.")
    region: str | None = Field(default=None, description="type s3: the bucket's region (default: boto3's own choice).")
    endpoint_url: HttpUrlText | None = Field(
        default=None, description="type s3: the endpoint of an S3-compatible store (MinIO, SeaweedFS, Ceph...)."
    )
    account_url: HttpUrlText | None = Field(
        default=None,
        description="type azure_blob: https://<account>.blob.core.windows.net (optional with "
        "AZURE_STORAGE_CONNECTION_STRING, which names its account).",
    )
    container: Container | None = Field(default=None, description="type azure_blob: the container.")
    prefix: KeyPrefix = Field(
        default="", description="type s3 and azure_blob: what every object name starts with, like backups/."
    )

    @model_validator(mode="after")
    def _keys_for_type(self) -> BackupStorage:
        needed = {"local": (), "s3": ("bucket",), "azure_blob": ("container",)}[self.type]
        own = {
            "local": {"path"},
            "s3": {"bucket", "region", "endpoint_url", "prefix"},
            "azure_blob": {"account_url", "container", "prefix"},
        }[self.type]
        errors = [
            _problem((name,), "missing_key", f"is required because backup.storage.type is {self.type}", None)
            for name in needed
            if getattr(self, name) is None
        ]
        for name in ("path", "bucket", "region", "endpoint_url", "account_url", "container", "prefix"):
            if name not in own and getattr(self, name) not in (None, ""):  # a dumped config writes nulls
                message = f"has no effect with backup.storage.type {self.type}"
                errors.append(_problem((name,), "unused_key", message, None, hint="remove it, or change type"))
        _problems("BackupStorage", errors)
        return self


class DatabaseBackup(_Model):
    backup_script: PathText = Field(
        description="Executable that writes a dump of the database to $ARXDEPLOY_DUMP_FILE, run by every backup "
        "(relative to the config file); the seed's DATABASE_BACKUP_SCRIPT."
    )
    restore_script: PathText = Field(
        description="Executable that restores the database from the dump in $ARXDEPLOY_DUMP_FILE, run by "
        "`backup restore --with-database` (relative to the config file); the seed's DATABASE_RESTORE_SCRIPT."
    )
    timeout: Duration = Field(
        default=timedelta(minutes=30),
        description="How long either script may run; then it is stopped and its step fails.",
    )


class Backup(_Model):
    keep: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="How many backups to keep per environment; older ones are deleted after each new backup.",
    )
    max_age: Duration | None = Field(
        default=None,
        description="Backups older than this (like 30d) are deleted after each new backup; none: kept by count only.",
    )
    encryption: bool = Field(
        default=False,
        description="Encrypt each backup with age before it leaves this machine, for the recipients only.",
    )
    recipients: list[Recipient] = Field(
        default_factory=list,
        description="With encryption: the age public keys (age1...) or SSH public keys that can open backups.",
    )
    storage: BackupStorage = Field(default_factory=dict, validate_default=True, description="Where backups are kept.")
    database: DatabaseBackup | None = Field(
        default=None,
        description="The app's database: dumped by a script into every backup, restored by another on request.",
    )

    @model_validator(mode="after")
    def _recipients_with_encryption(self) -> Backup:
        if self.encryption and not self.recipients:
            hint = (
                "add the public keys of who may restore (age-keygen makes a pair; age-keygen -y shows its public key)"
            )
            _problems(
                "Backup",
                [_problem(("recipients",), "missing_key", "is required with encryption: true", None, hint=hint)],
            )
        if self.recipients and not self.encryption:
            message = "are only used with encryption: true"
            _problems("Backup", [_problem(("recipients",), "unused_key", message, None, hint="set encryption: true")])
        if self.max_age is not None and self.max_age < timedelta(hours=1):
            message = "is shorter than an hour: the backup of the deployment before would go at once"
            _problems(
                "Backup", [_problem(("max_age",), "max_age_too_short", message, None, hint="use 1h or more, like 30d")]
            )
        return self


# --- security gates ------------------------------------------------------------------------

SeverityLevel = Literal["unknown", "low", "medium", "high", "critical"]


class AllowedVulnerability(_Model):
    id: str = Field(min_length=1, description="The vulnerability allowed, like CVE-2024-1234 or GHSA-xxxx-xxxx-xxxx.")
    reason: str = Field(min_length=1, description="Why it is accepted, for the people who approve.")
    expires: date = Field(
        description="Last day it is allowed (YYYY-MM-DD); from the day after, the gate fails and says so."
    )


class VulnerabilityGate(_Model):
    enabled: bool = Field(
        default=True, description="Whether image scan reports are checked (Kubernetes target; a local one has none)."
    )
    reports: list[PathText] = Field(
        default_factory=list,
        description="Scan reports (Trivy JSON, Grype JSON or SARIF), relative to the config file; globs and "
        "{version} allowed, like reports/trivy-{version}.json.",
    )
    required: bool = Field(
        default=False,
        description="Whether a deployment without a report (and no trivy or grype on PATH) fails; "
        "otherwise it passes with a warning.",
    )
    scan: bool = Field(
        default=True, description="Without a report: run trivy or grype on the image when one is on PATH."
    )
    fail_on: SeverityLevel = Field(
        default="high", description="The lowest severity that fails the deployment: low, medium, high or critical."
    )
    only_fixed: bool = Field(
        default=False, description="Fail only for vulnerabilities that have a fixed version to upgrade to."
    )
    allow: list[AllowedVulnerability] = Field(
        default_factory=list, description="Vulnerabilities accepted for a while, each with a reason and an expiry."
    )


class TlsGate(_Model):
    enabled: bool = Field(default=True, description="Whether the certificate of each environment's url is checked.")
    min_days: int = Field(
        default=14, ge=0, le=3650, description="Fewer days of validity left than this fails the deployment."
    )
    warn_days: int = Field(
        default=30, ge=0, le=3650, description="Fewer days of validity left than this passes with a warning."
    )
    ca_file: PathText | None = Field(
        default=None,
        description="PEM file of the CAs to trust instead of the system's (relative to the config file); "
        "SSL_CERT_FILE works too.",
    )
    timeout: Duration = Field(default=timedelta(seconds=10), description="How long one TLS handshake may take.")

    @model_validator(mode="after")
    def _warn_before_failing(self) -> TlsGate:
        if self.warn_days < self.min_days:
            message = f"is lower than min_days ({self.min_days}): the warning would never show"
            _problems("TlsGate", [_problem(("warn_days",), "warn_below_min", message, None, hint="raise it")])
        return self


# the cluster gates: image digest, secrets, network policy, compliance. Off unless turned on: each
# needs something of the deploying machine or the cluster that a setup made before them lacks
# (registry credentials, RBAC on Secrets and NetworkPolicies, checkov, a default-deny policy).

CheckovId = Annotated[str, Field(pattern=r"^CKV2?_[A-Z0-9]+_[0-9]+$")]


class ImageDigestGate(_Model):
    enabled: bool = Field(
        default=False,
        description="Whether the image tag is resolved to its digest and pinned (needs the registry's "
        "credentials on the deploying machine).",
    )
    docker_config: PathText | None = Field(
        default=None,
        description="A docker config file (its `auths`) with the registry's credentials, relative to the config "
        "file; default: $DOCKER_CONFIG/config.json or ~/.docker/config.json when there.",
    )
    pull_secret: str | None = Field(
        default=None,
        description="A kubernetes.io/dockerconfigjson Secret of the environment's namespace whose credentials "
        "are used, as the cluster's kubelet uses them (needs `get` on that Secret).",
    )
    insecure_registries: list[str] = Field(
        default_factory=list,
        description="Registries (host:port) reached over plain HTTP, like a registry on loopback in a test.",
    )


class SecretsGate(_Model):
    enabled: bool = Field(
        default=False, description="Whether the Secrets the pods reference are checked and plaintext looked for."
    )
    read_values: bool = Field(
        default=False,
        description="Also check that each referenced key exists, which reads the Secrets (needs `get` on them); "
        "values are never printed, logged or stored. Default: names only, from metadata.",
    )
    scan: bool = Field(
        default=True,
        description="Look for plaintext secrets in the config, the manifest templates and the rendered objects "
        "(detect-secrets: `pip install arxdeploy[secrets]`).",
    )


class NetworkPolicyGate(_Model):
    enabled: bool = Field(default=False, description="Whether the namespace's NetworkPolicies are checked.")
    require_default_deny: bool = Field(
        default=True,
        description="The namespace must have a policy selecting every pod that denies all ingress by default.",
    )
    require_egress: bool = Field(
        default=False,
        description="The new color's egress must be limited by a policy even where the environment lists no "
        "egress (with an egress list it always must).",
    )


class ComplianceSkip(_Model):
    id: CheckovId = Field(description="The checkov check to skip, like CKV_K8S_43.")
    reason: str = Field(min_length=10, description="Why the rendered objects may fail it; shown with the result.")


class ComplianceGate(_Model):
    enabled: bool = Field(
        default=False, description="Whether checkov's Kubernetes checks run on the rendered objects (needs checkov)."
    )
    skip: list[ComplianceSkip] = Field(
        default_factory=list, description="Checks allowed to fail, each with the reason why."
    )


class Security(_Model):
    """One sub-section per gate; each gate that does not apply to the target says so itself."""

    enabled: bool = Field(
        default=True, description="Whether the security step runs before the approval gate and the backup."
    )
    vulnerabilities: VulnerabilityGate = Field(
        default_factory=dict,
        validate_default=True,
        description="Image vulnerability scan evidence and the policy on it.",
    )
    tls: TlsGate = Field(
        default_factory=dict, validate_default=True, description="TLS certificates of the environments' public URLs."
    )
    image_digest: ImageDigestGate = Field(
        default_factory=dict,
        validate_default=True,
        description="Resolve the image tag to its digest; run and approve that.",
    )
    secrets: SecretsGate = Field(
        default_factory=dict,
        validate_default=True,
        description="Referenced Secrets exist; no plaintext secret anywhere.",
    )
    network_policy: NetworkPolicyGate = Field(
        default_factory=dict, validate_default=True, description="Default deny, the app's port allowed, egress limited."
    )
    compliance: ComplianceGate = Field(
        default_factory=dict, validate_default=True, description="checkov's Kubernetes checks on what will run."
    )


def _names_as_property_names(schema: dict[str, Any]) -> None:
    # pydantic writes patternProperties, which lets a badly named environment through unchecked.
    patterns = schema.pop("patternProperties", None)
    if isinstance(patterns, dict) and len(patterns) == 1:
        ((pattern, value_schema),) = patterns.items()
        schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
        schema["additionalProperties"] = value_schema


# --- metric analysis -----------------------------------------------------------------------

METRIC_NAME = re.compile(r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?")  # error_rate, p99, queue-depth


def _metric_name(value: str) -> str:
    if not METRIC_NAME.fullmatch(value):
        raise PydanticCustomError(
            "metric_name",
            "is not a valid metric name; use at most 63 lowercase letters, digits, '_' and '-', "
            "starting and ending with a letter or digit",
        )
    return value


MetricName = Annotated[
    str,
    AfterValidator(_metric_name),
    WithJsonSchema({"type": "string", "pattern": f"^{METRIC_NAME.pattern}$", "maxLength": 63}),
]
ROUTER_MEASURES = ("error_rate", "p50", "p90", "p95", "p99", "mean_latency", "rate")
PROVIDER_KEYS = {"router": ("measure",), "prometheus": ("query",), "http": ("url", "path", "headers")}


class Judge(_Model):
    confidence: float = Field(
        default=0.95,
        ge=0.5,
        le=0.999,
        description="Confidence level of the Mann-Whitney U test: the candidate fails only when it is worse "
        "than the baseline with at least this confidence (one-sided p below 1 - confidence).",
    )
    effect: float = Field(
        default=0.1,
        ge=0.0,
        le=100.0,
        description="Effect-size band: a worse candidate also needs a median more than this fraction above "
        "the baseline's (0.1: 10 %) to fail, so a significant but negligible difference passes.",
    )


class AnalysisMetric(_Model):
    provider: Literal["router", "prometheus", "http"] = Field(
        description="Where the figure comes from: the local router's own request counts, a Prometheus "
        "query, or a number in an HTTP endpoint's JSON answer."
    )
    measure: Literal["error_rate", "p50", "p90", "p95", "p99", "mean_latency", "rate"] | None = Field(
        default=None,
        description="provider router: which figure of a color's requests over the interval (error_rate: share "
        "of 5xx and unanswered; pNN and mean_latency in seconds; rate: requests per second).",
    )
    query: str | None = Field(
        default=None,
        description="provider prometheus: PromQL giving one number; {service}, {environment}, {namespace}, "
        "{color}, {version} and {interval} are filled in.",
    )
    url: HttpUrlText | None = Field(
        default=None,
        description="provider http: URL answering JSON (the same placeholders as query are filled in).",
    )
    path: str | None = Field(
        default=None, description="provider http: dotted path to the number in the answer, like data.error_rate."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="provider http: headers sent with each request (use ${VAR} for tokens)."
    )
    max: float | None = Field(default=None, description="The candidate's figure must be at most this.")
    min: float | None = Field(default=None, description="The candidate's figure must be at least this.")
    max_ratio: float | None = Field(
        default=None,
        ge=0.01,
        description="The candidate's figure must be at most this many times the baseline color's over the same "
        "window (plus allowance).",
    )
    allowance: float = Field(
        default=0.0, ge=0, description="Added to max_ratio × baseline: what a near-zero baseline still allows."
    )
    failure_limit: int | None = Field(
        default=None,
        ge=0,
        le=MAX_COUNT,
        description="Failed measurements of this metric tolerated, instead of the phase's failure_limit "
        "(a noisy quantile may take 1 while error rate takes 0).",
    )
    judge: Judge | None = Field(
        default=None,
        description="Also compare the two colors' figures over all intervals with a Mann-Whitney U test "
        "(needs the analysis extra: SciPy).",
    )

    @model_validator(mode="after")
    def _keys_for_provider(self) -> AnalysisMetric:
        errors = []
        needed = {"router": ("measure",), "prometheus": ("query",), "http": ("url", "path")}[self.provider]
        for name in needed:
            if getattr(self, name) is None:
                message = f"is required with provider: {self.provider}"
                hint = f"one of: {', '.join(ROUTER_MEASURES)}" if name == "measure" else None
                errors.append(_problem((name,), "missing_key", message, None, hint=hint))
        for provider, own in PROVIDER_KEYS.items():
            for name in own:
                if provider != self.provider and getattr(self, name) not in (None, {}):
                    message = f"has no effect with provider: {self.provider}"
                    hint = f"remove it, or use provider: {provider}"
                    errors.append(_problem((name,), "unused_key", message, None, hint=hint))
        if self.max is None and self.min is None and self.max_ratio is None and self.judge is None:
            message = "has no condition: nothing could fail it"
            hint = "add max, min, max_ratio or judge"
            errors.append(_problem(("provider",), "no_condition", message, None, hint=hint))
        _problems("AnalysisMetric", errors)
        return self


class AnalysisLoad(_Model):
    rate: float = Field(ge=0.1, le=1000, description="Requests per second sent to the candidate.")
    paths: list[Endpoint] = Field(default_factory=lambda: ["/"], min_length=1, description="Paths taken in turn.")
    duration: Duration | None = Field(
        default=None, description="How long to send them; default: as long as the analysis runs."
    )


class AnalysisPhase(_Model):
    metrics: list[MetricName] = Field(
        default_factory=list,
        description="Names of metrics of analysis.metrics to judge (verify and monitor need at least one; a "
        "canary's analysis steps name their own).",
    )
    interval: Duration = Field(default=timedelta(seconds=30), description="The window of each measurement.")
    count: int = Field(default=3, ge=1, le=MAX_COUNT, description="How many measurements of every metric.")
    failure_limit: int = Field(
        default=0, ge=0, le=MAX_COUNT, description="Failed measurements tolerated; one more fails the analysis."
    )
    inconclusive: Literal["pause", "fail", "pass"] = Field(
        default="fail",
        description="What too little data (no traffic, too few requests) leads to: wait for a person "
        "(promote or abort), fail, or pass.",
    )
    consecutive_error_limit: int = Field(
        default=2,
        ge=0,
        le=MAX_COUNT,
        description="Provider errors in a row tolerated per metric; one more fails the analysis (an outage of "
        "the metrics is never a pass).",
    )
    min_requests: int = Field(
        default=20,
        ge=1,
        le=1_000_000,
        description="provider router: fewer requests than this in a window makes that measurement inconclusive.",
    )
    load: AnalysisLoad | None = Field(
        default=None,
        description="Synthetic requests sent to the candidate during the analysis (marked X-Arxdeploy-Synthetic).",
    )


class AnalysisPhases(_Model):
    verify: AnalysisPhase | None = Field(
        default=None, description="Before the switch, on preview traffic: the candidate against the live color."
    )
    monitor: AnalysisPhase | None = Field(
        default=None,
        description="After the switch: the new live color against the old one's figures from before the switch.",
    )
    canary: AnalysisPhase | None = Field(
        default=None, description="The settings of a canary's analysis steps (their metrics are named by each step)."
    )


class PrometheusServer(_Model):
    url: HttpUrlText = Field(description="Base URL of the Prometheus server (its HTTP API is under /api/v1).")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent with each query, like Authorization (use ${VAR})."
    )
    timeout: Duration = Field(default=timedelta(seconds=10), description="How long one query may take.")


class Analysis(AnalysisPhases):
    prometheus: PrometheusServer | None = Field(
        default=None, description="The Prometheus server that metrics of provider prometheus query."
    )
    metrics: dict[MetricName, AnalysisMetric] = Field(
        default_factory=dict,
        description="The metrics analysis can judge, by name.",
        json_schema_extra=_names_as_property_names,
    )


# --- the file ------------------------------------------------------------------------------


class Config(_Model):
    service: ServiceName = Field(
        description="Name of the service: lowercase letters, digits and '-', at most 53 characters."
    )
    state_dir: PathText = Field(
        default=".arxdeploy", description="Folder for arxdeploy's state, relative to the config file."
    )
    store_url: StoreUrl | None = Field(
        default=None,
        description="Where the deployment record lives: kubernetes:// (in the cluster, each environment's "
        "namespace; kubernetes://NAMESPACE: one namespace), or a sqlite:// or postgresql:// URL (use ${VAR} for "
        "the password). Default: the cluster for the Kubernetes target, SQLite in state_dir for the local one.",
    )
    single_runner: bool = Field(
        default=False,
        description="Deploy from one machine that keeps its disk (a self-hosted runner that is the host): "
        "a record or backups on that disk are then intended, also in CI. Otherwise deploy, rollback and resume "
        "of a Kubernetes target in CI refuse state that would die with the runner.",
    )
    target: Target = Field(description="Where the app runs.")
    environments: dict[EnvironmentName, Environment] = Field(
        min_length=1,
        description="The environments, by name (lowercase letters, digits and '-').",
        json_schema_extra=_names_as_property_names,
    )
    deployment_strategy: DeploymentStrategy = Field(
        default_factory=dict, validate_default=True, description="How a new version replaces the old one."
    )
    health_checks: HealthChecks = Field(
        default_factory=dict, validate_default=True, description="How a color is judged healthy."
    )
    approval_gates: ApprovalGates = Field(
        default_factory=dict, validate_default=True, description="Who must approve which deployments."
    )
    server: Server = Field(
        default_factory=dict, validate_default=True, description="The HTTP API (`arxdeploy server`)."
    )
    notifications: Notifications = Field(
        default_factory=dict, validate_default=True, description="Who is told about deployments and approvals, and how."
    )
    backup: Backup = Field(
        default_factory=dict, validate_default=True, description="What is kept of the backups taken before each change."
    )
    security: Security = Field(
        default_factory=dict, validate_default=True, description="The security gates run before anything changes."
    )
    analysis: Analysis = Field(
        default_factory=dict,
        validate_default=True,
        description="Metric analysis: named metrics with their conditions, and the phases that judge them.",
    )

    @model_validator(mode="after")
    def _gates_name_environments(self) -> Config:
        known = [*self.environments, CRITICAL_UPDATES]
        errors = []
        for index, name in enumerate(self.approval_gates.required_for):
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                # Only the suggestion is named: the entry itself may have come from a secret.
                hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"
                message = "is not an environment name or critical_updates"
                loc: tuple[str | int, ...] = ("approval_gates", "required_for", index)
                errors.append(_problem(loc, "unknown_environment", message, name, hint=hint))
        for name in self.approval_gates.overrides:
            if name not in self.environments:
                close = difflib.get_close_matches(name, list(self.environments), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(self.environments)}"
                where: tuple[str | int, ...] = ("approval_gates", "overrides", name)
                errors.append(_problem(where, "unknown_environment", "is not an environment name", name, hint=hint))
        short: dict[tuple[str | int, ...], list[str]] = {}
        for name in self.environments:
            policy = self.approval(name)
            needed = self.approval_gates.enabled and policy.needs_gate(critical=True)
            if needed and policy.min_approvals > len(policy.approvers):
                override = self.approval_gates.overrides.get(name)
                key: tuple[str | int, ...] = ("approval_gates", "min_approvals")
                if override and override.min_approvals:
                    key = ("approval_gates", "overrides", name, "min_approvals")
                short.setdefault(key, []).append(name)
        for key, names in short.items():
            policy = self.approval(names[0])
            message = (
                f"{policy.min_approvals} approvals are needed but {len(policy.approvers)} approvers are listed "
                f"(for {', '.join(names)})"
            )
            hint = "add approvers or lower min_approvals"
            errors.append(_problem(key, "too_few_approvers", message, policy.min_approvals, hint=hint))
        _problems("Config", errors)
        return self

    @model_validator(mode="after")
    def _canary_names_metrics(self) -> Config:
        """A canary's analysis steps name metrics of the top-level ``analysis`` section, where this
        version of the config has one (read by name: the section belongs to metric analysis)."""
        canary = self.deployment_strategy.canary
        section = getattr(self, "analysis", None)
        if canary is None or section is None:
            return self
        known = list(getattr(section, "metrics", None) or {})
        errors = []
        for index, step in enumerate(canary.steps):
            for position, name in enumerate(step.analysis or ()):
                if name in known:
                    continue
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}" if known else None
                loc: tuple[str | int, ...] = ("deployment_strategy", "canary", "steps", index, "analysis", position)
                message = "is not a metric of analysis.metrics"
                errors.append(
                    _problem(loc, "unknown_metric", message, name, hint=hint or "define it under analysis.metrics")
                )
        _problems("Config", errors)
        return self

    @model_validator(mode="after")
    def _record_where_the_target_is(self) -> Config:
        if self.store_url is not None and self.store_url.startswith("kubernetes:") and self.target.type != "kubernetes":
            hint = "drop store_url (SQLite in state_dir) or use a postgresql:// database, or target.type kubernetes"
            message = "keeps the record in a Kubernetes cluster, and this service's target is not one"
            _problems("Config", [_problem(("store_url",), "store_url", message, self.store_url, hint=hint)])
        return self

    @model_validator(mode="after")
    def _database_to_restore(self) -> Config:
        if self.backup.database is not None:
            return self
        errors = [
            _problem(
                ("environments", name, "restore_database_on_rollback"),
                "no_database",
                "needs backup.database: no dump is taken without it",
                None,
                hint="add backup.database with backup_script and restore_script, or remove this key",
            )
            for name, env in self.environments.items()
            if env.restore_database_on_rollback
        ]
        _problems("Config", errors)
        return self

    @model_validator(mode="after")
    def _one_namespace_each(self) -> Config:
        kubernetes = self.target.kubernetes
        if self.target.type != "kubernetes" or kubernetes is None:
            return self
        where: tuple[str | int, ...] = ("target", "kubernetes", "namespace")
        errors = []
        by_namespace: dict[str, list[str]] = {}
        for name in self.environments:
            namespace = kubernetes.namespace.format(service=self.service, environment=name)
            by_namespace.setdefault(namespace, []).append(name)
        for namespace, names in by_namespace.items():
            if len(names) > 1:
                message = f"puts environments {' and '.join(names)} in one namespace, {namespace}"
                hint = "each environment needs its own namespace: include {environment}, e.g. {service}-{environment}"
                errors.append(_problem(where, "shared_namespace", message, kubernetes.namespace, hint=hint))
            elif len(namespace) > 63 or not fields.DNS_LABEL.fullmatch(namespace):
                message = f"gives environment {names[0]} the namespace {namespace}, which is not a valid namespace name"
                hint = "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
                errors.append(_problem(where, "namespace_name", message, kubernetes.namespace, hint=hint))
        _problems("Config", errors)
        return self

    @model_validator(mode="after")
    def _canary_weights_need_a_gateway(self) -> Config:
        """A canary's weights on Kubernetes need the HTTPRoute router: a Service selects one color."""
        kubernetes, strategy = self.target.kubernetes, self.deployment_strategy
        if self.target.type != "kubernetes" or kubernetes is None or kubernetes.traffic_router != "service":
            return self
        if strategy.type != "canary" or strategy.canary is None:
            return self
        if not any(step.weight is not None and 0 < step.weight < 100 for step in strategy.canary.steps):
            return self
        message = "is canary, whose weights a Kubernetes Service cannot split (traffic_router: service)"
        hint = "set target.kubernetes.traffic_router: gateway and target.kubernetes.gateway (a Gateway API Gateway)"
        _problems("Config", [_problem(("deployment_strategy", "type"), "canary_router", message, "canary", hint=hint)])
        return self

    @model_validator(mode="after")
    def _analysis_names_metrics(self) -> Config:
        known = list(self.analysis.metrics)
        places: list[tuple[tuple[str | int, ...], AnalysisPhases]] = [(("analysis",), self.analysis)]
        places += [
            (("environments", name, "analysis"), env.analysis)
            for name, env in self.environments.items()
            if env.analysis
        ]
        errors = []
        for where, phases in places:
            for phase in ("verify", "monitor", "canary"):
                settings: AnalysisPhase | None = getattr(phases, phase)
                if settings is not None and not settings.metrics and phase != "canary":
                    message = f"names no metric: {phase} would judge nothing"
                    hint = f"e.g. metrics: [{known[0]}]" if known else "define metrics under analysis.metrics"
                    errors.append(_problem((*where, phase), "no_metrics", message, None, hint=hint))
                if settings is not None and settings.load is not None and self.target.type != "local":
                    # A candidate's preview on Kubernetes is behind the API server's proxy: unsent to.
                    message = (
                        "sends synthetic load to the candidate's preview, which only the local target has; "
                        f"this service's target is {self.target.type}"
                    )
                    hint = "remove load, and let real or your own test traffic reach the new color"
                    errors.append(_problem((*where, phase, "load"), "no_preview", message, None, hint=hint))
                for index, name in enumerate(settings.metrics if settings else ()):
                    if name not in known:
                        close = difflib.get_close_matches(name, known, n=1)
                        hint = (
                            f"did you mean '{close[0]}'?"
                            if close
                            else (f"known: {', '.join(known)}" if known else "define it under analysis.metrics")
                        )
                        loc = (*where, phase, "metrics", index)
                        errors.append(
                            _problem(loc, "unknown_metric", "is not a metric of analysis.metrics", name, hint=hint)
                        )
        for name, metric in self.analysis.metrics.items():
            if metric.provider == "router" and self.target.type != "local":
                message = f"reads the local target's router, and this service's target is {self.target.type}"
                hint = "use provider: prometheus (or http) for the same figure"
                errors.append(
                    _problem(("analysis", "metrics", name, "provider"), "no_router", message, None, hint=hint)
                )
            if metric.provider == "prometheus" and self.analysis.prometheus is None:
                message = "needs analysis.prometheus: the server to query"
                hint = "add analysis.prometheus.url, like http://127.0.0.1:9090"
                errors.append(
                    _problem(("analysis", "metrics", name, "provider"), "no_server", message, None, hint=hint)
                )
        _problems("Config", errors)
        return self

    def analysis_plan(self, environment: str) -> AnalysisPlan:
        """Where analysis runs for ``environment``: its own phases, else the section's."""
        phases = self.environment(environment).analysis or self.analysis
        metrics = tuple(_metric_check(name, m) for name, m in self.analysis.metrics.items())
        by_name = {m.name: m for m in metrics}

        def run(settings: AnalysisPhase | None) -> AnalysisRun | None:
            if settings is None:
                return None
            load = settings.load
            return AnalysisRun(
                metrics=tuple(by_name[n] for n in settings.metrics),
                interval=settings.interval,
                count=settings.count,
                failure_limit=settings.failure_limit,
                inconclusive=settings.inconclusive,
                consecutive_error_limit=settings.consecutive_error_limit,
                min_requests=settings.min_requests,
                load=SyntheticLoad(rate=load.rate, paths=tuple(load.paths), duration=load.duration) if load else None,
            )

        return AnalysisPlan(
            verify=run(phases.verify), monitor=run(phases.monitor), canary=run(phases.canary), metrics=metrics
        )

    def environment(self, name: str) -> Environment:
        """The environment called ``name``; ``NotFoundError`` naming the known ones otherwise."""
        try:
            return self.environments[name]
        except KeyError:
            raise unknown_environment(name, self.environments) from None

    def listen_for(self, environment: str) -> str:
        """The router address of ``environment`` on the local target (conflicts are the runtime's to report)."""
        own = self.environment(environment).listen
        if own is not None:
            return own
        return self.target.local.listen if self.target.local is not None else DEFAULT_LISTEN

    def approval(self, environment: str) -> ApprovalPolicy:
        """The approval rule for deployments to ``environment``, overrides applied."""
        env = self.environment(environment)
        gates = self.approval_gates
        if not gates.enabled:
            return ApprovalPolicy()
        # Read field by field: an empty ApprovalOverride() would build that model's validator.
        override = gates.overrides.get(environment)
        approvers = override.approvers if override and override.approvers is not None else gates.approvers
        min_approvals = override.min_approvals if override else None
        timeout_minutes = override.timeout_minutes if override else None
        return ApprovalPolicy(
            required=env.approval_required or environment in gates.required_for,
            required_if_critical=CRITICAL_UPDATES in gates.required_for,
            auto_approve=gates.auto_approve_staging and environment == "staging",
            approvers=tuple(dict.fromkeys(a.lower() for a in approvers)),
            min_approvals=min_approvals or gates.min_approvals,
            allow_self_approval=_first(override.allow_self_approval if override else None, gates.allow_self_approval),
            timeout=timedelta(minutes=timeout_minutes or gates.timeout_minutes),
            server_only=self.server.url is not None,
        )

    def plan(self, environment: str) -> EnvironmentPlan:
        """Resolve the settings one deployment to ``environment`` runs with."""
        env = self.environment(environment)
        strategy = self.deployment_strategy.blue_green
        local = self.target.local if self.target.type == "local" else None
        return EnvironmentPlan(
            service=self.service,
            environment=environment,
            replicas=env.replicas,
            monitoring_duration=env.monitoring_duration,
            rollback_timeout=env.rollback_timeout,
            traffic_switch_delay=strategy.traffic_switch_delay,
            scale_down_delay=strategy.scale_down_delay,
            checks=self.health_checks.policy(),
            approval=self.approval(environment),
            drain_timeout=local.drain_timeout if local is not None else DEFAULT_DRAIN_TIMEOUT,
            database=self.backup.database is not None,
            restore_database_on_rollback=env.restore_database_on_rollback,
            analysis=self.analysis_plan(environment),
            canary=self.deployment_strategy.canary.plan()
            if self.deployment_strategy.type == "canary" and self.deployment_strategy.canary is not None
            else None,
        )


def _metric_check(name: str, metric: AnalysisMetric) -> MetricCheck:
    return MetricCheck(
        name=name,
        provider=metric.provider,
        measure=metric.measure or "",
        query=metric.query or "",
        url=metric.url or "",
        path=metric.path or "",
        headers=tuple(metric.headers.items()),
        max=metric.max,
        min=metric.min,
        max_ratio=metric.max_ratio,
        allowance=metric.allowance,
        judge_confidence=metric.judge.confidence if metric.judge else None,
        judge_effect=metric.judge.effect if metric.judge else 0.1,
        failure_limit=metric.failure_limit,
    )


def _first(value: bool | None, default: bool) -> bool:
    return default if value is None else value
