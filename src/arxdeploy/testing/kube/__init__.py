"""A Kubernetes API server emulator for tests: real HTTP on 127.0.0.1, reached through a kubeconfig.

Serves ``v1`` namespaces, pods, services, configmaps, secrets, events (and read-only endpoints
computed from Services and Pods); ``apps/v1`` deployments and
replicasets; ``autoscaling/v2`` horizontalpodautoscalers; ``networking.k8s.io/v1`` networkpolicies;
``policy/v1`` poddisruptionbudgets
with the semantics clients rely on: discovery, resourceVersion conflicts, label and field
selectors, the four PATCH types, status and scale subresources, watch with history replay, and a
simulated controller that turns Deployments into ReplicaSets and Pods whose behaviour each test
chooses (see :mod:`arxdeploy.testing.kube.behaviours`).

Simplifications, on purpose:

- server-side apply (``application/apply-patch+yaml``) is a strategic merge of the applied object
  over the live one: ``fieldManager`` is required but field ownership is not tracked;
- deletion is immediate (no graceful termination, no finalizers) and cascades along
  ``ownerReferences`` at once, unless ``propagationPolicy`` is ``Orphan``;
- rollouts replace old pods once the new ReplicaSet is fully available, not step by step;
- the service proxy (``/api/v1/namespaces/{ns}/services/{name}[:port]/proxy/{path}``) forwards
  to a URL registered with :meth:`KubeEmulator.register_service_backend`, and answers 503 while the
  Service selects no ready pod.

It serves HTTPS with a throwaway CA written into the kubeconfig, because kubectl never sends a
bearer token over plain HTTP. See README.md next to this file for the behaviours and options.

Usage::

    with KubeEmulator() as kube:
        subprocess.run(["kubectl", "--kubeconfig", str(kube.kubeconfig), "get", "pods"])
"""

from __future__ import annotations

from arxdeploy.testing.kube.behaviours import ANNOTATION as BEHAVIOUR_ANNOTATION
from arxdeploy.testing.kube.server import KubeEmulator

__all__ = ["BEHAVIOUR_ANNOTATION", "KubeEmulator"]
