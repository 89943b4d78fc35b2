"""Router latency and throughput, as ratios to calling a replica directly, beside nginx.

Two replicas of the demo app are deployed with arxdeploy; wrk then loads, in turn, one replica
directly, the arxdeploy router, and nginx proxying both replicas (same run, same replicas).
Every target gets an unloaded run (one connection) and a loaded one (``wrk -t2 -c32``).
The CPU time the proxy and the replicas burn per request is read from /proc (psutil).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from common import Settings, free_port, log, run_alone, service, wait_for_port

NAME = "router"
PATH = "/api/version"  # a small JSON answer: the proxy's cost is not hidden behind the app's work
NGINX_WORKERS = 1  # like the router: one process on one event loop

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
        }}
    }}
}}
"""


@contextmanager
def nginx(upstreams: Sequence[str]) -> Iterator[tuple[str, int]]:
    """nginx as a foreground child on a free port; yields its URL and master pid."""
    folder = Path(tempfile.mkdtemp(prefix="arxdeploy-bench-nginx-"))
    port = free_port()
    servers = "\n".join(f"        server {u.removeprefix('http://')};" for u in upstreams)
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
    """One wrk run, with the CPU the proxy and the replicas spent per request during it."""
    proxy_before, replicas_before = cpu_seconds(proxy_pids), cpu_seconds(replica_pids)
    figures = wrk(url, **wrk_args)
    requests = max(figures["requests"], 1)
    if proxy_pids:
        figures["proxy_cpu_us_per_req"] = round((cpu_seconds(proxy_pids) - proxy_before) / requests * 1e6, 1)
    figures["replica_cpu_us_per_req"] = round((cpu_seconds(replica_pids) - replicas_before) / requests * 1e6, 1)
    return figures


def ratios(figures: dict[str, dict[str, Any]], of: str) -> dict[str, float]:
    direct = figures["direct"]
    return {key: round(figures[of][key] / direct[key], 2) for key in ("p50_ms", "p99_ms", "req_per_s")}


def compare(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Deploy two replicas, put nginx beside the router, run every wrk setting on all three."""
    results: dict[str, Any] = {}
    with service(Settings(replicas=2)) as svc:
        replicas = svc.live_replicas()
        replica_pids = [r.pid for r in replicas]
        with nginx([r.url for r in replicas]) as (nginx_url, nginx_pid):
            targets = {  # URL, the proxy's processes, the replicas' processes
                "direct": (replicas[0].url, [], replica_pids[:1]),
                "router": (svc.url, [svc.runtime_pid()], replica_pids),
                "nginx": (nginx_url, with_children(nginx_pid), replica_pids),
            }
            for run_name, wrk_args in runs.items():
                figures: dict[str, dict[str, Any]] = {}
                for target, (url, proxy_pids, pids) in targets.items():
                    wrk(url + PATH, threads=2, connections=32, seconds=1)  # warm up pools and caches
                    log(f"router: {run_name}, {target} ({url}{PATH})")
                    figures[target] = load(url + PATH, proxy_pids, pids, **wrk_args)
                results[run_name] = {
                    "wrk": " ".join(wrk_command("URL", **wrk_args)),
                    **figures,
                    "router_vs_direct": ratios(figures, "router"),
                    "nginx_vs_direct": ratios(figures, "nginx"),
                }
    return results


def wrk_runs(unloaded_s: float, loaded_s: float) -> dict[str, dict[str, Any]]:
    return {
        "unloaded": {"threads": 1, "connections": 1, "seconds": unloaded_s},
        "loaded": {"threads": 2, "connections": 32, "seconds": loaded_s},
    }


def measure(quick: bool) -> dict[str, Any]:
    return {
        "path": PATH,
        "replicas": 2,
        "direct_is": "one replica; the router and nginx spread the load over both",
        "nginx_worker_processes": NGINX_WORKERS,
        "nginx_upstream": "both replicas, round-robin, keepalive 64, HTTP/1.1, access_log off",
        **compare(wrk_runs(2, 3) if quick else wrk_runs(5, 10)),
    }


def headline(figures: dict[str, Any]) -> str:
    loaded = figures["loaded"]
    r, n = loaded["router_vs_direct"], loaded["nginx_vs_direct"]
    return (
        f"-c32 vs one replica direct: router p50 x{r['p50_ms']} p99 x{r['p99_ms']} req/s x{r['req_per_s']}; "
        f"nginx p50 x{n['p50_ms']} p99 x{n['p99_ms']} req/s x{n['req_per_s']}"
    )


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
