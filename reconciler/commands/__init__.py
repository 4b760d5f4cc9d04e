"""One module per command; each parses options, calls a use case, renders, returns a code.

A command's module is imported only when it runs (``cli.LazyGroup``): ``--help``, completion
and ``validate`` (the pre-commit hook) do not import the engine, the HTTP stack or asyncio.
"""

from __future__ import annotations

# name -> (module under reconciler.commands, the command's one-line summary for --help; a test
# holds each summary to the command's own docstring).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "init",
        "Start a spec repository here: reconciler.yaml, an example spec, the JSON Schemas "
        "their first lines point editors to, .gitignore entries.",
    ),
    "validate": (
        "validate",
        "Check reconciler.yaml and every spec, offline; report every problem with its place.",
    ),
    "plan": ("plan", "Show the start/stop actions that would make the providers match the specs."),
    "apply": ("apply", "Perform the plan's actions and record them in the lockfile."),
    "show": ("show", "What the lockfile records for each spec, beside the run's live status."),
    "logs": (
        "logs",
        "Print the log of the run the lockfile records for spec NAME, as its provider keeps "
        "it (Xplenty, Matatika; Runner and Vonage keep none a run can be asked for).",
    ),
    "watch": ("watch", "Reconcile continuously: plan and apply every interval, without asking."),
    "force-unlock": (
        "force_unlock",
        "Clear a stale state lock, by the ID its error message names.",
    ),
    "state": (
        "state",
        "Copy the state between the lockfile and PostgreSQL (state: backend: postgres).",
    ),
    "journal": (
        "journal",
        "Inspect or set aside the journal an interrupted apply left (reconciler.lock.journal).",
    ),
    "schema": (
        "schema",
        "Write the JSON Schemas of every file format (spec, config, lockfile, plan).",
    ),
    "sandbox": ("sandbox", "The embedded provider emulators."),
    "completion": ("completion", "Print the shell completion script for SHELL."),
}
