#!/usr/bin/env bash
# Run a command as it would run on an x86 CPU with AVX2 only (no AVX-512, no native bf16):
# oneDNN (convolutions, matmuls) and ATen's vectorised kernels, which torch.compile's C++
# code generator follows too, are capped at AVX2, so recipes.perf.fast.cpu_bf16_is_fast()
# answers False and fast_preset takes its fp32 path. An emulation on an AVX-512 machine: the
# kernels are the AVX2 ones, the caches and clocks are this machine's.
#   tools/as_avx2.sh .venv/bin/python -m recipes bench --device cpu
export ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
exec "$@"
