"""The parley viewer (``parley view [DIR]``): a Streamlit app over runs, experiments and stores.

Run by ``streamlit run``; the directory comes from ``PARLEY_VIEW_DIR`` (set by ``parley view``) and can
be changed in the sidebar, as can the source (local directory, MLflow tracking URI, W&B project). The
page is chosen in the sidebar or with ``?page=<slug>`` in the URL (``overview``, ``curves``, ``steps``,
``comparison``, ``generation``, ``cooperbench``).
"""

from __future__ import annotations

import streamlit as st

from parley.viewer import pages_outputs, pages_runs
from parley.viewer.sources import (
    LocalRuns,
    RunSource,
    SourceError,
    default_dir,
    default_mlflow_uri,
    mlflow_source,
    wandb_source,
)

PAGES = {"overview": "Overview", "curves": "Learning curves", "steps": "Step browser", "comparison": "Comparison",
         "generation": "Generation stores", "cooperbench": "CooperBench"}
SOURCES = ("Local directory", "MLflow", "W&B")
LOCAL_ONLY = {"comparison", "generation", "cooperbench"}


def _source(kind: str, root: str) -> RunSource:
    if kind == "MLflow":
        uri = st.sidebar.text_input("MLflow tracking URI", value=default_mlflow_uri(root), key="mlflow_uri")
        return mlflow_source(uri)
    if kind == "W&B":
        project = st.sidebar.text_input("W&B project", value="parley", key="wandb_project")
        entity = st.sidebar.text_input("W&B entity (blank: default)", value="", key="wandb_entity")
        return wandb_source(project, entity or None)
    return LocalRuns(root)


def main() -> None:
    st.set_page_config(page_title="parley viewer", layout="wide")
    st.sidebar.title("parley viewer")
    slugs = list(PAGES)
    asked = st.query_params.get("page", "overview")
    page = st.sidebar.radio("page", slugs, index=slugs.index(asked) if asked in slugs else 0,
                            format_func=PAGES.__getitem__, key="page")
    st.query_params["page"] = page
    kind = st.sidebar.radio("source", SOURCES, key="source")
    root = st.sidebar.text_input("directory", value=default_dir(), key="root")
    try:
        source = _source(kind, root)
    except SourceError as exc:
        st.header(PAGES[page])
        st.error(f"The {kind} source cannot be reached: {exc}")
        return
    if page in LOCAL_ONLY:
        if kind != "Local directory":
            st.header(PAGES[page])
            st.info(f"{PAGES[page]} reads local directories (evaluation results, stores, analyses); choose "
                    "'Local directory' as the source.")
            return
        {"comparison": pages_outputs.comparison, "generation": pages_outputs.generation_stores,
         "cooperbench": pages_outputs.cooperbench}[page](root)
        return
    try:
        {"overview": pages_runs.overview, "curves": pages_runs.curves, "steps": pages_runs.step_browser}[page](source)
    except SourceError as exc:
        st.error(str(exc))


main()
