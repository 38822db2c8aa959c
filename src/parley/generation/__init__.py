"""Batch generation over datasets with bounded concurrency, incremental persistence and resume."""

from parley.generation.agents import build_agents, resolve_model_path
from parley.generation.job import GenerationInterrupted, GenerationResult, run_generation
from parley.generation.runner import generate
from parley.generation.summary import GenerationStats

__all__ = ["GenerationInterrupted", "GenerationResult", "GenerationStats", "build_agents", "generate",
           "resolve_model_path", "run_generation"]
