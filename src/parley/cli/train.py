"""``parley train CONFIG``: online multi-agent RL with per-role credit (resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parley.cli.common import SetOption, console


def train_cmd(
    config: Path = typer.Argument(None, help="YAML config with a train: section (defaults apply when omitted)."),
    overrides: list[str] = SetOption,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in output.dir from its last checkpoint."),
) -> None:
    """Train the debate agents with RL (GRPO/RLOO/REINFORCE++, PPO-clip, reward shaping).

    Example (embedded tiny model, identity shaping, 10 steps):

        parley train --set train.steps=10 --set output.dir=runs/rl-identity
    """
    from parley.config import load_config
    from parley.training.config import TrainRunConfig
    from parley.training.trainer import train

    cfg = load_config(config, overrides or [], model=TrainRunConfig)
    progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[status]}"), console=console)
    task = progress.add_task("train", total=cfg.train.steps, status="")

    def on_step(step: int, metrics: dict[str, Any]) -> None:
        parts = [f"{k.split('/')[-1] if k.startswith('eval') else k}={v:.3f}" for k, v in metrics.items()
                 if k in ("reward/mean", "time/step_s") or k.startswith("eval/accuracy")]
        progress.update(task, completed=step, status=" ".join(parts))

    with progress:
        result = train(cfg, resume=resume, progress=on_step)
    for protocol, by_step in result.eval_accuracy.items():
        steps = sorted(by_step)
        console.print(f"held-out accuracy ({protocol}): " + ", ".join(f"step {s}: {by_step[s]:.1%}" for s in steps))
    console.print(f"run: {result.run_dir}  metrics: {result.run_dir / 'metrics.jsonl'}  final models: "
                  + ", ".join(str(p) for p in result.final_models.values()))
