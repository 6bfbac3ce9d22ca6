"""The `npllm` command: the parser, one subcommand per step of the course, and the promise
that every failure is one line. What each subcommand does is in `commands.py`.

Data goes to stdout, progress and errors to stderr. A bad file, number or argument (argparse's
usage errors too) is one `npllm: error:` line on stderr and exit code 1, never a traceback;
files are checked before any work, an output is written whole or not at all (Ctrl-C and
SIGTERM too leave nothing behind), and no output may be one of the command's inputs.
Warnings (`npllm: warning:`, one line each) are printed once the command has succeeded.

Every way of reading a file keeps every byte: a file, stdin, `encode-file` and `train-bpe`
give the same IDs for the same bytes, as tiktoken does for `open(f, newline="").read()`.
"\\r\\n" stays "\\r\\n", and a UTF-8 byte order mark is the character U+FEFF, kept as text
(tiktoken encodes it too); nothing is stripped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings

import npllm
from npllm import data
from npllm.bpe import list_encoding_names
from npllm.bpe.encoding import DisallowedSpecialToken
from npllm.bpe.patterns import PATTERNS_BY_NAME
from npllm.commands import (
    CLIError,
    one_line,
    run_batches,
    run_data,
    run_decode,
    run_demo,
    run_encode,
    run_encode_file,
    run_show,
    run_train_bpe,
    run_words,
)

TERMINATED_EXIT = 128 + signal.SIGTERM  # the shell's code for "ended by SIGTERM": 143
COMMANDS = ("demo", "words", "encode", "decode", "show", "train-bpe", "encode-file", "batches", "data")


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so that every
    write in progress is undone (temporary files removed) before the process ends."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a CLIError: one line and exit code 1, like every other
    error (argparse prints the usage and exits 2)."""

    def error(self, message: str):
        raise CLIError(f"{message} (see {self.prog} --help)")


