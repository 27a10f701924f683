"""Load test of the synthkit demo: N concurrent gradio_client users on loopback.

    python benchmarks/load_test.py --users 8 --requests 10 --endpoint toyscapes_render
    python benchmarks/load_test.py --users 20 --requests 10 --endpoint all      # every app's main action in turn
    python benchmarks/load_test.py --users 20 --requests 10 --endpoint mixed    # all of them at once
    python benchmarks/load_test.py --users 20 --requests 50 --endpoint mixed --same   # 1,000 identical calls
    python benchmarks/load_test.py --url http://127.0.0.1:7860/ --endpoint toyscapes_render

Each user is a thread; by default a light HTTP client of Gradio's queue API (``HttpUser``: what a page does),
``--client gradio_client`` for the official client. Without ``--url`` it starts ``python -m demos.app`` in a separate process on a free loopback port (so the server
does not share a GIL with the clients), waits until it answers, and stops it at the end. Each user is a thread
with its own ``gradio_client.Client`` that sends ``--requests`` calls back to back; the latency of a call is the
full round trip (waiting + function + transfer + output download). It also runs each endpoint's event in-process
(the function alone, and with Gradio's processing around it), so the table separates the work itself from what
Gradio, HTTP and the waiting add. ``SYNTHKIT_DIRECT_EVENTS=0`` in the environment serves every event through the
queue (the apps' design before direct events), to compare.

``--same`` sends the same arguments on every call (every user asks for the same picture: the case that made Gradio
rewrite an output file while it was being served, see demos/common.py ``atomic_output_cache``). The server's
stderr goes to a file; the report counts its tracebacks and h11 protocol errors, and samples the server's resident
memory (RSS) before, during and after the run.

Prints a table (p50 / p90 / p99 / max, failures, throughput) and writes ``benchmarks/results/load_test.md`` and
``.json``. A benchmark, not a test: numbers vary about 2x between machines of the same kind (TESTING.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
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

import _serve  # benchmarks/_serve.py

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

# endpoint -> keyword arguments for call k of user u. Parameters left out take the default the endpoint's API page
# lists (gradio_client fills them in), e.g. the example editor image.
ENDPOINTS: dict[str, Callable[[int, int], dict]] = {
    "toyscapes_render": lambda u, k: {"scene": "random", "seed": 1000 * u + k, "index": 0, "size": 128},
    "toyscapes_random_seed": lambda u, k: {},
    "morph_tick": lambda u, k: {"t": round(((7 * u + k) % 21) / 20, 2)},
    "pyramid_inpaint": lambda u, k: {"seed": 1000 * u + k},
    "layout_generate": lambda u, k: {"seed": 1000 * u + k},
    "controls_render": lambda u, k: {"seed": 0, "azimuth": float((37 * u + 11 * k) % 360)},
}
# every app's main action (the Image2StyleGAN++ embedding is a seconds-long job with its own concurrency limit of
# 1 and a Stop button: not a request-per-second endpoint)
MAIN_ENDPOINTS = ("toyscapes_render", "morph_tick", "pyramid_inpaint", "layout_generate", "controls_render")


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


def rss_by_tenth(samples: list[float]) -> str:
    """The last RSS sample of each tenth of the run (samples every 0.5 s; requests arrive evenly in time)."""
    n = len(samples)
    if n < 10:
        return "too few samples"
    return ", ".join(f"{samples[min(n - 1, (q + 1) * n // 10 - 1)]:.0f}" for q in range(10))


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc), NaN elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def start_server(concurrency: int | None, timeout_s: float = 120.0,
                 stderr_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``python -m demos.app`` on a free loopback port (benchmarks/_serve.py); return the process and its URL
    once it answers. Its output goes to ``stderr_path``."""
    env = {"SYNTHKIT_DEMO_CONCURRENCY": str(concurrency)} if concurrency is not None else {}
    return _serve.start(["-m", "demos.app"], env=env, log=stderr_path, timeout_s=timeout_s)


stop_server = _serve.stop


