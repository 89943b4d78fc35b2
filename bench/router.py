"""Router throughput, latency and CPU per request beside nginx, without and with a 90/10 split.

Two replicas of the demo app are deployed with arxdeploy; wrk then loads one replica directly,
the arxdeploy router, and nginx proxying the same replicas (same run). Every setting gets an
unloaded run (one connection) and a loaded one (``wrk -t2 -c32``). Then two replicas of v2 start
on the other color with 10 % of the requests (``LocalTarget.set_weight``), nginx gets the same
four replicas weighted 9:9:1:1, and both are loaded again. The router and nginx take turns,
several rounds each (medians reported, every round kept): the machine may be shared.
The CPU time the proxy and the replicas burn per request is read from /proc (psutil).
Last, the router is loaded while the candidate's weight changes every 50 ms: no request may fail.
"""

from __future__ import annotations

import itertools
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from common import Service, Settings, free_port, log, run_alone, service, wait_for_port

NAME = "router"
PATH = "/api/version"  # a small JSON answer: the proxy's cost is not hidden behind the app's work
NGINX_WORKERS = 1  # like the router: one process on one event loop
SPLIT = 10  # percent of the requests to the candidate in the split runs

# The router adds X-Forwarded-For, -Proto and -Host; nginx is told to do the same, so that the
# replicas parse the same headers behind both (Python's http.server pays per header).
NGINX_CONF = """\
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream replicas {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }}
    }}
}}
"""


