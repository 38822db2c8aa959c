"""The root of parley's exceptions, and the branch the command line renders as a plain message.

Two kinds of failure look alike from the outside and must not be confused:

- **User errors** (:class:`UserError` and its subclasses): the input or the environment is wrong and
  the person running parley can fix it - a misspelt config field, a missing file, an endpoint that is
  down, a store written with another config. The message names the input, the problem and the fix;
  ``parley`` prints it on one line (no traceback) and exits with :attr:`UserError.exit_code` (2 for bad
  input, 1 where the input was fine but the work could not happen).
- **Everything else** - a plain ``ValueError``, ``KeyError``, ``AssertionError`` or a
  :class:`ParleyError` outside the user branch - is a bug in parley (or in a plug-in). The command line
  lets it propagate with its full traceback, so it is reported and fixed rather than mistaken for bad
  input.

Domain errors keep their historical builtin bases next to these (``ConfigError`` is still a
``ValueError``, ``LLMError`` a ``RuntimeError``), so ``except ValueError`` in user code keeps working.
This module imports nothing of parley: every layer may raise these.
"""

from __future__ import annotations

from typing import ClassVar


class ParleyError(Exception):
    """Root of every exception parley raises on purpose."""


class UserError(ParleyError):
    """Bad input or environment that the user can fix; the message names the input, the problem and the fix.

    The command line prints ``error: <message>`` without a traceback and exits with :attr:`exit_code`.
    """

    #: Process exit status when the command line renders this error (2: bad input).
    exit_code: ClassVar[int] = 2


class WorkFailedError(UserError):
    """The input was valid but the work did not happen (an endpoint down, every record unusable, ...).

    Rendered like any :class:`UserError`, with exit status 1.
    """

    exit_code: ClassVar[int] = 1


class InternalError(ParleyError):
    """parley reached a state its own code should have made impossible (a bug: shown with its traceback)."""


__all__ = ["InternalError", "ParleyError", "UserError", "WorkFailedError"]
