"""`fastgan train | generate | metrics | bench | profile | info`.

Each command lives beside the code it drives; a module listed here exposes
`register(subparsers)` which adds its sub-commands with `set_defaults(func=...)`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# module -> the commands it provides (kept here so `fastgan --help` lists them in order, and so a command
# whose module fails to import is still listed, with the reason)
_COMMAND_MODULES = (
    ("fastgan.train.cli", ("train", "generate", "profile")),
    ("fastgan.metrics.cli", ("metrics",)),
    ("fastgan.bench_cli", ("bench",)),
    ("fastgan.info", ("info",)),
)
_unavailable: dict = {}  # command -> why it cannot run here
_loaded: list = []       # the command modules that imported


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgan", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, commands in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError as e:  # e.g. an optional dependency of that command is missing
            why = f"{name} failed to import ({type(e).__name__}: {e})"
            for cmd in commands:
                _unavailable[cmd] = why
                sub.add_parser(cmd, help=f"unavailable: {why}", add_help=False)
            continue
        mod.register(sub)
        _loaded.append(mod)
    return parser


def unavailable_commands() -> dict:
    """Commands listed by `fastgan --help` that cannot run in this installation, with the reason."""
    build_parser()
    return dict(_unavailable)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _unavailable.clear()
    _loaded.clear()
    parser = build_parser()
    if argv and argv[0] in _unavailable:
        print(f"fastgan {argv[0]}: error: unavailable in this installation: {_unavailable[argv[0]]}", file=sys.stderr)
        return 2
    # a command module may take the tail of its command line as is (`fastgan bench ops --ops x` passes
    # `--ops x` to the script): its split_argv(argv) returns (what argparse parses, the tail)
    script_args = []
    for mod in _loaded:
        if hasattr(mod, "split_argv"):
            argv, script_args = mod.split_argv(argv)
            if script_args:
                break
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if script_args:
        args.script_args = script_args
    try:
        rc = args.func(args)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as e:
        print(f"fastgan {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
