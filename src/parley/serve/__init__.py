"""OpenAI-compatible chat-completions server over a local checkpoint (``parley serve``).

Python API: :func:`create_app` wraps any :class:`~parley.llm.base.ChatModel`; :func:`load_hf_app`
loads a checkpoint directory into :class:`~parley.llm.hf.HFChatModel` first; :func:`run_server`
blocks; :class:`BackgroundServer` serves from a thread (tests, notebooks).
"""

from parley.serve.app import DEFAULT_MAX_TOKENS, create_app
from parley.serve.server import BackgroundServer, load_hf_app, run_server

__all__ = ["DEFAULT_MAX_TOKENS", "BackgroundServer", "create_app", "load_hf_app", "run_server"]
