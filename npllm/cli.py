"""The `npllm` command: one subcommand per step of the course.

Data goes to stdout, progress and errors to stderr. A bad file or argument is one line on
stderr and exit code 1 (argparse's own usage errors exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

import npllm
from npllm import data, words
from npllm.bpe import Encoding, get_encoding, list_encoding_names, load_encoding, train_bpe
from npllm.bpe.encoding import DisallowedSpecialToken
from npllm.bpe.patterns import PATTERNS_BY_NAME


class CLIError(Exception):
    """A problem with the user's input, printed as one line."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 1
    try:
        args.run(args)
    except BrokenPipeError:  # `npllm ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except KeyboardInterrupt:
        print("npllm: interrupted", file=sys.stderr)
        return 130
    except DisallowedSpecialToken as e:
        print(f"npllm: error: the text holds the special token {e.token!r} (character {e.position:,}); "
              f"use --special allow to encode it as that token, or --special ordinary to encode it as text",
              file=sys.stderr)
        return 1
    except (CLIError, data.DataFileError, OSError, UnicodeError, ValueError, KeyError, TypeError, IndexError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"npllm: error: {message}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npllm",
        description="The input side of a GPT-style language model in plain NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"npllm {npllm.__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the course's steps on The Verdict")
    p.add_argument("--text", metavar="FILE", help="a UTF-8 text file instead of The Verdict")
    p.set_defaults(run=run_demo)

    p = sub.add_parser("words", help="step 1: split a text file into words and count them")
    p.add_argument("file", metavar="FILE", help="a UTF-8 text file, or - for stdin")
    p.add_argument("--show", type=int, default=30, metavar="N", help="how many pieces to print")
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
    p.add_argument("--vocab-size", type=int, required=True, metavar="N", help="tokens to end with (>= 256)")
    p.add_argument("--pattern", choices=sorted(PATTERNS_BY_NAME), default="gpt2", help="the split pattern (default: gpt2)")
    p.add_argument("--special", action="append", default=[], metavar="TOKEN",
                   help='a special token, e.g. "<|endoftext|>" (repeatable); IDs follow the merges')
    p.add_argument("--name", help="the encoding's name (default: the output file's stem)")
    p.add_argument("-o", "--out", required=True, metavar="MODEL.npllm-bpe", help="where to save the encoding")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=run_train_bpe)

    p = sub.add_parser("encode-file", help="step 3: encode a text file of any size into a token file")
    p.add_argument("file", metavar="TEXT", help="a UTF-8 text file (streamed in chunks)")
    p.add_argument("-o", "--out", required=True, metavar="TOKENS.bin", help="the token file (a .json sidecar goes beside it)")
    add_encoding_option(p)
    p.add_argument("--workers", type=int, default=1, metavar="N", help="processes to encode with (default: 1)")
    p.add_argument("--special", choices=("refuse", "allow", "ordinary"), default="refuse",
                   help="special-token text in the file: refuse it (default), allow it, or encode it as text")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=run_encode_file)

    p = sub.add_parser("batches", help="step 3: show the first (input, target) batches of a text or token file")
    p.add_argument("file", metavar="FILE", help="a UTF-8 text file, or a token file from encode-file")
    add_encoding_option(p)
    p.add_argument("--batch-size", type=int, default=8, metavar="B")
    p.add_argument("--max-length", type=int, default=4, metavar="T")
    p.add_argument("--stride", type=int, default=4)
    p.add_argument("--shuffle", action="store_true")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--drop-last", action="store_true")
    p.add_argument("--show", type=int, default=2, metavar="N", help="how many batches to print (default: 2)")
    p.set_defaults(run=run_batches)
    return parser


def add_encoding_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoding", default="gpt2", metavar="NAME|FILE",
        help=f"one of {', '.join(list_encoding_names())}, or a saved .npllm-bpe file (default: gpt2)",
    )


def add_text_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default="-", metavar="FILE", help="a UTF-8 text file (default: stdin)")
    p.add_argument("--text", help="the text itself instead of a file")


# --- input helpers -----------------------------------------------------------------------


