"""The `runner` command: argument parsing and printing only; the work happens in other rooms.

Every bad input surfaces as a SpecError: it is printed without a traceback and the exit
status is 2. Heavy imports (torch, ray, mlflow) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import sys

from runner.cli import catalog_commands, spec_commands
from runner.specs.errors import SpecError

# Each module adds its sub-commands to the parser; order here is the order in --help.
COMMAND_MODULES = [spec_commands, catalog_commands]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # also keeps --version on one line
        description="A declarative experiment catalog and sweep runner (problems, models, hparams, recipes).",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    _load_optional_commands(sub)
    return parser


def _version() -> str:
    """`runner X.Y.Z (catalog: FOLDER)`: which code and which shipped catalog answer."""
    import runner
    from runner.specs.catalog import builtin_root

    try:
        where = str(builtin_root())
    except SpecError as exc:
        where = str(exc)
    return f"runner {runner.__version__} (shipped catalog: {where})"


def _load_optional_commands(sub) -> None:
    """Commands whose modules import heavier rooms register themselves here, lazily at run time."""
    from runner.cli import registry_of_commands

    for module in registry_of_commands.modules():
        module.add_commands(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed: `runner run` records it in command.txt
    try:
        return int(args.handler(args) or 0)
    except SpecError as exc:
        _say(f"error: {exc}" if "\n" not in str(exc) else f"error:\n{exc}")
        return 2
    except OSError as exc:
        if exc.filename is None:
            raise
        # A path the user gave that the system refuses (too long a name, no permission, a file
        # where a folder must be): bad input, said in one line.
        _say(f"error: {exc.filename}: {exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _say(message: str) -> None:
    """Print to stderr; bytes that were not UTF-8 on the command line are shown escaped, not raised."""
    print(message.encode("utf-8", "backslashreplace").decode("utf-8"), file=sys.stderr)


def entrypoint() -> None:
    sys.exit(main())
