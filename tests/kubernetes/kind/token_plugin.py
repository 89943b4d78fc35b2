#!/usr/bin/env python3
"""An exec credential plugin for the kind workflow: service account tokens from the TokenRequest API.

The workflow writes a kubeconfig whose user runs this (``kubectl config set-credentials
--exec-command``), so that the suite also runs against a real API server with an exec plugin:
each run asks ``kubectl create token`` (with kind's own admin kubeconfig) for a token of the
``arxdeploy-ci`` service account, and prints it as an ``ExecCredential`` of the version
``KUBERNETES_EXEC_INFO`` names (v1beta1 without it, as aws-iam-authenticator and kubelogin do),
expiring when the token does.

Environment: ARXDEPLOY_KIND_ADMIN_KUBECONFIG (kind's kubeconfig), ARXDEPLOY_KIND_ACCOUNT
(namespace/name, default default/arxdeploy-ci), ARXDEPLOY_KIND_TOKEN_DURATION (default 10m,
the API server's minimum).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main() -> int:
    info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}")
    version = info.get("apiVersion") or "client.authentication.k8s.io/v1beta1"
    namespace, _, account = os.environ.get("ARXDEPLOY_KIND_ACCOUNT", "default/arxdeploy-ci").partition("/")
    command = ["kubectl", "create", "token", account, "-n", namespace, "-o", "json"]
    command += ["--duration", os.environ.get("ARXDEPLOY_KIND_TOKEN_DURATION", "10m")]
    if os.environ.get("ARXDEPLOY_KIND_ADMIN_KUBECONFIG"):
        command += ["--kubeconfig", os.environ["ARXDEPLOY_KIND_ADMIN_KUBECONFIG"]]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"kubectl create token failed ({done.returncode}): {done.stderr.strip()}", file=sys.stderr)
        return 1
    status = json.loads(done.stdout)["status"]
    credential = {
        "apiVersion": version,
        "kind": "ExecCredential",
        "status": {"token": status["token"], "expirationTimestamp": status["expirationTimestamp"]},
    }
    json.dump(credential, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