def run_users(url: str, endpoints: list[str], args_for: dict[str, Callable[[int, int], dict]], users: int,
              requests: int, rss_pid: int | None = None, client_kind: str = "http") -> dict[str, Any]:
    """Run ``users`` threads of ``requests`` calls each; user u calls ``endpoints[u % len(endpoints)]``. Collect
    latencies (per endpoint), failures and, with ``rss_pid``, the server's RSS every 0.5 s."""
    from gradio_client import Client

    latencies: dict[str, list[float]] = {e: [] for e in endpoints}
    failures: list[str] = []
    rss: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(users + 1)

    info = json.loads(urllib.request.urlopen(url.rstrip("/") + "/gradio_api/info", timeout=30).read())
    config = json.loads(urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30).read())

    def user(u: int) -> None:
        try:
            client = Client(url, verbose=False) if client_kind == "gradio_client" else HttpUser(url, info, config)
        except Exception as exc:  # noqa: BLE001 - a failed connection is a result, not a crash
            with lock:
                failures.extend([f"connect: {type(exc).__name__}: {exc}"] * requests)
            ready.wait()
            return
        ready.wait()  # all clients connected: start together
        endpoint = endpoints[u % len(endpoints)]
        for k in range(requests):
            t0 = time.perf_counter()
            try:
                if client_kind == "gradio_client":
                    client.predict(**args_for[endpoint](u, k), api_name=f"/{endpoint}")
                else:
                    client.predict(endpoint, **args_for[endpoint](u, k))
            except Exception as exc:  # noqa: BLE001
                with lock:
                    failures.append(f"/{endpoint}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            with lock:
                latencies[endpoint].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(users)]
    for t in threads:
        t.start()
    ready.wait()
    t_start = time.perf_counter()
    while any(t.is_alive() for t in threads):
        if rss_pid is not None:
            rss.append(rss_mb(rss_pid))
        time.sleep(0.5)
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    return {"latencies_s": latencies, "failures": failures, "wall_s": wall, "rss_mb": rss}


def event_inputs(endpoint: str, params: list[dict], kwargs: dict, is_state: list[bool]) -> list:
    """An event's input list as the page sends it: State inputs as null, the others in the API page's parameter
    order from ``kwargs``, missing ones taking the API page's defaults (``params``: /gradio_api/info's list)."""
    unknown = set(kwargs) - {p["parameter_name"] for p in params}
    if unknown:
        raise ValueError(f"/{endpoint} has no parameter(s) {sorted(unknown)}")
    values = iter([kwargs.get(p["parameter_name"], p.get("parameter_default")) for p in params])
    return [None if state else next(values, None) for state in is_state]


