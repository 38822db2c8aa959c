"""A fake OpenAI-compatible provider with deterministic, scheduled faults.

Used by parley's tests and by the API-throughput benchmark. Nothing here is used in production
paths; it exists so retry, rate-limit, key-rotation and timeout behaviour can be tested exactly
against a real HTTP server on 127.0.0.1 instead of mocks.

Example::

    script = ServerScript(latency_s=0.01, faults=[Fault("rate_limit", first_n=1, retry_after_s=0.2)])
    with ScriptedServer(script) as server:
        ...  # point a client at server.base_url
        assert server.attempts_for("What is 6*7?") == 2
"""

from parley.llm.scripted_server.process import ScriptedServerProcess
from parley.llm.scripted_server.script import FAULT_KINDS, CallRecord, Fault, ServerScript, count_tokens
from parley.llm.scripted_server.server import ScriptedServer

__all__ = [
    "FAULT_KINDS",
    "CallRecord",
    "Fault",
    "ScriptedServer",
    "ScriptedServerProcess",
    "ServerScript",
    "count_tokens",
]
