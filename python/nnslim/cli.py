"""The `nnslim` command: demo, compress, bench, inspect, info."""
from __future__ import annotations

import argparse
import json
import sys


def _cmd_info(args) -> int:
    import torch

    import nnslim
    from nnslim import _native

    info = nnslim.cpu_info()
    info["torch"] = torch.__version__
    info["cuda_module"] = _native.has_cuda_module()
    info["cuda_available"] = bool(torch.cuda.is_available())
    print(json.dumps(info, indent=2))
    return 0


def _cmd_demo(args) -> int:
    from nnslim.demo import run_demo

    run_demo(quick=args.quick, out=args.out, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnslim", description="Make PyTorch models smaller and faster, measured.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="compress a CNN on built-in data (sklearn digits) and print the report")
    d.add_argument("--quick", action="store_true", help="fewer epochs (for tests)")
    d.add_argument("--out", default=None, help="directory for report.json / plots / the compressed model")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(fn=_cmd_demo)
    i = sub.add_parser("info", help="CPU features, selected kernels, threads, CUDA module status")
    i.set_defaults(fn=_cmd_info)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, ImportError) as exc:
        print(f"nnslim {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
