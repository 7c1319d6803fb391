"""Benchmark helpers live in the package (nnslim.benchmarks) so `nnslim bench` can use them too."""
from nnslim.benchmarks import interleaved_medians, markdown_table  # noqa: F401
