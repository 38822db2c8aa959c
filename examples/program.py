"""A small program to run in parley's sandbox: `parley sandbox run examples/program.py --timeout 5`.

It prints what the sandbox allows and forbids: it computes, but has no network and a private /tmp.
"""

import os
import socket

print("primes below 30:", [n for n in range(2, 30) if all(n % d for d in range(2, n))])
print("working directory:", os.getcwd())
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1)
    print("network: reachable")
except OSError as exc:
    print("network: unreachable (" + type(exc).__name__ + ")")
