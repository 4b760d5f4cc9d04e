"""Observe, plan (pure), apply."""
