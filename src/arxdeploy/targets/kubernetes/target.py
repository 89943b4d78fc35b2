"""``KubernetesTarget``: implements ``arxdeploy.ports.Target`` on a cluster through lightkube.

Each color is a Deployment ``<service>-<color>`` (and its HPA). The live Service ``<service>``
selects the live color, the preview Service ``<service>-preview`` the candidate. A switch is one
merge patch of the live Service's selector carrying ``metadata.resourceVersion``, so a write
based on a stale read fails with 409 instead of overwriting; it is then re-read and retried.

With ``traffic_router: gateway`` (``routing.py``) there is no live Service: each color has its
own Service and the HTTPRoute ``<service>`` weighs them; a switch and a weight change are each
one merge patch of the route, guarded and retried the same way.

Health checks reach a color from outside the cluster through the API server's service proxy
(``<server>/api/v1/namespaces/<ns>/services/<name>:http/proxy``), with the same credentials, TLS
settings and HTTP proxy as the API calls: ``probe_auth()``, ``probe_verify()``, ``probe_proxy()``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from lightkube import Client, operators
from lightkube.core.resource import NamespacedResource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Namespace, Pod, Service
from lightkube.types import PatchType

from arxdeploy.domain.states import Color
from arxdeploy.errors import ArxdeployError, TargetError, TransientTargetError, UsageError
from arxdeploy.ports import ColorState, EnvironmentState, Export, Replica
from arxdeploy.targets.kubernetes import backup as backups
from arxdeploy.targets.kubernetes import kinds, manifests, pods, routing
from arxdeploy.targets.kubernetes.access import ProbeAuth
from arxdeploy.targets.kubernetes.client import FIELD_MANAGER, Connection, connect
from arxdeploy.targets.kubernetes.errors import BAD_REQUEST, CONFLICT, NOT_FOUND, calling, message, status_code
from arxdeploy.targets.kubernetes.spec import KubeSpec

log = logging.getLogger(__name__)
R = TypeVar("R", bound=NamespacedResource)

SWITCH_ATTEMPTS = 5
# Created by Kubernetes in every namespace; not ours to restore.
SKIP_CONFIGMAPS = frozenset({"kube-root-ca.crt"})


class KubernetesTarget:
    """Implements ``arxdeploy.ports.Target``. Methods are idempotent; failures raise ``TargetError``."""

    def __init__(
        self,
        *,
        spec: KubeSpec,
        state_dir: Path | None = None,
        connection: Connection | None = None,
        environ: Mapping[str, str] | None = None,
        kept: Callable[[str], Iterable[Mapping[str, Any]]] = lambda environment: (),
    ) -> None:
        """``environ``: where ``KUBECONFIG``, ``HOME``, the in-cluster variables, proxies and a credential
        plugin's environment come from (default: this process's). ``kept``: the facts
        (``Export.facts``) of an environment's kept backups, so that ``stop_color`` keeps the
        ConfigMaps they would bring back. ``state_dir`` is no longer used (backups are
        ``arxdeploy.backup``'s); it is accepted so that callers need not change."""
        self.spec = spec
        self._kept = kept
        self._connection = connection
        self._environ = environ

    # --- connection ------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        # Lazy: commands that never touch the cluster do not need a kubeconfig.
        if self._connection is None:
            self._connection = connect(
                kubeconfig=self.spec.kubeconfig, context=self.spec.context, environ=self._environ
            )
        return self._connection

    @property
    def _client(self) -> Client:
        return self.connection.client

    def probe_auth(self) -> httpx.Auth:
        """The API calls' credentials, for health probes that reach ``Replica.url`` through the API
        server: a token, a token file read again as it rotates, an exec plugin's token renewed
        before it expires and after a 401 (the same plugin runs serve both)."""
        return ProbeAuth(self.connection.access)

    def probe_verify(self) -> ssl.SSLContext:
        """How a health probe trusts the API server, and the client certificate it presents
        (httpx's ``verify``): the very context the API calls use."""
        return self.connection.access.context

    def probe_proxy(self) -> str | None:
        """The HTTP proxy to the API server (the kubeconfig's ``proxy-url``, or ``HTTPS_PROXY``), if any."""
        return self.connection.access.proxy

    def proxy_url(self, environment: str, service_name: str) -> str:
        namespace = self.spec.namespace_for(environment)
        path = f"/api/v1/namespaces/{namespace}/services/{service_name}:{manifests.PORT_NAME}/proxy"
        return self.connection.server + path

    def close(self) -> None:
        if self._connection is not None:
            self._connection.client.close()

    def __enter__(self) -> KubernetesTarget:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Target ----------------------------------------------------------------------------

    def inspect(self, *, environment: str) -> EnvironmentState:
        ns = self.spec.namespace_for(environment)
        service = self.spec.service
        # One list for both Services (ours carry app=<service>): a check round reads the
        # environment each time, so every request saved here is saved once a round.
        with calling("list", f"services in namespace {ns}"):
            found = self._client.list(Service, namespace=ns, labels={"app": service})
            services = {s.metadata.name: s for s in found if s.metadata is not None}
        preview_service = services.get(manifests.preview_name(service))
        preview = _selected_color(preview_service)
        route = self._route(ns) if self.spec.routes_by_gateway else None
        if self.spec.routes_by_gateway:
            live = routing.live_color(route)
            # Checks reach the live color through its own Service (the Gateway may not be reachable from here).
            live_entry = manifests.color_service_name(service, live) if live else None
            live_service = services.get(live_entry) if live_entry else None
        else:
            # A live Service made before arxdeploy managed it may lack the label: read it by name.
            live_service = services.get(service) or self._get(Service, service, ns)
            live = _selected_color(live_service)
            live_entry = service
        with calling("list", f"deployments in namespace {ns}"):
            deployments = list(self._client.list(Deployment, namespace=ns, labels={"app": service}))
        with calling("list", f"pods in namespace {ns}"):
            all_pods = list(self._client.list(Pod, namespace=ns, labels={"app": service}))
        live_url = self.proxy_url(environment, live_entry) if live_service and live_entry else None
        preview_url = self.proxy_url(environment, manifests.preview_name(service)) if preview_service else None
        # Only a color with something to explain costs a fourth request: its pods' Events.
        events = self._pod_events(ns) if pods.needs_events(deployments, all_pods) else pods.PodEvents()
        colors: dict[Color, ColorState] = {}
        for deployment in deployments:
            color = _color_label(deployment.metadata.labels if deployment.metadata else None)
            if color is None:
                continue
            url = live_url if color is live else preview_url if color is preview else None
            own = [p for p in all_pods if _color_label(p.metadata.labels if p.metadata else None) is color]
            colors[color] = self._color_state(environment, color, deployment, own, url, events)
        return EnvironmentState(
            environment=environment,
            live_color=live,
            colors=colors,
            live_url=live_url if live else None,
            preview_url=preview_url,
            weights=self._split(route, live),
        )

    def _split(self, route: dict[str, Any] | None, live: Color | None) -> dict[Color, int]:
        """The percent of new requests each color takes (colors taking none left out)."""
        if self.spec.routes_by_gateway:
            return routing.weights(self.spec, route)
        return {live: 100} if live else {}  # a Service selects one color: no split

    def weights(self, *, environment: str) -> dict[Color, int]:
        """Each color's percent of new requests now (a color that takes none is left out); changes nothing."""
        ns = self.spec.namespace_for(environment)
        if self.spec.routes_by_gateway:
            return routing.weights(self.spec, self._route(ns))
        return self._split(None, self._live(ns))

    def _require_running(self, environment: str, color: Color, why: str) -> None:
        """Refuse to send traffic to a color with no running replica (``why``: what would happen)."""
        own = self.inspect(environment=environment).colors.get(color)
        if own is None or not any(replica.running for replica in own.replicas):
            raise TargetError(
                f"{environment}/{color.value} has no running replica: {why}",
                hint="start the color (and check its health) before sending it traffic",
            )

    def _route(self, ns: str) -> dict[str, Any] | None:
        """The environment's HTTPRoute as a dict, or None."""
        found = self._get(kinds.kind_of("HTTPRoute"), manifests.route_name(self.spec), ns)
        route: dict[str, Any] | None = found.to_dict() if found is not None else None
        return route

    def _live(self, ns: str) -> Color | None:
        """The color new requests go to: the route's, or the live Service's selector's."""
        if self.spec.routes_by_gateway:
            return routing.live_color(self._route(ns))
        return _selected_color(self._get(Service, self.spec.service, ns))

    def _pod_events(self, ns: str) -> pods.PodEvents:
        """The Events about the namespace's pods, newest first; none where RBAC does not allow
        listing them (a pull then waits until the deadline instead of failing after its retries)."""
        try:
            with calling("list", f"events in namespace {ns}"):
                found = list(self._client.list(Event, namespace=ns, fields={"involvedObject.kind": "Pod"}))
        except TransientTargetError:
            raise
        except TargetError as exc:
            log.warning("cannot read the pods' events in %s: %s", ns, exc.message)
            return pods.PodEvents()
        return pods.PodEvents(pods.newest_first(found))

    def _color_state(
        self,
        environment: str,
        color: Color,
        deployment: Deployment,
        own: list[Pod],
        url: str | None,
        events: pods.PodEvents,
    ) -> ColorState:
        labels = (deployment.metadata.labels if deployment.metadata else None) or {}
        ns = self.spec.namespace_for(environment)
        replicas = []
        complete = pods.rollout_complete(deployment)
        for index, pod in enumerate(sorted(own, key=pods.pod_name), start=1):
            ready = pods.is_ready(pod)
            # Once the rollout is complete, a ready pod is checked the way users will reach it:
            # through its Service. Before that (or for a color no Service selects) each pod is
            # checked through its own pod proxy, which fails until that very pod answers, on the
            # port the Services' targetPort names in that pod.
            port = _service_port(pod) or self.spec.container_port
            pod_url = f"{self.connection.server}/api/v1/namespaces/{ns}/pods/{pods.pod_name(pod)}:{port}/proxy"
            replicas.append(
                Replica(
                    index=index,
                    url=url if ready and url and complete else pod_url,
                    running=ready,
                    restarts=pods.restarts(pod),
                    waiting=pods.waiting(pod),
                )
            )
        return ColorState(
            color=color,
            version=labels.get(manifests.VERSION_LABEL, "unknown"),
            replicas=tuple(replicas),
            problem=pods.problem(deployment, own, events),
            size=deployment.spec.replicas if deployment.spec and deployment.spec.replicas is not None else None,
        )

    def export(self, *, environment: str) -> Export:
        """The namespace's objects (``kinds.BACKUP``) as YAML without server-set fields, and its
        Secrets' names (never their values). Facts: the namespace, whether it existed, each
        object found (``Kind/name``) and the ConfigMaps the saved Deployments read."""
        ns = self.spec.namespace_for(environment)
        objects: list[dict[str, Any]] = []
        for name in self._backup_kinds():
            with calling("list", f"{name} objects in namespace {ns}"):
                found = [obj.to_dict() for obj in self._client.list(kinds.kind_of(name), namespace=ns)]
            for obj in found:  # list items carry no apiVersion and kind on a real server
                obj.setdefault("apiVersion", kinds.api_version(name))
                obj.setdefault("kind", name)
            objects += [o for o in found if not (name == "ConfigMap" and o["metadata"]["name"] in SKIP_CONFIGMAPS)]
        with calling("list", f"secrets in namespace {ns}"):
            secrets = [obj.to_dict() for obj in self._client.list(kinds.kind_of("Secret"), namespace=ns)]
        secret_names = [str(s["metadata"]["name"]) for s in secrets]
        facts = {
            "namespace": ns,
            # So that a failed first deployment removes the namespace it created, never one
            # that was there before it.
            "namespace_existed": self._namespace_exists(ns),
            "objects": sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects),
            "configmaps_read": sorted(backups.configmaps_read(objects)),
        }
        return Export(
            files=backups.export_files(objects, secret_names),
            facts=facts,
            versions=tuple(sorted(backups.versions_of(objects))),
        )

    def start_color(
        self, *, environment: str, color: Color, version: str, replicas: int, saved: Export | None = None
    ) -> None:
        """Apply the color's Deployment and HPA and the shared objects; point the preview Service at it.

        ``replicas`` is the HPA's ``minReplicas``; the Deployment starts with as many replicas as
        the live color runs now, or as this color already runs ``version`` (both what their HPA
        or a person made of them), if that is more, up to the HPA's ``maxReplicas``
        (``start_size``): the new color takes all of the live one's traffic at once, and the HPA
        then finds the size it would have chosen itself, so it neither scales it back nor
        resets what it scaled. Without an HPA the color starts with ``replicas``.

        Nothing is ever applied over the live color: a no-op when its Deployment already runs
        ``version`` with ``replicas`` or more, refused when it runs anything else (applying would
        roll the pods that take traffic in place). A live color whose Deployment is gone (deleted
        behind our back) is started again, as a restore needs.
        """
        ns = self.spec.namespace_for(environment)
        live_name, preview = self.spec.service, manifests.preview_name(self.spec.service)
        by_route = self.spec.routes_by_gateway
        route = self._route(ns) if by_route else None
        # Without a route yet, a Service's selector still tells what is live (a move to a Gateway).
        live_service = self._get(Service, live_name, ns) if route is None else None
        live = routing.live_color(route) if route is not None else _selected_color(live_service)
        if live is color and self._live_runs(environment, color, version, replicas):
            return
        self._ensure_namespace(environment, ns)
        restored = self._restore_objects(environment, color, version, saved) if saved is not None else None
        # The color's ConfigMaps come first: its pods must find them when they start.
        own = restored if restored is not None else manifests.color_objects(self.spec, environment, color, version)
        count = self.starting_size(ns, own, color=color, version=version, floor=replicas, live=live)
        for obj in own:
            self._apply(_with_replicas(obj, count, floor=replicas))
        shared = manifests.shared_objects(self.spec, environment, live=live, candidate=color, version=version)
        for obj in shared:
            name = obj["metadata"]["name"]
            if obj["kind"] == "Service" and name in (live_name, preview):
                continue  # ours, below: the live selector belongs to switch() alone
            self._apply(obj)
        if by_route:
            for obj in manifests.color_services(self.spec, environment):
                self._apply(obj)
            if route is None:  # once: from then on its weights belong to switch() and set_weight()
                self._apply(manifests.http_route(self.spec, environment, live=live))
        elif live_service is None:
            self._apply(manifests.service(self.spec, environment, name=live_name, color=None))
        self._apply(manifests.service(self.spec, environment, name=preview, color=color))

    def starting_size(
        self, ns: str, own: list[dict[str, Any]], *, color: Color, version: str, floor: int, live: Color | None
    ) -> int:
        """The replicas ``start_color`` starts ``color`` with (``start_size``), given its objects
        ``own`` and the Deployments running now (one list of them)."""
        hpa = next((o for o in own if o["kind"] == "HorizontalPodAutoscaler"), None)
        if hpa is None:
            return floor  # nothing autoscales this color: the config's count
        with calling("list", f"deployments in namespace {ns}"):
            running = {
                d.metadata.name: d
                for d in self._client.list(Deployment, namespace=ns, labels={"app": self.spec.service})
                if d.metadata is not None
            }
        sizes = []
        if live is not None and live is not color:
            sizes.append(_replicas_of(running.get(manifests.deployment_name(self.spec.service, live))))
        this = running.get(manifests.deployment_name(self.spec.service, color))
        if this is not None and _version_of(this) == version:
            sizes.append(_replicas_of(this))  # an HPA may have scaled it up: not undone
        return start_size(floor=floor, now=sizes, most=int((hpa.get("spec") or {}).get("maxReplicas") or floor))

    def _live_runs(self, environment: str, color: Color, version: str, replicas: int) -> bool:
        """Whether the live ``color`` already runs ``version`` with ``replicas`` or more (its HPA
        or a person scaled it up); False if it runs nothing.

        Raises ``TargetError`` when it runs anything else.
        """
        name = manifests.deployment_name(self.spec.service, color)
        running = self._get(Deployment, name, self.spec.namespace_for(environment))
        if running is None:
            return False
        current = _version_of(running)
        count = running.spec.replicas if running.spec else None
        if current == version and count is not None and count >= replicas:
            return True
        raise TargetError(
            f"{color.value} is live in {environment} and runs {current} ({count} replicas); "
            f"it cannot be replaced by {version} ({replicas} replicas) while it takes traffic",
            hint=f"start {version} on the other color, or switch away from {color.value} first",
        )

    def _restore_objects(
        self, environment: str, color: Color, version: str, saved: Export
    ) -> list[dict[str, Any]] | None:
        """The objects that ran ``version`` in a backup's export, re-coloured as ``color``.

        None when nothing in it ran that version: it is then rendered from the config.
        Refuses when a Secret the saved pods use is gone, since their pods could never start.
        """
        found = backups.saved_color(saved.files, version=version)
        if found is None:
            log.info("the backup given for %s did not run %s; rendering it from the config", environment, version)
            return None
        objects, _ = found
        ns = self.spec.namespace_for(environment)
        secrets = kinds.kind_of("Secret")
        for name in sorted({ref for obj in objects for ref in backups.secret_refs(obj)}):
            if self._get(secrets, name, ns) is None:
                raise TargetError(
                    f"the backup of {environment} that ran {version} uses Secret {name}, "
                    f"which no longer exists in namespace {ns}",
                    hint=f"create the Secret again, or deploy {version} from the current config",
                )
        log.info("restoring %s in %s from a backup", version, environment)
        # A backup from before ConfigMaps were named by their content holds the plain ones: they
        # become the color's here too, so a restore never rewrites what the live color reads.
        moved = [backups.recolored(obj, self.spec.service, color, ns) for obj in objects]
        return manifests.own_config(moved, manifests.shared_labels(self.spec, environment))

    def switch(self, *, environment: str, color: Color | None) -> None:
        """One merge patch of the live Service's selector, guarded by its resourceVersion.

        Refused when ``color`` has no ready pod, as the Service would then have no endpoints.
        ``None`` selects ``color: none``, which no Deployment carries: the Service keeps
        existing (and its clients keep resolving it) but has no endpoints.
        """
        ns = self.spec.namespace_for(environment)
        name = self.spec.service
        if color is not None:
            self._require_running(environment, color, "switching to it would drop every request")
        if self.spec.routes_by_gateway:

            def decide(route: dict[str, Any] | None) -> tuple[Color | None, dict[Color, int]]:
                if color is not None:
                    self._refuse_unaccepted(environment, route)
                return color, {color: 100} if color else {}

            self._update_route(environment, decide)
            return
        wanted = {"app": name, "color": color.value if color else manifests.NO_COLOR}
        what = f"service {name} in namespace {ns}"
        for _ in range(SWITCH_ATTEMPTS):
            current = self._get(Service, name, ns)
            if current is None:  # deleted by hand (start_color creates it); without it nothing is live
                if color is not None:
                    self._apply(manifests.service(self.spec, environment, name=name, color=color))
                return
            if current.spec is not None and current.spec.selector == wanted:
                return  # already there: idempotent, and no write
            version = current.metadata.resourceVersion if current.metadata else None
            patch = {"metadata": {"resourceVersion": version}, "spec": {"selector": wanted}}
            try:
                self._client.patch(Service, name, patch, namespace=ns, patch_type=PatchType.MERGE)
            except Exception as exc:
                if status_code(exc) == CONFLICT:
                    continue  # someone wrote in between: read again, decide again
                with calling("patch", what):
                    raise
            else:
                return
        raise TransientTargetError(f"{what} kept changing: {SWITCH_ATTEMPTS} switch attempts hit a conflict")

    def set_weight(self, *, environment: str, color: Color, weight: int) -> None:
        """Send ``weight`` percent (0 to 100) of new requests to ``color`` and the rest to the live color.

        With ``traffic_router: gateway``: one merge patch of the HTTPRoute's backendRefs weights
        ((100 - weight) for the live color's Service, ``weight`` for ``color``'s), guarded by its
        resourceVersion and retried on a conflict, so the change is atomic: the gateway sees the
        old weights or the new ones. Weight 0 ends the split; ``switch`` ends it too, and
        stopping the weighted color first takes its weight away. Idempotent.

        With the default ``traffic_router: service`` one Service selects one color: weight 0 is
        a no-op (there is never a split to end), any other weight is refused (``UsageError``:
        the config chose a router that cannot split).

        ``TargetError`` if ``color`` has no running replica, is live, or nothing is live;
        ``UsageError`` for a weight outside 0 to 100.
        """
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise UsageError(f"weight {weight!r} is not a percentage", hint="give a whole number from 0 to 100")
        color = Color(color)
        if not self.spec.routes_by_gateway:
            if weight == 0:
                return
            raise UsageError(  # the config's choice, not the cluster's state (Target.set_weight)
                f"{environment} cannot send {weight}% of its requests to {color.value}: "
                "a Kubernetes Service sends every request to the one color it selects",
                hint="set target.kubernetes.traffic_router: gateway and target.kubernetes.gateway "
                "(a Gateway API Gateway in the cluster) for weighted traffic",
            )
        self._require_running(environment, color, "it cannot take traffic")

        def decide(route: dict[str, Any] | None) -> tuple[Color | None, dict[Color, int]]:
            live = routing.live_color(route)
            if live is None:
                raise TargetError(f"nothing is live in {environment}: there is no traffic to split with {color.value}")
            if live is color:
                raise TargetError(
                    f"{color.value} is live in {environment}: a weight goes to the other color",
                    hint="switch to change the live color",
                )
            if weight:
                self._refuse_unaccepted(environment, route)
            return live, {live: 100 - weight, color: weight}

        self._update_route(environment, decide)

    def _update_route(
        self,
        environment: str,
        decide: Callable[[dict[str, Any] | None], tuple[Color | None, dict[Color, int]] | None],
    ) -> None:
        """Give the HTTPRoute the live color and weights ``decide`` chooses from the route as it is
        (None: leave it), in one merge patch guarded by its resourceVersion; a conflict means
        someone wrote in between: read again, decide again. No write when nothing would change."""
        ns = self.spec.namespace_for(environment)
        name = manifests.route_name(self.spec)
        what = f"HTTPRoute {name} in namespace {ns}"
        for _ in range(SWITCH_ATTEMPTS):
            route = self._route(ns)
            chosen = decide(route)
            if chosen is None:
                return
            live, wanted = chosen
            split = {c: w for c, w in wanted.items() if w > 0}
            if route is None:  # deleted by hand (start_color creates it)
                if live is not None:
                    made = manifests.http_route(self.spec, environment, live=live)
                    made["spec"]["rules"][0]["backendRefs"] = manifests.backend_refs(self.spec, split)
                    self._apply(made)
                return
            if routing.live_color(route) is live and routing.weights(self.spec, route) == split:
                return  # already there: idempotent, and no write
            patch = routing.with_weights(self.spec, route, live=live, split=split)
            try:
                self._client.patch(kinds.kind_of("HTTPRoute"), name, patch, namespace=ns, patch_type=PatchType.MERGE)
            except Exception as exc:
                if status_code(exc) == CONFLICT:
                    continue
                with calling("patch", what):
                    raise
            else:
                return
        raise TransientTargetError(f"{what} kept changing: {SWITCH_ATTEMPTS} attempts hit a conflict")

    def _refuse_unaccepted(self, environment: str, route: dict[str, Any] | None) -> None:
        """``TargetError`` when the route's Gateway refused it: traffic sent there reaches nobody.
        Taking traffic away (a switch to nothing, weight 0) is never refused."""
        why = routing.refused_by_gateway(self.spec, route)
        if why is not None:
            gateway = self.spec.gateway
            name = gateway.name if gateway else "?"
            raise TargetError(
                f"the Gateway {name} does not accept the HTTPRoute {manifests.route_name(self.spec)} "
                f"of {environment} ({why}): no request would reach the colors through it",
                hint="check target.kubernetes.gateway (name, namespace, section_name) and the Gateway's "
                "listeners (allowedRoutes); kubectl describe httproute shows its status",
            )

    def _backup_kinds(self) -> tuple[str, ...]:
        return kinds.GATEWAY_BACKUP if self.spec.routes_by_gateway else kinds.BACKUP

    def stop_color(self, *, environment: str, color: Color, drain_timeout: timedelta) -> None:
        """Delete the color's HPA, Deployment and PodDisruptionBudget, then the ConfigMaps nothing reads.

        Refused when the live Service selects the color. No traffic reaches a color that is not
        live, so there is nothing to drain here; pods still get their
        ``terminationGracePeriodSeconds`` from Kubernetes. Then every ConfigMap named by its
        content (``manifests.own_config``) that no remaining Deployment and no kept backup of
        the environment reads is deleted: this is the one moment they are collected.
        """
        ns = self.spec.namespace_for(environment)
        live = self._live(ns)
        if live is color:
            raise TargetError(f"{color.value} takes traffic in {environment}; switch away before stopping it")
        if self.spec.routes_by_gateway:
            self._update_route(environment, lambda route: _without(route, self.spec, color))
        name = manifests.deployment_name(self.spec.service, color)
        for kind in ("HorizontalPodAutoscaler", "Deployment", "PodDisruptionBudget"):
            self._delete(kind, name, ns)
        self._collect_configmaps(environment, stopped=name)

    def remove_created(self, *, environment: str, before: Mapping[str, Any] | None) -> list[str]:
        """Delete the shared objects ``start_color`` makes (the Services, NetworkPolicies, a template
        folder's shared objects) that the export whose facts are ``before`` did not find, then
        the namespace when that export found none and nothing else is in it now.

        Only once nothing is live and no color's Deployment is left. The namespace is left, with
        a warning in the log, when something else is in it or deleting it is not allowed (it
        takes a ClusterRole: that of whoever could create it).
        """
        ns = self.spec.namespace_for(environment)
        if before is None or before.get("namespace") != ns:
            log.info("no backup of %s: what was there before is unknown, so all stays", environment)
            return []
        service = self.spec.service
        if self._live(ns) is not None or self._color_deployments(ns):
            return []  # something runs: nothing is removed
        existed = {tuple(str(name).split("/", 1)) for name in before.get("objects") or []}
        made = [
            *manifests.shared_objects(self.spec, environment, live=None, candidate=Color.BLUE, version="0"),
            manifests.service(self.spec, environment, name=service, color=None),
        ]
        if self.spec.routes_by_gateway:
            made += [
                manifests.http_route(self.spec, environment, live=None),
                *manifests.color_services(self.spec, environment),
            ]
        removed = []
        for obj in {(o["kind"], o["metadata"]["name"]): o for o in made}.values():
            what = (obj["kind"], obj["metadata"]["name"])
            if what not in existed and self._delete_if_there(obj, ns):
                removed.append(" ".join(what))
        created_namespace = before.get("namespace_existed") is False
        if created_namespace and self._namespace_exists(ns) and self._delete_namespace_if_empty(ns):
            removed.append(f"Namespace {ns}")
        return removed

    def _color_deployments(self, ns: str) -> list[str]:
        with calling("list", f"deployments in namespace {ns}"):
            found = self._client.list(Deployment, namespace=ns, labels={"app": self.spec.service})
            return [
                d.metadata.name
                for d in found
                if d.metadata is not None and d.metadata.name and _color_label(d.metadata.labels) is not None
            ]

    def _delete_if_there(self, obj: dict[str, Any], ns: str) -> bool:
        """Delete one object of any kind; False when it was not there."""
        name = obj["metadata"]["name"]
        try:
            self._client.delete(type(kinds.resource(obj)), name, namespace=ns)
        except Exception as exc:
            if status_code(exc) == NOT_FOUND:
                return False
            with calling("delete", f"{obj['kind']} {name} in namespace {ns}"):
                raise
        return True

    def _delete_namespace_if_empty(self, ns: str) -> bool:
        """Delete ``ns`` (one arxdeploy created) if nothing but Kubernetes' own is left in it."""
        left = []
        for name in (*self._backup_kinds(), "Secret"):
            with calling("list", f"{name} objects in namespace {ns}"):
                found = [o.to_dict()["metadata"]["name"] for o in self._client.list(kinds.kind_of(name), namespace=ns)]
            left += [f"{name} {n}" for n in found if not (name == "ConfigMap" and n in SKIP_CONFIGMAPS)]
        if left:
            log.warning("namespace %s is kept: arxdeploy created it, but it holds %s", ns, ", ".join(left))
            return False
        try:
            with calling("delete", f"namespace {ns}"):
                self._client.delete(Namespace, ns)
        except TransientTargetError:
            raise
        except TargetError as exc:
            log.warning("namespace %s is kept: %s", ns, exc.message)
            return False
        return True

    def log_tails(self, *, environment: str, lines: int, all_colors: bool = False) -> list[tuple[str, str]]:
        """The last ``lines`` each container of the live color's pods wrote (every color's with
        ``all_colors``, or when nothing is live): ``(where, text)``, oldest pod first by color.

        A crash-looping container's log is its last run's, as the kubelet gives it; a container
        that never ran has no log: its text says why (``is waiting to start: ...``).
        """
        ns = self.spec.namespace_for(environment)
        live = self._live(ns)
        with calling("list", f"pods in namespace {ns}"):
            found = list(self._client.list(Pod, namespace=ns, labels={"app": self.spec.service}))
        chosen = []
        for pod in found:
            color = _color_label(pod.metadata.labels if pod.metadata else None)
            if color is not None and (all_colors or live is None or color is live):
                chosen.append((color.value, pods.pod_name(pod), pod))
        out = []
        for color_name, name, pod in sorted(chosen, key=lambda row: row[:2]):
            labels = (pod.metadata.labels if pod.metadata else None) or {}
            version = labels.get(manifests.VERSION_LABEL, "unknown")
            for container in pod.spec.containers if pod.spec else ():
                where = f"pod/{name} container {container.name} ({color_name}, {version})"
                try:
                    text = "".join(self._client.log(name, namespace=ns, container=container.name, tail_lines=lines))
                except Exception as exc:
                    code = status_code(exc)
                    if code == NOT_FOUND:
                        continue  # the pod went meanwhile
                    if code != BAD_REQUEST:
                        with calling("get", f"the log of pod {name} in namespace {ns}"):
                            raise
                    text = f"(no log: {message(exc)})\n"  # never ran: waiting to start, and why
                out.append((where, text.rstrip("\n")))
        return out

    def _collect_configmaps(self, environment: str, *, stopped: str) -> None:
        """Delete the color ConfigMaps that no Deployment (but ``stopped``) and no kept backup reads."""
        ns = self.spec.namespace_for(environment)
        ours: dict[str, Any] = {"app": self.spec.service, manifests.CONTENT_HASH_LABEL: operators.exists()}
        with calling("list", f"ConfigMaps in namespace {ns}"):
            owned = [
                str(c["metadata"]["name"])
                for c in self._client.list(kinds.kind_of("ConfigMap"), namespace=ns, labels=ours)
            ]
        if not owned:
            return
        with calling("list", f"deployments in namespace {ns}"):
            running = [
                d.to_dict()
                for d in self._client.list(kinds.kind_of("Deployment"), namespace=ns, labels={"app": self.spec.service})
            ]
        read = self._kept_configmaps(environment)
        if read is None:
            return  # what the backups need is unknown: nothing is collected this time
        for deployment in running:
            if deployment["metadata"]["name"] != stopped:  # a real API server may list it a moment longer
                read |= manifests.configmap_refs(deployment)
        for name in owned:
            if name not in read:
                log.info("deleting ConfigMap %s in %s: no color and no kept backup reads it", name, ns)
                self._delete("ConfigMap", name, ns)

    def _kept_configmaps(self, environment: str) -> set[str] | None:
        """The ConfigMaps that the kept backups' Deployments read; None when they cannot be listed."""
        try:
            kept = self._kept(environment)
        except ArxdeployError as exc:
            log.warning("ConfigMaps in %s are kept: the backups cannot be listed (%s)", environment, exc.message)
            return None
        return {str(name) for facts in kept for name in facts.get("configmaps_read") or []}

    def _delete(self, kind: str, name: str, namespace: str) -> None:
        """Delete one object; already gone is fine."""
        try:
            self._client.delete(kinds.kind_of(kind), name, namespace=namespace)
        except Exception as exc:
            if status_code(exc) == NOT_FOUND:
                return
            with calling("delete", f"{kind} {name} in namespace {namespace}"):
                raise

    # --- helpers -----------------------------------------------------------------------------

    def _get(self, kind: type[R], name: str, namespace: str) -> R | None:
        try:
            return self._client.get(kind, name, namespace=namespace)
        except Exception as exc:
            if status_code(exc) == NOT_FOUND:
                return None
            with calling("get", f"{kind.__name__} {name} in namespace {namespace}"):
                raise

    def _namespace_exists(self, ns: str) -> bool:
        try:
            self._client.get(Namespace, ns)
        except Exception as exc:
            if status_code(exc) == NOT_FOUND:
                return False
            with calling("get", f"namespace {ns}"):
                raise
        return True

    def ensure_namespace(self, namespace: str, environment: str) -> None:
        """Make ``environment``'s namespace if it is missing, as ``start_color`` would (with its labels):
        for the cluster store, whose record may be written there before anything else is."""
        if namespace != self.spec.namespace_for(environment):
            raise TargetError(f"namespace {namespace} is not environment {environment}'s, which the target makes")
        self._ensure_namespace(environment, namespace)

    def _ensure_namespace(self, environment: str, ns: str) -> None:
        if not self._namespace_exists(ns):
            self._apply(manifests.namespace_object(self.spec, environment))

    def _apply(self, obj: dict[str, Any]) -> None:
        """Server-side apply as ``arxdeploy``; ``force`` takes over fields someone else set by hand."""
        what = f"{obj['kind']} {obj['metadata']['name']}"
        with calling("apply", what):
            self._client.apply(kinds.resource(obj), field_manager=FIELD_MANAGER, force=True)


