"""Gate ``network_policy``: the new color's pods are reachable on their port only, by policy.

The policies that will be in force are the namespace's (read from the cluster) with the rendered
ones laid over them by name (the deployment applies those). Checked as Kubernetes reads them
(https://kubernetes.io/docs/concepts/services-networking/network-policies/): a policy selects
the pods of its own namespace its ``podSelector`` matches (``{}``: all of them); one whose
``policyTypes`` include Ingress and that has no ingress rule denies all ingress to them (the
"default deny" of the docs when it selects every pod); traffic is allowed when any policy
selecting the pod allows it. Without ``policyTypes`` a policy is about Ingress, and Egress too
when it has egress rules. On the local target there are no NetworkPolicies: not applicable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from arxdeploy.domain.security import Finding, GateResult, Severity, Status
from arxdeploy.targets.kubernetes.rest import Kind
from arxdeploy.targets.kubernetes.selectors import LabelSelector, from_label_selector_object

GATE = "network_policy"
NETWORK_POLICIES = Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")
Obj = dict[str, Any]
EVERYWHERE = frozenset({"0.0.0.0/0", "::/0"})


class PolicyReader(Protocol):
    """What the gate reads from the cluster (``targets.kubernetes.rest.Objects`` is one)."""

    def list(self, kind: Kind, namespace: str, *, labels: str, metadata_only: bool = False) -> list[Obj]: ...


@dataclass(frozen=True)
class NetworkSettings:
    require_default_deny: bool = True
    require_egress: bool = False  # egress limited even where the environment lists no egress


def settings_from(section: Any) -> NetworkSettings:
    """The settings of ``security.network_policy`` (``config.models.NetworkPolicyGate``), read by attribute."""
    return NetworkSettings(require_default_deny=section.require_default_deny, require_egress=section.require_egress)


@dataclass(frozen=True)
class _Policy:
    name: str
    selector: LabelSelector | None  # None: a selector the gate cannot read (counts as selecting nothing)
    selects_all: bool
    types: frozenset[str]
    ingress: tuple[Obj, ...]
    egress: tuple[Obj, ...]

    def selects(self, labels: Mapping[str, str]) -> bool:
        return self.selector is not None and self.selector.matches(labels)


def _policy(obj: Obj) -> _Policy:
    spec = obj.get("spec") or {}
    raw = spec.get("podSelector") or {}
    try:
        selector: LabelSelector | None = from_label_selector_object(raw)
    except (KeyError, TypeError, AttributeError):
        selector = None
    ingress = tuple(r for r in spec.get("ingress") or [] if isinstance(r, dict))
    egress = tuple(r for r in spec.get("egress") or [] if isinstance(r, dict))
    types = frozenset(spec.get("policyTypes") or ["Ingress", *(["Egress"] if egress else [])])
    return _Policy(
        name=str((obj.get("metadata") or {}).get("name")),
        selector=selector,
        selects_all=not raw.get("matchLabels") and not raw.get("matchExpressions"),
        types=types,
        ingress=ingress,
        egress=egress,
    )


def _port_allowed(rule: Obj, number: int, name: str | None) -> bool:
    ports = rule.get("ports") or []
    if not ports:
        return True  # every port
    for port in ports:
        if not isinstance(port, dict) or (port.get("protocol") or "TCP") != "TCP":
            continue
        wanted = port.get("port")
        if wanted is None:
            return True  # every port of the protocol
        if isinstance(wanted, str) and not wanted.isdigit():
            if name is not None and wanted == name:
                return True
            continue
        low = int(wanted)
        if low <= number <= int(port.get("endPort") or low):
            return True
    return False


def _unlimited_egress(rule: Obj) -> bool:
    """A rule that lets the pods reach anything (no peers, or 0.0.0.0/0, on every port)."""
    if rule.get("ports"):
        return False
    peers = rule.get("to") or []
    return not peers or any(
        (p.get("ipBlock") or {}).get("cidr") in EVERYWHERE and not p["ipBlock"].get("except") for p in peers
    )


def _served_ports(objects: Sequence[Obj], pod: Obj) -> list[tuple[int, str | None]]:
    """The container ports (number, name) of ``pod`` (a pod spec) that the rendered Services target."""
    declared = [
        (int(p["containerPort"]), p.get("name"))
        for c in pod.get("containers") or []
        for p in c.get("ports") or []
        if isinstance(p.get("containerPort"), int)
    ]
    wanted = {
        str(p.get("targetPort", p.get("port")))
        for o in objects
        if o.get("kind") == "Service"
        for p in (o.get("spec") or {}).get("ports") or []
    }
    return [(number, name) for number, name in declared if str(number) in wanted or name in wanted]


def check_network_policy(
    *,
    target: str,
    namespace: str = "",
    objects: Sequence[Obj] = (),
    reader: PolicyReader | None = None,
    egress_configured: bool = False,
    settings: NetworkSettings | None = None,
) -> GateResult:
    """Check the policies in force for the new color: ``objects`` are the rendered ones (its
    Deployment, the Services, NetworkPolicies), ``reader`` lists the namespace's policies now."""
    if target != "kubernetes":
        return GateResult(
            GATE,
            Status.NOT_APPLICABLE,
            f"the {target} target has no NetworkPolicies: its processes share the host's network",
        )
    settings = settings or NetworkSettings()
    in_force: dict[str, Obj] = {}
    if reader is not None:
        in_force.update({str(o["metadata"]["name"]): o for o in reader.list(NETWORK_POLICIES, namespace, labels="")})
    rendered = [o for o in objects if o.get("kind") == "NetworkPolicy"]
    in_force.update({str(o["metadata"]["name"]): o for o in rendered})
    policies = [_policy(o) for _, o in sorted(in_force.items())]
    findings: list[Finding] = []
    facts: dict[str, Any] = {"namespace": namespace, "policies": [p.name for p in policies]}

    deny = [p.name for p in policies if p.selects_all and "Ingress" in p.types and not p.ingress]
    facts["default_deny"] = deny
    if settings.require_default_deny and not deny:
        findings.append(
            Finding(
                rule="network.default-deny",
                message=f"namespace {namespace} has no default-deny policy (podSelector: {{}}, "
                "policyTypes: [Ingress], no ingress rules): pods no policy selects take any traffic",
                severity=Severity.HIGH,
            )
        )
    want_egress = egress_configured or settings.require_egress
    allowed_by: dict[str, list[str]] = {}
    limited_by: dict[str, list[str]] = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        template = (obj.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        pod = template.get("spec") or {}
        name = str(obj["metadata"]["name"])
        selecting = [p for p in policies if p.selects(labels)]
        for number, port_name in _served_ports(objects, pod):
            by = [
                p.name
                for p in selecting
                if "Ingress" in p.types and any(_port_allowed(r, number, port_name) for r in p.ingress)
            ]
            allowed_by[f"{name}:{number}"] = by
            if not by:
                findings.append(
                    Finding(
                        rule="network.port-not-allowed",
                        message=f"no NetworkPolicy selecting the pods of Deployment {name} allows ingress to "
                        f"port {number}, which its Services send traffic to"
                        + (f" (selecting them: {', '.join(p.name for p in selecting)})" if selecting else ""),
                        severity=Severity.HIGH,
                    )
                )
        egress = [p for p in selecting if "Egress" in p.types]
        limited_by[name] = [p.name for p in egress]
        open_by = [p.name for p in egress if any(_unlimited_egress(r) for r in p.egress)]
        if want_egress and (not egress or open_by):
            why = f"{', '.join(open_by)} allows egress anywhere" if open_by else "no policy limits its egress"
            findings.append(
                Finding(
                    rule="network.egress-unlimited",
                    message=f"the pods of Deployment {name} may connect anywhere: {why}",
                    severity=Severity.MEDIUM,
                )
            )
    facts["ingress_allowed_by"] = allowed_by
    facts["egress_limited_by"] = limited_by
    if findings:
        summary = findings[0].message if len(findings) == 1 else f"{len(findings)} problems with the NetworkPolicies"
        return GateResult(GATE, Status.FAILED, summary, tuple(findings), facts)
    ports = "; ".join(f"{where} allowed by {', '.join(by)}" for where, by in allowed_by.items())
    parts = [f"default deny by {', '.join(deny)}" if deny else "no default deny (not required)", ports]
    if want_egress:
        parts.append("egress limited by " + "; ".join(f"{', '.join(by)}" for by in limited_by.values()))
    return GateResult(GATE, Status.PASSED, "; ".join(p for p in parts if p), facts=facts)


def check(*, config: Any, environment: str, version: str, target: Any) -> GateResult:
    """The gate as the security step runs it: what deploying ``version`` would apply, and the
    namespace's policies now."""
    section = config.security.network_policy
    if config.target.type != "kubernetes":
        return check_network_policy(target=config.target.type)
    from arxdeploy.security import cluster

    objects, rendered = cluster.candidate_objects(target, environment, version)
    try:
        return check_network_policy(
            target="kubernetes",
            namespace=target.spec.namespace_for(environment),
            objects=rendered,
            reader=objects,
            egress_configured=config.environment(environment).egress is not None,
            settings=settings_from(section),
        )
    finally:
        objects.close()
