"""lightkube stays out of every command that does not talk to a cluster."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_does_not_import_the_kubernetes_client() -> None:
    code = (
        "import sys, arxdeploy.cli.main, arxdeploy.bootstrap, arxdeploy.targets.kubernetes;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'lightkube', 'httpx2', 'msgspec'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
