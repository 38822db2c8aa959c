"""Load a :class:`ParleyConfig` from YAML plus ``--set section.field=value`` overrides.

Every error names the field path (``protocol.name``), the problem, and the allowed values where
there is a closed set, so a typo in a 200-line sweep fails before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

import yaml
from pydantic import BaseModel, ValidationError

from parley.config.errors import ConfigError
from parley.config.models import ParleyConfig

M = TypeVar("M", bound=BaseModel)

# Sections that say where results go or how chatty we are, not what is computed: left out of the hash
# so that moving a run directory or turning on debug logs does not break resume.
_UNHASHED_SECTIONS = frozenset({"output", "logging", "tracking"})


def parse_overrides(overrides: Sequence[str]) -> list[tuple[list[str], Any]]:
    """Parse ``a.b.c=value`` strings; values are read as YAML scalars (``3`` -> int, ``true`` -> bool)."""
    parsed: list[tuple[list[str], Any]] = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.field=value (e.g. protocol.max_rounds=3)")
        key, raw = item.split("=", 1)
        path = [p for p in key.strip().split(".") if p]
        if not path:
            raise ConfigError(f"--set {item!r}: empty field path")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parsed.append((path, value))
    return parsed


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``--set`` override written at its dotted path."""
    out: dict[str, Any] = json.loads(json.dumps(data, default=str))
    for path, value in parse_overrides(overrides):
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                where = ".".join(path[: i + 1])
                raise ConfigError(f"--set {'.'.join(path)}: {where} is a value, not a section")
            node = child
        node[path[-1]] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; pass a YAML config file (e.g. examples/generate_svj_tiny.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    if data is None:
        raise ConfigError(f"{path}: the config file is empty; write at least one section (e.g. 'protocol:'), "
                          "or leave the file out to use the defaults")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for listing allowed field names)."""
    current: Any = root
    for part in loc:
        if typing.get_origin(current) in (list, tuple, set, frozenset) and typing.get_args(current):
            current = _unwrap(typing.get_args(current)[0])  # an item of a list field (stages.2.paramz)
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return current
            current = _unwrap(field.annotation)
        elif typing.get_origin(current) is dict:
            current = _unwrap(typing.get_args(current)[1])
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _unwrap(arg)
    return annotation


def format_validation_error(
    exc: ValidationError, root: type[BaseModel], source: str, overrides: Sequence[str] = ()
) -> str:
    """One line per problem: ``source: field.path: message (allowed: ...)``.

    A problem at (or under) a field that a ``--set`` override wrote is blamed on that override
    (``--set protocol.max_rounds=abc: ...``), not on the file.
    """
    blame = {tuple(path): item for item, (path, _value) in zip(overrides, parse_overrides(overrides), strict=True)}
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = ".".join(str(p) for p in loc) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            if owner is not None:
                msg = f"unknown field; allowed fields here: {', '.join(sorted(owner.model_fields))}"
            else:
                msg = "unknown field"
        elif err["type"] == "literal_error":
            msg = f"{msg} (got {err.get('input')!r})"
        where = source
        keys = tuple(str(p) for p in loc)
        for n in range(len(keys), 0, -1):
            if keys[:n] in blame:
                where = f"--set {blame[keys[:n]]}"
                break
        lines.append(f"{where}: {path}: {msg}")
    return "\n".join(lines)


def validate_section(
    model: type[M], data: Mapping[str, Any], source: str = "config", overrides: Sequence[str] = ()
) -> M:
    """Validate ``data`` as ``model``, turning pydantic's error into a :class:`ConfigError`."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model, source, overrides)) from None


@overload
def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> ParleyConfig: ...


@overload
def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), *, model: type[M]) -> M: ...


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    model: type[BaseModel] = ParleyConfig,
) -> BaseModel:
    """Load and validate a configuration.

    Args:
        path: YAML file; ``None`` starts from the defaults.
        overrides: ``section.field=value`` strings applied after the file.
        model: the config model to validate against (``ParleyConfig`` unless a command has its own).

    Raises:
        ConfigError: naming the file, the field path and the allowed values.
    """
    data = _read_yaml(Path(path)) if path is not None else {}
    data = apply_overrides(data, overrides)
    source = str(path) if path is not None else "config"
    return validate_section(model, data, source, overrides)


def config_hash(config: BaseModel) -> str:
    """Stable 16-hex-digit hash of everything that determines results (not output paths or logging)."""
    dumped = config.model_dump(mode="json", by_alias=False)
    relevant = {k: v for k, v in dumped.items() if k not in _UNHASHED_SECTIONS}
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def dump_yaml(config: BaseModel) -> str:
    """The resolved config as YAML (what ``parley config show`` prints)."""
    return yaml.safe_dump(config.model_dump(mode="json", by_alias=True), sort_keys=False)
