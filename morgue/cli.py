"""The ``morgue`` command line: a thin click layer over the crawler, extract and archive packages."""

from __future__ import annotations

import importlib
import sys

import click

from morgue import __version__
from morgue.errors import MorgueError

__all__ = ["cli", "main"]

# (module, attribute) of every sub-command; a module another issue adds is registered here.
COMMANDS = [
    ("morgue.commands.crawl_cmd", "crawl_command"),
    ("morgue.commands.crawl_cmd", "demo_command"),
    ("morgue.commands.search_cmd", "search_command"),
    ("morgue.commands.serve_cmd", "serve_command"),
    ("morgue.commands.extract_cmd", "extract_command"),
    ("morgue.commands.templates_cmd", "templates_command"),
    ("morgue.commands.archive_cmds", "show_command"),
    ("morgue.commands.archive_cmds", "cite_command"),
    ("morgue.commands.archive_cmds", "verify_command"),
    ("morgue.commands.archive_cmds", "reindex_command"),
    ("morgue.commands.archive_cmds", "export_command"),
    ("morgue.commands.archive_cmds", "import_command"),
    ("morgue.commands.archive_cmds", "versions_command"),
    ("morgue.commands.archive_cmds", "diff_command"),
    ("morgue.commands.archive_cmds", "timemap_command"),
    ("morgue.commands.schedule_cmd", "schedule_command"),
    ("morgue.commands.schedule_cmd", "run_due_command"),
    ("morgue.commands.cluster_cmds", "worker_command"),
    ("morgue.commands.cluster_cmds", "index_command"),
    ("morgue.commands.render_cmd", "render_command"),
    ("morgue.commands.follow_cmd", "follow_command"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="morgue")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """morgue: crawl news sites into WARC files, extract the articles, search and cite them."""
    ctx.obj = {"debug": debug}


for module_name, attribute in COMMANDS:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        continue
    cli.add_command(getattr(module, attribute))


def main() -> None:
    """Entry point: run the CLI; a MorgueError (or OSError) becomes one line on stderr and exit 1."""
    debug = "--debug" in sys.argv[1:]
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (MorgueError, OSError) as exc:
        if debug:
            raise
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        from archive.lock import LockedError

        if isinstance(exc, LockedError):
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        click.echo(f"Error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
