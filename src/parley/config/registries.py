"""The registries that config validation consults: protocols and model backends.

A registry lives in the lowest layer that validates its names. ``protocol.name`` and
``model.backend`` are fields of this (the lowest) layer, so their registries live here, holding only
names and declared module paths of the built-ins; the units themselves register from their own
layers (``parley.debate.protocols``, ``parley.llm.factory``). Validation never imports those layers:
a built-in's name is known from its declaration, a plug-in's from its registration (which imported
the registry). See :mod:`parley.registry` and docs/architecture.md ("Units and registries").

Registries of units that only higher layers name live with their units: shaping strategies
(``parley.rewards.shaping``), reward verifiers (``parley.rewards.registry``), dataset loaders
(``parley.data.loaders``) and experiment stage kinds (``parley.experiments.registry``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from parley.registry import Registry

PROTOCOLS: Registry[Any] = Registry(
    "protocol", field="protocol.name",
    builtins={
        "svj": "parley.debate.protocols.svj",
        "mad": "parley.debate.protocols.mad",
        "single": "parley.debate.protocols.sampling",
        "self_consistency": "parley.debate.protocols.sampling",
    },
    hint="register one with @parley.debate.protocols.protocol(name, roles=...)",
)
"""Debate protocols: ``name -> async fn(ctx, cfg) -> Outcome`` with declared ``roles`` (typed view:
:data:`parley.debate.protocols.base.PROTOCOLS`)."""

BACKENDS: Registry[Any] = Registry(
    "model backend", field="model.backend",
    builtins={"hf": "parley.llm.factory", "litellm": "parley.llm.factory", "openai": "parley.llm.factory"},
    hint="register one with @parley.llm.register_backend(name)",
)
"""Model backends: ``name -> factory(config, *, model_path) -> ChatModel`` with declared
``token_ids`` (typed view: :data:`parley.llm.factory.BACKENDS`)."""



def known_name(registry: Registry[Any]) -> AfterValidator:
    """A pydantic validator accepting the names ``registry`` knows (built-in or registered so far).

    The error lists the known names; pydantic's location gives the field path
    (``config.yaml: protocol.name: unknown protocol 'x'; known: mad, self_consistency, single, svj``).
    """

    def check(name: str) -> str:
        if name not in registry:
            raise PydanticCustomError("unknown_name", "{message}", {"message": str(registry.unknown(name))})
        return name

    check.registry = registry  # type: ignore[attr-defined]  # lets docs generators list the known names
    return AfterValidator(check)


ProtocolName = Annotated[str, known_name(PROTOCOLS)]
"""A protocol name: a built-in or a registered plug-in (unknown names list the known ones)."""

BackendName = Annotated[str, known_name(BACKENDS)]
"""A model backend name: a built-in or a registered plug-in."""
