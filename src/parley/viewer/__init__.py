"""The parley viewer: a Streamlit app over runs and experiments (``parley view [DIR]``).

Pages: Overview, Learning curves, Step browser, Comparison, Generation stores, CooperBench. Sources:
local directories (default), MLflow tracking URIs and W&B projects. Data access lives in
:mod:`parley.viewer.catalog`, :mod:`parley.viewer.local` and :mod:`parley.viewer.remote` (no Streamlit);
:func:`parley.viewer.server.serve` starts the app. Needs the ``viewer`` extra.
"""

from parley.viewer.server import APP_PATH, ViewerError, serve

__all__ = ["APP_PATH", "ViewerError", "serve"]
