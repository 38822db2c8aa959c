"""Problems and dataset loaders."""

from parley.data.errors import DatasetError
from parley.data.loaders import known_datasets, load_problems, select_subset
from parley.data.problem import Problem

__all__ = ["DatasetError", "Problem", "known_datasets", "load_problems", "select_subset"]
