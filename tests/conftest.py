"""Shared fixtures. Each one starts only what a test asks for, and stops only what it started.

Ray and MLflow fixtures (used by tests/test_launch_*.py and tests/test_tracking_*.py):
  ray_local        one local Ray for the whole test session (`ray.init(address="local")`, 2 CPUs),
                   shut down at the end. Never `ray stop`: that would kill every Ray on the machine.
  mlflow_server    a real `mlflow server` on 127.0.0.1 and a free port, for the session.
  tiny_overrides   `-o` overrides that shrink catalog/recipes/reverse_transformer_cpu.yaml to seconds of CPU.
  runner_data_dir  one datagen cache for the session.
Helpers: free_port(), kill_session(sid) (SIGKILL every process of a session this test started).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

# Tests run tiny models in several processes at once (Ray workers, subprocess runs). One OpenMP
# thread per process keeps them from oversubscribing the cores, which slows torch many times over.
# Set before anything imports torch; child processes inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# The tiny experiment the Ray tests train: reversing binary strings of length <= 8 with a
# one-layer, 32-wide Transformer; a step is a few milliseconds of CPU.
TINY_RECIPE = "reverse_transformer_cpu"
TINY_OVERRIDES = [
    "problem.train_size=200", "problem.eval_size=40", "problem.test_size=40",
    "problem.train_length=8", "problem.eval_length=8",
    "hparams.hidden_size=32", "hparams.filter_size=64", "hparams.num_heads=2",
    "hparams.num_encoder_layers=1", "hparams.num_decoder_layers=1", "hparams.batch_size=128",
    "train.eval_steps=1", "decode.max_examples=10",
]


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    return list(TINY_OVERRIDES)


@pytest.fixture(scope="session")
def runner_data_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("runner-data"))


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray started by this test process (2 CPUs: room for a 2-worker run), shut down at the end."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=True, logging_level=logging.ERROR)
    try:
        yield ray
    finally:
        ray.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_session(sid: int) -> None:
    """SIGKILL every live process whose session id is `sid` (a session this test started with setsid)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields after the command: state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] != "Z":
            try:
                os.kill(int(entry), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server (sqlite backend, proxied artifacts) on a free local port."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--artifacts-destination", str(root / "artifacts")],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start; see {root / 'server.log'}")
            time.sleep(0.5)
        yield uri
    finally:
        kill_session(proc.pid)
        proc.wait(timeout=30)
        log.close()
