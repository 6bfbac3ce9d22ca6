"""The `npllm` command: one subcommand per step of the course.

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
import pathlib
import signal
import sys
import tempfile
import threading
import warnings

import numpy as np

import npllm
from npllm import data, words
from npllm.bpe import Encoding, get_encoding, list_encoding_names, load_encoding, train_bpe
from npllm.bpe.encoding import DisallowedSpecialToken
from npllm.bpe.files import vocab_dump_path
from npllm.bpe.patterns import PATTERNS_BY_NAME

TERMINATED_EXIT = 128 + signal.SIGTERM  # the shell's code for "ended by SIGTERM": 143
COMMANDS = ("demo", "words", "encode", "decode", "show", "train-bpe", "encode-file", "batches", "data")


class CLIError(Exception):
    """A problem with the user's input, printed as one line."""


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
            print(f"npllm: error: the text holds the special token {e.token!r} (character {e.position:,}); "
                  f"use --special allow to encode it as that token, or --special ordinary to encode it as text",
                  file=sys.stderr)
            return 1
        except (CLIError, data.DataFileError, OSError, UnicodeError, ValueError, KeyError, TypeError, IndexError,
                OverflowError, MemoryError) as e:
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


def one_line(message: object) -> str:
    """Some libraries' messages run over several lines: "a\\n  b" -> "a b"."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="npllm",
        description="The input side of a GPT-style language model in plain NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"npllm {npllm.__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the course's steps on The Verdict")
    p.add_argument("--text", metavar="FILE", help="a UTF-8 text file instead of The Verdict")
    p.add_argument("--steps", type=positive_int, default=200, metavar="N",
                   help=f"training steps of the model in step 5 (default: 200)")
    p.add_argument("--seed", type=non_negative_int, default=123, metavar="S",
                   help="seed of the model, its batches and its sample (default: 123)")
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
        "file", nargs="?", default="-", metavar="FILE",
        help="IDs separated by spaces or commas, or a .npy file (default: stdin)",
    )
    p.add_argument("--ids", metavar="IDS", help='the IDs on the command line, e.g. "31373 995"')
    p.set_defaults(run=run_decode)

    p = sub.add_parser("show", help="step 2: print text with its token boundaries visible")
    add_encoding_option(p)
    add_text_input(p)
    p.add_argument("--sep", default="|", help="the boundary mark when not on a terminal (default: |)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="alternate colours instead of marks (auto: on a terminal)")
    p.set_defaults(run=run_show)

    p = sub.add_parser("train-bpe", help="step 2: learn a BPE vocabulary from a text file")
    p.add_argument("file", metavar="FILE", help="a UTF-8 text file (read in chunks; any size)")
    p.add_argument("--vocab-size", type=int_at_least(256), required=True, metavar="N", help="tokens to end with (>= 256)")
    p.add_argument("--pattern", choices=sorted(PATTERNS_BY_NAME), default="gpt2", help="the split pattern (default: gpt2)")
    p.add_argument("--special", action="append", default=[], metavar="TOKEN",
                   help='a special token, e.g. "<|endoftext|>" (repeatable); IDs follow the merges')
    p.add_argument("--name", help="the encoding's name (default: the output file's stem)")
    p.add_argument("-o", "--out", required=True, metavar="MODEL.npllm-bpe", help="where to save the encoding")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="processes to count the pieces with, at most one per CPU; the merges are the same (default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=run_train_bpe)

    p = sub.add_parser("encode-file", help="step 3: encode a text file of any size into a token file")
    p.add_argument("file", metavar="TEXT", help="a UTF-8 text file (streamed in chunks)")
    p.add_argument("-o", "--out", required=True, metavar="TOKENS.bin", help="the token file (a .json sidecar goes beside it)")
    add_encoding_option(p)
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="processes to encode with, at most one per CPU (default: 1)")
    p.add_argument("--special", choices=("refuse", "allow", "ordinary"), default="refuse",
                   help="special-token text in the file: refuse it (default), allow it, or encode it as text")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=run_encode_file)

    p = sub.add_parser("batches", help="step 3: show the first (input, target) batches of a text or token file")
    p.add_argument("file", metavar="FILE",
                   help="a UTF-8 text file, or a token file from encode-file (FILE.bin, with FILE.bin.json beside it)")
    add_encoding_option(p, default=None, default_help="the one a token file was encoded with, else gpt2")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="B")
    p.add_argument("--max-length", type=positive_int, default=4, metavar="T")
    p.add_argument("--stride", type=positive_int, default=4)
    p.add_argument("--shuffle", action="store_true")
    p.add_argument("--seed", type=non_negative_int, default=None)
    p.add_argument("--drop-last", action="store_true")
    p.add_argument("--show", type=non_negative_int, default=2, metavar="N", help="how many batches to print (default: 2)")
    p.set_defaults(run=run_batches)

    p = sub.add_parser("data", help="list the data files npllm knows and where each is found, or fetch them")
    p.add_argument("action", nargs="?", choices=("list", "fetch"), default="list",
                   help="list (default): where each file is found; fetch: download into the user cache")
    p.add_argument("names", nargs="*", metavar="NAME", help="files to fetch (default: every missing one)")
    p.set_defaults(run=run_data)
    return parser


def add_encoding_option(p: argparse.ArgumentParser, default: str | None = "gpt2", default_help: str = "gpt2") -> None:
    p.add_argument(
        "--encoding", default=default, metavar="NAME|FILE",
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


# --- input helpers -----------------------------------------------------------------------


@contextlib.contextmanager
def reading(file: str):
    """The OS's errors about `file`, and UTF-8 errors, as one CLIError line that names it.
    Other errors (a message of ours, an error about another file) pass through."""
    try:
        yield
    except UnicodeDecodeError as e:
        raise CLIError(f"{file} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:
        if e.filename is None or os.fspath(e.filename) != os.fspath(file):
            raise
        if isinstance(e, FileNotFoundError):
            message = f"no such file: {file}"
        elif isinstance(e, IsADirectoryError):
            message = f"{file} is a directory, not a file"
        elif isinstance(e, PermissionError):
            message = f"cannot read {file}: permission denied"
        else:  # a socket, a device, a path through a file, ...
            message = f"cannot read {file}: {e.strerror}"
        raise CLIError(message) from None


@contextlib.contextmanager
def writing(file: pathlib.Path):
    """An OSError while writing `file` (a full disk, a file too large) as one line naming it.
    The writers write a temporary file and rename it, so a failed write leaves nothing."""
    try:
        yield
    except OSError as e:
        raise CLIError(f"cannot write {file}: {e.strerror or e}") from None


def read_text_file(file: str) -> str:
    """A UTF-8 text file (or stdin for "-"), every byte kept, with errors that name the file.

    No newline translation ("\\r\\n" stays), and a byte order mark stays U+FEFF: the same
    text as `encode-file` and `train-bpe` read, and as tiktoken is given by
    `open(f, encoding="utf-8", newline="").read()`. stdin is read as bytes and decoded, since
    `sys.stdin` in text mode would turn "\\r\\n" into "\\n".
    """
    if file == "-":
        with reading("stdin"):
            buffer = getattr(sys.stdin, "buffer", None)
            if buffer is None:  # a text stream put there by a caller (io.StringIO): its text as it is
                return sys.stdin.read()
            return buffer.read().decode("utf-8")
    with reading(file), open(file, encoding="utf-8", newline="") as f:
        return f.read()


def readable_file(file: str) -> pathlib.Path:
    """`file`, checked before a long job: a regular file that opens, else read_text_file's errors."""
    path = pathlib.Path(file)
    if path.exists() and not path.is_file() and not path.is_dir():  # opening a pipe would wait for a writer
        raise CLIError(f"cannot read {file}: it is not a regular file (a pipe, a socket or a device)")
    with reading(file), open(file, "rb"):
        pass
    return path


