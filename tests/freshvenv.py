"""Fresh virtual environments outside the repository, for the artifact tests (wheel, Spaces).

A fresh venv here has its own interpreter, its own empty site-packages and its own pip; only the *third-party*
dependencies are shared with the test environment, read-only: a ``.pth`` file appends a folder of links to the test
venv's installed packages, leaving out synthkit itself (its dist-info, its editable finder) and pip. So

* ``import synthkit`` in the fresh venv finds only what was installed there (the wheel, or a Space folder's copy),
  never the checkout (the test asserts where it came from);
* ``pip install --no-index`` resolves the wheel's ``Requires-Dist`` (or a Space's pinned requirements.txt) against
  real installed distributions: a dependency missing from the metadata, or a pin that no installed version
  satisfies, fails exactly as on a new machine, without downloading torch and CUDA (gigabytes) for every test.

What this does not cover (checked by hand, see the session notes): the download of each pinned version from the
package index itself.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

_OWN = ("synthkit", "__editable__", "_synthkit", "demos", "pip", "__pycache__")


def shared_deps(folder: Path) -> Path:
    """A folder of symlinks to this environment's installed packages, synthkit and pip left out."""
    site = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir(parents=True, exist_ok=True)
    for entry in site.iterdir():
        low = entry.name.lower()
        if low.startswith(_OWN) or low.endswith(".pth"):
            continue
        link = folder / entry.name
        if not link.exists():
            link.symlink_to(entry, target_is_directory=entry.is_dir())
    return folder


def make_venv(path: Path, deps: Path) -> Path:
    """A new venv at ``path`` that sees ``deps`` (from ``shared_deps``) after its own site-packages; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_shared_test_deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    # Python 3.11's venv seeds an old setuptools (65) that would shadow the shared one (torch needs >= 77)
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "setuptools"], capture_output=True)
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for commands in a fresh venv: no PYTHONPATH (the checkout must not leak in), offline Hub."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update({"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode} in {cwd}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(cmd: list[str], cwd: Path, port: int, log: Path, timeout_s: float = 180, **env: str) -> subprocess.Popen:
    """Start a server process (output to ``log``) and wait until http://127.0.0.1:port/ answers 200."""
    out = log.open("w")
    proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            env=clean_env(**env))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode} before serving:\n"
                                 f"{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.5)
    stop(proc)
    raise AssertionError(f"{' '.join(map(str, cmd))} did not serve on port {port} in {timeout_s:.0f} s:\n"
                         f"{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
