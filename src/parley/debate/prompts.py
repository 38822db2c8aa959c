"""Prompt templates as editable Jinja files.

The packaged templates live in ``parley/debate/prompts/*.jinja``; ``protocol.prompts_dir`` points at a
directory whose files of the same names override them (copy the packaged ones as a start:
``parley prompts export DIR`` is not needed: they are plain files in the installed package).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_NAMES = (
    "solver_system", "solver", "verifier_system", "verifier", "judge_system", "judge",
    "agent_system", "agent",
)


class PromptSet:
    """Loaded templates; ``render(name, **values)`` fills one (undefined variables are errors)."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self._env = jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False,
            trim_blocks=True, lstrip_blocks=True,
        )
        self._templates: dict[str, jinja2.Template] = {}
        self._texts: dict[str, str] = {}
        self.sources: dict[str, str] = {}
        packaged = resources.files("parley.debate") / "prompts"
        for name in TEMPLATE_NAMES:
            text = (packaged / f"{name}.jinja").read_text(encoding="utf-8")
            origin = f"package:{name}.jinja"
            if override_dir is not None:
                candidate = Path(override_dir) / f"{name}.jinja"
                if candidate.exists():
                    text = candidate.read_text(encoding="utf-8")
                    origin = str(candidate)
            try:
                self._templates[name] = self._env.from_string(text)
            except jinja2.TemplateSyntaxError as exc:
                raise ValueError(f"prompt template {origin}: line {exc.lineno}: {exc.message}") from None
            self.sources[name] = origin
            self._texts[name] = text
        if override_dir is not None and not Path(override_dir).is_dir():
            raise ValueError(f"protocol.prompts_dir: {override_dir} is not a directory")

    def template_text(self, name: str) -> str:
        """The source text of template ``name`` (packaged or overridden)."""
        return self._texts[name]

    def render(self, name: str, **values: Any) -> str:
        """Render template ``name``; a missing variable raises with the template's origin."""
        try:
            return self._templates[name].render(**values).strip()
        except jinja2.UndefinedError as exc:
            raise ValueError(f"prompt template {self.sources[name]}: {exc.message}") from None
