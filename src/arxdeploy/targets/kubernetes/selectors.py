"""Label selectors in their object form (``matchLabels``, ``matchExpressions``), matched as the
API server matches them: a Deployment's pods, a NetworkPolicy's ``podSelector``. Pure: the
Kubernetes API emulator (``testing.kube.selectors``, which adds the query-string form) and the
network_policy security gate share it.
https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in, notin, exists, !exists
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "in":
            return present and labels[self.key] in self.values
        if self.operator == "notin":
            return not present or labels[self.key] not in self.values
        if self.operator == "exists":
            return present
        return not present


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(req.matches(labels or {}) for req in self.requirements)


def from_label_selector_object(selector: Mapping[str, Any] | None) -> LabelSelector:
    """The ``{matchLabels, matchExpressions}`` form used in Deployment and ReplicaSet specs."""
    selector = selector or {}
    requirements = [Requirement(k, "in", frozenset({v})) for k, v in (selector.get("matchLabels") or {}).items()]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expression in selector.get("matchExpressions") or []:
        operator = operators[expression["operator"]]
        requirements.append(Requirement(expression["key"], operator, frozenset(expression.get("values") or [])))
    return LabelSelector(tuple(requirements))
