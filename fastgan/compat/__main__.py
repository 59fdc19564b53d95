"""python -m fastgan.compat run [--codebase NAME] [--impl IMPL] (SCRIPT | -m MODULE) [ARGS ...]
python -m fastgan.compat detect [DIR ...]

`run` patches the code base (named, or FASTGAN_PATCH, or detected next to SCRIPT / in the working
directory), then runs SCRIPT (or MODULE) as __main__ with ARGS, as `python SCRIPT ARGS` would. It
also sets FASTGAN_PATCH / FASTGAN_PATCH_IMPL, so child interpreters (DataLoader workers, spawned
ranks) are patched too where fastgan's .pth hook is installed.
"""
import os
import runpy
import sys

from . import CODEBASES, IMPLS, detect, patch

USAGE = __doc__.split("\n\n")[0]


def _fail(msg):
    print(f"{msg}\n\nusage: {USAGE}", file=sys.stderr)
    return 2


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}\n\ncode bases: {', '.join(CODEBASES)}; impl: {', '.join(IMPLS)}")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "detect":
        found = detect(rest or [os.getcwd()])
        print(found or "none")
        return 0 if found else 1
    if cmd != "run":
        return _fail(f"unknown command {cmd!r}")
    codebase, impl = os.environ.get("FASTGAN_PATCH") or None, os.environ.get("FASTGAN_PATCH_IMPL") or "auto"
    while rest and rest[0] in ("--codebase", "--impl"):
        if len(rest) < 2:
            return _fail(f"{rest[0]} needs a value")
        if rest[0] == "--codebase":
            codebase = rest[1]
        else:
            impl = rest[1]
        rest = rest[2:]
    if not rest or (rest[0] == "-m" and len(rest) < 2):
        return _fail("run needs a SCRIPT or -m MODULE")
    module = rest[1] if rest[0] == "-m" else None
    target = module or rest[0]
    args = rest[2:] if module else rest[1:]
    if module is None and not os.path.isfile(target):
        return _fail(f"{target}: no such script")
    where = [os.getcwd()] if module else [os.path.dirname(os.path.abspath(target)), os.getcwd()]
    if codebase is None or codebase.lower() == "auto":
        codebase = detect(where)
        if codebase is None:
            return _fail(f"no StyleGAN2 code base found in {', '.join(where)}; pass --codebase "
                         + " | ".join(CODEBASES))
    try:
        report = patch(codebase, impl)
    except (TypeError, ValueError) as e:
        return _fail(str(e))
    os.environ["FASTGAN_PATCH"], os.environ["FASTGAN_PATCH_IMPL"] = report.codebase, report.impl
    if module:
        sys.argv = [module] + args
        sys.path[0] = os.getcwd()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [target] + args
        sys.path[0] = os.path.dirname(os.path.abspath(target))
        runpy.run_path(target, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
