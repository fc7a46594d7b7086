"""Shared fixtures for the tests that drive daybook with real clients.

These tests run the real `daybook` binary (``$DAYBOOK_BIN``, default
``target/debug/daybook``) in a temporary data directory on a free loopback
port, and talk to it with clients nobody on the daybook team wrote:
``aw-client`` (ActivityWatch), the official ``mcp`` Python SDK, and
headless Chromium through Selenium. `.ci/run` creates the virtualenv
(`target/ci-venv`) from `requirements.txt` and runs them with pytest.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("DAYBOOK_BIN", ROOT / "target" / "debug" / "daybook"))


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One `daybook run` process over its own data directory."""

    def __init__(self, data_dir: pathlib.Path, config: str = "", activitywatch: bool = False) -> None:
        self.data_dir = data_dir
        self.config_path = data_dir.parent / f"{data_dir.name}-config.toml"
        self.config_path.write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # ActivityWatch's own port (5600) is never used here: tests run in
        # parallel and a developer may run ActivityWatch. With
        # `activitywatch=True` the `/api/0`-only listener gets a free port
        # of its own (`aw_port`); otherwise it is off.
        self.aw_port = free_port() if activitywatch else None
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-daemon.log"

    def base_args(self) -> list[str]:
        return [str(BIN), "--data-dir", str(self.data_dir), "--config", str(self.config_path)]

    def start(self, timeout: float = 30.0) -> "Daemon":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.base_args()
            + ["run", "--listen", f"127.0.0.1:{self.port}"]
            + ["--activitywatch-listen", f"127.0.0.1:{self.aw_port}" if self.aw_port else "off"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daybook exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.get("/v1/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"daybook did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: no cleanup, as an OOM kill or a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=20)
        self.proc = None

    def request(self, method: str, path: str, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            ctype = resp.headers.get("Content-Type", "")
            return json.loads(raw) if "json" in ctype and raw else raw.decode()

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body):
        return self.request("POST", path, body)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs a daybook command over this data directory (and daemon)."""
        return subprocess.run(
            self.base_args() + list(args),
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


@pytest.fixture
def make_daemon(tmp_path):
    """A factory: `make_daemon(config="...")` starts a daemon; all are stopped at the end."""
    started: list[Daemon] = []

    def make(config: str = "", name: str = "data", start: bool = True, activitywatch: bool = False) -> Daemon:
        d = Daemon(tmp_path / name, config, activitywatch)
        started.append(d)
        return d.start() if start else d

    yield make
    for d in started:
        if d.proc is not None:
            d.stop()
