"""Libraries of the speed benchmarks in tools/bench_*.py (the tools parse flags and print)."""