@contextmanager
def nginx(upstreams: Sequence[tuple[str, int]]) -> Iterator[tuple[str, int]]:
    """nginx as a foreground child on a free port, over (URL, weight) upstreams; yields its URL and master pid."""
    folder = Path(tempfile.mkdtemp(prefix="arxdeploy-bench-nginx-"))
    port = free_port()
    servers = "\n".join(f"        server {url.removeprefix('http://')} weight={weight};" for url, weight in upstreams)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=NGINX_WORKERS, dir=folder, servers=servers, port=port))
    command = ["nginx", "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf), "-g", "daemon off;"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        try:
            wait_for_port(port)
        except OSError:
            log_tail = (folder / "error.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"nginx did not start on port {port}: {log_tail}") from None
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


# --- wrk ----------------------------------------------------------------------------------

_MS_PER_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _find(pattern: str, output: str) -> str:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise ValueError(f"unexpected wrk output (no {pattern!r}):\n{output}")
    return match.group(1)


def _ms(text: str) -> float:
    """wrk's ``812.00us`` / ``1.20ms`` / ``2.01s`` in milliseconds."""
    unit = _find(r"(us|ms|s|m)$", text)
    return float(text.removesuffix(unit)) * _MS_PER_UNIT[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """p50/p99 (ms), req/s, and anything that was not a 2xx/3xx answer."""
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "p50_ms": round(_ms(_find(r"^\s+50%\s+(\S+)\s*$", output)), 3),
        "p99_ms": round(_ms(_find(r"^\s+99%\s+(\S+)\s*$", output)), 3),
        "req_per_s": round(float(_find(r"Requests/sec:\s+([\d.]+)", output)), 1),
        "requests": int(_find(r"(\d+) requests in", output)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,  # wrk prints these lines only when non-zero
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
    }


def wrk_command(url: str, *, threads: int, connections: int, seconds: float) -> list[str]:
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]


def wrk(url: str, *, threads: int, connections: int, seconds: float) -> dict[str, Any]:
    command = wrk_command(url, threads=threads, connections=connections, seconds=seconds)
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30)
    return parse_wrk(done.stdout)


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of exactly these processes (not their children: the runtime's are the replicas)."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def with_children(pid: int) -> list[int]:
    """nginx's master and its worker(s)."""
    return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]


def load(url: str, proxy_pids: Sequence[int], replica_pids: Sequence[int], **wrk_args: Any) -> dict[str, Any]:
    """One wrk run (after a 1 s warm-up), with the CPU the proxy and the replicas spent per request."""
    wrk(url, threads=2, connections=32, seconds=1)  # warm up pools and caches
    proxy_before, replicas_before = cpu_seconds(proxy_pids), cpu_seconds(replica_pids)
    figures = wrk(url, **wrk_args)
    requests = max(figures["requests"], 1)
    if proxy_pids:
        figures["proxy_cpu_us_per_req"] = round((cpu_seconds(proxy_pids) - proxy_before) / requests * 1e6, 1)
    figures["replica_cpu_us_per_req"] = round((cpu_seconds(replica_pids) - replicas_before) / requests * 1e6, 1)
    return figures


MEDIAN_KEYS = ("p50_ms", "p99_ms", "req_per_s", "proxy_cpu_us_per_req", "replica_cpu_us_per_req")
SUM_KEYS = ("requests", "non_2xx", "socket_errors")


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds (failures summed), and the rounds themselves."""
    figures: dict[str, Any] = {}
    for key in MEDIAN_KEYS:
        if key in rounds[0]:
            figures[key] = round(statistics.median(r[key] for r in rounds), 3)
    for key in SUM_KEYS:
        figures[key] = sum(r[key] for r in rounds)
    return {**figures, "rounds": rounds}


def ratios(figures: dict[str, dict[str, Any]], of: str, to: str, keys: Sequence[str]) -> dict[str, float]:
    return {key: round(figures[of][key] / figures[to][key], 2) for key in keys}


Target = tuple[str, list[int], list[int]]  # URL, the proxy's processes, the replicas' processes


def setting(targets: dict[str, Target], rounds: int, wrk_args: dict[str, Any], name: str) -> dict[str, Any]:
    """Direct once (if there), then the router and nginx in turn for ``rounds`` rounds."""
    runs: dict[str, list[dict[str, Any]]] = {target: [] for target in targets}
    for number in range(rounds):
        for target, (url, proxy_pids, pids) in targets.items():
            if target == "direct" and number:
                continue
            log(f"router: {name}, {target}, round {number + 1} ({url}{PATH})")
            runs[target].append(load(url + PATH, proxy_pids, pids, **wrk_args))
    figures = {target: medians(found) for target, found in runs.items()}
    result: dict[str, Any] = {"wrk": " ".join(wrk_command("URL", **wrk_args)), **figures}
    result["router_vs_nginx"] = ratios(figures, "router", "nginx", ("req_per_s", "proxy_cpu_us_per_req", "p50_ms"))
    if "direct" in figures:
        result["router_vs_direct"] = ratios(figures, "router", "direct", ("p50_ms", "p99_ms", "req_per_s"))
        result["nginx_vs_direct"] = ratios(figures, "nginx", "direct", ("p50_ms", "p99_ms", "req_per_s"))
    return result


def color_counts(svc: Service) -> dict[str, int]:
    """Requests the router answered per color so far (its /metrics, all origins and classes)."""
    counts: dict[str, int] = {}
    pattern = re.compile(r'^arxdeploy_router_requests_total\{.*?color="(\w+)".*\} ([\d.e+]+)$', re.MULTILINE)
    for color, value in pattern.findall(svc.metrics()):
        counts[color] = counts.get(color, 0) + int(float(value))
    return counts


def compare(settings: dict[str, dict[str, Any]], rounds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with service(Settings(replicas=2)) as svc:
        live = svc.live_replicas()
        live_pids = [r.pid for r in live]
        with nginx([(r.url, 1) for r in live]) as (nginx_url, nginx_pid):
            targets = {
                "direct": (live[0].url, [], live_pids[:1]),
                "router": (svc.url, [svc.runtime_pid()], live_pids),
                "nginx": (nginx_url, with_children(nginx_pid), live_pids),
            }
            for name, wrk_args in settings.items():
                results[name] = setting(targets, rounds, wrk_args, name)
        before = color_counts(svc)
        candidate = svc.start_candidate("v2", replicas=2, weight=SPLIT)
        all_pids = live_pids + [r.pid for r in candidate]
        weights = [(r.url, 100 - SPLIT) for r in live] + [(r.url, SPLIT) for r in candidate]
        with nginx(weights) as (nginx_url, nginx_pid):
            targets = {
                "router": (svc.url, [svc.runtime_pid()], all_pids),
                "nginx": (nginx_url, with_children(nginx_pid), all_pids),
            }
            for name, wrk_args in settings.items():
                results[f"{name}_split"] = setting(targets, rounds, wrk_args, f"{name} split {100 - SPLIT}/{SPLIT}")
        after = color_counts(svc)
        results["weight_changes"] = weight_changes(svc, settings["loaded"])
    served = {color: after.get(color, 0) - before.get(color, 0) for color in after}
    results["split_check"] = {
        "answers_per_color_during_the_split_runs": served,  # warm-ups included
        "candidate_share": round(min(served.values()) / max(sum(served.values()), 1), 4),
    }
    return results


def weight_changes(svc: Service, wrk_args: dict[str, Any]) -> dict[str, Any]:
    """wrk through the router while another thread changes the candidate's weight every 50 ms."""
    color = svc.candidate_color()
    stop = threading.Event()
    changes = 0

    def change() -> None:
        nonlocal changes
        for weight in itertools.cycle((0, 10, 50, 100, 30, 0, 90)):
            if stop.wait(0.05):
                return
            svc.set_weight(color, weight)
            changes += 1

    changer = threading.Thread(target=change)
    log("router: loaded, the candidate's weight changing every 50 ms")
    changer.start()
    try:
        figures = wrk(svc.url + PATH, **wrk_args)
    finally:
        stop.set()
        changer.join()
    svc.set_weight(color, SPLIT)
    return {
        "wrk": " ".join(wrk_command("URL", **wrk_args)),
        "weight_changes": changes,
        "requests": figures["requests"],
        "failed": figures["non_2xx"] + figures["socket_errors"],
        "req_per_s": figures["req_per_s"],
    }


def measure(quick: bool) -> dict[str, Any]:
    settings = {
        "unloaded": {"threads": 1, "connections": 1, "seconds": 2 if quick else 4},
        "loaded": {"threads": 2, "connections": 32, "seconds": 3 if quick else 5},
    }
    rounds = 1 if quick else 3
    return {
        "path": PATH,
        "replicas": 2,
        "rounds": rounds,
        "direct_is": "one replica; the router and nginx spread the load over both (four in the split runs)",
        "nginx_worker_processes": NGINX_WORKERS,
        "nginx_upstream": "the same replicas, round-robin (weights 9:9:1:1 in the split runs), keepalive 64, "
        "HTTP/1.1, X-Forwarded-For/-Proto/-Host set as the router sets them, access_log off",
        **compare(settings, rounds),
    }


def headline(figures: dict[str, Any]) -> str:
    def pair(run: str) -> str:
        ratio = figures[run]["router_vs_nginx"]
        return f"req/s x{ratio['req_per_s']}, CPU/req x{ratio['proxy_cpu_us_per_req']}"

    return (
        f"router vs nginx at 1 connection: {pair('unloaded')}; at 32: {pair('loaded')}; "
        f"90/10 split at 1: {pair('unloaded_split')}; at 32: {pair('loaded_split')}"
    )


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
