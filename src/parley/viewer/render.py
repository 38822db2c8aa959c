"""Streamlit building blocks shared by the pages: transcripts coloured by role, paging, charts.

Model output is untrusted: turn texts are shown with ``st.text`` (no Markdown, no HTML); only names
parley controls (roles, ids) go into Markdown, after :func:`safe_label`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import streamlit as st

from parley.viewer.model import DebateView

ROLE_COLOURS = {"solver": "blue", "verifier": "orange", "judge": "violet"}
_AGENT_COLOURS = ["green", "red", "gray", "blue", "orange", "violet"]


def safe_label(text: Any) -> str:
    """Letters, digits and ``_.,=:/#+-`` only (safe inside Markdown)."""
    return re.sub(r"[^A-Za-z0-9_.,=:/#+ -]", "_", str(text))


def role_colour(role: str) -> str:
    if role in ROLE_COLOURS:
        return ROLE_COLOURS[role]
    digits = role.rsplit("_", 1)[-1]
    return _AGENT_COLOURS[int(digits) % len(_AGENT_COLOURS)] if digits.isdigit() else "gray"


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.3f}" if value < 0 else f"{value:.3f}"
    return safe_label(value)


def debate(view: DebateView, *, key: str) -> None:
    """One debate: its header, then every turn in a bordered box headed by a role badge."""
    st.markdown(f"**{safe_label(view.problem_id)}** · outcome G = {fmt(view.outcome)} · final answer "
                f"`{safe_label(view.final_answer) if view.final_answer is not None else '–'}` · "
                f"{safe_label(view.termination or '')}"
                + ("" if view.kept is not False else " · *left out of the update*"))
    if view.question:
        st.caption("question")
        st.text(view.question)
    if view.counterfactuals:
        cf = ", ".join(f"{safe_label(kind)} {safe_label(k)}: {fmt(v)}" for kind, values in view.counterfactuals.items()
                       for k, v in (values.items() if isinstance(values, dict) else []))
        st.markdown(f"counterfactuals: {cf}")
    for turn in view.turns:
        with st.container(border=True):
            colour = role_colour(turn.role)
            bits = [f":{colour}-badge[{safe_label(turn.role)}]", f"turn {turn.index}"]
            if turn.answer is not None:
                bits.append(f"answer `{safe_label(turn.answer)}`")
            if turn.verdict is not None:
                bits.append(f"verdict **{safe_label(turn.verdict)}**")
            for name, value in (("local", turn.local), ("shaped", turn.shaped_reward), ("advantage", turn.advantage)):
                if value is not None:
                    bits.append(f"{name} {fmt(value)}")
            if turn.trained is False:
                bits.append("*not trained*")
            st.markdown(" · ".join(bits))
            st.text(turn.text)
            if turn.reask is not None:
                st.caption("structured re-ask (the reply lacked an expected field)")
                st.text(turn.reask)


def pager(total: int, *, key: str, per_page: int = 10) -> tuple[int, int]:
    """A page picker for ``total`` items; returns (offset, limit)."""
    pages = max(1, -(-total // per_page))
    page = 1
    if pages > 1:
        page = int(st.number_input(f"page (of {pages}; {total} items)", min_value=1, max_value=pages, value=1,
                                   key=key))
    return (page - 1) * per_page, per_page


def curve_chart(rows: Sequence[dict[str, Any]], *, title: str) -> None:
    """Lines of ``mean`` per ``series`` over ``step``, with a ``low``-``high`` band (seeds)."""
    spec = {
        "title": title,
        "data": {"values": list(rows)},
        "encoding": {"x": {"field": "step", "type": "quantitative"},
                     "color": {"field": "series", "type": "nominal"}},
        "layer": [
            {"mark": {"type": "area", "opacity": 0.2},
             "encoding": {"y": {"field": "low", "type": "quantitative"}, "y2": {"field": "high"}}},
            {"mark": {"type": "line", "point": True},
             "encoding": {"y": {"field": "mean", "type": "quantitative", "title": title}}},
        ],
    }
    st.vega_lite_chart(spec, width="stretch")
