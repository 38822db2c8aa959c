"""Stage kinds: functions ``fn(ctx: StageContext) -> None`` registered by name.

```python
from parley.experiments import StageContext, register_stage_kind

@register_stage_kind("train", estimate=estimate_train_rollouts)
def train_stage(ctx: StageContext) -> None:
    ...  # read ctx.config / ctx.params / ctx.input_dir("prepare"); write into ctx.output_dir
```

A stage runs in its own process (``python -m parley.experiments.stage_main``), which imports the
built-in kinds (:data:`BUILTIN_KIND_MODULES`), the spec's ``plugins`` and, failing those, the module
the kind was registered from. The function must write the stage's declared outputs into
``ctx.output_dir``; the directory is kept across attempts (a training stage resumes from its own
checkpoints there) and never wiped by the runner. Long stages call ``ctx.should_stop()`` between units
of work (true after ``cancel`` or when the runner died) and ``ctx.progress(...)`` to report progress.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from parley.experiments.errors import SpecError
from parley.registry import Registry

Estimate = Callable[[BaseModel, Mapping[str, Any]], "int | None"]

# The built-in kinds and the module that registers each (imported before any spec is planned, and on
# first lookup of the kind). A new built-in kind is declared here.
BUILTIN_KINDS: dict[str, str] = {
    "prepare": "parley.experiments.kinds",
    "tiny_prepare": "parley.experiments.demo_kinds",
    "model_prepare": "parley.experiments.demo_kinds",
    "baseline": "parley.experiments.demo_kinds",
    "train": "parley.experiments.demo_kinds",
    "evaluate": "parley.experiments.demo_kinds",
    "demo_report": "parley.experiments.demo_report",
}
BUILTIN_KIND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(BUILTIN_KINDS.values()))


@dataclass(frozen=True)
class StageInput:
    """The outputs of one dependency: its stage id, base id, arm id (or None) and output directory."""

    stage_id: str
    base_id: str
    arm_id: str | None
    dir: Path


@dataclass
class StageContext:
    """What a stage function gets. ``config`` is the validated config of this stage (arm values and
    stage overrides applied); ``attempt`` counts from 1 and ``previous_attempts`` > 0 means the output
    directory may hold partial work from an earlier attempt (resume from it)."""

    experiment_id: str
    stage_id: str
    base_id: str
    kind: str
    arm_id: str | None
    arm_values: dict[str, Any]
    params: dict[str, Any]
    config: BaseModel
    config_data: dict[str, Any]
    config_hash: str
    output_dir: Path
    inputs: dict[str, StageInput]
    attempt: int
    previous_attempts: int
    logger: logging.Logger
    _should_stop: Callable[[], bool] = field(default=lambda: False, repr=False)
    _progress: Callable[[str, float | None], None] = field(default=lambda m, f: None, repr=False)

    def should_stop(self) -> bool:
        """True once the stage was cancelled or its runner died: save a checkpoint and return."""
        return self._should_stop()

    def progress(self, message: str, fraction: float | None = None) -> None:
        """Report progress (shown by ``parley experiment status --watch``)."""
        self._progress(message, fraction)

    def input_dir(self, base_id: str) -> Path:
        """The output directory of the single dependency with this (base) id."""
        found = [i for i in self.inputs.values() if i.base_id == base_id or i.stage_id == base_id]
        if len(found) != 1:
            raise KeyError(f"stage {self.stage_id}: {len(found)} inputs named {base_id!r}; "
                           f"use input_dirs({base_id!r}) for per-arm dependencies")
        return found[0].dir

    def input_dirs(self, base_id: str) -> dict[str, Path]:
        """Arm id (or the stage id when not per arm) -> output directory, for every input of ``base_id``."""
        return {i.arm_id or i.stage_id: i.dir for i in self.inputs.values() if i.base_id == base_id}


StageFn = Callable[[StageContext], None]


@dataclass(frozen=True)
class StageKind:
    """A registered kind: its function, an optional rollout estimate and where it was defined."""

    name: str
    fn: StageFn
    estimate: Estimate | None
    module: str
    file: str | None


KINDS: Registry[StageFn] = Registry(
    "stage kind", field="stages.kind", error=SpecError, builtins=BUILTIN_KINDS,
    hint="register one with @register_stage_kind or list its module in the spec's plugins")
"""Stage kinds by name; metadata ``estimate`` (rollouts the stage will generate, for ``--dry-run``)."""


def register_stage_kind(name: str, *, estimate: Estimate | None = None) -> Callable[[StageFn], StageFn]:
    """Decorator registering ``fn`` as stage kind ``name``.

    ``estimate(config, params)`` returns the rollouts the stage will generate (for ``--dry-run``).
    Re-registering the same function (a module imported twice) is allowed; another function is not.
    """
    return KINDS.register(name, estimate=estimate)


def get_stage_kind(name: str) -> StageKind:
    """The kind registered as ``name``; :class:`SpecError` listing the known kinds otherwise."""
    entry = KINDS.entry(name, field="")
    module = sys.modules.get(entry.module)
    return StageKind(entry.name, entry.obj, entry.meta("estimate"), entry.module, getattr(module, "__file__", None))


def known_stage_kinds() -> list[str]:
    """Registered kind names, sorted."""
    return KINDS.names()


def import_plugin(entry: str, module_name: str | None = None) -> None:
    """Import a module by name, or a ``.py`` file by path, so its kinds register themselves."""
    if entry.endswith(".py"):
        path = Path(entry)
        if not path.is_file():
            raise SpecError(f"plugins: {entry}: file not found")
        name = module_name or f"parley_experiment_plugin_{path.stem}"
        if name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise SpecError(f"plugins: {entry}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return
    try:
        importlib.import_module(entry)
    except ModuleNotFoundError as exc:
        if exc.name is not None and entry.startswith(exc.name):
            raise SpecError(f"plugins: module {entry!r} not found (is it installed or on PYTHONPATH?)") from exc
        raise


def load_kind_modules(plugins: list[str]) -> None:
    """Import the built-in kind modules and then the spec's plugins."""
    for entry in (*BUILTIN_KIND_MODULES, *plugins):
        import_plugin(entry)
