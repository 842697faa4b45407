#!/usr/bin/env bash
# The many-core check (see benchmarks/device_check.py): numbadn bench at
# 1,2,4,8,16 threads, FISTA to 1% on a batch of 64 (numbadn at each thread count,
# PyTorch on CPU and GPU where installed) and the distributed benchmark at 16
# workers, into figures/device_check.json and .txt.  Under 6 minutes on 16 cores.
#   benchmarks/device_check.sh            # the check
#   benchmarks/device_check.sh --smoke    # a tiny version in seconds (tests)
# PYTHON selects the interpreter (default: python3 on the PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m benchmarks.device_check "$@"
