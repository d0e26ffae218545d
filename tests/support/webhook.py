"""A real HTTP server on loopback that plays a WeCom / DingTalk group robot and records what it receives.

`script` is a list of answers for the next requests, in order ("ok", "500", "timeout", "400",
"errcode:310000", "hold"); once it is used up every request gets "ok". Every request is recorded
(path, query, parsed JSON body) — even one whose answer the client never waited for, because a
robot that got a post has posted the message to its group whatever happens to the answer.
A DingTalk secret makes the server check the `timestamp` / `sign` query parameters the way DingTalk
does and answer errcode 310000 when they are wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    query: dict[str, str]
    body: Any
    answer: str
    signature_ok: bool | None = None


@dataclass
class RecordingRobotServer:
    secret: str | None = None
    timeout_delay: float = 1.5
    script: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    got_request: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet tests
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    body = None
                with server.lock:
                    answer = server.script.pop(0) if server.script else "ok"
                    rec = Received(parts.path, query, body, answer, server._check_sign(query))
                    server.received.append(rec)
                server.got_request.set()
                if answer == "timeout":
                    time.sleep(server.timeout_delay)
                elif answer == "hold":
                    server.release.wait(30)
                if rec.signature_ok is False:
                    return self._json(200, {"errcode": 310000, "errmsg": "sign not match"})
                if answer in ("ok", "timeout", "hold"):
                    return self._json(200, {"errcode": 0, "errmsg": "ok"})
                if answer.startswith("errcode:"):
                    return self._json(200, {"errcode": int(answer.split(":")[1]), "errmsg": "refused by test robot"})
                return self._json(int(answer), {"errcode": -1, "errmsg": f"HTTP {answer} from test robot"})

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _check_sign(self, query: dict[str, str]) -> bool | None:
        if self.secret is None:
            return None
        ts, sign = query.get("timestamp"), query.get("sign")
        if not ts or not sign:
            return False
        digest = hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256).digest()
        # parse_qs has already URL-decoded `sign` once, as DingTalk's server does.
        return hmac.compare_digest(base64.b64encode(digest).decode(), sign)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/robot/send?access_token=test-token"

    def start(self) -> "RecordingRobotServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def bodies(self) -> list[Any]:
        with self.lock:
            return [r.body for r in self.received]
