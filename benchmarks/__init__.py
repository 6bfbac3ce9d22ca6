"""npllm's benchmarks: `python -m benchmarks [--quick] [--profile] [--only NAME]`.

One `bench_*.py` module per hot path; each has `run(quick, profile) -> list[Result]`
(`common.Result`) and times npllm against its baseline (tiktoken, or npllm's own slow twin).
`__main__.py` runs them all and writes `results/latest.md` and `results/latest.json`.
Nothing here is imported by npllm itself.
"""
