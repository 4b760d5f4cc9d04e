"""One module per command; each parses options, calls the workflow, renders, returns a code."""

from __future__ import annotations

from reconciler.commands.apply import apply
from reconciler.commands.completion import completion
from reconciler.commands.force_unlock import force_unlock
from reconciler.commands.init import init
from reconciler.commands.journal import journal
from reconciler.commands.plan import plan
from reconciler.commands.sandbox import sandbox
from reconciler.commands.schema import schema
from reconciler.commands.show import show
from reconciler.commands.state import state
from reconciler.commands.validate import validate
from reconciler.commands.watch import watch

COMMANDS = [
    init,
    validate,
    plan,
    apply,
    show,
    watch,
    force_unlock,
    journal,
    state,
    schema,
    sandbox,
    completion,
]
