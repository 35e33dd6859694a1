"""Keep the documentation in step with the code.

Fast checks that need neither MkDocs nor a build: the command-line reference covers every
registered command and option, every option the docs and example scripts use exists, every
object the API page documents can be imported, and every picture is in place. When
mkdocs-click is installed, its generated reference is checked too.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import click
import pytest

from ecgdigitize.cli.main import COMMANDS, cli

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CLI_PAGE = DOCS / "cli.md"
MAX_IMAGE_BYTES = 1_500_000


def _command(name: str) -> click.Command:
    ctx = click.Context(cli, info_name="ecgdigitize")
    command = cli.get_command(ctx, name)
    assert command is not None, f"{name} is in COMMANDS but cannot be loaded"
    return command


def _option_names(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def _formatted_options(name: str, command: click.Command) -> str:
    """The options block of `ecgdigitize NAME --help`: what mkdocs-click's plain style shows."""
    parent = click.Context(cli, info_name="ecgdigitize")
    ctx = click.Context(command, info_name=name, parent=parent)
    formatter = ctx.make_formatter()
    command.format_options(ctx, formatter)
    return formatter.getvalue()


def _directive_options() -> dict[str, str]:
    text = CLI_PAGE.read_text(encoding="utf-8")
    block = re.search(r"^::: mkdocs-click\n((?:    :\w+: .*\n)+)", text, flags=re.MULTILINE)
    assert block is not None, "docs/cli.md has no '::: mkdocs-click' block"
    return dict(re.findall(r"^    :(\w+): (.*)$", block.group(1), flags=re.MULTILINE))


def test_cli_page_generates_the_reference_from_the_click_group() -> None:
    options = _directive_options()
    assert options["module"] == "ecgdigitize.cli.main"
    assert options["command"] == "cli"
    assert options["prog_name"] == "ecgdigitize"
    assert options["style"] == "plain"  # the table style prints click's UNSET defaults
    assert importlib.import_module(options["module"]).cli is cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_on_the_cli_page(name: str) -> None:
    text = CLI_PAGE.read_text(encoding="utf-8")
    assert f"[`ecgdigitize {name}`](#ecgdigitize-{name})" in text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_appears_in_the_generated_reference(name: str) -> None:
    command = _command(name)
    shown = _formatted_options(name, command)
    for param in command.params:
        if isinstance(param, click.Option):
            assert not param.hidden, f"{name} {param.opts[0]} is hidden from the reference"
            for opt in (*param.opts, *param.secondary_opts):
                assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", shown), (
                    f"{name} {opt} is missing from the generated reference"
                )


def test_mkdocs_click_renders_every_command_and_option() -> None:
    markdown = pytest.importorskip("markdown")
    pytest.importorskip("mkdocs_click")
    html = markdown.Markdown(extensions=["attr_list", "mkdocs-click"]).convert(
        CLI_PAGE.read_text(encoding="utf-8")
    )
    for name in COMMANDS:
        assert f'id="ecgdigitize-{name}"' in html
        for opt in _option_names(_command(name)):
            assert opt in html, f"{name} {opt} is missing from the rendered reference"


# Command lines in the docs and the example scripts: every option they use must exist.
_COMMAND_LINE = re.compile(r"\becgdigitize\s+(?:--debug\s+)?([a-z]+)\b([^`\n|;&)]*)")


def _documented_command_lines() -> list[tuple[str, str, str]]:
    files = sorted(DOCS.glob("*.md")) + sorted((REPO / "examples").glob("*.sh"))
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        for match in _COMMAND_LINE.finditer(text):
            if match.group(1) in COMMANDS:
                found.append((path.name, match.group(1), match.group(2)))
    return found


def test_docs_show_command_lines() -> None:
    used = {name for _, name, _ in _documented_command_lines()}
    assert used == set(COMMANDS)


@pytest.mark.parametrize("where, name, rest", _documented_command_lines())
def test_documented_options_exist(where: str, name: str, rest: str) -> None:
    try:
        tokens = shlex.split(rest)
    except ValueError:  # an unbalanced quote in prose
        tokens = rest.split()
    valid = _option_names(_command(name)) | {"--help", "-h"}
    for token in tokens:
        if token.startswith("--"):
            option = token.split("=", 1)[0]
            assert option in valid, f"{where}: `ecgdigitize {name} {option}` does not exist"


def _api_targets() -> list[str]:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    return re.findall(r"^::: ([\w.]+)$", text, flags=re.MULTILINE)


@pytest.mark.parametrize("target", _api_targets())
def test_api_page_objects_exist(target: str) -> None:
    module_name, _, attr = target.rpartition(".")
    try:
        module = importlib.import_module(target)
    except ImportError:
        module = importlib.import_module(module_name)
        assert hasattr(module, attr), f"docs/api.md documents {target}, which does not exist"
    else:
        assert module.__doc__


def test_api_page_covers_the_public_entry_points() -> None:
    targets = set(_api_targets())
    for name in (
        "ecgdigitize.pipeline.digitize",
        "ecgdigitize.pipeline.digitize_file",
        "ecgdigitize.digitization.Digitization",
        "ecgdigitize.digitization.Diagnostics",
        "ecgdigitize.config.DigitizeOptions",
        "ecgdigitize.config.RenderOptions",
        "ecgdigitize.config.Degradations",
        "ecgdigitize.config.get_layout",
        "ecgdigitize.render.render",
        "ecgdigitize.render.render_record",
        *(f"ecgdigitize.metrics.{m}" for m in ("snr", "snr_median", "ks", "asci", "wad")),
    ):
        assert name in targets


def test_nav_lists_every_page_and_only_existing_pages() -> None:
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config.split("\nnav:\n", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r":\s*([\w-]+\.md)\s*$", nav, flags=re.MULTILINE)
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert sorted(listed) == pages


def test_pictures_exist_are_used_and_small() -> None:
    used: set[str] = set()
    for page in DOCS.glob("*.md"):
        used.update(re.findall(r"\]\((img/[\w.-]+\.png)\)", page.read_text(encoding="utf-8")))
    present = {f"img/{p.name}" for p in (DOCS / "img").glob("*.png")}
    assert used - present == set(), "pages show pictures that docs/make_figures.py did not make"
    assert present - used == set(), "pictures in docs/img that no page shows"
    total = sum((DOCS / p).stat().st_size for p in present)
    assert total < MAX_IMAGE_BYTES
