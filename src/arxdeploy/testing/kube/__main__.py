"""``python -m arxdeploy.testing.kube --port 0 --kubeconfig PATH``: serve until interrupted.

Prints the URL once ready (and, with ``--serve-app``, the built-in app's URL on a second line).
See README.md next to this file for every option.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from arxdeploy.testing.kube.auth import EXEC_VERSIONS, MODES
from arxdeploy.testing.kube.nodes import Autoscaler, NodeSpec
from arxdeploy.testing.kube.server import KubeEmulator

_SHORT_VERSIONS = {v.rsplit("/", 1)[1]: v for v in EXEC_VERSIONS}


def _node(text: str, name: str) -> NodeSpec:
    """``CPU,MEMORY[,PODS]``: ``4,16Gi,110``."""
    parts = text.split(",")
    if len(parts) not in {2, 3}:
        raise argparse.ArgumentTypeError(f"expected CPU,MEMORY[,PODS], got {text!r}")
    return NodeSpec(name, parts[0], parts[1], int(parts[2]) if len(parts) == 3 else 110)


def _named_node(text: str) -> NodeSpec:
    """``NAME=CPU,MEMORY[,PODS]``."""
    name, equal, shape = text.partition("=")
    if not equal or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=CPU,MEMORY[,PODS], got {text!r}")
    return _node(shape, name)


def _backend(text: str) -> tuple[str, str, str]:
    """``NAMESPACE/SERVICE=URL``."""
    where, equal, url = text.partition("=")
    namespace, slash, service = where.partition("/")
    if not (equal and slash and namespace and service and url):
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/SERVICE=URL, got {text!r}")
    return namespace, service, url


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="python -m arxdeploy.testing.kube", description=__doc__)
    made.add_argument("--port", type=int, default=0, help="0 picks a free port")
    made.add_argument("--kubeconfig", type=Path, required=True, help="where to write the kubeconfig")
    auth = made.add_argument_group("authentication (what the kubeconfig's user holds)")
    auth.add_argument("--auth", choices=MODES, default="token", help="token (default), cert or exec")
    auth.add_argument("--token", default=None, help="the static bearer token (default: random)")
    auth.add_argument("--user", default="kubernetes-admin", help="the user the kubeconfig authenticates as")
    auth.add_argument(
        "--group", action="append", default=None, help="its groups (repeat; default kubeadm:cluster-admins)"
    )
    auth.add_argument(
        "--exec-api-version", choices=sorted(_SHORT_VERSIONS), default="v1", help="ExecCredential version"
    )
    auth.add_argument("--exec-token-ttl", type=float, default=900.0, help="seconds an exec token lives (default 900)")
    pods = made.add_argument_group("pods, nodes and autoscaling")
    pods.add_argument("--behaviour", default="ready", help="default pod behaviour")
    pods.add_argument("--ready-delay", type=float, default=0.2, help="seconds before a pod is ready")
    pods.add_argument("--crash-period", type=float, default=1.0, help="seconds between simulated restarts and pulls")
    pods.add_argument("--node", type=_named_node, action="append", default=None, help="NAME=CPU,MEMORY[,PODS] (repeat)")
    pods.add_argument("--autoscale", action="store_true", help="run the simulated cluster autoscaler")
    pods.add_argument("--autoscale-delay", type=float, default=5.0, help="seconds before an added node is Ready")
    pods.add_argument("--autoscale-max-nodes", type=int, default=3, help="nodes it may add (0: none will come)")
    pods.add_argument("--autoscale-node", default="4,16Gi,110", help="CPU,MEMORY[,PODS] of each added node")
    pods.add_argument("--hpa-sync-period", type=float, default=15.0, help="seconds between HPA syncs")
    pods.add_argument("--hpa-downscale-stabilization", type=float, default=300.0, help="seconds (as the flag)")
    apps = made.add_argument_group("what answers through the API server's proxies")
    apps.add_argument("--backend", type=_backend, action="append", default=[], help="NAMESPACE/SERVICE=URL (repeat)")
    apps.add_argument("--serve-app", action="store_true", help="a built-in app answers for every other pod")
    return made


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    autoscaler = None
    if args.autoscale:
        template = _node(args.autoscale_node, "")
        autoscaler = Autoscaler(delay=args.autoscale_delay, template=template, max_nodes=args.autoscale_max_nodes)
    emulator = KubeEmulator(
        port=args.port,
        kubeconfig=args.kubeconfig,
        auth=args.auth,
        token=args.token,
        user=args.user,
        groups=tuple(args.group or ("kubeadm:cluster-admins",)),
        exec_api_version=_SHORT_VERSIONS[args.exec_api_version],
        exec_token_ttl=args.exec_token_ttl,
        default_behaviour=args.behaviour,
        ready_delay=args.ready_delay,
        crash_period=args.crash_period,
        nodes=tuple(args.node) if args.node else (NodeSpec(),),
        autoscaler=autoscaler,
        hpa_sync_period=args.hpa_sync_period,
        hpa_downscale_stabilization=args.hpa_downscale_stabilization,
        serve_app=args.serve_app,
    )
    with emulator:
        for namespace, service, url in args.backend:
            emulator.register_service_backend(namespace, service, url)
        print(emulator.url, flush=True)
        if emulator.app_url:
            print(emulator.app_url, flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
