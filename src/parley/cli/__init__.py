"""Thin Typer commands over parley's Python API: one module per command group."""
