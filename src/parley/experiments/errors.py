"""Errors of the experiment layer, and how the runner treats each one.

Retry policy (the runner reads the class of the error a stage raised):

- transient, retried with capped exponential backoff and jitter: :class:`TransientStageError`,
  :class:`TimeoutError` and :class:`ConnectionError` (both ``OSError`` subclasses: a slow or
  unreachable service), and a stage process that died without reporting an error (killed by a signal,
  ``os._exit``, out of memory): the work may well succeed on the next attempt.
- permanent, never retried: everything else, in particular :class:`StageConfigError`,
  :class:`StageDataError`, :class:`parley.config.ConfigError`, :class:`parley.data.DatasetError`,
  pydantic validation errors, other ``OSError`` (a missing file is a data error, not bad luck) and an
  output that is missing or fails its check after the stage returned (:class:`OutputCheckError`).
"""

from __future__ import annotations

from parley.config.errors import ConfigError


class ExperimentError(RuntimeError):
    """An experiment cannot be run, resumed or found as asked; the message says why and what to do."""


class SpecError(ConfigError):
    """An experiment spec is invalid; the message names the spec file, the field path and the fix."""


class TransientStageError(RuntimeError):
    """Raise from a stage for a failure worth retrying (a flaky service, a preempted worker)."""


class StageConfigError(ValueError):
    """Raise from a stage when its params or config cannot work; never retried."""


class StageDataError(ValueError):
    """Raise from a stage when its input data is missing or malformed; never retried."""


class StageStopped(Exception):
    """Raise from a stage that returns early because ``ctx.should_stop()`` became true (cancel, or the
    runner died): the attempt is recorded as ``stopped`` (its outputs are not trusted; a cancelled stage
    stays cancelled, a stage whose runner died is resumed), never as a crash."""


class OutputCheckError(RuntimeError):
    """A stage's declared output is missing or fails its check; the stage is failed, not complete."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TransientStageError, TimeoutError, ConnectionError)


def is_transient(exc: BaseException) -> bool:
    """Whether the runner retries a stage that raised ``exc`` (see the module docstring)."""
    return isinstance(exc, TRANSIENT_ERRORS)
