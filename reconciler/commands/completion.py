from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> int:
    """Print the shell completion script for SHELL.

    \b
    bash:  eval "$(reconciler completion bash)"   (in ~/.bashrc)
    zsh:   eval "$(reconciler completion zsh)"    (in ~/.zshrc)
    fish:  reconciler completion fish > ~/.config/fish/completions/reconciler.fish
    """
    group = ctx.find_root().command
    found = get_completion_class(shell)
    assert found is not None  # every SHELLS entry is one click knows
    script = found(group, {}, "reconciler", "_RECONCILER_COMPLETE").source()
    click.echo(script)
    return 0
