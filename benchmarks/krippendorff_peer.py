"""Times fast-krippendorff (PyPI `krippendorff`) on the same matrices r2l's alpha_timing reads.

Writes each matrix as raw little-endian f64 (coders x units, NaN = missing) and prints one JSON
line per case with the peer's best time. Run through compare_krippendorff.sh.
"""
import json
import sys
import time

import krippendorff
import numpy as np


def matrix(coders, units, missing, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 6, size=(coders, units)).astype(np.float64)
    data[rng.random((coders, units)) < missing] = np.nan
    return data


def best_of(repeats, function):
    best = float("inf")
    value = None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def bootstrap(data, resamples=1000, seed=0):
    rng = np.random.default_rng(seed)
    units = data.shape[1]
    values = []
    for _ in range(resamples):
        picked = data[:, rng.integers(0, units, size=units)]
        values.append(krippendorff.alpha(reliability_data=picked, level_of_measurement="interval"))
    return np.percentile(values, [2.5, 97.5]).tolist()


def main(out_dir):
    big = matrix(10, 1_000_000, 0.3, 0)
    big.tofile(f"{out_dir}/alpha_10x1e6.f64")
    seconds, alpha = best_of(3, lambda: krippendorff.alpha(reliability_data=big, level_of_measurement="interval"))
    print(json.dumps({"case": "alpha", "seconds": seconds, "alpha": alpha}))
    small = matrix(3, 5_000, 0.3, 1)
    small.tofile(f"{out_dir}/bootstrap_3x5000.f64")
    seconds, ci = best_of(1, lambda: bootstrap(small))
    print(json.dumps({"case": "bootstrap", "seconds": seconds, "ci95": ci}))


if __name__ == "__main__":
    main(sys.argv[1])
