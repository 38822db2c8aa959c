"""OpenAI-compatible chat-completions server over a local checkpoint (``parley serve``).

Python API: :func:`create_app` wraps any :class:`~parley.llm.base.ChatModel`; :func:`load_hf_app`
loads ``tiny`` or a checkpoint directory (:func:`resolve_served_model` says which, and its served id)
into :class:`~parley.llm.hf.HFChatModel` first; :func:`bind_socket` takes the port early and
:func:`run_server` blocks on it; :class:`BackgroundServer` serves from a thread (tests, notebooks).
:class:`ServeLimits` bounds the load it admits.
"""

from parley.serve.app import DEFAULT_MAX_TOKENS, create_app
from parley.serve.limits import ServeLimits
from parley.serve.models import ServedModel, resolve_served_model
from parley.serve.server import BackgroundServer, PortInUseError, bind_socket, load_hf_app, run_server

__all__ = [
    "DEFAULT_MAX_TOKENS", "BackgroundServer", "PortInUseError", "ServeLimits", "ServedModel", "bind_socket",
    "create_app", "load_hf_app", "resolve_served_model", "run_server",
]