def read_text_file(file: str) -> str:
    """A UTF-8 text file (or stdin for "-"), with errors that name the file."""
    if file == "-":
        return sys.stdin.read()
    try:
        with open(file, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise CLIError(f"no such file: {file}") from None
    except IsADirectoryError:
        raise CLIError(f"{file} is a directory, not a text file") from None
    except PermissionError:
        raise CLIError(f"cannot read {file}: permission denied") from None
    except UnicodeDecodeError as e:
        raise CLIError(f"{file} is not UTF-8 text (byte {e.start}: {e.reason})") from None


def text_input(args: argparse.Namespace) -> str:
    return args.text if args.text is not None else read_text_file(args.file)


def open_encoding(name_or_file: str) -> Encoding:
    """A known encoding by name, else a saved .npllm-bpe file."""
    if name_or_file in list_encoding_names():
        return get_encoding(name_or_file)
    try:
        return load_encoding(name_or_file)
    except FileNotFoundError:
        raise CLIError(
            f"--encoding {name_or_file!r} is neither a known encoding "
            f"({', '.join(list_encoding_names())}) nor an existing file"
        ) from None


def parse_ids(text: str, where: str) -> list[int]:
    """ "31373 995" or "[31373, 995]" -> [31373, 995]"""
    fields = text.replace(",", " ").replace("[", " ").replace("]", " ").split()
    try:
        return [int(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not f.lstrip("-").isdigit())
        raise CLIError(f"{where}: {bad!r} is not a token ID (expected integers)") from None


def demo_text(file: str | None) -> tuple[str, str]:
    """(label, text): the user's file, or The Verdict."""
    if file:
        return file, read_text_file(file)
    return "The Verdict", data.read_text("the-verdict.txt")


# --- subcommands ---------------------------------------------------------------------------


def run_words(args: argparse.Namespace) -> None:
    if args.show < 0:
        raise CLIError(f"--show must be 0 or more, got {args.show}")
    text = read_text_file(args.file)
    pieces = words.split_words(text)
    vocab = words.build_vocab(pieces)
    print(f"characters: {len(text):,}")
    print(f"words:      {len(pieces):,}")
    print(f"vocabulary: {len(vocab):,}")
    print(f"first {min(args.show, len(pieces))} pieces: {pieces[: args.show]}")


def run_encode(args: argparse.Namespace) -> None:
    enc = open_encoding(args.encoding)
    text = text_input(args)
    if args.special == "allow":
        ids = enc.encode(text, allowed_special="all")
    elif args.special == "ordinary":
        ids = enc.encode_ordinary(text)
    else:
        ids = enc.encode(text)
    if args.out:
        np.save(args.out, np.asarray(ids, dtype=np.int64))
        print(f"{len(ids):,} tokens written to {args.out}", file=sys.stderr)
    else:
        print(" ".join(map(str, ids)))


def run_decode(args: argparse.Namespace) -> None:
    enc = open_encoding(args.encoding)
    if args.ids is not None:
        ids = parse_ids(args.ids, "--ids")
    elif args.file.endswith(".npy"):
        try:
            array = np.load(args.file, allow_pickle=False)
        except FileNotFoundError:
            raise CLIError(f"no such file: {args.file}") from None
        if array.dtype.kind not in "iu":
            raise CLIError(f"{args.file} holds {array.dtype} values, not integer token IDs")
        ids = array.ravel().tolist()
    else:
        ids = parse_ids(read_text_file(args.file), args.file)
    sys.stdout.write(enc.decode(ids))
    sys.stdout.write("\n")


# two background colours that any terminal has, then "reset"
SHOW_COLORS = ("\x1b[48;5;153m\x1b[30m", "\x1b[48;5;223m\x1b[30m")
RESET = "\x1b[0m"


def run_show(args: argparse.Namespace) -> None:
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
    pieces = [enc.decode_single_token_bytes(i).decode("utf-8", errors="backslashreplace") for i in ids]
    if color:
        return "".join(f"{SHOW_COLORS[k % 2]}{p}{RESET}" for k, p in enumerate(pieces))
    return sep.join(pieces)


def run_train_bpe(args: argparse.Namespace) -> None:
    import pathlib

    source = pathlib.Path(args.file)
    if not source.is_file():
        raise CLIError(f"no such file: {args.file}")
    out = pathlib.Path(args.out)
    if not out.parent.is_dir():
        raise CLIError(f"cannot write {args.out}: no folder {out.parent}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        enc = train_bpe(
            source,
            args.vocab_size,
            pat_str=PATTERNS_BY_NAME[args.pattern],
            special_tokens=args.special,
            progress=not args.quiet,
            name=args.name or out.stem,
        )
    for warning in caught:
        print(f"npllm: warning: {warning.message}", file=sys.stderr)
    enc.save(out)
    print(f"saved {enc} to {out} (readable dump: {out.with_suffix('.vocab')})", file=sys.stderr)


def run_encode_file(args: argparse.Namespace) -> None:
    import pathlib

    from npllm.tokens import encode_file

    if not pathlib.Path(args.file).is_file():
        raise CLIError(f"no such file: {args.file}")
    out = pathlib.Path(args.out)
    if not out.parent.is_dir():
        raise CLIError(f"cannot write {args.out}: no folder {out.parent}")
    if args.workers < 1:
        raise CLIError(f"--workers must be at least 1, got {args.workers}")
    enc = open_encoding(args.encoding)
    count = encode_file(args.file, out, enc, workers=args.workers, special=args.special, progress=not args.quiet)
    print(f"{count:,} {enc.name} tokens written to {out} (sidecar {out.name}.json)", file=sys.stderr)


def run_batches(args: argparse.Namespace) -> None:
    from npllm.loader import DataLoader, GPTDataset
    from npllm.tokens import load_tokens, sidecar_path

    if sidecar_path(args.file).exists():
        ids = load_tokens(args.file)
        enc_name = data_encoding_name(args.file, args.encoding)
    else:
        ids = open_encoding(args.encoding).encode(read_text_file(args.file), allowed_special="all")
        enc_name = args.encoding
    enc = open_encoding(enc_name)
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


def data_encoding_name(token_file: str, default: str) -> str:
    """The encoding a token file's sidecar names, else `default`."""
    from npllm.tokens import read_sidecar

    return read_sidecar(token_file).get("encoding") or default


def run_demo(args: argparse.Namespace) -> None:
    label, text = demo_text(args.text)
    heading(f"Step 1: words ({label}, {len(text):,} characters)")
    demo_words(text)
    heading("Step 2: byte-pair encoding (GPT-2)")
    demo_bpe(text)
    heading("Step 3: (input, target) windows in batches")
    demo_loader(text)
    heading("Step 4: token and position embeddings")
    demo_embeddings()


def heading(title: str) -> None:
    print(f"\n== {title} ==")


def demo_words(text: str) -> None:
    pieces = words.split_words(text)
    vocab = words.build_vocab(pieces)
    print(f"{len(pieces):,} words and punctuation marks; vocabulary of {len(vocab):,}")
    print(f"first pieces: {pieces[:12]}")

    v1 = words.SimpleTokenizerV1(vocab)
    sample = " ".join(pieces[:16])
    ids = v1.encode(sample)
    print(f"V1 encode: {sample!r}\n        -> {ids}")
    print(f"V1 decode: {v1.decode(ids)!r}")

    vocab2 = words.build_vocab(pieces, special_tokens=[words.ENDOFTEXT, words.UNK])
    v2 = words.SimpleTokenizerV2(vocab2)
    sample = f"Hello, do you like tea? {words.ENDOFTEXT} In the sunlit terraces of the palace."
    ids = v2.encode(sample)
    print(f"V2 vocabulary of {len(vocab2):,} with {words.ENDOFTEXT} and {words.UNK}")
    print(f"V2 encode: {sample!r}\n        -> {ids}")
    print(f"V2 decode: {v2.decode(ids)!r}")


def demo_bpe(text: str) -> None:
    enc = get_encoding("gpt2")
    sample = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace."
    ids = enc.encode(sample, allowed_special={"<|endoftext|>"})
    print(f"{enc}: {sample!r}")
    print(f"  -> {ids}")
    print(f"  tokens: [{render_tokens(enc, ids, color=False, sep='][')}]")
    print(f"  decode: {enc.decode(ids)!r}")
    ids = enc.encode_ordinary(text)
    n_words = len(words.split_words(text))
    print(f"the whole text: {len(ids):,} GPT-2 tokens for {n_words:,} words "
          f"({len(ids) / max(n_words, 1):.2f} tokens per word), first {ids[:10]}")


def demo_loader(text: str) -> None:
    from npllm.loader import create_dataloader

    enc = get_encoding("gpt2")
    n_tokens = len(enc.encode(text, allowed_special={"<|endoftext|>"}))
    if n_tokens < 5:
        print(f"{n_tokens} tokens: too short for even one window of 4 tokens and its target")
        return
    loader = create_dataloader(text, batch_size=8, max_length=4, stride=4, shuffle=False, drop_last=False)
    print(f"{n_tokens:,} tokens -> {len(loader.dataset):,} windows of 4 (stride 4) "
          f"-> {len(loader):,} batches of 8")
    x, y = next(iter(loader))
    print(f"first batch: inputs {x.shape}, targets {y.shape} (the targets are the inputs one token later)")
    for row_x, row_y in list(zip(x.tolist(), y.tolist()))[:3]:
        print(f"  {row_x} -> {row_y}   {enc.decode(row_x)!r} -> {enc.decode(row_y)!r}")
    if n_tokens < 257:
        print(f"{n_tokens} tokens: too short for the course's defaults (one window of 256 needs 257 tokens)")
        return
    course = create_dataloader(text, shuffle=False)
    print(f"the course's defaults (batch 4, max_length 256, stride 128): {len(course.dataset):,} windows, "
          f"{len(course):,} batches (drop_last)")


def demo_embeddings() -> None:
    from npllm.embedding import GPTEmbedding

    ids = np.array([[40, 367, 2885, 1464], [1807, 3619, 402, 271]])  # (B, T) = (2, 4)
    emb = GPTEmbedding(vocab_size=50257, context_length=1024, embedding_dim=256, seed=123)
    tokens = emb.token(ids)  # (B, T, D)
    positions = emb.position(ids.shape[1])  # (T, D)
    out = emb(ids)  # (B, T, D) = tokens + positions
    print(f"IDs {ids.shape} -> token embeddings {tokens.shape} (a {emb.token.weight.shape} table)")
    print(f"positions {positions.shape} (a {emb.position.weight.shape} table); sum {out.shape}")
    emb.backward(np.ones_like(out))
    rows = emb.token.touched_rows()
    print(f"backward: gradient in {len(rows)} token rows {rows.tolist()} and {ids.shape[1]} position rows; "
          f"each position row gets the sum over the batch ({ids.shape[0]})")
