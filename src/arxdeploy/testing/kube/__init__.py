"""A Kubernetes API server emulator for tests: real HTTPS on 127.0.0.1, reached through a kubeconfig.

As strict as a real cluster where deployments meet it: authentication by static token, client
certificate or exec credential plugin (auth.py, credential.py); validation answered as 422 with
causes (validation.py), immutable ConfigMaps included; discovery, resourceVersion conflicts, label
and field selectors, the four PATCH types, status and scale subresources, watch with history replay;
PodDisruptionBudgets (stored, not enforced); the service and pod proxies (proxy.py); and a
simulated control plane (controller.py): Deployments and ReplicaSets, a scheduler over nodes with
capacity and an optional cluster autoscaler (nodes.py), kubelets whose pods behave as each test
chooses (behaviours.py, kubelet.py), an HPA controller (hpa.py), and the Events all of them write
(events.py).

It serves HTTPS with a throwaway CA written into the kubeconfig, because kubectl never sends a
bearer token over plain HTTP. See README.md next to this file for the options, what clients do, and
the simplifications.

Usage::

    with KubeEmulator() as kube:
        subprocess.run(["kubectl", "--kubeconfig", str(kube.kubeconfig), "get", "pods"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arxdeploy.testing.kube.behaviours import ANNOTATION as BEHAVIOUR_ANNOTATION

if TYPE_CHECKING:
    from arxdeploy.testing.kube.nodes import Autoscaler, NodeSpec
    from arxdeploy.testing.kube.server import KubeEmulator

__all__ = ["BEHAVIOUR_ANNOTATION", "Autoscaler", "KubeEmulator", "NodeSpec"]


def __getattr__(name: str) -> Any:
    """Imported on first use: the credential plugin (``python -m arxdeploy.testing.kube.credential``)
    runs inside this package and must not pay for the server, aiohttp and cryptography."""
    if name == "KubeEmulator":
        from arxdeploy.testing.kube.server import KubeEmulator

        return KubeEmulator
    if name in {"Autoscaler", "NodeSpec"}:
        from arxdeploy.testing.kube import nodes

        return getattr(nodes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
