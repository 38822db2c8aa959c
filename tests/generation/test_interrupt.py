"""Ctrl-C in ``parley generate`` (issue 12, point 6): one line saying what was saved, no tracebacks.

Before: the verifier workers shared the terminal's process group, so Ctrl-C printed a
``KeyboardInterrupt`` traceback from each of them, and the command ended without saying what was kept.
Now the workers run in their own process group, the finished debates are committed on the way out,
``interrupted: N of M debates saved in DIR; rerun the same command to resume`` is printed, the exit
status is 130, and the rerun completes with every (problem, sample) exactly once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from parley.llm.scripted_server import ScriptedServer, ServerScript
from tests.generation.support import (
    committed_keys_exactly_once,
    debate_reply,
    parley_command,
    remote_overrides,
    write_sums_dataset,
)

N_PROBLEMS = 40


def test_ctrl_c_saves_finished_debates_says_so_and_the_rerun_completes(tmp_path: Path) -> None:
    dataset = write_sums_dataset(tmp_path / "sums.jsonl", N_PROBLEMS)
    out_dir = tmp_path / "store"
    with ScriptedServer(ServerScript(latency_s=0.05, reply=debate_reply)) as server:
        args = ["generate", *remote_overrides(server.base_url, out_dir, **{
            "dataset.name": str(dataset), "generation.concurrency": 2, "generation.flush_every": 2,
            "generation.temperature": 0.0})]
        # Its own session, so the SIGINT below reaches the whole group, as Ctrl-C in a terminal does.
        proc = subprocess.Popen(parley_command(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, env=dict(os.environ))
        try:
            deadline = time.monotonic() + 180
            while not any(out_dir.glob("debates-*.parquet")):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no shard committed before exit/deadline:\n{proc.communicate()[0].decode()}")
                time.sleep(0.05)
            time.sleep(0.3)  # let the verifier workers boot, as they have in a real run
            os.killpg(proc.pid, signal.SIGINT)
            output = proc.communicate(timeout=120)[0].decode(errors="replace")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 130, output
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
        match = re.search(rf"interrupted: (\d+) of {N_PROBLEMS} debates saved in {re.escape(str(out_dir))}; "
                          r"rerun the same command to resume", output)
        assert match is not None, output
        saved = committed_keys_exactly_once(out_dir)
        assert int(match.group(1)) == len(saved) and 0 < len(saved) < N_PROBLEMS

        rerun = subprocess.run(parley_command(args), capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert sorted(committed_keys_exactly_once(out_dir)) == [(f"p{i:03d}", 0) for i in range(N_PROBLEMS)]
