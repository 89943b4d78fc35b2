"""The FastAPI application: routes over ``App``'s store, approvals and tokens.

Endpoints are plain ``def`` functions: FastAPI runs them in its thread pool, so the synchronous
store never blocks the event loop. The server only reads the record, records decisions
through ``Approvals`` and manages tokens for admins; it never calls the target.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at
# runtime, and the dependency aliases (``Caller``) are local to ``build_api``.

import logging
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arxdeploy.api import errors, models, page
from arxdeploy.api.metrics import Metrics
from arxdeploy.domain.approvals import Verdict
from arxdeploy.domain.events import fold
from arxdeploy.domain.ids import is_deployment_id
from arxdeploy.domain.roles import Role
from arxdeploy.errors import NotFoundError, UnauthenticatedError
from arxdeploy.ports import Summary, TokenRecord
from arxdeploy.redact import Redactor
from arxdeploy.views import answer_out, deployment_json, gate_out, pending_out, token_out

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App

log = logging.getLogger(__name__)

VIA = "server"
_AUTH = errors.responses(401, 500)
_ONE = errors.responses(400, 401, 404, 422, 500)
_DECIDE = errors.responses(400, 401, 403, 404, 409, 422, 500)


def build_api(app: "App") -> FastAPI:
    api = FastAPI(
        title="arxdeploy",
        summary="Blue-green deployments with approval gates: status, history and approvals.",
        version="1",
        docs_url=None,  # the Swagger UI loads its script from a CDN: not here
        redoc_url=None,
    )
    metrics = Metrics(app)
    errors.install(api, app.redactor)
    api.add_middleware(Boundary, metrics=metrics, redactor=app.redactor)
    bearer = HTTPBearer(
        auto_error=False,
        description="An arxdeploy API token, made by an admin: `arxdeploy token create --for EMAIL` prints one.",
    )

    Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

    def token_in(credentials: HTTPAuthorizationCredentials | None) -> str:
        if credentials is None:
            raise UnauthenticatedError(
                "a bearer token is required", hint="send `Authorization: Bearer <token>`; get one from an admin"
            )
        return credentials.credentials

    def caller(credentials: Credentials) -> TokenRecord:
        """The token's owner (email, GitHub login, role): every /api/v1 request needs one."""
        return app.tokens.identify(token_in(credentials))

    def admin(credentials: Credentials) -> TokenRecord:
        """As ``caller``, and the token must be an admin's (403 otherwise)."""
        return app.tokens.identify(token_in(credentials), needs=Role.ADMIN)

    Caller = Annotated[TokenRecord, Depends(caller)]
    Admin = Annotated[TokenRecord, Depends(admin)]
    DeploymentId = Annotated[str, Path(description="A deployment id, or a unique prefix of at least 6 characters.")]

    def redacted(data: dict[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], app.redactor.data(data))

    def known_environment(environment: str | None) -> str | None:
        if environment is not None and environment not in app.environments():
            raise NotFoundError(
                f"no environment {environment!r} in {app.service}'s config",
                hint=f"environments: {', '.join(app.environments())}",
            )
        return environment

    def summary_of(deployment_id: str) -> Summary:
        if not is_deployment_id(deployment_id):
            raise NotFoundError(f"no deployment with id {deployment_id!r}")
        return app.store.get(deployment_id=deployment_id)

    def deployment_out(summary: Summary) -> dict[str, Any]:
        return deployment_json(summary.deployment, fold(app.store.events(deployment_id=summary.deployment.id)))

    # --- no auth --------------------------------------------------------------------------

    @api.get("/healthz", response_model=models.Health, tags=["server"])
    def healthz() -> dict[str, str]:
        """The server answers. Reads nothing."""
        return {"status": "ok"}

    @api.get(
        "/metrics",
        response_class=PlainTextResponse,
        tags=["server"],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **errors.responses(500)},
    )
    def prometheus_metrics() -> Response:
        """Prometheus text format, from a registry of the server's own."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @api.get("/approvals/{deployment_id}", response_class=HTMLResponse, include_in_schema=False)
    def approval_page(deployment_id: str) -> HTMLResponse:
        """The page shell: no data; its script asks for a token and reads the API."""
        return HTMLResponse(page.HTML, headers=page.SECURITY_HEADERS)

    @api.get(page.SCRIPT_PATH, include_in_schema=False)
    def approval_script() -> Response:
        return Response(
            page.SCRIPT,
            media_type="text/javascript; charset=utf-8",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
        )

    # --- /api/v1 --------------------------------------------------------------------------

    @api.get("/api/v1/status", response_model=models.StatusOut, responses=_AUTH, tags=["deployments"])
    def status(who: Caller) -> dict[str, Any]:
        """Per environment: what the record says is live, and the last deployment. Never asks the target."""
        rows = []
        approvals = app.approvals
        for environment in app.environments():
            release = app.store.live(service=app.service, environment=environment)
            last = app.store.history(service=app.service, environment=environment, limit=1)
            rows.append(
                {
                    "environment": environment,
                    "live": None
                    if release is None
                    else {
                        "version": release.version,
                        "color": release.color.value if release.color else None,
                        "deployment_id": release.deployment_id,
                        "at": release.at.isoformat(),
                    },
                    "last_deployment": None
                    if not last
                    else {
                        "id": last[0].deployment.id,
                        "kind": last[0].deployment.kind.value,
                        "version": last[0].deployment.version,
                        "state": last[0].state.value,
                        "created_at": last[0].deployment.created_at.isoformat(),
                    },
                    "pending_approvals": len(approvals.pending(service=app.service, environment=environment)),
                }
            )
        return redacted({"service": app.service, "environments": rows})

    @api.get(
        "/api/v1/deployments",
        response_model=list[models.DeploymentOut],
        responses=errors.responses(401, 404, 422, 500),
        tags=["deployments"],
    )
    def deployments(
        who: Caller,
        environment: Annotated[str | None, Query(description="Only this environment.")] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="How many, newest first.")] = 20,
    ) -> list[dict[str, Any]]:
        """Deployments, newest first."""
        found = app.store.history(service=app.service, environment=known_environment(environment), limit=limit)
        return [redacted(deployment_out(s)) for s in found]

    @api.get(
        "/api/v1/deployments/{deployment_id}",
        response_model=models.DeploymentOut,
        responses=_ONE,
        tags=["deployments"],
    )
    def deployment(who: Caller, deployment_id: DeploymentId) -> dict[str, Any]:
        """One deployment, as `arxdeploy show --json` prints it."""
        return redacted(deployment_out(summary_of(deployment_id)))

    @api.get(
        "/api/v1/deployments/{deployment_id}/events",
        response_model=list[models.EventOut],
        responses=_ONE,
        tags=["deployments"],
    )
    def deployment_events(who: Caller, deployment_id: DeploymentId) -> list[dict[str, Any]]:
        """The deployment's event log, oldest first."""
        summary = summary_of(deployment_id)
        return [redacted(e.to_json()) for e in app.store.events(deployment_id=summary.deployment.id)]

    @api.get(
        "/api/v1/approvals",
        response_model=list[models.PendingApproval],
        responses=errors.responses(401, 404, 422, 500),
        tags=["approvals"],
    )
    def pending(
        who: Caller, environment: Annotated[str | None, Query(description="Only this environment.")] = None
    ) -> list[dict[str, Any]]:
        """Deployments whose gate waits for people, oldest first."""
        now = app.clock.now()
        waiting = app.approvals.pending(service=app.service, environment=known_environment(environment))
        return [redacted(pending_out(deployment_out(s), g, now)) for s, g in waiting]

    @api.get("/api/v1/approvals/{deployment_id}", response_model=models.GateOut, responses=_ONE, tags=["approvals"])
    def gate(who: Caller, deployment_id: DeploymentId) -> dict[str, Any]:
        """Where one deployment's gate stands: the request, approvals, rejection, refusals, time left."""
        summary = summary_of(deployment_id)
        _, found = app.approvals.gate(deployment_id=summary.deployment.id)
        return redacted(gate_out(summary, found, app.clock.now()))

    @api.post(
        "/api/v1/approvals/{deployment_id}/approve",
        response_model=models.GateOut,
        responses=_DECIDE,
        tags=["approvals"],
    )
    def approve(who: Caller, deployment_id: DeploymentId, body: models.ApproveBody | None = None) -> dict[str, Any]:
        """Approve as the token's owner. Refusals (not an approver, own deployment) are recorded."""
        return decide(who, deployment_id, Verdict.APPROVE, body.reason if body else "")

    @api.post(
        "/api/v1/approvals/{deployment_id}/reject",
        response_model=models.GateOut,
        responses=_DECIDE,
        tags=["approvals"],
    )
    def reject(who: Caller, deployment_id: DeploymentId, body: models.RejectBody) -> dict[str, Any]:
        """Reject as the token's owner, with a reason. One rejection ends the gate."""
        return decide(who, deployment_id, Verdict.REJECT, body.reason)

    def decide(who: TokenRecord, deployment_id: str, verdict: Verdict, reason: str) -> dict[str, Any]:
        summary = summary_of(deployment_id)
        d = summary.deployment
        logins = (who.github,) if who.github else ()
        decided = app.approvals.decide(
            deployment_id=d.id, who=who.email, verdict=verdict, via=VIA, reason=reason, logins=logins, role=who.role
        )
        log.info("%s by %s via the server", verdict.value, who.email, extra={"deployment": d.id})
        return redacted(gate_out(app.store.get(deployment_id=d.id), decided, app.clock.now()))

    # --- promote and abort: a canary, or a deployment paused for a person ------------------

    @api.post(
        "/api/v1/deployments/{deployment_id}/promote",
        response_model=models.AnswerOut,
        responses=_DECIDE,
        tags=["deployments"],
    )
    def promote(who: Caller, deployment_id: DeploymentId, body: models.ApproveBody | None = None) -> dict[str, Any]:
        """Promote as the token's owner: the pause ends and a canary skips its remaining steps (100%)."""
        return answer(who, deployment_id, "promote", body.reason if body else "")

    @api.post(
        "/api/v1/deployments/{deployment_id}/abort",
        response_model=models.AnswerOut,
        responses=_DECIDE,
        tags=["deployments"],
    )
    def abort(who: Caller, deployment_id: DeploymentId, body: models.RejectBody) -> dict[str, Any]:
        """Abort as the token's owner, with a reason: the traffic goes back to the old version now."""
        return answer(who, deployment_id, "abort", body.reason)

    def answer(who: TokenRecord, deployment_id: str, action: str, reason: str) -> dict[str, Any]:
        from arxdeploy.engine.pause import Action, Answers

        d = summary_of(deployment_id).deployment
        policy = app.plan(d.environment).approval
        answers = Answers(store=app.store, clock=app.clock, hooks=list(app.hooks))
        done = answers.answer(
            deployment_id=d.id,
            action=Action(action),
            who=who.email,
            via=VIA,
            reason=reason,
            role=who.role,
            approvers=policy.approvers,
            server_only=policy.server_only,
        )
        log.info("%s by %s via the server", action, who.email, extra={"deployment": d.id})
        return redacted(answer_out(d.id, done, app.store.get(deployment_id=d.id).state.value))

    # --- /api/v1/tokens: admins only -------------------------------------------------------

    def token_view(record: TokenRecord) -> dict[str, Any]:
        return redacted(token_out(record, app.clock.now()))

    @api.post(
        "/api/v1/tokens",
        status_code=201,
        response_model=models.TokenCreated,
        responses=errors.responses(400, 401, 403, 422, 500),
        tags=["tokens"],
    )
    def create_token(who: Admin, body: models.TokenBody) -> dict[str, Any]:
        """Create a token for a person. The token is in this answer only: only its sha256 is stored."""
        record, text = app.tokens.create(
            email=body.email, created_by=who.email, role=body.role, github=body.github, expires_in=body.expires_in
        )
        log.info("%s token %s created for %s by %s", record.role, record.id, record.email, who.email)
        return {**token_view(record), "token": text}

    @api.get(
        "/api/v1/tokens",
        response_model=list[models.TokenOut],
        responses=errors.responses(401, 403, 500),
        tags=["tokens"],
    )
    def tokens(who: Admin) -> list[dict[str, Any]]:
        """Every token, revoked and expired ones included, oldest first; never a secret."""
        return [token_view(t) for t in app.tokens.list()]

    @api.post(
        "/api/v1/tokens/{token_id}/revoke",
        response_model=models.TokenOut,
        responses=errors.responses(401, 403, 404, 422, 500),
        tags=["tokens"],
    )
    def revoke_token(
        who: Admin, token_id: Annotated[str, Path(description="The token's id, as the list shows it.")]
    ) -> dict[str, Any]:
        """Revoke a token: the next request that uses it is refused. Revoking it again changes nothing."""
        record = app.tokens.revoke(token_id=token_id)
        log.info("token %s of %s revoked by %s", record.id, record.email, who.email)
        return token_view(record)

    return api


# --- JSON shapes ----------------------------------------------------------------------------


# --- the boundary ---------------------------------------------------------------------------


class Boundary:
    """Around every request: count it, add safe default headers, and turn an unexpected error into a 500.

    The 500's body is generic; the exception goes to the log with its traceback, never to the client.
    """

    def __init__(self, inner: ASGIApp, *, metrics: Metrics, redactor: Redactor) -> None:
        self._inner = inner
        self._metrics = metrics
        self._redactor = redactor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        status = 500
        started = False

        async def sending(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        try:
            await self._inner(scope, receive, sending)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response: JSONResponse = errors.json_error(self._redactor, 500, "internal", errors.GENERIC)
            await response(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None)  # the matched route's template
            self._metrics.count_request(method=scope.get("method", ""), route=route, status=status)