def _color_label(labels: dict[str, str] | None) -> Color | None:
    value = (labels or {}).get("color")
    return Color(value) if value in {c.value for c in Color} else None


def _selected_color(service: Service | None) -> Color | None:
    if service is None or service.spec is None:
        return None
    return _color_label(service.spec.selector)


def _service_port(pod: Pod) -> int | None:
    """The number of ``pod``'s container port named as our Services' targetPort (``http``)."""
    for container in (pod.spec.containers if pod.spec else None) or ():
        for port in container.ports or ():
            if port.name == manifests.PORT_NAME:
                return port.containerPort
    return None


def start_size(*, floor: int, now: list[int | None], most: int) -> int:
    """How many replicas an autoscaled color starts with: ``floor`` (the HPA's minimum, the
    config's count), or more where a running Deployment it must match has more (``now``: the
    live color, whose traffic it takes; itself, when it already runs the version), never more
    than the HPA's maximum ``most``."""
    return max(floor, min(max([floor, *(n for n in now if n is not None)]), most))


def _with_replicas(obj: dict[str, Any], count: int, *, floor: int) -> dict[str, Any]:
    """The numbers agree: the Deployment starts with ``count``, which its HPA allows as it is.

    The HPA's ``minReplicas`` is the engine's ``floor`` (a rollback may ask fewer than the
    template says: the HPA would otherwise scale the color back up at once) and its
    ``maxReplicas`` never below it; ``count`` is within those bounds (``start_size``).
    """
    spec = dict(obj.get("spec") or {})
    if obj["kind"] == "Deployment":
        spec["replicas"] = count
    elif obj["kind"] == "HorizontalPodAutoscaler":
        spec["minReplicas"] = floor
        spec["maxReplicas"] = max(int(spec.get("maxReplicas", 0)), floor)  # never below the minimum
    return {**obj, "spec": spec}


def _version_of(deployment: Deployment) -> str:
    labels = (deployment.metadata.labels if deployment.metadata else None) or {}
    return str(labels.get(manifests.VERSION_LABEL, "unknown"))


def _replicas_of(deployment: Deployment | None) -> int | None:
    return deployment.spec.replicas if deployment is not None and deployment.spec else None


def _without(
    route: dict[str, Any] | None, spec: KubeSpec, color: Color
) -> tuple[Color | None, dict[Color, int]] | None:
    """The route's live color and weights once ``color`` (not live) takes none; None if it takes none now."""
    live = routing.live_color(route)
    if color not in routing.weights(spec, route) or live is color:
        return None
    return live, {live: 100} if live else {}
