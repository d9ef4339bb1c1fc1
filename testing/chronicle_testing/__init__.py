"""Test support shared by every package's tests (strategies, builders); never shipped."""
