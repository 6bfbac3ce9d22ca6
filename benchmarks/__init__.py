"""npllm's benchmarks: `python -m benchmarks [--quick] [--profile] [--investigate] [--only NAME]`.

One `bench_*.py` module per hot path; each has `run(quick) -> list[Result]` (`common.Result`)
and times npllm against its baseline (tiktoken, torch, HF tokenizers, or npllm's own slow twin).
`__main__.py` runs them all and writes `results/latest.md` and `results/latest.json`.
Nothing here is imported by npllm itself.
"""
