"""Suite-wide settings: offline hubs, no telemetry, deterministic tokenizers."""

from __future__ import annotations

import os

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "WANDB_MODE": "offline",
    "MLFLOW_ENABLE_TELEMETRY": "false",
}.items():
    os.environ.setdefault(_key, _value)
