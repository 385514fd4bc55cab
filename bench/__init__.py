"""Benchmarks (not tests): each prints its figures and a ratio against a reference measured
in the same run. `make bench` runs them all."""
