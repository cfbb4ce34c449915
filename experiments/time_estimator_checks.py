"""Time sktime's full estimator checks on the ``CrossScaleNetForecaster`` of the checkout on ``PYTHONPATH``.

Compares the cost of the sktime contract between two versions of the package: run it once with the current
checkout and once with another one first on ``PYTHONPATH`` (e.g. an older commit unpacked with ``git archive``),
at the same time, one torch thread each::

    python experiments/time_estimator_checks.py
    PYTHONPATH=/tmp/crossscale-8e83f20 python experiments/time_estimator_checks.py

Prints which package was timed, the number of checks, the failures and the seconds.
"""

from __future__ import annotations

import logging
import time
import warnings

import torch


def main() -> None:
    """Run ``check_estimator`` on the forecaster class and print its count, failures and time."""
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("darts", "pytorch_lightning", "lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from sktime.utils.estimator_checks import check_estimator

    import crossscale_ext
    from crossscale_ext.sktime_forecaster import CrossScaleNetForecaster

    begin = time.perf_counter()
    results = check_estimator(CrossScaleNetForecaster, raise_exceptions=False, verbose=False)
    seconds = time.perf_counter() - begin
    failed = [name for name, outcome in results.items() if outcome != "PASSED"]
    print(f"package: {crossscale_ext.__file__}")
    print(f"checks: {len(results)}, failed: {len(failed)} {failed[:10]}, seconds: {seconds:.1f}")


if __name__ == "__main__":
    main()
