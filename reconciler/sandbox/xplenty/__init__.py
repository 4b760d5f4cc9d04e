"""The Xplenty (Integrate.io) emulator: its seed section, tables and routes."""

from __future__ import annotations

from reconciler.sandbox.xplenty.routes import XplentyEmulator

__all__ = ["XplentyEmulator"]
