"""`make bench`: every benchmark in turn; figures in bench/results/<name>.json, a summary on stderr.

    python bench/run.py                  # everything, about 8 minutes on 2 cores
    python bench/run.py --quick          # shorter runs, fewer repeats: a smoke test (bench/results/quick/)
    python bench/run.py router cli_time  # some of them
    python bench/run.py --wait-quiet 120 # on a shared machine: start each one when the CPU is idle

nginx and wrk must be installed (`make install-test` as root installs them); hyperfine is
used when present. Each benchmark runs its own arxdeploy runtime and stops it at the end.
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback

import analysis
import approvals
import backup
import cli_time
import engine_overhead
import k8s
import metrics
import record
import rollback_time
import router
import security
import switch_load
from common import log, machine_info, options_parser, results_dir, run_one

MODULES = (
    router,
    switch_load,
    rollback_time,
    cli_time,
    engine_overhead,
    k8s,
    approvals,
    backup,
    record,
    metrics,
    security,
    analysis,
)
BENCHMARKS = {m.NAME: m for m in MODULES}
NEEDS = {"router": ("nginx", "wrk"), "approvals": ("wrk",)}


def main() -> int:
    parser = options_parser(__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(BENCHMARKS)}")
    options = parser.parse_args()
    names = options.names or list(BENCHMARKS)
    if unknown := [n for n in names if n not in BENCHMARKS]:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    missing = sorted({tool for name in names for tool in NEEDS.get(name, ()) if shutil.which(tool) is None})
    if missing:
        log(f"missing {', '.join(missing)}: `apt-get install -y {' '.join(missing)}` (or `make install-test` as root)")
        return 2
    machine = results_dir(options.quick) / "machine.json"
    machine.write_text(json.dumps(machine_info(), indent=2) + "\n", encoding="utf-8")
    failed = []
    for name in names:
        try:
            run_one(BENCHMARKS[name], options.quick, options.wait_quiet)
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
    if failed:
        log(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
