"""Benchmarks: speed and memory figures, kept out of the timed test suite."""
