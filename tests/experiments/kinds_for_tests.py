"""Small real stage kinds for the experiment tests (imported by the tests and by stage processes).

Every kind that finishes appends one line to ``params.marker`` (when given), so a test can count how
many times a stage ran to completion independently of the database.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from parley.experiments import (
    StageConfigError,
    StageContext,
    StageStopped,
    TransientStageError,
    estimate_eval_rollouts,
    estimate_train_rollouts,
    register_stage_kind,
)


def _mark(ctx: StageContext) -> None:
    marker = ctx.params.get("marker")
    if marker:
        with Path(marker).open("a", encoding="utf-8") as fh:
            fh.write(f"{ctx.stage_id}\n")


@register_stage_kind("write_value", estimate=estimate_eval_rollouts)
def write_value(ctx: StageContext) -> None:
    """out.json: value = params.value + generation.seed + the values of the inputs named in params.sum."""
    total = int(ctx.params.get("value", 0)) + int(ctx.config_data["generation"]["seed"])
    for base in ctx.params.get("sum", []):
        for d in ctx.input_dirs(base).values():
            total += json.loads((d / "out.json").read_text())["value"]
    (ctx.output_dir / "out.json").write_text(json.dumps({"value": total, "config_hash": ctx.config_hash}))
    _mark(ctx)


@register_stage_kind("toy_train", estimate=estimate_train_rollouts)
def toy_train(ctx: StageContext) -> None:
    """Only planned in the tests (its configs have a train section)."""
    (ctx.output_dir / "out.json").write_text("{}")


@register_stage_kind("no_output")
def no_output(ctx: StageContext) -> None:
    """Returns without writing its declared output."""
    _mark(ctx)


@register_stage_kind("bad_config")
def bad_config(ctx: StageContext) -> None:
    """Always a configuration error."""
    raise StageConfigError(f"stage {ctx.stage_id}: params.mode {ctx.params.get('mode')!r} is not supported")


@register_stage_kind("flaky")
def flaky(ctx: StageContext) -> None:
    """Transient failure until attempt ``params.succeed_on``."""
    if ctx.attempt < int(ctx.params["succeed_on"]):
        raise TransientStageError(f"service unavailable on attempt {ctx.attempt}")
    (ctx.output_dir / "out.json").write_text(json.dumps({"value": ctx.attempt}))
    _mark(ctx)


@register_stage_kind("crash_once")
def crash_once(ctx: StageContext) -> None:
    """SIGKILLs itself mid-way on its first attempt (a partial file is left), succeeds afterwards."""
    (ctx.output_dir / "partial.txt").write_text("half")
    if ctx.attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    (ctx.output_dir / "out.json").write_text(json.dumps({"value": 1}))
    _mark(ctx)


@register_stage_kind("sleep_loop")
def sleep_loop(ctx: StageContext) -> None:
    """Writes ``started`` in its directory, then works in small steps checking should_stop.

    Stops after ``params.steps`` steps of ``params.step_s`` seconds; a stop request returns early
    without writing the output (as a checkpointing trainer would).
    """
    (ctx.output_dir / f"started.{ctx.attempt}").write_text(str(os.getpid()))
    steps = int(ctx.params.get("steps", 1000))
    for step in range(steps):
        if ctx.should_stop():
            ctx.logger.info("stop requested at step %d", step)
            return
        ctx.progress(f"step {step}", step / steps)
        time.sleep(float(ctx.params.get("step_s", 0.05)))
    (ctx.output_dir / "out.json").write_text(json.dumps({"value": steps}))
    _mark(ctx)


@register_stage_kind("rendezvous")
def rendezvous(ctx: StageContext) -> None:
    """Writes ``<params.dir>/<stage>.start``, waits (bounded) until ``params.peers`` stages have started,
    then writes out.json with its start and end times; fails when its peers never come (serial run)."""
    meet = Path(ctx.params["dir"])
    meet.mkdir(parents=True, exist_ok=True)
    start = time.time()
    (meet / f"{ctx.stage_id}.start").write_text(str(start))
    peers = int(ctx.params.get("peers", 1))
    deadline = time.monotonic() + float(ctx.params.get("wait_s", 60))
    while len(list(meet.glob("*.start"))) < peers:
        if time.monotonic() > deadline:
            raise StageConfigError(f"stage {ctx.stage_id}: only {len(list(meet.glob('*.start')))} of {peers} "
                                   "peers started (the stages did not run in parallel)")
        time.sleep(0.02)
    time.sleep(float(ctx.params.get("hold_s", 0)))
    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")}
    (ctx.output_dir / "out.json").write_text(json.dumps({"value": 1, "start": start, "end": time.time(),
                                                         "env": env}))
    _mark(ctx)


@register_stage_kind("interrupted_once")
def interrupted_once(ctx: StageContext) -> None:
    """First attempt: interrupted as a stopped trainer is (KeyboardInterrupt / StageStopped); then succeeds."""
    if ctx.attempt == 1:
        if ctx.params.get("how") == "keyboard":
            raise KeyboardInterrupt("stage interrupted")
        raise StageStopped("stopped after step 3")
    (ctx.output_dir / "out.json").write_text(json.dumps({"value": 1}))
