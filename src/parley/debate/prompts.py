"""Prompt templates as editable Jinja files.

The packaged templates live in ``parley/debate/prompts/*.jinja``; ``protocol.prompts_dir`` points at a
directory whose files of the same names override them (copy the packaged ones as a start:
``parley prompts export DIR`` is not needed: they are plain files in the installed package).

``protocol.prompts_dir`` may also name a packaged prompt set (:data:`PACKAGED_SETS`, directories under
``parley/debate/prompts/``): ``instruct`` is worded for small pretrained instruct models such as
SmolLM2 (see ``docs/smollm2.md``). A packaged name wins over a relative directory of the same name;
write ``./instruct`` for the directory.

``reask.jinja`` is the follow-up message of a structured re-ask (``protocol.reask``); it sees
``missing`` (the fields to ask for: ``answer``, ``verdict``, ``confidence``) and ``fields`` (all the
fields the role's reply needs).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

PACKAGED_SETS = ("instruct",)
"""Named prompt sets shipped in the package (``protocol.prompts_dir: instruct``)."""

TEMPLATE_NAMES = (
    "solver_system", "solver", "verifier_system", "verifier", "judge_system", "judge",
    "agent_system", "agent", "reask",
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
        named = str(override_dir) if override_dir is not None and str(override_dir) in PACKAGED_SETS else None
        for name in TEMPLATE_NAMES:
            text = (packaged / f"{name}.jinja").read_text(encoding="utf-8")
            origin = f"package:{name}.jinja"
            if named is not None:
                candidate_set = packaged / named / f"{name}.jinja"
                if candidate_set.is_file():
                    text = candidate_set.read_text(encoding="utf-8")
                    origin = f"package:{named}/{name}.jinja"
            elif override_dir is not None:
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
        if override_dir is not None and named is None and not Path(override_dir).is_dir():
            raise ValueError(f"protocol.prompts_dir: {override_dir} is not a directory nor a packaged prompt set "
                             f"({', '.join(PACKAGED_SETS)})")

    def template_text(self, name: str) -> str:
        """The source text of template ``name`` (packaged or overridden)."""
        return self._texts[name]

    def render(self, name: str, **values: Any) -> str:
        """Render template ``name``; a missing variable raises with the template's origin."""
        try:
            return self._templates[name].render(**values).strip()
        except jinja2.UndefinedError as exc:
            raise ValueError(f"prompt template {self.sources[name]}: {exc.message}") from None
