"""Engine overhead: a deploy's wall time minus the waits its config asks for.

The configured waits are traffic_switch_delay + monitoring_duration + scale_down_delay +
(success_threshold - 1) x interval (the fewest check rounds that can make a color ready).
What is left is arxdeploy's own work plus the app's start-up: starting processes, check
rounds, store writes, the switch, draining and stopping the old color; and, for the process
wall time, the CLI's start-up (imports, config, store) before the deployment is created.
Every measured deploy replaces a live version, so scale_down_delay and a retirement happen.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

from common import Service, Settings, log, run_alone, seconds_between, service, summary, timestamp

NAME = "engine_overhead"
SETTINGS = Settings(replicas=2, switch_delay=1.0, monitoring=3.0, scale_down=1.0, interval=0.3, success_threshold=2)
SUMMARISED = (
    "process_wall_s",
    "created_to_finished_s",
    "overhead_process_s",
    "overhead_engine_s",
    "process_start_to_created_s",
    "finished_to_process_exit_s",
)


def one_deploy(svc: Service, version: str) -> dict[str, Any]:
    result, run = svc.deploy(version)
    waits = SETTINGS.configured_waits()
    engine = seconds_between(result["created_at"], result["finished_at"])
    return {
        "version": version,
        "process_wall_s": round(run.seconds, 3),
        "created_to_finished_s": round(engine, 3),
        "overhead_process_s": round(run.seconds - waits, 3),
        "overhead_engine_s": round(engine - waits, 3),
        # Where the rest of the process time goes: CLI start-up, and the exit after the outcome.
        "process_start_to_created_s": round(timestamp(result["created_at"]) - run.started_at, 3),
        "finished_to_process_exit_s": round(run.ended_at - timestamp(result["finished_at"]), 3),
        "created_to_first_step_s": round(seconds_between(result["created_at"], result["steps"][0]["started_at"]), 3),
        "steps_s": {s["step"]: s["seconds"] for s in result["steps"]},
    }


def measure(quick: bool) -> dict[str, Any]:
    deploys = []
    with service(SETTINGS, first_version="v0") as svc:
        for n in range(1, 3 if quick else 6):
            log(f"engine_overhead: deploy {n}")
            deploys.append(one_deploy(svc, f"v{n}"))
    steps = deploys[0]["steps_s"].keys()
    return {
        "settings": asdict(SETTINGS),
        "configured_waits_s": SETTINGS.configured_waits(),
        "waits": "traffic_switch_delay + monitoring_duration + scale_down_delay + (success_threshold-1) x interval",
        **{key: summary([d[key] for d in deploys]) for key in SUMMARISED},
        "steps_median_s": {step: summary([d["steps_s"][step] for d in deploys])["median"] for step in steps},
        "per_deploy": deploys,
    }


def headline(figures: dict[str, Any]) -> str:
    return (
        f"median overhead {figures['overhead_engine_s']['median']}s in the engine, "
        f"{figures['overhead_process_s']['median']}s for the process, over {figures['configured_waits_s']}s of waits"
    )


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
