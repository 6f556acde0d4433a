"""The list of CLI command modules beyond the spec commands (one line each).

Each module defines `add_commands(subparsers)`; argument parsing is cheap, and each handler
imports the heavy rooms (torch, ray, mlflow) only when it runs.
"""

import importlib

COMMAND_MODULES = [
    "runner.cli.train_commands",
    "runner.cli.use_commands",
    "runner.cli.tune_commands",
    "runner.cli.tracking_commands",
    "runner.cli.leaderboard_commands",
]


def modules():
    found = []
    for name in COMMAND_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found
