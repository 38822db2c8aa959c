"""One real local Ray cluster per test session (started on first use, stopped by pid at the end)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.experiments.conftest import REPO, problems_file  # noqa: F401 - shared fixture
from tests.ray_cluster import RayCluster, local_ray_cluster

# Loopback only, for this process's Ray driver too: Ray reads this when it is imported, and would otherwise
# turn 127.0.0.1 into the machine's external address in ray.init.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    pytest.importorskip("ray.job_submission", reason="the ray extra is not installed (pip install -e '.[ray]')")
    with local_ray_cluster(num_cpus=2) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _repo_on_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local stage processes import ``tests.experiments.kinds_for_tests`` by module name."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``cluster`` need a real cluster: skipped in CI, and unless PARLEY_CLUSTER_TESTS=1."""
    if item.get_closest_marker("cluster") is None:
        return
    if os.environ.get("CI"):
        pytest.skip("needs a real Kubernetes cluster; cluster tests are skipped in CI")
    if os.environ.get("PARLEY_CLUSTER_TESTS") != "1":
        pytest.skip("needs a real Kubernetes cluster; set PARLEY_CLUSTER_TESTS=1 (and KUBECONFIG) to run it")
