# Placeholder until the CUDA kernels land: nothing is built.
