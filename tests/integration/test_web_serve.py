"""`mcr serve` hosts the web app beside the scheduler and the mail sender: it prints the URL,
answers on loopback, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import ROOT, TEST_FLOWS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_answers_on_loopback_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ, MCR_DATABASE_URL=f"sqlite:///{tmp_path / 'mcr.db'}", MCR_FLOWS_DIR=str(TEST_FLOWS),
               MCR_MAIL_DIR=str(tmp_path / "mail"), PREFECT_HOME=str(tmp_path / "prefect"), MCR_LOCALE="zh-CN")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(base + "/api/me")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "mcr serve did not answer"
                time.sleep(0.2)
        assert status == 401 and json.loads(body)["error"] == "unauthenticated"
        assert _get(base + "/signin")[0] == 200
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert f"网页：http://127.0.0.1:{port}" in out
    assert "mcr 已停止" in out and "Traceback" not in out
