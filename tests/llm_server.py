"""A local HTTP server that speaks Ollama's `/api/chat` and the OpenAI chat API
(`/v1/chat/completions`), for tests and bench/classify_replies.py: a real protocol peer on
loopback for the LLM adapters in outreach/replies/llm.py.

    with LLMServer() as server:
        server.mode = "good"            # or invalid_json, schema_violation, slow, http_500
        server.answer = {"intent": "interested", "confidence": 0.9, "reason": "asks price"}
        OllamaJsonChat(server.url, "llama3.1:8b", 2.0)
        OpenAIJsonChat(server.url + "/v1", "local", 2.0)

`answer` may also be a callable taking the user message and returning the object. Each
request body is kept in `requests` (path, JSON) so tests can check what was sent (for
Ollama: `format` is the schema and `stream` is false; for OpenAI: `response_format` is a
json_schema). `slow` sleeps `delay_seconds` before answering.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = dict[str, Any] | Callable[[str], dict[str, Any]]


class LLMServer:
    """Ollama + OpenAI-compatible chat endpoints on 127.0.0.1, in a background thread."""

    def __init__(self) -> None:
        self.mode = "good"
        self.answer: Answer = {"intent": "unknown", "confidence": 0.5, "reason": "default"}
        self.delay_seconds = 3.0
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a "slow" handler must not hold up the test
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _content(self, user_message: str) -> str:
        if self.mode == "invalid_json":
            return "Sure! The intent is interested."
        if self.mode == "schema_violation":
            return json.dumps({"intent": "very_interested", "confidence": 2})
        answer = self.answer(user_message) if callable(self.answer) else self.answer
        return json.dumps(answer)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, delayed ACKs add
                # ~40 ms to every answer on loopback.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the "slow" mode's timeout)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.requests.append((self.path, body))
                if outer.mode == "slow":
                    time.sleep(outer.delay_seconds)
                if outer.mode == "http_500":
                    self._send(500, {"error": "model crashed"})
                    return
                messages = body.get("messages") or []
                user = next((m["content"] for m in reversed(messages)
                             if m.get("role") == "user"), "")
                content = outer._content(user)
                if self.path == "/api/chat":
                    if "format" not in body or body.get("stream") is not False:
                        self._send(400, {"error": "expected format and stream=false"})
                        return
                    self._send(200, {
                        "model": body.get("model", ""),
                        "created_at": datetime.now(UTC).isoformat(),
                        "message": {"role": "assistant", "content": content},
                        "done": True, "done_reason": "stop",
                        "total_duration": 1, "eval_count": 1,
                    })
                elif self.path == "/v1/chat/completions":
                    fmt = body.get("response_format") or {}
                    if fmt.get("type") != "json_schema" or "schema" not in fmt.get(
                            "json_schema", {}):
                        self._send(400, {"error": {"message": "expected json_schema"}})
                        return
                    self._send(200, {
                        "id": "chatcmpl-local", "object": "chat.completion",
                        "created": int(time.time()), "model": body.get("model", ""),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                  "total_tokens": 2},
                    })
                else:
                    self._send(404, {"error": f"no route {self.path}"})

        return Handler
