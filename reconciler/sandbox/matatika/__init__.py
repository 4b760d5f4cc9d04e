"""The Matatika emulator: its seed section, tables, routes and token grant."""

from __future__ import annotations

from reconciler.sandbox.matatika.routes import MatatikaEmulator

__all__ = ["MatatikaEmulator"]
