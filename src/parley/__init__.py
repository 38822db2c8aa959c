"""parley: train and evaluate language models that work in teams."""

__version__ = "0.1.0"
