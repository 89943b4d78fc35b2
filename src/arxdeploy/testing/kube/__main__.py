"""``python -m arxdeploy.testing.kube --port 0 --kubeconfig PATH``: serve until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from arxdeploy.testing.kube.server import KubeEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arxdeploy.testing.kube", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write the kubeconfig")
    parser.add_argument("--token", default=None, help="bearer token to require (default: random)")
    parser.add_argument("--behaviour", default="ready", help="default pod behaviour")
    parser.add_argument("--ready-delay", type=float, default=0.2, help="seconds before a pod is ready")
    args = parser.parse_args(argv)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    emulator = KubeEmulator(
        port=args.port,
        kubeconfig=args.kubeconfig,
        token=args.token,
        default_behaviour=args.behaviour,
        ready_delay=args.ready_delay,
    )
    with emulator:
        print(emulator.url, flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
