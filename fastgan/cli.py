"""`fastgan train | generate | metrics | bench | profile | info`.

Each command lives beside the code it drives; a module listed here exposes
`register(subparsers)` which adds its sub-commands with `set_defaults(func=...)`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# module -> commands it provides (kept here so `fastgan --help` lists them in order)
_COMMAND_MODULES = (
    "fastgan.train.cli",      # train, generate, profile
    "fastgan.metrics.cli",    # metrics
    "fastgan.bench_cli",      # bench
    "fastgan.info",           # info
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgan", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (name == e.name or name.startswith(e.name + ".")):  # not part of this build yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as e:
        print(f"fastgan {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
