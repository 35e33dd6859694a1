"""The ``ecgdigitize`` command group.

Subcommands live in their own modules and are imported only when invoked, so
``ecgdigitize --help`` starts quickly. Library errors
(:class:`~ecgdigitize.errors.EcgDigitizeError`, missing files, refused overwrites) become one
clear line on stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from .._version import __version__

# name -> (module, attribute, one-line help). A command is listed only once it works.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "extract": (
        "ecgdigitize.cli.extract",
        "extract",
        "Digitize a scanned ECG sheet into a record.",
    ),
    "render": ("ecgdigitize.cli.render", "render", "Draw a paper ECG sheet from a WFDB record."),
    "score": ("ecgdigitize.cli.score", "score", "Score digitized records against references."),
    "classify": ("ecgdigitize.cli.classify", "classify", "Diagnostic superclass probabilities."),
    "batch": ("ecgdigitize.cli.batch", "batch", "Digitize every scan in a folder tree."),
}


class UsageError(click.ClickException):
    """A ClickException that exits with status 2, like click's own usage errors."""

    exit_code = 2


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the short help recorded above, so --help does not import every command.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import EcgDigitizeError

        try:
            return super().invoke(ctx)
        except (EcgDigitizeError, FileExistsError, FileNotFoundError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise UsageError(str(exc)) from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ecgdigitize")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Digitize paper 12-lead ECGs, score digitizations and classify ECG signals.

    Run `ecgdigitize COMMAND --help` for the options of each command.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main() -> None:  # pragma: no cover - exercised through the console script
    cli(prog_name="ecgdigitize")


if __name__ == "__main__":  # pragma: no cover
    main()