class HttpUser:
    """A light client that calls an event as the page does: one session per user (``session_hash``); a direct
    event (``queue: false`` in the config, demos.common.direct_events) is one ``POST /gradio_api/run/<api_name>``
    answered with the result; a queued one is ``POST /gradio_api/queue/join`` with the event's inputs (State inputs
    as null; missing parameters take the defaults of ``/gradio_api/info``) and the ``/gradio_api/queue/data`` event
    stream until ``process_completed``; then a ``GET`` of every returned file, checked against its Content-Length
    (a direct event's images come inline as PNG ``data:`` URLs: decoded and checked instead).

    Why not gradio_client: its ``predict`` costs ~8 ms of client CPU per call (threads, SSE parsing, downloads into
    its own folder); with 20 of them on 2 cores the clients set the pace (measured: client process 160% CPU, server
    37%). Why not ``/gradio_api/call``: every call there is a new session, and a new session of the tabbed app costs
    the server ~40 ms of CPU (gradio's SessionState copies the config of every component of every tab), which a page
    pays once, on its first event."""

    def __init__(self, url: str, info: dict, config: dict):
        import uuid

        import httpx

        self.url = url.rstrip("/")
        self.info, self.config = info, config
        self.session = uuid.uuid4().hex[:11]
        self.http = httpx.Client(timeout=120)
        self.types = {c["id"]: c.get("type") for c in config["components"]}
        self.deps = {d.get("api_name"): (i, d) for i, d in enumerate(config["dependencies"]) if d.get("api_name")}

    def _data(self, endpoint: str, kwargs: dict) -> tuple[int, list]:
        params = self.info["named_endpoints"][f"/{endpoint}"]["parameters"]
        fn_index, dep = self.deps[endpoint]
        data = event_inputs(endpoint, params, kwargs, [self.types.get(i) == "state" for i in dep["inputs"]])
        return dep.get("id", fn_index), data

    def predict(self, endpoint: str, **kwargs: Any) -> list:
        fn_index, data = self._data(endpoint, kwargs)
        if self.deps[endpoint][1].get("queue") is False:  # a direct event (demos.common.direct_events): one POST
            r = self.http.post(f"{self.url}/gradio_api/run/{endpoint}",
                               json={"data": data, "fn_index": fn_index, "session_hash": self.session,
                                     "event_data": None, "trigger_id": None})
            if r.status_code != 200:
                raise RuntimeError(f"/{endpoint}: HTTP {r.status_code}: {r.text[:200]}")
            out = r.json().get("data")
            self._fetch_files(out)
            return out
        r = self.http.post(f"{self.url}/gradio_api/queue/join",
                           json={"data": data, "fn_index": fn_index, "session_hash": self.session,
                                 "event_data": None, "trigger_id": None})
        r.raise_for_status()
        event_id = r.json()["event_id"]
        done = None
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data",
                              params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") == event_id and msg.get("msg") == "process_completed":
                    done = msg
                    break
        if done is None or not done.get("success"):
            raise RuntimeError(f"/{endpoint}: {str((done or {}).get('output'))[:200]}")
        out = done["output"].get("data")
        self._fetch_files(out)
        return out

    def _fetch_files(self, out: Any) -> None:
        import base64

        for url in _file_urls(out):
            if url.startswith("data:"):  # an image inline in a direct call's answer (demos.common.inline_images)
                if not base64.b64decode(url.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n"):
                    raise RuntimeError(f"an inline image that is not a PNG: {url[:60]}")
                continue
            f = self.http.get(url if url.startswith("http") else f"{self.url}{url}")
            f.raise_for_status()
            if f.headers.get("content-length") and int(f.headers["content-length"]) != len(f.content):
                raise RuntimeError(f"{url}: {len(f.content)} bytes for a declared {f.headers['content-length']}")


def _file_urls(value: Any) -> list[str]:
    if isinstance(value, dict):
        if value.get("url") and (value.get("meta") or {}).get("_type") == "gradio.FileData":
            return [value["url"]]
        return [u for v in value.values() for u in _file_urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _file_urls(v)]
    return []


_IN_PROCESS: dict[str, Any] = {}


def time_in_process(endpoint: str, args_for: Callable[[int, int], dict], n: int) -> dict[str, dict[str, float]]:
    """The endpoint's event run in this process, one call at a time, through the tabbed app's own
    ``Blocks.process_api`` (Gradio's preprocessing, our function, postprocessing: images inline or files), with the
    same arguments as the users' calls (missing parameters: the API page's defaults) and one session, as a page
    makes them. Returns {"function": ..., "process_api": ...} percentiles: the work itself, and with Gradio's
    processing around it. No HTTP, no queue, no other calls."""
    import asyncio

    sys.path.insert(0, str(REPO_ROOT))
    if "demo" not in _IN_PROCESS:
        from gradio.state_holder import SessionState

        from demos import app as full

        demo = full.build_demo()
        _IN_PROCESS.update(demo=demo, info=demo.get_api_info(), session=SessionState(demo))
    demo, info, session = _IN_PROCESS["demo"], _IN_PROCESS["info"], _IN_PROCESS["session"]
    fn = next(d for d in demo.fns.values() if d.api_name == endpoint)
    params = info["named_endpoints"][f"/{endpoint}"]["parameters"]
    inner, fn_times = fn.fn, []

    def timed(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            fn_times.append(time.perf_counter() - t0)

    is_state = [b.__class__.__name__ == "State" for b in fn.inputs]

    def payload(u: int, k: int) -> list:
        return event_inputs(endpoint, params, args_for(u, k), is_state)

    totals = []
    fn.fn = timed
    # a direct event's call as the page makes it (POST /gradio_api/run): its images inline (demos.common.inline_images)
    from demos.common import _DIRECT_HTTP_CALL

    token = _DIRECT_HTTP_CALL.set(not fn.queue)
    try:
        asyncio.run(demo.process_api(fn, payload(0, 0), state=session))  # warm-up (imports, caches, the session)
        fn_times.clear()
        for k in range(n):
            t0 = time.perf_counter()
            asyncio.run(demo.process_api(fn, payload(99, k), state=session))
            totals.append(time.perf_counter() - t0)
    finally:
        fn.fn = inner
        _DIRECT_HTTP_CALL.reset(token)
    return {"function": percentiles(fn_times), "process_api": percentiles(totals)}


def markdown_report(result: dict[str, Any]) -> str:
    lines = [
        "# Demo load test",
        "",
        f"`python benchmarks/load_test.py {result['command']}`",
        "",
        f"- {result['users']} concurrent {result['client']} users x {result['requests']} requests over loopback "
        f"({result['server']}), endpoints {', '.join('/' + e for e in result['endpoints'])} "
        f"({'mixed: user u calls endpoint u mod n' if result['mixed'] else 'one at a time'}); "
        f"{'the same arguments on every call' if result['same'] else 'different arguments per call'}; "
        f"queue default_concurrency_limit = {result['concurrency'] or 'server default'}; events the page calls "
        f"directly: {'yes (demos.common.direct_events)' if result.get('direct_events', True) else 'no, every call through the queue (SYNTHKIT_DIRECT_EVENTS=0)'}",
        f"- machine: {result['machine']}, 1-min load average {result['load_average_1min_at_start']:.1f} at start "
        f"(shared machines: compare runs only within one session); gradio {result['gradio']}, gradio_client "
        f"{result['gradio_client']}; {result['date']}",
        f"- server stderr: {result['server_tracebacks']} tracebacks, {result['h11_errors']} h11 protocol errors; "
        f"server RSS {result['rss_mb']['start']:.0f} MB at start, {result['rss_mb']['min']:.0f}-"
        f"{result['rss_mb']['max']:.0f} MB during, {result['rss_mb']['end']:.0f} MB at the end",
        f"- server RSS at the end of each tenth of the run (MB; flat after warm-up = no growth per request): "
        f"{rss_by_tenth(result['rss_mb'].get('samples', []))}",
        "",
        "| endpoint | calls | failures | p50 ms | p90 ms | p99 ms | max ms | throughput req/s | function p50 ms "
        "| + Gradio processing p50 ms | 1 / (that) req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        e2e, inp = row["end_to_end_ms"], row["in_process_ms"]
        lines.append(f"| /{row['endpoint']} | {row['calls']} | {row['n_failures']} | {e2e['p50']:.0f} | {e2e['p90']:.0f} "
                     f"| {e2e['p99']:.0f} | {e2e['max']:.0f} | {row['throughput_rps']:.2f} | "
                     f"{inp['function']['p50']:.1f} | {inp['process_api']['p50']:.1f} | "
                     f"{1000 / inp['process_api']['p50']:.1f} |")
    if result["failure_kinds"]:
        lines += ["", "Failures:", ""] + [f"- {n} x {kind}" for kind, n in result["failure_kinds"].items()]
    lines += [
        "",
        "End-to-end latency includes the wait for the calls ahead (direct events: for a worker thread and the "
        "CPU; queued ones: in the queue, one call at a time per event), so p50 grows with the number of users while "
        "the function time does not. `function` and `+ Gradio processing`: the same event run in this process one "
        "call at a time (`Blocks.process_api`: preprocessing, our function, postprocessing with the images "
        "encoded, inline for a direct event as the page gets them (demos.common.inline_images), else written as "
        "files; no HTTP); `1 / (that)` is the rate one core would reach doing nothing else, to compare with the "
        "measured throughput (2 cores; the server also parses requests, serves files and runs the event loop).",
    ]
    return "\n".join(lines) + "\n"


def run_once(args: argparse.Namespace, endpoints: list[str], mixed: bool, argv: list[str] | None) -> dict[str, Any]:
    import gradio
    import gradio_client

    args_for = {}
    for e in endpoints:
        base = ENDPOINTS[e] if e in ENDPOINTS else (lambda u, k, fixed=json.loads(args.args or "{}"): fixed)
        args_for[e] = (lambda u, k, base=base: base(0, 0)) if args.same else base
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    proc, url = None, args.url
    stderr_path = Path(args.out) / "load_test_server_stderr.log"
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    if url is None:
        print("starting python -m demos.app on loopback ...", flush=True)
        proc, url = start_server(args.concurrency, stderr_path=stderr_path)
    rss_start = rss_mb(proc.pid) if proc else float("nan")
    try:
        runs = []
        groups = [endpoints] if mixed else [[e] for e in endpoints]
        for group in groups:
            print(f"{args.users} users x {args.requests} requests -> {url} {' '.join('/' + e for e in group)}",
                  flush=True)
            runs.append(run_users(url, group, args_for, args.users, args.requests, proc.pid if proc else None,
                                  args.client))
        rss_end = rss_mb(proc.pid) if proc else float("nan")
    finally:
        if proc is not None:
            stop_server(proc)
    log_text = stderr_path.read_text(errors="replace") if proc is not None else ""
    rows, failures, rss = [], [], [v for r in runs for v in r["rss_mb"]]
    for group, run in zip(groups, runs):
        failures += run["failures"]
        for e in group:
            calls = args.requests * sum(1 for u in range(args.users) if group[u % len(group)] == e)
            ok = len(run["latencies_s"][e])
            rows.append({
                "endpoint": e, "calls": calls, "n_failures": calls - ok,
                "end_to_end_ms": percentiles(run["latencies_s"][e]),
                "throughput_rps": ok / run["wall_s"] if run["wall_s"] > 0 else float("nan"),
                "in_process_ms": time_in_process(e, args_for[e], n=max(20, args.requests)),
            })
    result = {
        "command": " ".join(argv if argv is not None else sys.argv[1:]),
        "endpoints": endpoints, "mixed": mixed, "same": args.same, "client": args.client,
        "users": args.users, "requests": args.requests, "rows": rows,
        "direct_events": os.environ.get("SYNTHKIT_DIRECT_EVENTS", "1") != "0",
        "n_failures": len(failures), "failure_kinds": dict(Counter(failures).most_common(10)),
        "server_tracebacks": log_text.count("Traceback (most recent call last)"),
        "h11_errors": log_text.count("LocalProtocolError") + log_text.count("Too little data"),
        "rss_mb": {"start": rss_start, "end": rss_end, "min": min(rss, default=float("nan")),
                   "max": max(rss, default=float("nan")), "samples": rss},
        "server": "demos.app subprocess" if args.url is None else args.url,
        "concurrency": (args.concurrency or int(os.environ.get("SYNTHKIT_DEMO_CONCURRENCY", "1")))
        if args.url is None else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average_1min_at_start": load_at_start,
        "gradio": gradio.__version__,
        "gradio_client": gradio_client.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent gradio_client users (threads)")
    parser.add_argument("--requests", type=int, default=10, help="calls per user")
    parser.add_argument("--endpoint", default="toyscapes_render",
                        help=f"api_name, 'all' (each main action in turn) or 'mixed' (all at once); known: "
                             f"{', '.join(ENDPOINTS)}")
    parser.add_argument("--args", default=None,
                        help="JSON object of keyword arguments for an endpoint not in the known list")
    parser.add_argument("--same", action="store_true", help="the same arguments on every call")
    parser.add_argument("--client", choices=["http", "gradio_client"], default="http",
                        help="http: a light client of the queue API (measures the server); gradio_client: the "
                             "official client (its own CPU cost dominates with many users on 2 cores)")
    parser.add_argument("--url", default=None, help="an already running app; default: start demos.app locally")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="SYNTHKIT_DEMO_CONCURRENCY for the server this script starts (default: the app's)")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="folder for load_test.md / load_test.json")
    parser.add_argument("--name", default="load_test", help="file name stem of the results")
    args = parser.parse_args(argv)
    if args.users < 1 or args.requests < 1:
        parser.error("--users and --requests must be >= 1")
    if args.endpoint in ("all", "mixed"):
        endpoints, mixed = list(MAIN_ENDPOINTS), args.endpoint == "mixed"
    elif args.endpoint in ENDPOINTS or args.args is not None:
        endpoints, mixed = [args.endpoint], False
    else:
        parser.error(f"unknown endpoint {args.endpoint!r}: pass its arguments with --args '{{...}}' "
                     f"(known: {', '.join(ENDPOINTS)})")
    result = run_once(args, endpoints, mixed, argv)
    report = markdown_report(result)
    print()
    print(report)
    out = Path(args.out)
    (out / f"{args.name}.md").write_text(report, encoding="utf-8")
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / (args.name + '.md')} and {out / (args.name + '.json')}")
    return 1 if result["n_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
