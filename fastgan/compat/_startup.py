"""The FASTGAN_PATCH route: run by the fastgan-compat.pth line at interpreter start when the variable is set.

    FASTGAN_PATCH=stylegan2-ada|stylegan3|rosinality|auto   the code base to patch
    FASTGAN_PATCH_IMPL=auto|ref|cpu|triton|cuda            fastgan's backend (default auto)

'auto' looks in the working directory (then sys.path) at start-up, before the script's own
directory is on sys.path: run from the checkout's root, or name the code base.
"""
import os
import sys


def run() -> None:
    name = os.environ.get("FASTGAN_PATCH", "").strip()
    if not name:
        return
    impl = os.environ.get("FASTGAN_PATCH_IMPL", "auto").strip() or "auto"
    try:
        from fastgan import compat  # runs at interpreter start: import fastgan only when the variable is set

        if name.lower() == "auto":
            found = compat.detect([os.getcwd()] + sys.path)
            if found is None:
                raise ValueError("FASTGAN_PATCH=auto found no StyleGAN2 code base in the working directory "
                                 "or on sys.path; set FASTGAN_PATCH to " + " | ".join(compat.CODEBASES))
            name = found
        compat.patch(name, impl)
    except Exception as e:  # a start-up hook must not stop the interpreter; say so loudly instead
        print(f"fastgan.compat: FASTGAN_PATCH={name!r} FASTGAN_PATCH_IMPL={impl!r} was NOT applied: "
              f"{type(e).__name__}: {e}", file=sys.stderr, flush=True)
