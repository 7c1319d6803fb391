"""Runs the fuzz targets (fuzz/) on hypothesis-generated inputs, so every CI run exercises them."""
import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

ROOT = Path(__file__).resolve().parents[2]


def _target(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "fuzz" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fuzz_csr = _target("fuzz_csr")
fuzz_load = _target("fuzz_load")
fuzz_bsr4 = _target("fuzz_bsr4")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_csr(data):
    fuzz_csr.test_one_input(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_bsr4(data):
    fuzz_bsr4.test_one_input(data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=60))
def test_fuzz_load(data):
    fuzz_load.test_one_input(data)


def test_fuzz_load_unmodified_seed_loads():
    fuzz_load.test_one_input(b"")
