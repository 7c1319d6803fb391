#!/usr/bin/env python
"""One-shot GPU check of nnslim's CUDA kernels: correctness against CPU references and timing against
the torch peers, printed as one markdown table.

    python bench/gpu_check.py                 # whole check, about 2-4 minutes on an H100/H200
    python bench/gpu_check.py --budget 200    # hard wall-clock budget in seconds (default 270)
    python bench/gpu_check.py --only gemm_perf,spmm

Robust by construction, because it is meant to be run blind, once:
  - every group of cases runs in a child process, so a kernel fault (illegal address, sticky CUDA
    error) or a hang only loses the case that caused it: the parent kills the child after a per-case
    timeout and restarts the group at the next case;
  - each case catches its own exceptions and reports them as a row;
  - a global deadline stops launching work and still prints the table of what finished;
  - rows are also echoed as they arrive, so even a killed run leaves its results on stdout.

Peers: int8 GEMM vs torch._int_mm (cuBLASLt int8) and fp16 torch.mm (cuBLAS); the Int8Linear path
(quantize + GEMM + epilogue) vs fp16 F.linear; CSR SpMM at 90% sparsity vs torch.sparse.mm (cuSPARSE).
GPU times come from CUDA events around a batch of calls queued behind a short device-side sleep, so
they measure the GPU work, not Python launch overhead.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time

# ---- case lists (plain data: the parent never imports torch or touches the GPU) --------------------

SIZES = [1, 16, 128, 4096]
CASES = {
    "env": [("env",)],
    "quant": [("quant", dt, m, k) for dt, m, k in
              [("float32", 4096, 4096), ("float16", 4096, 4096), ("bfloat16", 4096, 4096),
               ("float32", 33, 1001), ("float16", 7, 100), ("bfloat16", 1, 4096)]],
    "gemm_check": ([("gemm_s32", kern, m, n, k) for kern in ("mma_128x128", "mma_32x32", "dp4a")
                    for m, n, k in [(33, 77, 80), (130, 260, 4096), (1, 64, 48), (257, 129, 1040)]]
                   + [("gemm_s32", "auto", m, n, k) for m, n, k in [(5, 13, 100), (7, 9, 131056), (3, 5, 131071)]]
                   + [("gemm_epi", kern, out) for kern in ("mma_128x128", "mma_32x32", "dp4a")
                      for out in ("float32", "float16", "bfloat16")]),
    "gemm_perf": [("gemm_perf", m, 4096, 4096) for m in SIZES] + [("gemm_perf", 4096, 11008, 4096)],
    "linear": [("linear", m, 4096, 4096) for m in SIZES],
    "spmm": [("spmm_small", m) for m in (1, 3, 16, 33, 128)] + [("spmm", m, 4096, 4096, 0.9) for m in SIZES],
}
GROUP_ORDER = ["env", "quant", "gemm_check", "gemm_perf", "linear", "spmm"]


def case_id(spec) -> str:
    return ":".join(str(s) for s in spec)


# ---- child: runs cases, prints one JSON line per result ----------------------------------------------

def child_main(group: str, start: int) -> None:
    import torch  # imported here, in the child only: the parent stays light and never touches the GPU

    ctx = _ChildContext(torch)
    for i, spec in enumerate(CASES[group]):
        if i < start:
            continue
        print("START " + json.dumps({"index": i, "id": case_id(spec)}), flush=True)
        t0 = time.time()
        try:
            rows = ctx.run(spec)
        except Exception as exc:  # one case failing must not stop the group
            rows = [{"case": case_id(spec), "ok": False, "note": f"{type(exc).__name__}: {str(exc)[:300]}"}]
            _emit(i, rows, time.time() - t0)
            if not ctx.cuda_healthy():
                sys.exit(3)  # sticky CUDA error: the parent restarts a fresh process at the next case
            continue
        _emit(i, rows, time.time() - t0)


def _emit(index, rows, seconds):
    print("RESULT " + json.dumps({"index": index, "rows": rows, "seconds": round(seconds, 2)}), flush=True)


class _ChildContext:
    def __init__(self, torch):
        self.torch = torch
        self.dev = torch.device("cuda", 0)
        torch.manual_seed(0)
        from nnslim import _native
        from nnslim.nn import _cuda_ops as ops
        self.native, self.ops = _native, ops

    def cuda_healthy(self) -> bool:
        try:
            self.torch.cuda.synchronize()
            self.torch.zeros(1, device=self.dev).add_(1).item()
            return True
        except Exception:
            return False

    # -- timing --
    def gpu_us(self, fn, min_reps=5, max_reps=100, target_s=0.05):
        """Mean GPU microseconds per call, launch overhead hidden behind a device-side sleep."""
        torch = self.torch
        fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        one = max(time.perf_counter() - t0, 1e-6)
        reps = int(min(max_reps, max(min_reps, target_s / one)))
        # CPU time to enqueue `reps` calls, so the sleep can cover it.
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        enqueue = time.perf_counter() - t0
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(3):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            sleep = getattr(torch.cuda, "_sleep", None)
            if sleep is not None:
                sleep(int(min(enqueue * 1.5 + 1e-3, 0.5) * 2e9))  # ~cycles at <= 2 GHz
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) * 1e3 / reps)
        return best

    # -- cases --
    def run(self, spec):
        return getattr(self, "case_" + spec[0])(*spec[1:])

    def case_env(self):
        torch = self.torch
        info = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
                "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                "cc": ".".join(map(str, torch.cuda.get_device_capability(0))) if torch.cuda.is_available() else None,
                "nnslim_cuda_built": self.native.has_cuda_module(),
                "nnslim_cpu_built": self.native.has_cpu_kernels()}
        if self.native.has_cuda_module():
            m = self.native.CUDA
            info.update(nnslim_device_count=m.device_count(), driver=m.driver_version(), runtime=m.runtime_version())
            if m.device_count() > 0:
                info["device_info"] = m.device_info(0)
        if self.native.has_cpu_kernels():
            info["cpu_isa"] = self.native.C.cpu_info().get("selected")
        return [{"case": "env", "ok": True, "env": info}]

    def _ref_quant(self, x):
        import numpy as np
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.native.has_cpu_kernels():
            return self.native.C.qs8_quantize_rows(x, reference=True)
        raise RuntimeError("nnslim._C not built: no CPU reference")

    def case_quant(self, dtype, m, k):
        import numpy as np
        torch, ops = self.torch, self.ops
        dt = getattr(torch, dtype)
        x = (torch.randn(m, k) * 4).to(dt)
        if m > 3:
            x[1] = 0
            x[2, 0] = float("nan")
            x[3, -1] = float("inf")
        xg = x.to(self.dev)
        kp = ops.padded_k(k)
        q, s = ops.quantize_rows_cuda(xg, k_pad=kp)
        qr, sr = self._ref_quant(x.float().numpy())
        ok = bool(torch.equal(q[:, :k].cpu(), torch.from_numpy(qr)) and not q[:, k:].any().item()
                  and np.array_equal(s.cpu().numpy(), sr, equal_nan=True))
        ours = self.gpu_us(lambda: ops.quantize_rows_cuda(xg, k_pad=kp))

        def peer():
            xf = xg.float()
            amax = xf.abs().amax(dim=1)
            qq = torch.round(xf * (127.0 / amax)[:, None]).clamp_(-127, 127).to(torch.int8)
            return qq, amax / 127.0
        peer_us = self.gpu_us(peer)
        return [{"case": f"quantize rows {dtype}", "shape": f"{m}x{k}", "ours_us": ours, "peer": "torch ops (amax/round)",
                 "peer_us": peer_us, "ok": ok, "note": "bitwise vs CPU reference"}]

    def case_gemm_s32(self, kernel, m, n, k):
        torch, ops = self.torch, self.ops
        a = torch.randint(-128, 128, (m, k), dtype=torch.int8)
        b = torch.randint(-128, 128, (n, k), dtype=torch.int8)
        c, used = ops.qs8_gemm_cuda(a.to(self.dev), b.to(self.dev), kernel=kernel, return_kernel=True)
        ref = a.double() @ b.double().t()  # exact: |sum| < 2^53
        ok = bool(torch.equal(c.cpu().double(), ref))
        return [{"case": f"int8 GEMM s32 [{kernel}->{used}]", "shape": f"{m}x{n}x{k}", "ok": ok,
                 "note": "exact vs CPU"}]

    def case_gemm_epi(self, kernel, out):
        import numpy as np
        torch, ops = self.torch, self.ops
        m, n, k = 45, 77, 160
        a = torch.randint(-128, 128, (m, k), dtype=torch.int8)
        b = torch.randint(-128, 128, (n, k), dtype=torch.int8)
        sa, sb, bias = torch.rand(m) * 0.01, torch.rand(n) * 0.02, torch.randn(n)
        od = getattr(torch, out)
        y = ops.qs8_gemm_cuda(a.to(self.dev), b.to(self.dev), out_dtype=od, a_scale=sa.to(self.dev),
                              b_scale=sb.to(self.dev), bias=bias.to(self.dev), kernel=kernel)
        acc = (a.long() @ b.long().t()).int().numpy().astype(np.float32)
        want = acc * (sa.numpy()[:, None] * sb.numpy()[None, :]) + bias.numpy()[None, :]
        ok = bool(torch.equal(y.cpu(), torch.from_numpy(want.astype(np.float32)).to(od)))
        return [{"case": f"int8 GEMM fused dequant+bias -> {out} [{kernel}]", "shape": f"{m}x{n}x{k}", "ok": ok,
                 "note": "bitwise vs CPU epilogue"}]

    def case_gemm_perf(self, m, n, k):
        torch, ops = self.torch, self.ops
        dev = self.dev
        a = torch.randint(-128, 128, (m, k), dtype=torch.int8, device=dev)
        b = torch.randint(-128, 128, (n, k), dtype=torch.int8, device=dev)
        c, used = ops.qs8_gemm_cuda(a, b, return_kernel=True)
        # Correctness: exact CPU fp64 on up to 256 sampled rows.
        rows = torch.unique(torch.cat([torch.tensor([0, m - 1]), torch.randint(0, m, (254,))]))
        ref = a[rows].cpu().double() @ b.cpu().double().t()
        ok = bool(torch.equal(c[rows.to(dev)].cpu().double(), ref))
        ours = self.gpu_us(lambda: ops.qs8_gemm_cuda(a, b))
        shape = f"{m}x{n}x{k}"
        out = []
        # cuBLASLt int8 wants M > 16 and K, N multiples of 8: pad tiny M (noted).
        mp = max(m, 32)
        ap = torch.zeros(mp, k, dtype=torch.int8, device=dev)
        ap[:m] = a
        bt = b.t()  # (K, N) column-major: cuBLASLt's fast "TN" int8 layout
        note = "" if mp == m else f"_int_mm run with M padded to {mp}"
        try:
            peer = self.gpu_us(lambda: torch._int_mm(ap, bt))
            same = bool(torch.equal(torch._int_mm(ap, bt)[:m], c))
        except Exception as exc:
            peer, same, note = None, None, f"_int_mm failed: {type(exc).__name__}: {str(exc)[:120]}"
        out.append({"case": f"int8 GEMM s32 [{used}]", "shape": shape, "ours_us": ours, "peer": "torch._int_mm",
                    "peer_us": peer, "ok": ok, "tops": 2 * m * n * k / ours / 1e6,
                    "note": ("exact vs CPU (sampled rows)" + ("" if same in (None, True) else "; DIFFERS from _int_mm")
                             + ("; " + note if note else ""))})
        # Fused dequant epilogue to fp16 vs fp16 cuBLAS on the same shape.
        sa = torch.rand(m, device=dev) * 0.01
        sb = torch.rand(n, device=dev) * 0.01
        ours16 = self.gpu_us(lambda: ops.qs8_gemm_cuda(a, b, out_dtype=torch.float16, a_scale=sa, b_scale=sb))
        ah, bh = a.half(), b.half()
        peer16 = self.gpu_us(lambda: torch.mm(ah, bh.t()))
        out.append({"case": f"int8 GEMM -> fp16 (fused dequant) [{used}]", "shape": shape, "ours_us": ours16,
                    "peer": "fp16 torch.mm (cuBLAS)", "peer_us": peer16, "ok": ok,
                    "tops": 2 * m * n * k / ours16 / 1e6, "note": ""})
        return out

    def case_linear(self, m, n, k):
        import copy
        torch = self.torch
        from nnslim.nn import Int8Linear
        dev = self.dev
        lin = torch.nn.Linear(k, n)
        q = Int8Linear.from_float(lin)
        qg = copy.deepcopy(q).to(dev)
        x = torch.randn(m, k).half()
        xg = x.to(dev)
        with torch.no_grad():
            y = qg(xg)
            ok, note = None, "no CPU kernels to compare"
            if self.native.has_cpu_kernels():
                rows = torch.unique(torch.cat([torch.tensor([0, m - 1]), torch.randint(0, m, (126,))]))
                ok = bool(torch.equal(y[rows.to(dev)].cpu(), q(x[rows])))
                note = "bitwise vs CPU Int8Linear (sampled rows)"
            ours = self.gpu_us(lambda: qg(xg))
            lh = lin.half().to(dev)
            peer = self.gpu_us(lambda: lh(xg))
        return [{"case": "Int8Linear fp16 in/out (quant+GEMM+epilogue)", "shape": f"{m}x{n}x{k}", "ours_us": ours,
                 "peer": "fp16 F.linear (cuBLAS)", "peer_us": peer, "ok": ok, "note": note}]

    def _csr(self, n, k, density):
        torch = self.torch
        w = torch.randn(n, k, device=self.dev)
        w = w * (torch.rand(n, k, device=self.dev) < density)
        csr = w.to_sparse_csr()
        return w, csr, csr.crow_indices().int(), csr.col_indices().int(), csr.values().float().contiguous()

    def case_spmm_small(self, m):
        torch, ops = self.torch, self.ops
        n, k = 70, 90
        w, _, ip, ix, vals = self._csr(n, k, 0.1)
        x = torch.randn(m, k, device=self.dev)
        bias = torch.randn(n, device=self.dev)
        y = ops.spmm_csr_cuda(ip, ix, vals, x, bias, row_order=ops.csr_row_order(ip))
        ref = x.cpu().double() @ w.cpu().double().t() + bias.cpu().double()
        err = (y.cpu().double() - ref).abs().max().item()
        return [{"case": "CSR SpMM (small)", "shape": f"{m}x{n}x{k}", "ok": err < 1e-4, "note": f"max abs err {err:.2e}"}]

    def case_spmm(self, m, n, k, sparsity):
        torch, ops = self.torch, self.ops
        mod = ops.cuda_module()
        dev = self.dev
        w, csr, ip, ix, vals = self._csr(n, k, 1.0 - sparsity)
        x = torch.randn(m, k, device=dev)
        order = ops.csr_row_order(ip)
        y = ops.spmm_csr_cuda(ip, ix, vals, x, row_order=order)
        rows = torch.unique(torch.cat([torch.tensor([0, m - 1]), torch.randint(0, m, (126,))]))
        ref = x[rows.to(dev)].cpu().double() @ w.cpu().double().t()
        rel = ((y[rows.to(dev)].cpu().double() - ref).norm() / ref.norm()).item()
        ok = rel < 1e-5
        op_us = self.gpu_us(lambda: ops.spmm_csr_cuda(ip, ix, vals, x, row_order=order, validate=False))
        xt = x.t().contiguous()
        yt = torch.empty(n, m, device=dev)
        stream = torch.cuda.current_stream(dev).cuda_stream
        nnz = ix.numel()

        def kernel_only():
            mod.f32_spmm_csr(ip.data_ptr(), ix.data_ptr(), vals.data_ptr(), order.data_ptr(), n, k, nnz,
                             xt.data_ptr(), m, m, 0, yt.data_ptr(), m, stream, dev.index)
        kern_us = self.gpu_us(kernel_only)
        note = f"nnz={nnz}; rel err {rel:.1e}; full op incl. transposes {op_us:.1f} us"
        try:
            peer = self.gpu_us(lambda: torch.sparse.mm(csr, xt))
        except Exception as exc:
            peer, note = None, note + f"; torch.sparse.mm failed: {type(exc).__name__}"
        return [{"case": "CSR SpMM kernel (Yt = W Xt)", "shape": f"{m}x{n}x{k} @ {int(sparsity * 100)}% sparse",
                 "ours_us": kern_us, "peer": "torch.sparse.mm (cuSPARSE)", "peer_us": peer, "ok": ok, "note": note}]


# ---- parent: schedules children, enforces time limits, prints the table ------------------------------

def _reader(stream, q):
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def run_group(group, deadline, case_timeout, results, log):
    specs = CASES[group]
    start = 0
    script = os.path.abspath(__file__)
    while start < len(specs):
        if time.time() > deadline - 5:
            for i in range(start, len(specs)):
                results.append({"case": case_id(specs[i]), "ok": None, "note": "not run: time budget spent"})
            return
        cmd = [sys.executable, script, "--child", group, "--start", str(start)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                start_new_session=True)
        q: "queue.Queue" = queue.Queue()
        err_lines: list = []
        threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
        threading.Thread(target=lambda: err_lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
        next_case, in_flight, started_any = start, None, False
        # The first case of a fresh child also pays for importing torch and creating the CUDA context.
        case_deadline = time.time() + case_timeout + 60
        killed_why = None
        while True:
            remaining = min(case_deadline, deadline) - time.time()
            if remaining <= 0:
                killed_why = "timeout" if time.time() < deadline else "time budget spent"
                break
            try:
                line = q.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if line is None:
                break
            if line.startswith("START "):
                in_flight = json.loads(line[6:])["index"]
                started_any = True
                case_deadline = time.time() + case_timeout
            elif line.startswith("RESULT "):
                res = json.loads(line[7:])
                for row in res["rows"]:
                    row.setdefault("seconds", res["seconds"])
                    results.append(row)
                    log(row)
                next_case, in_flight = res["index"] + 1, None
        if killed_why:
            try:
                os.killpg(proc.pid, 9)
            except Exception:
                proc.kill()
        try:
            proc.wait(timeout=10)
        except Exception:
            pass
        tail = "".join(err_lines[-5:]).strip().replace("\n", " | ")[-300:]
        why = killed_why or f"child exited with code {proc.returncode}"
        if in_flight is not None:
            # That case crashed, hung or broke the CUDA context: record it and go on with the next one.
            row = {"case": case_id(specs[in_flight]), "ok": False, "note": f"{why}; {tail}"}
            results.append(row)
            log(row)
            start = in_flight + 1
        elif not started_any:
            # The child died before its first case (import error, no CUDA): the rest would fail alike.
            for i in range(next_case, len(specs)):
                row = {"case": case_id(specs[i]), "ok": False, "note": f"not run, {why}; {tail}"}
                results.append(row)
                log(row)
            return
        else:
            start = next_case  # a clean exit after a sticky error: a fresh process takes the next case


def fmt_us(v):
    return "" if v is None else (f"{v:.1f}" if v < 1000 else f"{v:,.0f}")


def print_table(results, env, elapsed):
    print("\n## nnslim GPU check\n")
    if env:
        print("Environment: " + ", ".join(f"{k}={v}" for k, v in env.items()) + "\n")
    print("| case | shape | nnslim (us) | peer | peer (us) | peer/nnslim | check | notes |")
    print("|---|---|---:|---|---:|---:|---|---|")
    for r in results:
        if r.get("case") == "env":
            continue
        ours, peer = r.get("ours_us"), r.get("peer_us")
        ratio = f"{peer / ours:.2f}x" if ours and peer else ""
        check = {True: "ok", False: "FAIL", None: "-"}[r.get("ok")]
        note = r.get("note", "")
        if r.get("tops"):
            note = f"{r['tops']:.0f} TOPS; " + note
        print(f"| {r.get('case', '')} | {r.get('shape', '')} | {fmt_us(ours)} | {r.get('peer', '')} | "
              f"{fmt_us(peer)} | {ratio} | {check} | {note.replace('|', '/')} |")
    print()
    # Goals (H100/H200): int8 GEMM >= 70% of torch._int_mm at 4096^3 and faster than fp16 cuBLAS;
    # SpMM at 90% sparsity >= 1.5x cuSPARSE.
    goals = []
    for r in results:
        if r.get("shape") == "4096x4096x4096" and r.get("ours_us") and r.get("peer_us"):
            if r.get("peer") == "torch._int_mm":
                pct = 100 * r["peer_us"] / r["ours_us"]
                goals.append(f"int8 GEMM 4096^3: {pct:.0f}% of torch._int_mm (goal >= 70%): "
                             f"{'MET' if pct >= 70 else 'NOT MET'}")
            elif r.get("peer", "").startswith("fp16 torch.mm"):
                goals.append(f"int8 GEMM 4096^3 -> fp16 vs fp16 cuBLAS: {r['peer_us'] / r['ours_us']:.2f}x "
                             f"(goal > 1x): {'MET' if r['peer_us'] > r['ours_us'] else 'NOT MET'}")
        if str(r.get("shape", "")).startswith("4096x4096x4096 @ 90%") and r.get("ours_us") and r.get("peer_us"):
            sp = r["peer_us"] / r["ours_us"]
            goals.append(f"SpMM 90% M=4096: {sp:.2f}x cuSPARSE (goal >= 1.5x): {'MET' if sp >= 1.5 else 'NOT MET'}")
    for g in goals:
        print("- " + g)
    fails = sum(1 for r in results if r.get("ok") is False)
    print(f"\n{len(results) - 1 if env else len(results)} rows, {fails} failing, {elapsed:.0f} s")


def parent_main(args):
    t0 = time.time()
    deadline = t0 + args.budget
    groups = [g for g in GROUP_ORDER if not args.only or g in args.only.split(",") or g == "env"]
    results: list = []

    def log(row):
        print("# " + json.dumps(row), flush=True)

    for g in groups:
        run_group(g, deadline, args.case_timeout, results, log)
    env = next((r.get("env") for r in results if r.get("case") == "env" and r.get("env")), None)
    print_table(results, env, time.time() - t0)
    return 1 if any(r.get("ok") is False for r in results) else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=270.0, help="wall-clock seconds for the whole check")
    p.add_argument("--case-timeout", type=float, default=60.0, help="seconds one case may take")
    p.add_argument("--only", default="", help="comma-separated groups: " + ",".join(GROUP_ORDER))
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child_main(args.child, args.start)
        return 0
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