def output_path(file: str) -> pathlib.Path:
    """Where a subcommand will write, checked before it does any work: a new or regular file,
    in a folder that exists and takes new files (the temporary file goes there)."""
    out = pathlib.Path(file)
    folder = out.parent
    if out.is_dir():
        raise CLIError(f"cannot write {file}: it is a folder; give a file name")
    if out.exists() and not out.is_file():
        raise CLIError(f"cannot write {file}: it is not a regular file (a device, a socket or a pipe)")
    if not folder.exists():
        raise CLIError(f"cannot write {file}: no folder {folder}; create it first")
    if not folder.is_dir():
        raise CLIError(f"cannot write {file}: {folder} is not a folder")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise CLIError(f"cannot write {file}: no new file can be made in {folder} ({e.strerror})") from None
    return out


def text_input(args: argparse.Namespace) -> str:
    """--text, or FILE (stdin when neither is given); both at once is an error."""
    if args.text is not None:
        return args.text
    return read_text_file(args.file or "-")


def check_text_input(args: argparse.Namespace) -> None:
    """FILE and --text both given: one of them would be ignored, so neither is."""
    if args.text is not None and args.file is not None:
        raise CLIError(f"give the text as FILE ({args.file}) or as --text, not both")


def not_an_input(outputs, inputs) -> None:
    """Refuse to write an output that is one of the inputs (the same file by any name or link):
    `encode-file a.txt -o a.txt` would replace the text with its tokens."""
    for out in outputs:
        if not os.path.exists(out):
            continue
        for src in inputs:
            if src is None or str(src) == "-":
                continue
            try:
                same = os.path.samefile(out, src)
            except OSError:
                continue
            if same:
                raise CLIError(f"cannot write {out}: it is the input {src}, which writing would destroy; give another output")


