"""Tools for testing WDP for real: local multi-process swarms."""
