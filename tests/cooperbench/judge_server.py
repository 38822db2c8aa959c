"""A tiny OpenAI chat-completions server on 127.0.0.1 returning scripted answers (for judge tests)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedJudge:
    """Answers summary requests with a fixed summary and judge requests from ``answers`` in order."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.requests: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    def reply(self, messages: list[dict[str, Any]]) -> str:
        with self.lock:
            self.requests.append(messages)
            if messages[-1]["content"].startswith("Summarise this part"):
                return "agent1 promised to edit add() in calc.py; agent2 asked about tests."
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@contextmanager
def serve(judge: ScriptedJudge) -> Iterator[str]:
    """Run the server in a thread; yields its base URL (``http://127.0.0.1:PORT/v1``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            text = judge.reply(body["messages"])
            payload = json.dumps(
                {
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "judge"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
