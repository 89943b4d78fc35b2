"""The emulator's exec credential plugin: ``python -m arxdeploy.testing.kube.credential``.

Written into the kubeconfig by ``KubeEmulator(auth="exec")``; clients run it as they run
``aws eks get-token`` or ``kubelogin``. It reads ``KUBERNETES_EXEC_INFO`` (an ``ExecCredential``
with ``spec.interactive`` and, with ``provideClusterInfo``, ``spec.cluster``; clients that do not
pass it are served too), asks the emulator's issuer for a token, and prints an ``ExecCredential``
of the configured ``apiVersion`` with ``status.token`` and ``status.expirationTimestamp``:
https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins

Standard library only, and nothing of arxdeploy imported: it runs once per token, in every client.
Exit status 1 with a message on stderr when the issuer cannot be reached or refuses.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

ISSUER_PATH = "/arxdeploy-emulator/v1/credentials"
KEY_VARIABLE = "ARXDEPLOY_EMULATOR_ISSUER_KEY"
VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arxdeploy.testing.kube.credential", description=__doc__)
    parser.add_argument("--issuer", required=True, help="the emulator's URL")
    parser.add_argument("--ca-file", required=True, help="the emulator's CA (PEM)")
    parser.add_argument("--api-version", choices=VERSIONS, default=VERSIONS[0])
    args = parser.parse_args(argv)
    raw = os.environ.get("KUBERNETES_EXEC_INFO", "")
    try:
        info = json.loads(raw) if raw else None
    except ValueError as error:
        return _fail(f"KUBERNETES_EXEC_INFO is not JSON: {error}")
    if info is not None and (info.get("kind") != "ExecCredential" or info.get("apiVersion") != args.api_version):
        return _fail(f"KUBERNETES_EXEC_INFO is not an ExecCredential of {args.api_version}: {raw}")
    body = json.dumps({"apiVersion": args.api_version, "execInfo": info}).encode()
    request = urllib.request.Request(
        args.issuer.rstrip("/") + ISSUER_PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {os.environ.get(KEY_VARIABLE, '')}"},
    )
    context = ssl.create_default_context(cafile=args.ca_file)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            credential = json.loads(response.read())
    except urllib.error.HTTPError as error:
        return _fail(f"the emulator refused to issue a token: {error.code} {error.read().decode(errors='replace')}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return _fail(f"the emulator's token issuer at {args.issuer} did not answer: {error}")
    json.dump(credential, sys.stdout)
    sys.stdout.write("\n")
    return 0


def _fail(message: str) -> int:
    print(f"arxdeploy emulator credential plugin: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
