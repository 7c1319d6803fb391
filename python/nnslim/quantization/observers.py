"""Activation range observers for calibration: each watches tensors and proposes (scale, zero_point)
for int8 q = clamp(round(x / scale) + zero_point, -128, 127)."""
from __future__ import annotations

import math
from typing import Dict, Tuple, Type

import numpy as np
import torch

from nnslim.nn._common import FLOOR_MARGIN

QMIN, QMAX = -128, 127


def qparams_from_range(lo: float, hi: float, symmetric: bool, qmin: int = QMIN, qmax: int = QMAX) -> Tuple[float, int]:
    """Scale / zero point covering [lo, hi] (always including 0, so zero padding is exact) on the
    codes [qmin, qmax] (asymmetric only; symmetric ones are [-127, 127])."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if symmetric:
        amax = max(-lo, hi)
        scale = amax / 127.0 if amax > 0 else 1.0
        return float(scale), 0
    if hi - lo <= 0:
        return 1.0, 0
    scale = (hi - lo) / float(qmax - qmin)
    zp = int(round(qmin - lo / scale))
    return float(scale), int(min(qmax, max(qmin, zp)))


# The codes of an activation edge per Int8StaticConfig.activation_bits.
ACTIVATION_CODES = {8: (QMIN, QMAX), 7: (0, 127)}


def activation_qparams(qparams: Tuple[float, int], bits: int, floor: float = 0.0) -> Tuple[float, int]:
    """An observer's 8-bit (scale, zero_point) as an activation edge of ``bits`` bits: unchanged at 8;
    at 7 the same real range, widened down to ``floor`` (the least value the producer can emit, e.g.
    Hardswish's -0.375, so that no output falls below code 0), on the codes [0, 127]. Codes >= 0 are
    what lets the AVX2 GEMM skip its sign handling (qs8-gemm-avx2.cc, rows_nonneg)."""
    if bits == 8:
        return qparams
    scale, zp = qparams
    qmin, qmax = ACTIVATION_CODES[bits]
    lo, hi = (QMIN - zp) * scale, (QMAX - zp) * scale
    scale, zp = qparams_from_range(min(lo, floor), hi, False, qmin, qmax)
    # The floor itself must round to qmin or above even after fp32's rounding of 1 / scale (within
    # 1e-4 of a code here): where the zero point's rounding left it closer to the half-way point, the
    # range moves up one code.
    if floor < 0 and floor / scale + zp < qmin - 0.5 + FLOOR_MARGIN and zp < qmax:
        zp += 1
    return scale, zp


class Observer:
    """Base: ``update(x)`` per batch, then ``qparams(symmetric)``."""

    name = "base"

    def __init__(self):
        self.batches = 0

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().float()
        x = x[torch.isfinite(x)]
        if x.numel() == 0:
            return
        self.batches += 1
        self._update(x)

    def _update(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def range(self) -> Tuple[float, float]:
        raise NotImplementedError

    def qparams(self, symmetric: bool = False) -> Tuple[float, int]:
        if self.batches == 0:
            raise ValueError(f"{type(self).__name__}: no finite values observed; calibration data never reached this layer")
        lo, hi = self.range()
        return qparams_from_range(lo, hi, symmetric)


class MinMaxObserver(Observer):
    name = "minmax"

    def __init__(self):
        super().__init__()
        self.lo, self.hi = math.inf, -math.inf

    def _update(self, x):
        self.lo = min(self.lo, x.min().item())
        self.hi = max(self.hi, x.max().item())

    def range(self):
        return self.lo, self.hi


class MovingAverageMinMaxObserver(Observer):
    """Exponential moving average of per-batch min / max: robust to one extreme batch."""

    name = "moving_average"

    def __init__(self, averaging_constant: float = 0.01):
        super().__init__()
        if not 0 < averaging_constant <= 1:
            raise ValueError(f"averaging_constant must be in (0, 1], got {averaging_constant}")
        self.c = averaging_constant
        self.lo = self.hi = None

    def _update(self, x):
        lo, hi = x.min().item(), x.max().item()
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            self.lo += self.c * (lo - self.lo)
            self.hi += self.c * (hi - self.hi)

    def range(self):
        return self.lo, self.hi


class HistogramObserver(Observer):
    """Histogram over [min, max] seen so far (re-binned when the range grows); the basis of the
    percentile, MSE and entropy observers, which choose a clipping range from it."""

    name = "histogram"
    bins = 2048

    def __init__(self):
        super().__init__()
        self.hist = np.zeros(self.bins, dtype=np.float64)
        self.lo = self.hi = None

    def _update(self, x):
        lo, hi = x.min().item(), x.max().item()
        if self.lo is None:
            self.lo, self.hi = min(lo, 0.0), max(hi, 0.0)
            if self.hi == self.lo:
                self.hi = self.lo + 1e-8
        elif lo < self.lo or hi > self.hi:
            new_lo, new_hi = min(lo, self.lo), max(hi, self.hi)
            self.hist = self._rebin(self.hist, self.lo, self.hi, new_lo, new_hi)
            self.lo, self.hi = new_lo, new_hi
        h = torch.histc(x, bins=self.bins, min=self.lo, max=self.hi)
        self.hist += h.double().numpy()

    def _rebin(self, hist, lo, hi, new_lo, new_hi):
        centers = lo + (np.arange(self.bins) + 0.5) * (hi - lo) / self.bins
        idx = np.clip(((centers - new_lo) / (new_hi - new_lo) * self.bins).astype(np.int64), 0, self.bins - 1)
        out = np.zeros(self.bins)
        np.add.at(out, idx, hist)
        return out

    def centers(self):
        return self.lo + (np.arange(self.bins) + 0.5) * (self.hi - self.lo) / self.bins

    def range(self):
        return self.lo, self.hi


class PercentileObserver(HistogramObserver):
    """Clips to the [100 - p, p] percentiles of everything observed."""

    name = "percentile"

    def __init__(self, percentile: float = 99.99):
        super().__init__()
        if not 50 < percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.p = percentile

    def range(self):
        cdf = np.cumsum(self.hist) / max(self.hist.sum(), 1e-12)
        edges = self.lo + np.arange(1, self.bins + 1) * (self.hi - self.lo) / self.bins
        lo = edges[np.searchsorted(cdf, 1 - self.p / 100.0)] if self.lo < 0 else 0.0
        hi = edges[min(np.searchsorted(cdf, self.p / 100.0), self.bins - 1)]
        return min(lo, 0.0), max(hi, 0.0)


def _quant_mse(values, counts, scale, zp):
    q = np.clip(np.round(values / scale) + zp, QMIN, QMAX)
    return float(np.sum(counts * (values - (q - zp) * scale) ** 2))


class MSEObserver(HistogramObserver):
    """Searches the clipping range that minimises the expected squared quantization error."""

    name = "mse"

    def qparams(self, symmetric: bool = False):
        if self.batches == 0:
            return super().qparams(symmetric)
        values, counts = self.centers(), self.hist
        best = None
        for alpha in np.linspace(0.2, 1.0, 81):
            scale, zp = qparams_from_range(self.lo * alpha, self.hi * alpha, symmetric)
            err = _quant_mse(values, counts, scale, zp)
            if best is None or err < best[0]:
                best = (err, scale, zp)
        return best[1], best[2]


class EntropyObserver(HistogramObserver):
    """KL-divergence calibration (TensorRT style) on |x|: the threshold whose 8-bit quantized
    distribution diverges least from the observed one."""

    name = "entropy"

    def qparams(self, symmetric: bool = False):
        if self.batches == 0:
            return super().qparams(symmetric)
        values, counts = self.centers(), self.hist
        amax = max(-self.lo, self.hi)
        abs_bins = 1024
        abs_hist, _ = np.histogram(np.abs(values), bins=abs_bins, range=(0, amax), weights=counts)
        nonneg = self.lo >= 0
        levels = 256 if (nonneg and not symmetric) else 128
        best_t, best_kl = abs_bins, math.inf
        for i in range(max(levels, 16), abs_bins + 1, 8):
            p = abs_hist[:i].copy()
            p[-1] += abs_hist[i:].sum()
            if p.sum() == 0:
                continue
            chunks = np.array_split(np.arange(i), levels)
            q = np.zeros(i)
            for c in chunks:
                nz = abs_hist[c] > 0
                if nz.any():
                    q[c[nz]] = abs_hist[c].sum() / nz.sum()
            pn, qn = p / p.sum(), q / max(q.sum(), 1e-12)
            mask = pn > 0
            kl = float(np.sum(pn[mask] * np.log(pn[mask] / np.maximum(qn[mask], 1e-12))))
            if kl < best_kl:
                best_kl, best_t = kl, i
        t = best_t / abs_bins * amax
        lo = max(self.lo, -t)
        return qparams_from_range(lo, min(self.hi, t), symmetric)


OBSERVERS: Dict[str, Type[Observer]] = {
    c.name: c for c in (MinMaxObserver, MovingAverageMinMaxObserver, HistogramObserver, PercentileObserver,
                        MSEObserver, EntropyObserver)
}


def make_observer(name: str, **kwargs) -> Observer:
    if name not in OBSERVERS:
        raise ValueError(f"unknown observer {name!r}; expected one of {sorted(OBSERVERS)}")
    return OBSERVERS[name](**kwargs)
