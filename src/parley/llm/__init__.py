"""Model backends behind one async :class:`ChatModel` interface, built by name from a config.

Import-light: ``create_model``, ``register_backend`` and the types load no backend; ``hf`` (torch,
transformers), ``litellm`` and ``openai`` are imported when a model of that backend is built.
"""

from parley.llm.base import ChatModel
from parley.llm.factory import BACKENDS, BackendFactory, backend_entry, create_model, register_backend
from parley.llm.types import Completion, Message, SamplingParams, Usage

__all__ = [
    "BACKENDS",
    "BackendFactory",
    "ChatModel",
    "Completion",
    "Message",
    "SamplingParams",
    "Usage",
    "backend_entry",
    "create_model",
    "register_backend",
]
