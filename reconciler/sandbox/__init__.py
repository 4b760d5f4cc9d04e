"""Faithful HTTP emulators of the provider APIs, for the quick start, tests and benchmarks."""
