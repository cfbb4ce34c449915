"""sktime's full estimator checks (check_estimator) on CrossScaleNetForecaster, one pytest case per check.

Every check sktime defines for forecasters runs on both parameter sets of ``get_test_params`` (a point
forecaster and a probabilistic one), with every fixture, and none is skipped or excluded.
"""

from __future__ import annotations

from sktime.utils.estimator_checks import check_estimator, parametrize_with_checks

from crossscale_ext import CrossScaleNetForecaster


@parametrize_with_checks(CrossScaleNetForecaster)
def test_sktime_estimator_checks(obj, test_name):
    check_estimator(obj, tests_to_run=test_name, raise_exceptions=True, verbose=False)