def main(argv: list[str] | None = None) -> int:
    with _sigterm_raises():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    with warnings.catch_warnings(record=True) as caught:  # shown on success only: a failure is one line
        warnings.simplefilter("always")
        try:
            args = parser.parse_args(argv)
            if not hasattr(args, "run"):  # a failure like any other: one line (the full help: --help)
                raise CLIError(f"give a command: {', '.join(COMMANDS)} (see npllm --help)")
            args.run(args)
        except BrokenPipeError:  # `npllm ... | head`: the reader left, nothing to report
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            return 0
        except KeyboardInterrupt:
            print("npllm: interrupted", file=sys.stderr)
            return 130
        except Terminated:
            print("npllm: terminated", file=sys.stderr)
            return TERMINATED_EXIT
        except DisallowedSpecialToken as e:
            print(
                f"npllm: error: the text holds the special token {e.token!r} (character {e.position:,}); "
                f"use --special allow to encode it as that token, or --special ordinary to encode it as text",
                file=sys.stderr,
            )
            return 1
        except (
            CLIError,
            data.DataFileError,
            OSError,
            UnicodeError,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
            OverflowError,
            MemoryError,
        ) as e:
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            if isinstance(e, MemoryError):
                message = "out of memory; give a smaller size or a smaller file"
            print(f"npllm: error: {one_line(message)}", file=sys.stderr)
            return 1
    for warning in caught:
        print(f"npllm: warning: {one_line(warning.message)}", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _sigterm_raises():
    """While the command runs, SIGTERM raises `Terminated` (in the main thread only: Python
    delivers signals there); the previous handler comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="npllm",
        description="The input side of a GPT-style language model in plain NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"npllm {npllm.__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the course's steps on The Verdict")
    p.add_argument("--text", metavar="FILE", help="a UTF-8 text file instead of The Verdict")
    p.add_argument(
        "--steps",
        type=positive_int,
        default=200,
        metavar="N",
        help="training steps of the model in step 5 (default: 200)",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=123,
        metavar="S",
        help="seed of the model, its batches and its sample (default: 123)",
    )
    p.set_defaults(run=run_demo)

    p = sub.add_parser("words", help="step 1: split a text file into words and count them")
    p.add_argument("file", metavar="FILE", help="a UTF-8 text file, or - for stdin")
    p.add_argument("--show", type=non_negative_int, default=30, metavar="N", help="how many pieces to print")
    p.set_defaults(run=run_words)

    p = sub.add_parser("encode", help="step 2: text -> BPE token IDs")
    add_encoding_option(p)
    add_text_input(p)
    p.add_argument(
        "--special",
        choices=("refuse", "allow", "ordinary"),
        default="refuse",
        help="special-token text in the input: refuse it (default, as tiktoken), "
        "allow it as special tokens, or encode it as ordinary text",
    )
    p.add_argument("--out", metavar="FILE.npy", help="write the IDs to a .npy file (int64) instead of stdout")
    p.set_defaults(run=run_encode)

    p = sub.add_parser("decode", help="step 2: BPE token IDs -> text")
    add_encoding_option(p)
    p.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help="IDs separated by spaces or commas, or a .npy file (default: stdin)",
    )
    p.add_argument("--ids", metavar="IDS", help='the IDs on the command line, e.g. "31373 995"')
    p.set_defaults(run=run_decode)

    p = sub.add_parser("show", help="step 2: print text with its token boundaries visible")
    add_encoding_option(p)
    add_text_input(p)
    p.add_argument("--sep", default="|", help="the boundary mark when not on a terminal (default: |)")
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="alternate colours instead of marks (auto: on a terminal)",
    )
    p.set_defaults(run=run_show)

    p = sub.add_parser("train-bpe", help="step 2: learn a BPE vocabulary from a text file")
    p.add_argument("file", metavar="FILE", help="a UTF-8 text file (read in chunks; any size)")
    p.add_argument(
        "--vocab-size", type=int_at_least(256), required=True, metavar="N", help="tokens to end with (>= 256)"
    )
    p.add_argument(
        "--pattern", choices=sorted(PATTERNS_BY_NAME), default="gpt2", help="the split pattern (default: gpt2)"
    )
    p.add_argument(
        "--special",
        action="append",
        default=[],
        metavar="TOKEN",
        help='a special token, e.g. "<|endoftext|>" (repeatable); IDs follow the merges',
    )
    p.add_argument("--name", help="the encoding's name (default: the output file's stem)")
    p.add_argument("-o", "--out", required=True, metavar="MODEL.npllm-bpe", help="where to save the encoding")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="processes to count the pieces with, at most one per CPU; the merges are the same (default: 1)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=run_train_bpe)

    p = sub.add_parser("encode-file", help="step 3: encode a text file of any size into a token file")
    p.add_argument("file", metavar="TEXT", help="a UTF-8 text file (streamed in chunks)")
    p.add_argument(
        "-o", "--out", required=True, metavar="TOKENS.bin", help="the token file (a .json sidecar goes beside it)"
    )
    add_encoding_option(p)
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="processes to encode with, at most one per CPU (default: 1)",
    )
    p.add_argument(
        "--special",
        choices=("refuse", "allow", "ordinary"),
        default="refuse",
        help="special-token text in the file: refuse it (default), allow it, or encode it as text",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=run_encode_file)

    p = sub.add_parser("batches", help="step 3: show the first (input, target) batches of a text or token file")
    p.add_argument(
        "file",
        metavar="FILE",
        help="a UTF-8 text file, or a token file from encode-file (FILE.bin, with FILE.bin.json beside it)",
    )
    add_encoding_option(p, default=None, default_help="the one a token file was encoded with, else gpt2")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="B")
    p.add_argument("--max-length", type=positive_int, default=4, metavar="T")
    p.add_argument("--stride", type=positive_int, default=4)
    p.add_argument("--shuffle", action="store_true")
    p.add_argument("--seed", type=non_negative_int, default=None)
    p.add_argument("--drop-last", action="store_true")
    p.add_argument(
        "--show", type=non_negative_int, default=2, metavar="N", help="how many batches to print (default: 2)"
    )
    p.set_defaults(run=run_batches)

    p = sub.add_parser("data", help="list the data files npllm knows and where each is found, or fetch them")
    p.add_argument(
        "action",
        nargs="?",
        choices=("list", "fetch"),
        default="list",
        help="list (default): where each file is found; fetch: download into the user cache",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="files to fetch (default: every missing one)")
    p.set_defaults(run=run_data)
    return parser


def add_encoding_option(p: argparse.ArgumentParser, default: str | None = "gpt2", default_help: str = "gpt2") -> None:
    p.add_argument(
        "--encoding",
        default=default,
        metavar="NAME|FILE",
        help=f"one of {', '.join(list_encoding_names())}, or a saved .npllm-bpe file (default: {default_help})",
    )


def int_at_least(minimum: int):
    """An argparse `type`: a whole number >= minimum, else a one-line error naming the option.

    int_at_least(1)("8") -> 8; int_at_least(1)("0") and int_at_least(1)("8.5") -> ArgumentTypeError
    """

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise argparse.ArgumentTypeError(f"expected a whole number, got {shown!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return whole_number


positive_int = int_at_least(1)  # sizes and counts: --batch-size, --workers, ...
non_negative_int = int_at_least(0)  # --show, --seed


def add_text_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None, metavar="FILE", help="a UTF-8 text file, or - (default: stdin)")
    p.add_argument("--text", help="the text itself instead of a file")
