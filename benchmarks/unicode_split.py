"""What pinning the split patterns to tiktoken's Unicode costs on non-ASCII text: a dev script,
not one of the runner's `bench_*` modules.

    python -m benchmarks.unicode_split [--mb 1] [--repeat 7]

On ~1 MB of random Vietnamese, Russian and Chinese words (seeded), for gpt2, cl100k_base and
o200k_base, the split alone and a warm `encode_ordinary` (every piece already cached) with:

- native:   `regex.compile(pat_str)`, the installed `regex`'s own tables (not exact);
- pinned:   `compile_pinned(pat_str)`, what npllm ships: the native form when the text holds
            no disputed code point, else the corrected one (exact);
- always:   the corrected form on every text (`PinnedPattern.pinned`: set differences);
- explicit: every class spelled out as code point ranges (exact with any `regex`, no lookup);

and tiktoken's `encode_ordinary` beside them. Every form is checked to give tiktoken's IDs
first (except native, whose figure is reported either way). Medians of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import random

import regex

import npllm
from benchmarks.common import MB, timeit
from npllm.bpe.patterns import class_code_points, compile_pinned

ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")
_CLASS = regex.compile(r"\[(?:\\.|[^\]\\])*\]|\\[pP]\{\w+\}|\\[sS]")

VIETNAMESE = (
    "ba bà bá bả bã bạ ca cá cũng của đã đi đó được gì giờ hai hơn khi không là làm lại lên một người nhà "
    "nhiều những nói nước phải quá ra rất sẽ tôi trong từ và vì với việt yêu tiếng nam thành phố hồ chí minh"
).split()
RUSSIAN = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
CHINESE = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
SEPARATORS = [" ", " ", " ", ", ", ". ", "\n", " 123 ", "，", "。"]


def mixed_text(n_bytes: int, seed: int = 0) -> str:
    """Random words of three scripts, about `n_bytes` of UTF-8."""
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_bytes:
        script = rng.randrange(3)
        if script == 0:
            word = " ".join(rng.choices(VIETNAMESE, k=rng.randint(1, 3)))
        elif script == 1:
            word = "".join(rng.choices(RUSSIAN, k=rng.randint(2, 9)))
            word = word.capitalize() if rng.random() < 0.2 else word
        else:
            word = "".join(rng.choices(CHINESE, k=rng.randint(1, 4)))
        part = word + rng.choice(SEPARATORS)
        parts.append(part)
        size += len(part.encode("utf-8"))
    return "".join(parts)


def explicit(pat_str: str) -> regex.Pattern:
    """The pattern with every class spelled out as tiktoken's code point ranges."""

    def spell(match) -> str:
        members = class_code_points(match.group())
        runs, start = [], None
        for c in range(len(members) + 1):
            inside = c < len(members) and members[c] and not 0xD800 <= c < 0xE000
            if inside and start is None:
                start = c
            elif not inside and start is not None:
                runs.append((start, c - 1))
                start = None
        esc = lambda c: f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"  # noqa: E731
        return "[" + "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in runs) + "]"

    return regex.compile(_CLASS.sub(spell, pat_str))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.0, help="size of the text in MB (default 1)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per figure (default 7)")
    args = parser.parse_args(argv)
    text = mixed_text(int(args.mb * MB))
    mb = len(text.encode("utf-8")) / MB
    try:
        import tiktoken
    except ImportError:
        tiktoken = None
    print(f"{len(text):,} characters, {mb:.2f} MB; regex {regex.__version__}; ms per MB, medians of {args.repeat}")
    print("| encoding | step | native | pinned (shipped) | always corrected | explicit ranges | tiktoken |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name in ENCODINGS:
        enc = npllm.get_encoding(name)
        pinned = compile_pinned(enc.pat_str)
        forms = {
            "native": regex.compile(enc.pat_str),
            "pinned": pinned,
            "always": pinned.pinned,
            "explicit": explicit(enc.pat_str),
        }
        want = tiktoken.get_encoding(name).encode_ordinary(text) if tiktoken else None
        split, encode = {}, {}
        for form, pattern in forms.items():
            split[form] = timeit(lambda p=pattern: p.findall(text), repeat=args.repeat)["median"]
            enc._pattern = pattern  # dev only: time the Encoding with this form of its pattern
            ids = enc.encode_ordinary(text)  # warms the piece cache
            if want is not None and form != "native" and ids != want:
                raise SystemExit(f"{name}: the {form} form does not give tiktoken's IDs")
            encode[form] = timeit(lambda: enc.encode_ordinary(text), repeat=args.repeat)["median"]
        enc._pattern = pinned
        theirs = (
            timeit(lambda: tiktoken.get_encoding(name).encode_ordinary(text), repeat=args.repeat)["median"]
            if tiktoken
            else None
        )
        for step, figures in (("split", split), ("encode (warm)", encode)):
            cells = [f"{1000 * figures[f] / mb:.0f}" for f in forms]
            their_cell = f"{1000 * theirs / mb:.0f}" if theirs is not None and step != "split" else ""
            print(f"| {name} | {step} | " + " | ".join(cells) + f" | {their_cell} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
