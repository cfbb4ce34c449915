"""Fork-based parallel backends after a fit in the same process: no hang, the sequential results.

Torch's OpenMP thread pool does not survive ``fork()``; ``crossscale_ext._fork`` sets one torch thread in every
forked child. Each check runs in a fresh interpreter with two torch threads (so the parent's pool exists, as
in a user's notebook) and a timeout, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")

TESTS = Path(__file__).resolve().parent

PRELUDE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import pandas as pd
    import torch
    from support import QUIET_TRAINER
    from crossscale_ext import CrossScaleNetForecaster
    from crossscale_ext._lightning import silence_lightning

    silence_lightning()
    torch.set_num_threads(2)
    a = torch.randn(256, 256)
    (a @ a).sum()  # the parent's thread pool now exists
    index = pd.date_range("2024-01-01", periods=70, freq="h")
    y = pd.DataFrame({{"a": np.sin(np.arange(70) / 2.0)}}, index=index)

    def forecaster():
        return CrossScaleNetForecaster(
            input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8, moving_avg_kernel=7,
            d_model=8, n_epochs=1, random_state=0, pl_trainer_kwargs=dict(QUIET_TRAINER),
        )

    forecaster().fit(y)  # a fit in this process, before the fork
    """
).format(tests=str(TESTS))


def _run(body: str, timeout: float = 240.0) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True, text=True, timeout=timeout
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_sktime_evaluate_with_the_multiprocessing_backend_after_a_fit():
    out = _run(
        """
        from sktime.forecasting.model_evaluation import evaluate
        from sktime.split import ExpandingWindowSplitter

        cv = ExpandingWindowSplitter(initial_window=50, step_length=10, fh=[1, 2])
        sequential = evaluate(forecaster(), cv=cv, y=y)
        forked = evaluate(forecaster(), cv=cv, y=y, backend="multiprocessing")
        column = "test_MeanAbsolutePercentageError"
        np.testing.assert_allclose(forked[column], sequential[column], rtol=1e-4)
        print("forked", len(forked))
        """
    )
    assert "forked 2" in out


def test_joblib_fork_backend_after_a_fit():
    out = _run(
        """
        from joblib import Parallel, delayed

        fitted = forecaster().fit(y)
        expected = fitted.predict([1, 2]).to_numpy()

        def predict(_):
            return fitted.predict([1, 2]).to_numpy()

        results = Parallel(n_jobs=2, backend="multiprocessing")(delayed(predict)(i) for i in range(2))
        for result in results:
            np.testing.assert_allclose(result, expected, rtol=1e-4)
        print("joblib", len(results))
        """
    )
    assert "joblib 2" in out
