"""Hub datasets through `datasets.load_dataset`, failing fast when the hub cannot be reached.

Left alone, `datasets` retries an unreachable hub for 20+ seconds before a generic error. A
one-shot TCP connect to the hub endpoint (a few seconds at most) tells first, and the error
says what to do instead. A local dataset folder (the hub layout on disk) and offline mode
(HF_DATASETS_OFFLINE=1 / HF_HUB_OFFLINE=1, which reads `datasets`' cache) skip the check.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

from runner.problems.local_or_hub import find_local
from runner.problems.text_spec import HubSource
from runner.specs.errors import SpecError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
UNREACHABLE_HINT = (
    "the dataset hub is unreachable; point the problem at local files with "
    "-o problem.source.path=DIR, or set HF_DATASETS_OFFLINE=1 to use a cached copy"
)

OFFLINE_HINT = (
    "offline mode (HF_DATASETS_OFFLINE / HF_HUB_OFFLINE) found no cached copy; point the problem "
    "at local files with -o problem.source.path=DIR"
)


def offline() -> bool:
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_reachable(endpoint: str, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Can a TCP connection to the hub (or to the HTTPS proxy in front of it) be opened?"""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_hub_dataset(hub: HubSource):
    """The DatasetDict of `hub.dataset` (a hub name or a local folder in hub layout)."""
    # `datasets` itself prefers a local folder of that name, so the check follows the same rule.
    local = find_local(hub.dataset)
    name = str(local) if local is not None else hub.dataset
    if local is None and not offline() and not hub_reachable(hub_endpoint()):
        raise SpecError(f"cannot load '{hub.dataset}': {UNREACHABLE_HINT}", field="problem.source.hub.dataset")

    import datasets

    try:
        return datasets.load_dataset(name, hub.config, revision=hub.revision)
    except Exception as exc:  # datasets raises many types (ConnectionError, FileNotFoundError, ValueError...)
        hint = ""
        if local is None and isinstance(exc, (ConnectionError, OSError)):
            hint = OFFLINE_HINT if offline() else UNREACHABLE_HINT
        raise SpecError(
            f"cannot load hub dataset '{hub.dataset}'"
            + (f" (config '{hub.config}')" if hub.config else "")
            + f": {type(exc).__name__}: {exc}" + (f"; {hint}" if hint else ""),
            field="problem.source.hub",
        ) from None


def hub_rows(dataset, batch_size: int = 10_000) -> Iterator[dict]:
    """Rows as dicts, read a batch at a time (Arrow -> Python in bulk is much faster per row)."""
    for batch in dataset.iter(batch_size=batch_size):
        columns = list(batch)
        for values in zip(*(batch[c] for c in columns)):
            yield dict(zip(columns, values))
