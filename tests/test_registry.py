"""The one registry mechanism (:mod:`parley.registry`) and the built-in declarations behind it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from parley.registry import DuplicateNameError, Registry, RegistryError, UnknownNameError


def widget_a() -> str:
    return "a"


def widget_b() -> str:
    return "b"


def test_register_lookup_and_metadata() -> None:
    reg: Registry[object] = Registry("widget", field="widget.name")
    reg.register("a", colour="red")(widget_a)
    entry = reg.entry("a")
    assert entry.obj is widget_a and entry.meta("colour") == "red" and entry.meta("size", 3) == 3
    assert entry.module == __name__ and entry.qualname == "widget_a"
    assert reg.names() == ["a"] and "a" in reg and "b" not in reg and len(reg) == 1


def test_unknown_name_names_the_field_and_the_known_names() -> None:
    reg: Registry[object] = Registry("widget", field="widget.name", hint="register one with @widget")
    reg.add("b", widget_b)
    reg.add("a", widget_a)
    with pytest.raises(UnknownNameError) as err:
        reg.get("c")
    assert str(err.value) == "widget.name: unknown widget 'c'; known: a, b (register one with @widget)"
    with pytest.raises(UnknownNameError, match=r"^stages\.0\.kind: unknown widget 'c'"):
        reg.get("c", field="stages.0.kind")


def test_custom_error_class() -> None:
    class WidgetError(ValueError):
        pass

    reg: Registry[object] = Registry("widget", field="widget.name", error=WidgetError)
    with pytest.raises(WidgetError, match="known: none"):
        reg.get("x")


def test_duplicates_are_refused_but_reimport_is_not() -> None:
    reg: Registry[object] = Registry("widget", field="widget.name")
    reg.add("a", widget_a)
    reg.add("a", widget_a)  # the same function again (a module imported twice): allowed
    with pytest.raises(DuplicateNameError, match=r"widget 'a' is already registered by tests\.test_registry\.widget_a"):
        reg.add("a", widget_b)
    assert reg.get("a") is widget_a
    with pytest.raises(RegistryError, match="non-empty string"):
        reg.add("", widget_b)


def test_builtin_names_are_known_without_import_and_cannot_be_shadowed() -> None:
    reg: Registry[object] = Registry("widget", field="widget.name", builtins={"json_widget": "json.decoder"})
    assert "json_widget" in reg and reg.names() == ["json_widget"]
    with pytest.raises(DuplicateNameError, match="is a built-in"):
        reg.add("json_widget", widget_a)
    # The declared module does not register it: a lookup says so instead of returning nothing.
    with pytest.raises(RegistryError, match="did not register it"):
        reg.get("json_widget")


def test_unregister() -> None:
    reg: Registry[object] = Registry("widget", field="widget.name")
    reg.add("a", widget_a)
    reg.unregister("a")
    assert "a" not in reg


def test_builtins_are_imported_on_first_lookup_only() -> None:
    # In a fresh interpreter: validating a config names no debate or llm module; looking the unit up
    # imports the declared module, which registers it.
    code = (
        "import sys\n"
        "from parley.config import load_config\n"
        "cfg = load_config(None, ['protocol.name=mad', 'model.backend=openai'])\n"
        "assert not [m for m in sys.modules if m.startswith(('parley.debate', 'parley.llm'))], sorted(sys.modules)\n"
        "from parley.config.registries import BACKENDS, PROTOCOLS\n"
        "fn = PROTOCOLS.get('mad')\n"
        "assert fn.__module__ == 'parley.debate.protocols.mad'\n"
        "assert BACKENDS.entry('hf').meta('token_ids') is True\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_declared_builtins_match_what_the_modules_register() -> None:
    from parley.config.registries import BACKENDS, PROTOCOLS

    for registry in (PROTOCOLS, BACKENDS):
        entries = registry.entries()  # imports every declared module
        builtin = {e.name: e.module for e in entries if e.name in registry.builtins}
        assert builtin == registry.builtins


def test_declared_stage_kinds_match_what_the_modules_register() -> None:
    from parley.experiments.registry import BUILTIN_KINDS, KINDS

    KINDS.load_builtins()
    assert {name: KINDS.entry(name).module for name in BUILTIN_KINDS} == BUILTIN_KINDS
