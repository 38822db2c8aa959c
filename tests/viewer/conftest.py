"""Viewer fixtures: the shared real run directories (tests/run_outputs.py) and an AppTest factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import run_outputs

pytest.importorskip("streamlit", reason="the 'viewer' extra is not installed")


@pytest.fixture(scope="session")
def view_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_outputs.view_root(tmp_path_factory)


@pytest.fixture
def app(view_root: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``app(page, **widgets)``: the viewer run headlessly on ``view_root`` with that page selected."""
    from streamlit.testing.v1 import AppTest

    from parley.viewer import APP_PATH

    def open_page(page: str = "overview", root: Path | None = None, **env: str) -> Any:
        monkeypatch.setenv("PARLEY_VIEW_DIR", str(root or view_root))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        at = AppTest.from_file(str(APP_PATH), default_timeout=120)
        at.query_params["page"] = page
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


def texts(at: Any) -> str:
    """Every visible text, markdown, caption, header and dataframe cell of a rendered page, joined."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "info", "warning", "error", "code"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [e.value.to_csv() for e in [*at.dataframe, *at.table]]
    return "\n".join(parts)
