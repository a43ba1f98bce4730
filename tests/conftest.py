"""Shared fixtures: offline environment, tiny real models built on the spot."""

from __future__ import annotations

import os
import tempfile

# Offline by default, before any Hugging Face library is imported by a test module.
_HF_HOME = tempfile.mkdtemp(prefix="openr1-test-hf-home-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HOME"] = _HF_HOME
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from tests.tiny_models import build_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A tiny randomly initialised Llama + BPE tokenizer with a ChatML template, saved to a folder."""
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-model")))


@pytest.fixture(scope="session")
def smollm2_dir() -> str:
    """The packaged SmolLM2-135M-Instruct converted to a plain folder (cached across sessions)."""
    from openr1_data.teachers.default_model import default_teacher_path

    return str(default_teacher_path())


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny-model training on one torch thread (more threads only add contention on 2 cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cluster():
    """A local multi-node Ray cluster, every node on 127.0.0.1 (the Ray test modules set
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before Ray is imported): a head without CPUs (only the driver and its queue
    run there) and two 1-CPU worker nodes; (cluster, workers). One per module: a test may remove a node."""
    import ray
    from ray.cluster_utils import Cluster

    local = dict(node_ip_address="127.0.0.1", include_dashboard=False, object_store_memory=80 * 2**20)
    cluster = Cluster(initialize_head=True, head_node_args={**local, "num_cpus": 0})
    workers = [cluster.add_node(num_cpus=1, **local) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    try:
        yield cluster, workers
    finally:
        ray.shutdown()
        cluster.shutdown()
