"""A real Prometheus on this machine, for tests and benchmarks of metric analysis and of the
metrics arxdeploy serves.

``prometheus(targets_file=...)`` starts Debian's ``prometheus`` on a loopback port of its own,
scraping every ``interval`` the targets listed in a file-discovery file (Prometheus's
``file_sd_configs``: a JSON list of ``{"targets": [...], "labels": {...}}``; it re-reads the file
when it changes, so tests add and remove targets without a restart). Its data lives in a
temporary folder removed when the ``with`` block ends. ``MissingTool`` when not installed.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arxdeploy.testing.objectstores import MissingTool, _free_port, _server, _wait, tool


@dataclass
class PrometheusServer:
    url: str  # http://127.0.0.1:PORT
    targets_file: Path  # file-discovery file: rewrite it to change what is scraped
    rules_dir: Path  # rule files (*.yml) here are loaded on ``reload``

    def set_targets(self, groups: Sequence[Mapping[str, Any]]) -> None:
        """Replace what is scraped: ``[{"targets": ["127.0.0.1:1234"], "labels": {...}}]``.
        Written whole then renamed, so Prometheus never reads half a file."""
        part = self.targets_file.with_suffix(".part")
        part.write_text(json.dumps(list(groups)))
        part.replace(self.targets_file)

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """The result of an instant query (``data.result``); raises on an error answer."""
        params = {"query": promql, **({"time": str(at)} if at is not None else {})}
        return list(self._get("/api/v1/query", params)["result"])

    def scraped(self) -> list[dict[str, Any]]:
        """The active targets and their last scrape (``/api/v1/targets``)."""
        return list(self._get("/api/v1/targets", {"state": "active"})["activeTargets"])

    def reload(self) -> None:
        """Read the rule files again (the lifecycle API is on)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}{path}?{urllib.parse.urlencode(params)}", timeout=10) as answer:
            body = json.loads(answer.read())
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus answered {body}")
        return dict(body["data"])


@contextlib.contextmanager
def prometheus(*, interval: str = "1s", evaluation_interval: str = "1s") -> Iterator[PrometheusServer]:
    """Prometheus scraping what its file-discovery file lists every ``interval``."""
    binary = tool("prometheus")
    if binary is None:
        raise MissingTool("no `prometheus`: apt-get install prometheus")
    with tempfile.TemporaryDirectory(prefix="arx-prometheus-") as folder:
        root = Path(folder)
        targets, rules = root / "targets.json", root / "rules"
        targets.write_text("[]")
        rules.mkdir()
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": evaluation_interval},
            "rule_files": [str(rules / "*.yml")],
            "scrape_configs": [
                {"job_name": "arxdeploy", "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}]}
            ],
        }
        (root / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        port = _free_port()
        args = [
            str(binary), f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
        ]  # fmt: skip
        with _server(args, root / "prometheus.log", None) as process:
            server = PrometheusServer(url=f"http://127.0.0.1:{port}", targets_file=targets, rules_dir=rules)
            _wait(process, root / "prometheus.log", lambda: server.query("up"), "Prometheus")
            yield server