def npy_output(file: str) -> pathlib.Path:
    """encode --out: np.save's name (".npy" added unless there), checked as output_path checks
    it. The name as given must not be a folder or a device either: --out /dev/null would
    otherwise become /dev/null.npy, and --out adir a file adir.npy beside the folder."""
    given = pathlib.Path(file)
    if given.is_dir():
        raise CLIError(f"cannot write {file}: it is a folder; give a file name such as {given / 'ids.npy'}")
    if given.exists() and not given.is_file():
        raise CLIError(f"cannot write {file}: it is not a regular file (a device, a socket or a pipe); "
                       f"to print the IDs instead, leave --out out")
    return output_path(file if file.endswith(".npy") else file + ".npy")  # the name np.save gives


def open_encoding(name_or_file: str) -> Encoding:
    """A known encoding by name, else a saved .npllm-bpe file."""
    if name_or_file in list_encoding_names():
        return get_encoding(name_or_file)
    if not os.path.exists(name_or_file):
        raise CLIError(
            f"--encoding {name_or_file!r} is neither a known encoding "
            f"({', '.join(list_encoding_names())}) nor an existing file"
        )
    with reading(name_or_file):
        return load_encoding(name_or_file)


def load_npy_ids(file: str) -> list[int]:
    """The token IDs in a .npy file (integers, any shape), read without pickle."""
    with reading(file), open(file, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        what = "an .npz archive" if magic.startswith(b"PK") else "not a .npy file"
        raise CLIError(f"{file} is {what}; give a .npy array of token IDs, as `npllm encode --out` writes")
    try:
        array = np.load(file, allow_pickle=False)
    except (ValueError, EOFError) as e:  # a cut header or data, object arrays
        raise CLIError(f"{file} is a damaged or unsupported .npy file: {one_line(e) or type(e).__name__}") from None
    if array.dtype.kind not in "iu":
        raise CLIError(f"{file} holds {array.dtype} values, not integer token IDs")
    return array.ravel().tolist()


def is_npy_file(file: str) -> bool:
    """True if `file` starts as a .npy file does, whatever its name (IDS.NPY, ids.bin)."""
    if file == "-" or not os.path.isfile(file):
        return False
    with reading(file), open(file, "rb") as f:
        return f.read(6) == b"\x93NUMPY"


def parse_ids(text: str, where: str) -> list[int]:
    """ "31373 995" or "[31373, 995]" -> [31373, 995]"""
    fields = text.replace(",", " ").replace("[", " ").replace("]", " ").split()
    try:
        return [int(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not f.lstrip("-").isdigit())
        raise CLIError(f"{where}: {bad!r} is not a token ID (expected integers)") from None


# --- subcommands ---------------------------------------------------------------------------


def run_words(args: argparse.Namespace) -> None:
    text = read_text_file(args.file)
    pieces = words.split_words(text)
    vocab = words.build_vocab(pieces)
    print(f"characters: {len(text):,}")
    print(f"words:      {len(pieces):,}")
    print(f"vocabulary: {len(vocab):,}")
    print(f"first {min(args.show, len(pieces))} pieces: {pieces[: args.show]}")


def run_encode(args: argparse.Namespace) -> None:
    from npllm.tokens import atomic_write

    check_text_input(args)
    out = npy_output(args.out) if args.out else None
    if out:
        not_an_input([out], [args.file, args.encoding])
    enc = open_encoding(args.encoding)
    text = text_input(args)
    if args.special == "allow":
        ids = enc.encode(text, allowed_special="all")
    elif args.special == "ordinary":
        ids = enc.encode_ordinary(text)
    else:
        ids = enc.encode(text)
    if out:
        with writing(out):
            atomic_write(out, lambda f: np.save(f, np.asarray(ids, dtype=np.int64)))
        print(f"{len(ids):,} tokens written to {out}", file=sys.stderr)
    else:
        print(" ".join(map(str, ids)))


def run_decode(args: argparse.Namespace) -> None:
    enc = open_encoding(args.encoding)
    if args.ids is not None:
        if args.file != "-":
            raise CLIError(f"give the IDs as FILE ({args.file}) or as --ids, not both")
        ids = parse_ids(args.ids, "--ids")
    elif args.file.lower().endswith(".npy") or is_npy_file(args.file):
        ids = load_npy_ids(args.file)
    else:
        ids = parse_ids(read_text_file(args.file), args.file)
    sys.stdout.write(enc.decode(ids))
    sys.stdout.write("\n")


# two background colours that any terminal has, then "reset"
SHOW_COLORS = ("\x1b[48;5;153m\x1b[30m", "\x1b[48;5;223m\x1b[30m")
RESET = "\x1b[0m"


def run_show(args: argparse.Namespace) -> None:
    check_text_input(args)
    enc = open_encoding(args.encoding)
    text = text_input(args)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    ids = enc.encode(text, allowed_special="all")
    print(render_tokens(enc, ids, color=color, sep=args.sep))
    chars = max(len(text), 1)
    print(f"{len(ids):,} tokens for {len(text):,} characters: {len(ids) / chars:.3f} tokens per character",
          file=sys.stderr)


def render_tokens(enc: Encoding, ids: list[int], *, color: bool, sep: str = "|") -> str:
    """Each token's text, in alternating colours or separated by `sep`. A token that ends
    inside a UTF-8 character shows its raw bytes (\\xe4), which is what BPE sees."""
    from npllm.demo import token_texts

    pieces = token_texts(enc, ids)
    if color:
        return "".join(f"{SHOW_COLORS[k % 2]}{p}{RESET}" for k, p in enumerate(pieces))
    return sep.join(pieces)


def run_train_bpe(args: argparse.Namespace) -> None:
    source = readable_file(args.file)
    out = output_path(args.out)
    dump = vocab_dump_path(out)
    not_an_input([out, dump], [args.file])
    name = args.name if args.name is not None else out.stem
    if name in list_encoding_names():
        how = "--name" if args.name is not None else f"-o {args.out} (the file's stem)"
        raise CLIError(f"{how} names the vocabulary {name!r}, a built-in encoding's: a token file made with it "
                       f"would say {name!r} and be decoded with the real one; give --name another name")
    check_workers(args.workers)
    with reading(args.file):
        enc = train_bpe(
            source,
            args.vocab_size,
            pat_str=PATTERNS_BY_NAME[args.pattern],
            special_tokens=args.special,
            progress=not args.quiet,
            name=name,
            workers=args.workers,
        )
    with writing(out):
        enc.save(out)
    print(f"saved {enc} to {out} (readable dump: {dump})", file=sys.stderr)


def check_workers(workers: int) -> None:
    cpus = os.cpu_count() or 1
    if workers > cpus:
        raise CLIError(f"--workers {workers:,} is more than the {cpus} CPUs here; use at most {cpus}")


def run_encode_file(args: argparse.Namespace) -> None:
    from npllm.tokens import encode_file, sidecar_path

    source = readable_file(args.file)
    out = output_path(args.out)
    not_an_input([out, sidecar_path(out)], [args.file, args.encoding])
    check_workers(args.workers)
    enc = open_encoding(args.encoding)
    with writing(out), reading(args.file):
        count = encode_file(source, out, enc, workers=args.workers, special=args.special, progress=not args.quiet)
    print(f"{count:,} {enc.name} tokens written to {out} (sidecar {out.name}.json)", file=sys.stderr)


def run_batches(args: argparse.Namespace) -> None:
    from npllm.loader import DataLoader, GPTDataset
    from npllm.tokens import load_tokens, sidecar_path

    if sidecar_path(args.file).exists():
        enc = token_file_encoding(args.file, args.encoding)
        with reading(args.file):
            ids = load_tokens(args.file)
        if len(ids) and int(ids.max()) > enc.max_token_value:  # one pass over the file, before any output
            raise CLIError(f"{args.file} holds the token ID {int(ids.max())}, but {enc.name} has IDs 0..{enc.max_token_value}: "
                           f"the file is damaged, or was encoded with another encoding")
    elif args.file.lower().endswith(".bin") and os.path.isfile(args.file):
        raise CLIError(f"{args.file} looks like a token file, but its sidecar {sidecar_path(args.file)} is missing "
                       f"(it says the dtype and the count); put it beside the file, or encode the text again")
    else:
        enc = open_encoding(args.encoding or "gpt2")
        try:
            text = read_text_file(args.file)
        except CLIError as e:
            if "not UTF-8" not in str(e):
                raise
            raise CLIError(f"{e}; if it is a token file, its sidecar {sidecar_path(args.file)} is missing") from None
        ids = enc.encode(text, allowed_special="all")
    if len(ids) < args.max_length + 1:
        raise CLIError(f"--max-length {args.max_length:,} needs {args.max_length + 1:,} tokens (the inputs and the "
                       f"target one later), but {args.file} has {len(ids):,}; give a smaller --max-length or a longer text")
    dataset = GPTDataset(ids, max_length=args.max_length, stride=args.stride)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=args.shuffle, drop_last=args.drop_last, seed=args.seed)
    print(f"{len(ids):,} tokens; {len(dataset):,} windows of {args.max_length} (stride {args.stride}); "
          f"{len(loader):,} batches of {args.batch_size}")
    for k, (x, y) in enumerate(loader):
        if k >= args.show:
            break
        print(f"\nbatch {k}: inputs {x.shape}, targets {y.shape}")
        for row_x, row_y in zip(x.tolist(), y.tolist()):
            print(f"  {row_x} -> {row_y}")
            print(f"  {enc.decode(row_x)!r} -> {enc.decode(row_y)!r}")


def token_file_encoding(token_file: str, given: str | None) -> Encoding:
    """The encoding a token file's sidecar names (else gpt2); --encoding, if `given`, must be it."""
    from npllm.tokens import read_sidecar, sidecar_path

    named = read_sidecar(token_file).get("encoding")
    if given is None and named is not None and named not in list_encoding_names():
        raise CLIError(f"{sidecar_path(token_file)} says the tokens are from the encoding {named!r}, which is "
                       f"not built in; give its .npllm-bpe file with --encoding")
    enc = open_encoding(given or named or "gpt2")
    if named is not None and enc.name != named:
        raise CLIError(f"{token_file} holds {named} tokens, but --encoding {given} is {enc.name}; "
                       f"give the {named} encoding, or leave --encoding out")
    return enc


def run_demo(args: argparse.Namespace) -> None:
    from npllm import demo

    if args.text is not None:
        demo.run(read_text_file(args.text), args.text, steps=args.steps, seed=args.seed)
    else:
        demo.run_on_the_verdict(steps=args.steps, seed=args.seed)


def run_data(args: argparse.Namespace) -> None:
    """`npllm data`: one line per known file; `npllm data fetch [NAME...]`: one line per file fetched."""
    for name in args.names:
        if name not in data.KNOWN_FILES:
            raise CLIError(f"unknown data file {name!r}; known files: {', '.join(data.KNOWN_FILES)}")
    if args.action == "list":
        if args.names:
            raise CLIError("`npllm data list` takes no names; use `npllm data fetch NAME`")
        width = max(map(len, data.KNOWN_FILES))
        for name in data.KNOWN_FILES:
            place, path = data.where(name)
            if place == data.BUNDLED and path is None:
                detail = f"rebuilt from {data.REBUILT_FROM[name]}"
            elif place == data.MISSING:
                detail = f"`npllm data fetch {name}` downloads it"
            else:
                detail = str(path)
            print(f"{name:<{width}}  {place:<14}  {detail}")
        print(f"user cache: {data.user_cache_dir()}")
        return
    names = args.names or [name for name in data.KNOWN_FILES if data.where(name)[0] == data.MISSING]
    if not names:
        print("every known file is here already (see `npllm data`)")
    for name in names:
        place, path = data.where(name)
        if place == data.BUNDLED:
            print(f"{name}: bundled with npllm, nothing to fetch")
        elif place != data.MISSING:
            print(f"{name}: here already ({place}: {path})")
        else:
            print(f"{name}: fetched into {data.fetch(name)} (sha256 checked)")
