"""Benchmarks: each prints what it measured and writes JSON; none asserts a speed."""
