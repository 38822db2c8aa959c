"""One registry mechanism for every kind of pluggable unit (protocols, shaping strategies, reward
verifiers, dataset loaders, model backends, experiment stage kinds).

A :class:`Registry` maps names to units plus what each unit declares about itself (its metadata: the
roles of a protocol, the inputs of a shaping strategy, whether a backend returns token ids...). Units
register by decorator::

    PROTOCOLS: Registry[ProtocolFn] = Registry("protocol", field="protocol.name")

    @PROTOCOLS.register("svj", roles=svj_roles)
    async def svj(ctx, cfg): ...

Registering a second, different unit under a taken name is an error (re-registering the same
function, as happens when a module is imported twice, is not). Looking up an unknown name raises an
error that names the config field and lists the known names.

**Built-ins declared by module path.** A registry may declare its built-in units as
``{name: "module.that.registers.it"}``. Their names are known without importing anything, so a
config model in the lowest layer can validate ``protocol.name`` against the registry (built-ins and
every plug-in registered so far) without importing the debate layer; the declared module is imported
only when the unit itself is looked up (:meth:`Registry.get`), which in practice happens in the layer
that owns the unit and has already imported it. This module imports nothing of parley.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
F = TypeVar("F")


class RegistryError(ValueError):
    """A registration or a lookup in a :class:`Registry` failed."""


class UnknownNameError(RegistryError):
    """A name that no unit is registered under; the message lists the known names."""


class DuplicateNameError(RegistryError):
    """A second, different unit registered under a taken name."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered unit: its name, the object, where it was defined and what it declared."""

    name: str
    obj: T
    module: str
    qualname: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def meta(self, key: str, default: Any = None) -> Any:
        """One declared metadata value (``default`` when the unit did not declare it)."""
        return self.metadata.get(key, default)


def _where(obj: object) -> tuple[str, str]:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return str(module), str(qualname)


class Registry(Generic[T]):
    """Named units of one kind.

    Args:
        kind: what a unit is, for messages (``"protocol"``, ``"model backend"``).
        field: the config field path that names a unit (``"protocol.name"``), for messages.
        builtins: built-in names and the module that registers each (imported on first lookup).
        error: the exception class raised for an unknown name (a subclass of ``Exception`` taking one
            message); :class:`UnknownNameError` by default.
        hint: appended to unknown-name messages (how to add a unit of this kind).
    """

    def __init__(self, kind: str, *, field: str, builtins: Mapping[str, str] | None = None,
                 error: Callable[[str], Exception] = UnknownNameError, hint: str = "") -> None:
        self.kind = kind
        self.field = field
        self.builtins: dict[str, str] = dict(builtins or {})
        self._error = error
        self._hint = hint
        self._entries: dict[str, Entry[T]] = {}

    # -- registering ---------------------------------------------------------------------------------

    def add(self, name: str, obj: T, **metadata: Any) -> T:
        """Register ``obj`` under ``name`` with its declared ``metadata``; returns ``obj``.

        Raises:
            DuplicateNameError: ``name`` is taken by a different unit, or is a built-in declared in
                another module.
        """
        if not name or not isinstance(name, str):
            raise RegistryError(f"{self.kind}: a name must be a non-empty string, got {name!r}")
        module, qualname = _where(obj)
        old = self._entries.get(name)
        if old is not None and (old.module, old.qualname) != (module, qualname):
            raise DuplicateNameError(
                f"{self.kind} {name!r} is already registered by {old.module}.{old.qualname}; "
                f"pick another name for {module}.{qualname}")
        declared = self.builtins.get(name)
        if declared is not None and old is None and module != declared and not module.startswith(declared + "."):
            raise DuplicateNameError(
                f"{self.kind} {name!r} is a built-in (defined in {declared}); pick another name for "
                f"{module}.{qualname}")
        self._entries[name] = Entry(name, obj, module, qualname, dict(metadata))
        return obj

    def register(self, name: str, **metadata: Any) -> Callable[[F], F]:
        """Decorator form of :meth:`add`: ``@registry.register("name", key=value)``."""

        def decorate(obj: F) -> F:
            self.add(name, obj, **metadata)  # type: ignore[arg-type]
            return obj

        return decorate

    # -- looking up ----------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every known name, sorted: registered units and declared built-ins (nothing is imported)."""
        return sorted({*self._entries, *self.builtins})

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self.builtins

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def unknown(self, name: object, field: str | None = None) -> Exception:
        """The error for an unknown ``name`` (naming the field path when given) listing the known names."""
        where = f"{field}: " if field else ""
        hint = f" ({self._hint})" if self._hint else ""
        return self._error(f"{where}unknown {self.kind} {name!r}; known: {', '.join(self.names()) or 'none'}{hint}")

    def entry(self, name: str, field: str | None = None) -> Entry[T]:
        """The entry registered as ``name``, importing its declared built-in module if needed.

        Raises:
            the registry's error class (default :class:`UnknownNameError`): unknown name, naming
                ``field`` (default: the registry's field path) and listing the known names.
        """
        found = self._entries.get(name)
        if found is None and name in self.builtins:
            importlib.import_module(self.builtins[name])
            found = self._entries.get(name)
            if found is None:
                raise RegistryError(f"{self.kind} {name!r}: module {self.builtins[name]} was imported but did not "
                                    "register it (a bug in parley's built-in declarations)")
        if found is None:
            raise self.unknown(name, self.field if field is None else field)
        return found

    def get(self, name: str, field: str | None = None) -> T:
        """The unit registered as ``name`` (see :meth:`entry`)."""
        return self.entry(name, field).obj

    def entries(self) -> list[Entry[T]]:
        """Every entry, sorted by name, after importing the declared built-in modules."""
        self.load_builtins()
        return [self._entries[n] for n in sorted(self._entries)]

    def loaded(self, name: str) -> Entry[T] | None:
        """The entry for ``name`` if it is registered already (never imports anything)."""
        return self._entries.get(name)

    def load_builtins(self) -> None:
        """Import every declared built-in module (their units register themselves)."""
        for name, module in self.builtins.items():
            if name not in self._entries and module not in sys.modules:
                importlib.import_module(module)

    def unregister(self, name: str) -> None:
        """Remove a registered unit (for tests and interactive sessions; built-ins stay declared)."""
        self._entries.pop(name, None)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, field={self.field!r}, names={self.names()})"
