"""The CPU thread count of a run comes from its spec, so the same spec gives the same numbers.

torch's sum-type reductions split their input into one chunk per intra-op thread and add the
partial sums in chunk order: `Tensor.sum` over a large tensor, and the weight/bias gradients of
LayerNorm (a sum over every row) among them (matmuls, softmax, embedding gradients are
unaffected). One thread and two threads therefore differ in the last bits from the first steps,
and training amplifies that into a different model. At a fixed thread count the chunks are
fixed and the result is bit-identical from run to run (tests/test_training_determinism.py).

Without pinning, the count depends on where the loop runs: an in-process run takes
OMP_NUM_THREADS or, when unset, every core of the machine; a Ray worker takes OMP_NUM_THREADS
when the driver's environment sets it, else floor(cpus_per_worker) (Ray sets it). So the loop
sets it from `resources.cpus_per_worker` (hashed into spec_hash) wherever it runs.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import torch


def spec_threads(experiment: Any) -> int | None:
    """floor(resources.cpus_per_worker), at least 1; None when the experiment has no resources."""
    resources = getattr(experiment, "resources", None)
    cpus = getattr(resources, "cpus_per_worker", None)
    return None if cpus is None else max(1, math.floor(cpus))


def pin_threads(experiment: Any) -> int:
    """Set torch's intra-op thread count to the spec's; returns the count now in use."""
    threads = spec_threads(experiment)
    if threads is None:
        return torch.get_num_threads()
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip() and env.strip() != str(threads):
        print(f"note: training with {threads} torch thread(s), resources.cpus_per_worker; OMP_NUM_THREADS={env} "
              "is not used (the thread count changes the numbers; change it in the spec)", file=sys.stderr)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
