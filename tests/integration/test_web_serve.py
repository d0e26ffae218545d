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


def test_behind_a_tls_proxy_the_session_cookie_is_secure(tmp_path: Path) -> None:
    import httpx

    env = dict(os.environ, MCR_DATABASE_URL=f"sqlite:///{tmp_path / 'mcr.db'}", MCR_FLOWS_DIR=str(TEST_FLOWS),
               MCR_MAIL_DIR=str(tmp_path / "mail"), PREFECT_HOME=str(tmp_path / "prefect"), MCR_LOCALE="zh-CN")
    cli = [sys.executable, "-m", "engine.cli"]
    seeded = subprocess.run(cli + ["import", "org", str(ROOT / "tests" / "data" / "masterdata" / "org.csv")], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    added = subprocess.run(cli + ["user", "add", "E1", "--password-stdin"], input="a long password\n", env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    port = _free_port()
    proc = subprocess.Popen(cli + ["serve", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, headers={"X-Forwarded-Proto": "https"}) as client:
            while True:
                try:
                    page = client.get("/signin")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "mcr serve did not answer"
                    time.sleep(0.2)
            assert "Secure" in page.headers["set-cookie"]
            token = page.cookies["mcr_csrf"]  # a Secure cookie: the http client keeps it only if told
            res = client.post("/signin", data={"emp_no": "E1", "password": "a long password", "csrf_token": token},
                              headers={"Cookie": f"mcr_csrf={token}"}, follow_redirects=False)
            assert res.status_code == 303, res.text
            cookie = res.headers["set-cookie"]
            assert cookie.startswith("mcr_session=") and "Secure" in cookie and "HttpOnly" in cookie
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = dict(os.environ, MCR_DATABASE_URL=f"sqlite:///{tmp_path / 'mcr.db'}", MCR_FLOWS_DIR=str(TEST_FLOWS),
               MCR_MAIL_DIR=str(tmp_path / "mail"), PREFECT_HOME=str(tmp_path / "prefect"), MCR_LOCALE="zh-CN")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-2:] == [
        "mcr 已停止", f"错误: 网页无法监听 127.0.0.1:{port}：端口已被占用或无权使用；请用 --port 换一个端口"]
    assert "Traceback" not in res.stderr
