"""The `nnslim` command: demo, compress, bench, inspect, info."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _cmd_info(args) -> int:
    import torch

    import nnslim

    info = nnslim.cpu_info()
    info["torch"] = torch.__version__
    info["cuda_available"] = bool(torch.cuda.is_available())
    print(json.dumps(info, indent=2))
    return 0


def _cmd_demo(args) -> int:
    from nnslim.demo import run_demo

    run_demo(quick=args.quick, out=args.out, seed=args.seed)
    return 0


def _load_data(spec: str):
    from nnslim import datasets
    from nnslim.pipeline import import_object

    if spec == "digits":
        return datasets.digits_loaders()
    data = import_object(spec)()
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"--data {spec}: expected the factory to return (train_loader, val_loader)")
    return data


def _cmd_compress(args) -> int:
    import torch

    import nnslim
    from nnslim.pipeline import import_object

    if not os.path.exists(args.recipe):
        raise FileNotFoundError(f"--recipe: no such file {args.recipe!r}")
    factory = import_object(args.model)
    model = factory()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"--model {args.model}: the factory returned {type(model).__name__}, not an nn.Module")
    if args.weights:
        if not os.path.exists(args.weights):
            raise FileNotFoundError(f"--weights: no such file {args.weights!r}")
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    train, val = _load_data(args.data) if args.data else (None, None)
    compressed, report = nnslim.compress(model, args.recipe, train_data=train, val_data=val)
    report.print()
    nnslim.save(compressed, args.out)
    report.save_json(os.path.splitext(args.out)[0] + ".report.json")
    print(f"wrote {args.out}")
    return 0


def _cmd_inspect(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from nnslim.io import read_file

    tensors, meta = read_file(args.path)
    console = Console(width=160)
    console.print(f"[bold]{args.path}[/bold]: nnslim format {meta['format_version']}, written by nnslim "
                  f"{meta.get('nnslim_version', '?')}, {os.path.getsize(args.path):,} bytes")
    t = Table(title="modules")
    for c in ("module", "type", "tensors", "dtypes", "elements", "nonzero %", "bytes"):
        t.add_column(c)
    by_module = {}
    for name, v in tensors.items():
        by_module.setdefault(name.rpartition(".")[0], []).append((name, v))
    total = 0
    for mod, items in sorted(by_module.items()):
        numel = sum(v.numel() for _, v in items)
        nbytes = sum(v.numel() * v.element_size() for _, v in items)
        weights = [v for n, v in items if n.rpartition(".")[2] in ("weight", "weight_int8", "values")]
        nz = ""
        if weights:
            w = weights[0]
            nz = f"{100.0 * int((w != 0).sum()) / max(w.numel(), 1):.1f}"
        total += nbytes
        t.add_row(mod or "(root)", meta["modules"].get(mod, {}).get("type", "-"), str(len(items)),
                  ",".join(sorted({str(v.dtype).replace("torch.", "") for _, v in items})), f"{numel:,}", nz,
                  f"{nbytes:,}")
    console.print(t)
    console.print(f"tensor bytes: {total:,}")
    return 0


def _cmd_bench(args) -> int:
    import torch

    from nnslim.benchmarks import run_all

    torch.set_num_threads(args.threads)

    print(run_all(quick=args.quick))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnslim", description="Make PyTorch models smaller and faster, measured.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="compress a CNN on built-in data (sklearn digits) and print the report")
    d.add_argument("--quick", action="store_true", help="fewer epochs (for tests)")
    d.add_argument("--out", default=None, help="directory for report.json, plots and the compressed model")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(fn=_cmd_demo)
    c = sub.add_parser("compress", help="compress a model with a recipe and save it")
    c.add_argument("--model", required=True, help="package.module:factory returning the float nn.Module")
    c.add_argument("--recipe", required=True, help="YAML recipe: {stages: [{distill: ...}, {prune: ...}, ...]}")
    c.add_argument("--out", required=True, help="output .nns file")
    c.add_argument("--weights", default=None, help="optional state_dict (.pt) to load into the model first")
    c.add_argument("--data", default=None,
                   help="'digits' or package.module:factory returning (train_loader, val_loader)")
    c.set_defaults(fn=_cmd_compress)
    b = sub.add_parser("bench", help="kernel benchmarks against the torch peers, one table with ratios")
    b.add_argument("--quick", action="store_true")
    b.add_argument("--threads", type=int, default=2)
    b.set_defaults(fn=_cmd_bench)
    i = sub.add_parser("inspect", help="layers, dtypes, sparsity and sizes of a saved .nns file")
    i.add_argument("path")
    i.set_defaults(fn=_cmd_inspect)
    n = sub.add_parser("info", help="CPU features, selected kernels, threads, CUDA module status")
    n.set_defaults(fn=_cmd_info)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, ImportError, OSError) as exc:
        print(f"nnslim {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
