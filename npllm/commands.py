"""What each `npllm` subcommand does (`run_words`, `run_encode`, ...), and the file handling
they share: reading every byte of a file or stdin, checked outputs, encodings by name or file.

`cli.py` parses the command line and turns every failure into one line; the functions here
raise `CLIError` with that line's words. What this module leaves out: argument parsing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import sys
import tempfile

import numpy as np

from npllm import data, words
from npllm.bpe import Encoding, get_encoding, list_encoding_names, load_encoding, train_bpe
from npllm.bpe.files import vocab_dump_path
from npllm.bpe.patterns import PATTERNS_BY_NAME


class CLIError(Exception):
    """A problem with the user's input, printed as one line."""


def one_line(message: object) -> str:
    """Some libraries' messages run over several lines: "a\\n  b" -> "a b"."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


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
                raise CLIError(
                    f"cannot write {out}: it is the input {src}, which writing would destroy; give another output"
                )


def npy_output(file: str) -> pathlib.Path:
    """encode --out: np.save's name (".npy" added unless there), checked as output_path checks
    it. The name as given must not be a folder or a device either: --out /dev/null would
    otherwise become /dev/null.npy, and --out adir a file adir.npy beside the folder."""
    given = pathlib.Path(file)
    if given.is_dir():
        raise CLIError(f"cannot write {file}: it is a folder; give a file name such as {given / 'ids.npy'}")
    if given.exists() and not given.is_file():
        raise CLIError(
            f"cannot write {file}: it is not a regular file (a device, a socket or a pipe); "
            f"to print the IDs instead, leave --out out"
        )
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
    print(
        f"{len(ids):,} tokens for {len(text):,} characters: {len(ids) / chars:.3f} tokens per character",
        file=sys.stderr,
    )


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
        raise CLIError(
            f"{how} names the vocabulary {name!r}, a built-in encoding's: a token file made with it "
            f"would say {name!r} and be decoded with the real one; give --name another name"
        )
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
            raise CLIError(
                f"{args.file} holds the token ID {int(ids.max())}, but {enc.name} has IDs 0..{enc.max_token_value}: "
                f"the file is damaged, or was encoded with another encoding"
            )
    elif args.file.lower().endswith(".bin") and os.path.isfile(args.file):
        raise CLIError(
            f"{args.file} looks like a token file, but its sidecar {sidecar_path(args.file)} is missing "
            f"(it says the dtype and the count); put it beside the file, or encode the text again"
        )
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
        raise CLIError(
            f"--max-length {args.max_length:,} needs {args.max_length + 1:,} tokens (the inputs and the "
            f"target one later), but {args.file} has {len(ids):,}; give a smaller --max-length or a longer text"
        )
    dataset = GPTDataset(ids, max_length=args.max_length, stride=args.stride)
    loader = DataLoader(
        dataset, batch_size=args.batch_size, shuffle=args.shuffle, drop_last=args.drop_last, seed=args.seed
    )
    print(
        f"{len(ids):,} tokens; {len(dataset):,} windows of {args.max_length} (stride {args.stride}); "
        f"{len(loader):,} batches of {args.batch_size}"
    )
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
        raise CLIError(
            f"{sidecar_path(token_file)} says the tokens are from the encoding {named!r}, which is "
            f"not built in; give its .npllm-bpe file with --encoding"
        )
    enc = open_encoding(given or named or "gpt2")
    if named is not None and enc.name != named:
        raise CLIError(
            f"{token_file} holds {named} tokens, but --encoding {given} is {enc.name}; "
            f"give the {named} encoding, or leave --encoding out"
        )
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
