"""The decoding progress bar on stderr: sentences done, output tokens/s, ETA. Silent when stderr
is not a terminal (CI logs, Ray workers), like datagen's bar (runner/problems/progress.py)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def decode_progress(total: int, description: str = "decoding", enabled: bool | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yields `update(sentences, tokens)`: called after each batch with its sentence count and
    the number of tokens it produced."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda sentences, tokens: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    started, produced = time.perf_counter(), [0]
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("sentences"),
        TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    ) as progress:
        task = progress.add_task(description, total=total, rate="")

        def update(sentences: int, tokens: int) -> None:
            produced[0] += tokens
            rate = produced[0] / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=sentences, rate=f"{rate:,.0f} tokens/s")

        yield update
