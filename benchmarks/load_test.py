"""Load test of the synthkit demo: N concurrent gradio_client users on loopback.

    python benchmarks/load_test.py --users 8 --requests 10 --endpoint toyscapes_render
    python benchmarks/load_test.py --url http://127.0.0.1:7860/ --endpoint toyscapes_render

Without ``--url`` it starts ``python -m demos.app`` in a separate process on a free loopback port (so the server
does not share a GIL with the clients), waits until it answers, and stops it at the end. Each user is a thread
with its own ``gradio_client.Client`` that sends ``--requests`` calls back to back; the latency of a call is the
full round trip (queue wait + function + transfer + output download). It also times the endpoint's function
called in-process, so the table separates the work itself from what Gradio and the queue add.

Prints a table (p50 / p90 / p99 / max, failures, throughput) and writes ``benchmarks/results/load_test.md`` and
``.json``. A benchmark, not a test: numbers vary about 2x between machines of the same kind (TESTING.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

# endpoint -> (arguments for call k of user u, in-process function "module:attr" or None)
ENDPOINTS: dict[str, tuple[Callable[[int, int], tuple], str | None]] = {
    "toyscapes_render": (lambda u, k: ("random", 1000 * u + k, 0, 128), "demos.toyscapes_explorer:render_sample"),
    "toyscapes_random_seed": (lambda u, k: (), "demos.toyscapes_explorer:random_seed"),
}


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean in milliseconds (NaN when there is no successful call)."""
    if not latencies_s:
        return {k: float("nan") for k in ("p50", "p90", "p99", "max", "mean")}
    ms = np.asarray(latencies_s) * 1000.0
    return {
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "mean": float(ms.mean()),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(concurrency: int | None, timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start ``python -m demos.app`` on a free loopback port; return the process and its URL once it answers."""
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if concurrency is not None:
        env["SYNTHKIT_DEMO_CONCURRENCY"] = str(concurrency)
    proc = subprocess.Popen([sys.executable, "-m", "demos.app"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo server exited with status {proc.returncode}:\n{proc.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"the demo server did not answer on {url} within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_users(url: str, endpoint: str, args_for: Callable[[int, int], tuple], users: int,
              requests: int) -> dict[str, Any]:
    """Run ``users`` threads of ``requests`` calls each; collect latencies and failures."""
    from gradio_client import Client

    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(users + 1)

    def user(u: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # noqa: BLE001 - a failed connection is a result, not a crash
            with lock:
                failures.extend([f"connect: {type(exc).__name__}: {exc}"] * requests)
            ready.wait()
            return
        ready.wait()  # all clients connected: start together
        for k in range(requests):
            t0 = time.perf_counter()
            try:
                client.predict(*args_for(u, k), api_name=f"/{endpoint}")
            except Exception as exc:  # noqa: BLE001
                with lock:
                    failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(users)]
    for t in threads:
        t.start()
    ready.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    return {"latencies_s": latencies, "failures": failures, "wall_s": wall}


def time_in_process(target: str | None, args_for: Callable[[int, int], tuple], n: int) -> dict[str, float] | None:
    """Latency of the endpoint's function called directly (no Gradio), same arguments."""
    if target is None:
        return None
    import importlib

    sys.path.insert(0, str(REPO_ROOT))
    module_name, attr = target.split(":")
    fn = getattr(importlib.import_module(module_name), attr)
    fn(*args_for(0, 0))  # warm-up (imports, caches)
    times = []
    for k in range(n):
        t0 = time.perf_counter()
        fn(*args_for(99, k))
        times.append(time.perf_counter() - t0)
    return percentiles(times)


def markdown_report(result: dict[str, Any]) -> str:
    e2e, fn = result["end_to_end_ms"], result["function_only_ms"]
    lines = [
        "# Demo load test",
        "",
        f"`python benchmarks/load_test.py {result['command']}`",
        "",
        f"- endpoint `/{result['endpoint']}`, {result['users']} concurrent users x {result['requests']} requests "
        f"over loopback ({result['server']}); queue default_concurrency_limit = {result['concurrency'] or 'server default'}",
        f"- machine: {result['machine']}, 1-min load average {result['load_average_1min_at_start']:.1f} at start "
        f"(shared machines: compare runs only within one session); gradio {result['gradio']}, gradio_client {result['gradio_client']}; "
        f"{result['date']}",
        "",
        "| measure | calls | failures | p50 ms | p90 ms | p99 ms | max ms | mean ms | throughput req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| end to end (gradio_client) | {result['calls']} | {result['n_failures']} | {e2e['p50']:.0f} | {e2e['p90']:.0f} "
        f"| {e2e['p99']:.0f} | {e2e['max']:.0f} | {e2e['mean']:.0f} | {result['throughput_rps']:.2f} |",
    ]
    if fn is not None:
        lines.append(f"| function only (in-process) | {result['function_calls']} | 0 | {fn['p50']:.1f} | {fn['p90']:.1f} "
                     f"| {fn['p99']:.1f} | {fn['max']:.1f} | {fn['mean']:.1f} | |")
    if result["failure_kinds"]:
        lines += ["", "Failures:", ""] + [f"- {n} x {kind}" for kind, n in result["failure_kinds"].items()]
    lines += [
        "",
        "End-to-end latency includes the wait in Gradio's queue: with a concurrency limit of 1 per event, a user "
        "waits for the calls ahead of them, so p50 grows with the number of users while the function time does not.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent gradio_client users (threads)")
    parser.add_argument("--requests", type=int, default=10, help="calls per user")
    parser.add_argument("--endpoint", default="toyscapes_render", help=f"api_name; known: {', '.join(ENDPOINTS)}")
    parser.add_argument("--args", default=None,
                        help="JSON list of arguments for an endpoint not in the known list (same for every call)")
    parser.add_argument("--url", default=None, help="an already running app; default: start demos.app locally")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="SYNTHKIT_DEMO_CONCURRENCY for the server this script starts (default: the app's)")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="folder for load_test.md / load_test.json")
    args = parser.parse_args(argv)
    if args.users < 1 or args.requests < 1:
        parser.error("--users and --requests must be >= 1")
    if args.endpoint in ENDPOINTS:
        args_for, target = ENDPOINTS[args.endpoint]
    elif args.args is not None:
        fixed = tuple(json.loads(args.args))
        args_for, target = (lambda u, k: fixed), None
    else:
        parser.error(f"unknown endpoint {args.endpoint!r}: pass its arguments with --args '[...]' "
                     f"(known: {', '.join(ENDPOINTS)})")

    import gradio
    import gradio_client

    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    proc = None
    url = args.url
    if url is None:
        print("starting python -m demos.app on loopback ...", flush=True)
        proc, url = start_server(args.concurrency)
    try:
        print(f"{args.users} users x {args.requests} requests -> {url} /{args.endpoint}", flush=True)
        run = run_users(url, args.endpoint, args_for, args.users, args.requests)
    finally:
        if proc is not None:
            stop_server(proc)
    fn = time_in_process(target, args_for, n=max(20, args.requests))

    calls = args.users * args.requests
    ok = len(run["latencies_s"])
    result = {
        "command": " ".join(argv if argv is not None else sys.argv[1:]),
        "endpoint": args.endpoint,
        "users": args.users,
        "requests": args.requests,
        "calls": calls,
        "n_failures": len(run["failures"]),
        "failure_kinds": dict(Counter(run["failures"]).most_common(10)),
        "end_to_end_ms": percentiles(run["latencies_s"]),
        "function_only_ms": fn,
        "function_calls": max(20, args.requests) if fn is not None else 0,
        "wall_s": run["wall_s"],
        "throughput_rps": ok / run["wall_s"] if run["wall_s"] > 0 else float("nan"),
        "server": "demos.app subprocess" if args.url is None else args.url,
        "concurrency": args.concurrency if args.url is None else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average_1min_at_start": load_at_start,
        "gradio": gradio.__version__,
        "gradio_client": gradio_client.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if result["concurrency"] is None and args.url is None:
        result["concurrency"] = int(os.environ.get("SYNTHKIT_DEMO_CONCURRENCY", "1"))
    report = markdown_report(result)
    print()
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "load_test.md").write_text(report, encoding="utf-8")
    (out / "load_test.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / 'load_test.md'} and {out / 'load_test.json'}")
    return 1 if result["n_failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
