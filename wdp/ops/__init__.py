"""Operating WDP for real: local multi-process swarms, the demo, benchmarks and chaos runs."""
