"""Every emulator the sandbox serves, registered once: the app mounts them, the seed file has a
section for each, faults are set per emulator, and each creates its own tables."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.matatika import MatatikaEmulator
from reconciler.sandbox.runner import RunnerEmulator
from reconciler.sandbox.vonage import VonageEmulator
from reconciler.sandbox.xplenty import XplentyEmulator

EMULATORS: tuple[type[Emulator[Any]], ...] = (
    XplentyEmulator,
    RunnerEmulator,
    VonageEmulator,
    MatatikaEmulator,
)
NAMES = tuple(e.name for e in EMULATORS)
