"""The CenturyLink Cloud Runner emulator: its seed section, tables and routes."""

from __future__ import annotations

from reconciler.sandbox.runner.routes import RunnerEmulator

__all__ = ["RunnerEmulator"]
