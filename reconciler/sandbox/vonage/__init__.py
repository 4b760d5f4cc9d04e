"""The Vonage Proactive Connect emulator: its seed section, table and routes."""

from __future__ import annotations

from reconciler.sandbox.vonage.routes import VonageEmulator

__all__ = ["VonageEmulator"]
