"""Start and stop a Gradio app of this checkout as its own process on a free loopback port (benchmarks only).

    proc, url = start(["-m", "demos.app"], env={"SYNTHKIT_DEMO_CONCURRENCY": "4"}, log=Path("server.log"))
    ...
    stop(proc)

The server's stdout and stderr go to ``log`` (default: discarded); a pipe nobody reads would fill up and stall it.
``start`` returns once the page answers HTTP 200, and raises ``RuntimeError`` with the log's tail if the process
exits first or does not answer within ``timeout_s``.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict[str, str] | None = None, log: Path | None = None,
          timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """``python ARGS`` from the repository root with GRADIO_SERVER_NAME/PORT set; (process, URL) once it answers."""
    port = free_port()
    full_env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
                    GRADIO_ANALYTICS_ENABLED="False", **(env or {}))
    full_env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    log = log or Path(os.devnull)
    out = open(log, "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, env=full_env, stdout=out,
                            stderr=subprocess.STDOUT, text=True)
    proc.log_path = log  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`python {' '.join(args)}` exited with status {proc.returncode}:\n"
                               f"{Path(log).read_text(errors='replace')[-3000:] if log != Path(os.devnull) else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"`python {' '.join(args)}` did not answer on {url} within {timeout_s:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
