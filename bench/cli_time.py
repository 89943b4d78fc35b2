"""Wall time of short CLI commands: ``arxdeploy --help`` and ``arxdeploy status`` (one running environment).

Reading commands take the config an earlier one validated from the cache (``config.cache``), as a
person or a script running ``status`` again does; ``status, config not cached`` is the first run
on a fresh machine (the cache turned off through ``env ARXDEPLOY_CACHE_DIR=off``, which adds the
start of ``env`` itself, about a millisecond). The cache is a folder of the benchmark's own.

Timed with hyperfine when it is installed (``apt-get install hyperfine``), otherwise with
subprocess and time.perf_counter. ``python -c pass`` is timed too: the interpreter's own floor.
The arxdeploy sources measured are compiled to bytecode first, as pip does when it installs a
package: a source checkout run with PYTHONDONTWRITEBYTECODE would compile every module on every
run and time the compiler.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

from common import ARXDEPLOY, Settings, log, run_alone, service, summary

NAME = "cli_time"
WARMUP = 2
COMMANDS = (
    "python -c pass",
    "arxdeploy --help",
    "arxdeploy status",
    "arxdeploy status --json",
    "arxdeploy history",
    "arxdeploy status, config not cached",
)
# The bounds set for read-only commands, as multiples of the interpreter's own start-up.
BOUNDS = {"arxdeploy --help": 5, "arxdeploy status": 20}


def hyperfine(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="arxdeploy-bench-") as folder:
        export = Path(folder) / "hyperfine.json"
        argv = ["hyperfine", "--shell=none", "--style=basic", f"--runs={runs}", f"--warmup={WARMUP}"]
        argv += ["--export-json", str(export)]
        for name, command in commands.items():
            argv += ["--command-name", name, " ".join(command)]  # --shell=none splits on spaces: no spaces in paths
        subprocess.run(argv, check=True, capture_output=True, text=True)
        return {r["command"]: r["times"] for r in json.loads(export.read_text())["results"]}


def perf_counter(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for name, command in commands.items():
        for _ in range(WARMUP):
            subprocess.run(command, check=True, capture_output=True)
        times[name] = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return times


def measure(quick: bool) -> dict[str, Any]:
    import arxdeploy

    runs = 5 if quick else 20
    tool = "hyperfine" if shutil.which("hyperfine") else "perf_counter"
    compileall.compile_dir(Path(arxdeploy.__file__).parent, quiet=1)
    with (
        service(Settings(replicas=2)) as svc,
        tempfile.TemporaryDirectory(prefix="arxdeploy-bench-cache-") as cache,
        patch.dict(os.environ, {"ARXDEPLOY_CACHE_DIR": cache}),  # the commands inherit it
    ):
        config = str(svc.config)
        argv = (
            [sys.executable, "-c", "pass"],
            [ARXDEPLOY, "--help"],
            [ARXDEPLOY, "-c", config, "status"],
            [ARXDEPLOY, "-c", config, "status", "--json"],
            [ARXDEPLOY, "-c", config, "history"],
            [shutil.which("env") or "/usr/bin/env", "ARXDEPLOY_CACHE_DIR=off", ARXDEPLOY, "-c", config, "status"],
        )
        commands = dict(zip(COMMANDS, argv, strict=True))
        if any(" " in arg for command in commands.values() for arg in command):
            tool = "perf_counter"  # hyperfine --shell=none would split the path
        log(f"cli_time: {runs} runs of each command with {tool}")
        times = (hyperfine if tool == "hyperfine" else perf_counter)(commands, runs)
    figures: dict[str, Any] = {
        "tool": tool,
        "runs": runs,
        "warmup_runs": WARMUP,
        "status_checks": "status runs one health round: /health on 2 replicas and on the live path",
        **{name: summary([t * 1000 for t in values], digits=1) | {"unit": "ms"} for name, values in times.items()},
    }
    floor = figures["python -c pass"]["median"]
    figures["times_python"] = {name: round(figures[name]["median"] / floor, 1) for name in COMMANDS[1:]}
    figures["bounds_times_python"] = BOUNDS
    return figures


def headline(figures: dict[str, Any]) -> str:
    ratios = figures["times_python"]
    return ", ".join(
        f"{name}: median {figures[name]['median']} ms" + (f" ({ratios[name]}x python)" if name in ratios else "")
        for name in COMMANDS
    )


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
