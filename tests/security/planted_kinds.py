"""A stage kind for the planted-key test: it logs and fails with a provider message quoting the key.

Imported by the experiment's stage processes through the spec's ``plugins``.
"""

from __future__ import annotations

import os

from parley.experiments import StageConfigError, StageContext, register_stage_kind


@register_stage_kind("provider_echo")
def provider_echo(ctx: StageContext) -> None:
    """Logs the environment's key the way a careless debug line would, then fails quoting it."""
    key = os.environ["PLANTED_PROVIDER_API_KEY"]
    ctx.logger.info("calling the provider with Authorization: Bearer %s", key)
    raise StageConfigError(f"provider refused the request: Incorrect API key provided: {key}")
