"""A WeChat-like load generator for the gateway (issue 8, benchmarks): `python -m bench.load`."""
