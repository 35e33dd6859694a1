"""``python -m ecgdigitize`` runs the command line."""

from .cli.main import cli

cli(prog_name="ecgdigitize")
