"""Property-based bad-input tests (hypothesis) of both wrappers' entry points.

Every generated case calls one entry point (Darts: ``fit``, ``predict``, ``saliency``, ``explain``; sktime: ``fit``,
``predict``, ``predict_quantiles``, ``predict_interval``, ``update``, ``saliency``) and must end in one of two ways:

- a **correct result**: checked by the case (finite values, the right length, time index and columns);
- an **explained error**, as :func:`explanation` defines it: a ``ValueError`` / ``TypeError`` raised by this package's
  own checks with a message that names a fix (:data:`FIX_WORDS`), or raised by one of the Darts / sktime input checks
  listed in :data:`KNOWN_LIBRARY_CHECKS` (each with the reason it is accepted). The one other type accepted is the
  ``NotImplementedError`` sktime's contract prescribes for in-sample ``fh``, raised by our ``_check_fh`` with the fix.

Anything else (a raw torch / numpy error, a library error not listed, an error without a fix, a NaN forecast) fails
the test. A failed ``fit`` / ``update`` must also leave the model as it was (checked in every failing case).

Profiles: the default suite runs each property with a small fixed-seed example count (``derandomize=True``);
``python -m pytest -m slow tests/test_properties.py -s`` runs the same properties with the larger counts of
:data:`SLOW_EXAMPLES`. Both print a table of the cases per entry point and outcome at the end of the module
(``-s`` shows it); with ``CROSSSCALE_PROPERTY_COUNTS=path.json`` the table is also written there.
"""

from __future__ import annotations

import copy
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from darts import TimeSeries
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import TINY, tiny_model

import crossscale_ext
from crossscale_ext import CrossScaleNetForecaster

ICL, OCL = TINY["input_chunk_length"], TINY["output_chunk_length"]
SK_SMALL = {"input_chunk_length": ICL, "output_chunk_length": OCL, "n_scales": 3, "base_patch_length": 8,
            "moving_avg_kernel": 7, "d_model": 8, "n_epochs": 1, "batch_size": 32, "random_state": 0,
            "pl_trainer_kwargs": {"accelerator": "cpu"}}
SK_QUANTILES = [0.1, 0.5, 0.9]

#: examples per property: (default suite, ``-m slow``); the slow counts add up to 2,190 generated cases
EXAMPLES = {
    "darts_predict": (25, 400), "darts_predict_covariates": (15, 250), "darts_saliency": (15, 250),
    "darts_saliency_covariates": (8, 120), "darts_explain": (8, 120), "darts_fit": (6, 110),
    "sktime_predict": (15, 250), "sktime_predict_X": (10, 150), "sktime_quantiles": (10, 150),
    "sktime_update": (10, 150), "sktime_saliency": (8, 140), "sktime_fit": (6, 100),
}
SLOW_EXAMPLES = sum(slow for _, slow in EXAMPLES.values())

PACKAGE_DIR = Path(crossscale_ext.__file__).resolve().parent
LIBRARY_DIRS = {name: Path(__import__(name).__file__).resolve().parent for name in ("darts", "sktime")}

#: our own messages must name a fix: one of these words (an imperative or an example)
FIX_WORDS = re.compile(
    r"\b(use|pass|fill|cast|convert|give|call|extend|trim|resample|sort|drop|refit|scale|replace|clip|encode|"
    r"lower|choose|re-index)\b|e\.g\.",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class KnownCheck:
    """An input check of Darts or sktime whose error is accepted as explained, and why."""

    library: str
    error_type: type[BaseException]
    pattern: str
    reason: str


KNOWN_LIBRARY_CHECKS: tuple[KnownCheck, ...] = (
    KnownCheck("darts", ValueError, r"must have equal number of components as the `\w+` used to train the model",
               "Darts compares the widths of series and covariates with the training ones and names both numbers"),
    KnownCheck("darts", ValueError, r"do not extend far enough into the (past|future)",
               "Darts' covariate-span check names the series, the time step the covariates must reach and where they "
               "start / end"),
    KnownCheck("darts", ValueError, r"trained without `\w+`; No `\w+` should be provided",
               "Darts says which covariates the model was not trained with (the fix: leave them out)"),
    KnownCheck("darts", ValueError, r"trained with `\w+`.*\bmust\b|`\w+` (is|are) required",
               "Darts says which covariates the model was trained with and needs at predict time"),
    KnownCheck("sktime", TypeError, r"must be in an sktime compatible format",
               "sktime's mtype check for containers it cannot read (e.g. a list of floats) lists the formats allowed"),
)


def _raising_file(error: BaseException) -> Path:
    traceback = error.__traceback__
    if traceback is None:  # never raised
        return Path("<not raised>")
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return Path(traceback.tb_frame.f_code.co_filename).resolve()


def explanation(error: BaseException) -> str | None:
    """Why ``error`` counts as explained (``"ours"`` or ``"<library>: <reason>"``), or None when it does not."""
    message, origin = str(error), _raising_file(error)
    if isinstance(error, NotImplementedError):
        in_sample = "in-sample" in message and origin.is_relative_to(PACKAGE_DIR) and FIX_WORDS.search(message)
        return "ours" if in_sample else None
    if not isinstance(error, ValueError | TypeError):
        return None
    if origin.is_relative_to(PACKAGE_DIR):
        return "ours" if FIX_WORDS.search(message) else None
    for check in KNOWN_LIBRARY_CHECKS:
        if (origin.is_relative_to(LIBRARY_DIRS[check.library]) and isinstance(error, check.error_type)
                and re.search(check.pattern, message)):
            return f"{check.library}: {check.reason}"
    return None


COUNTS: Counter = Counter()


def attempt(entry: str, call: Callable[[], Any], check: Callable[[Any], None]) -> tuple[bool, Any]:
    """Run ``call``; an explained error gives ``(False, error)``, a result must pass ``check`` and gives ``(True, r)``.

    An unexplained error fails the test (re-raised with the entry point in the message).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except Exception as error:  # noqa: BLE001 - every error is classified
        why = explanation(error)
        if why is None:
            raise AssertionError(f"{entry}: unexplained {type(error).__name__}: {error}") from error
        COUNTS[entry, "explained error (ours)" if why == "ours" else "explained error (library check)"] += 1
        if os.environ.get("CROSSSCALE_PROPERTY_VERBOSE"):
            print(f"\n{entry}: {type(error).__name__}: {str(error)[:200]}")
        return False, error
    check(result)
    COUNTS[entry, "correct result"] += 1
    return True, result


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    if not COUNTS:
        return
    entries = sorted({entry for entry, _ in COUNTS})
    outcomes = sorted({outcome for _, outcome in COUNTS})
    lines = ["", "generated cases per entry point:", " | ".join(["entry point", *outcomes, "total"])]
    for entry in entries:
        row = [COUNTS[entry, outcome] for outcome in outcomes]
        lines.append(" | ".join([entry, *map(str, row), str(sum(row))]))
    lines.append(f"all entry points: {sum(COUNTS.values())} cases, 0 unexplained (the tests fail otherwise)")
    print("\n".join(lines))
    target = os.environ.get("CROSSSCALE_PROPERTY_COUNTS")
    if target:
        table = {f"{entry} | {outcome}": count for (entry, outcome), count in sorted(COUNTS.items())}
        Path(target).write_text(json.dumps(table, indent=1))


# ------------------------------------------------------------------------------------------ generated data
DTYPES = ("float32", "float32", "float64", "float16", "int64", "bool", "object")
VALUE_KINDS = ("sine", "sine", "constant", "huge", "huge_constant", "zeros")


def sometimes(percent: int) -> st.SearchStrategy[bool]:
    """True in about ``percent`` % of the draws (each dimension of a case is clean most of the time).

    hypothesis favours small integers and shrinks towards 0, so 0 maps to False: the clean case is the simple one.
    """
    return st.integers(0, 99).map(lambda x: x >= 100 - percent)


@st.composite
def values_strategy(draw, length: int, width: int, bad_percent: int = 20) -> tuple[np.ndarray, str]:
    """``(values (length, width), dtype)``: a family of values, perhaps with NaN / inf cells, in a drawn dtype."""
    kind = draw(st.sampled_from(VALUE_KINDS))
    t = np.arange(length)[:, None] + np.arange(width)[None, :] * 3.0
    base = {"sine": np.sin(t / 3.0) + 0.1 * np.cos(t * 1.7), "constant": np.full((length, width), 2.5),
            "huge": 1e12 * (1.5 + np.sin(t / 3.0)), "huge_constant": np.full((length, width), 1e12),
            "zeros": np.zeros((length, width))}[kind]
    values = base.astype(np.float64)
    n_cells = length * width
    bad = draw(st.sampled_from(("nan", "inf", "-inf", "mixed"))) if n_cells and draw(sometimes(bad_percent)) else "none"
    if bad != "none":
        cells = draw(st.lists(st.integers(0, n_cells - 1), min_size=1, max_size=3, unique=True))
        fill = {"nan": [np.nan], "inf": [np.inf], "-inf": [-np.inf], "mixed": [np.nan, np.inf, -np.inf]}[bad]
        for i, cell in enumerate(cells):
            values.flat[cell] = fill[i % len(fill)]
    dtype = draw(st.sampled_from(DTYPES))
    if dtype in ("int64", "bool") and not np.isfinite(values).all():
        dtype = "float64"  # integers cannot hold NaN / inf
    return values, dtype


def cast_values(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "int64":
        return np.rint(values).astype(np.int64)
    if dtype == "bool":
        return values > np.median(values) if values.size else values.astype(bool)
    if dtype == "object":
        return values.astype(object)
    with np.errstate(over="ignore"):
        return values.astype(dtype)


DARTS_INDEX_KINDS = ("hourly", "hourly", "daily_without_freq", "range", "range_step", "unsorted")


def darts_index(kind: str, length: int, start: int) -> tuple[pd.Index, np.ndarray]:
    """A time index of ``kind`` and the row order to build the series in (``unsorted`` shuffles it)."""
    order = np.arange(length)
    if kind == "daily_without_freq":  # Darts infers the frequency of at least 3 time points
        daily = pd.date_range("2024-01-01", periods=length, freq="D")
        return (pd.DatetimeIndex(daily.values) if length >= 3 else daily), order
    if kind == "range":
        return pd.RangeIndex(start, start + length), order
    if kind == "range_step":
        return pd.RangeIndex(start, start + 3 * length, 3), order
    index = pd.date_range("2024-01-01", periods=length, freq="h") + pd.Timedelta(hours=start)
    if kind == "unsorted" and length >= 3:  # Darts infers the frequency of (and sorts) at least 3 time points
        order = np.random.default_rng(length).permutation(length)
    return index, order


def lengths_around(min_length: int, spread: int) -> st.SearchStrategy[int]:
    """Lengths at the minimum (+-3), below it (down to 0) or comfortably above it."""
    above = st.integers(min_length, min_length + spread)
    around = st.integers(max(0, min_length - 3), min_length + 3)
    below = st.integers(0, max(0, min_length - 1))
    # about 65 % comfortably long, 20 % at the minimum (+-3), 15 % shorter (0 included)
    return st.integers(0, 99).flatmap(lambda x: above if x < 65 else around if x < 85 else below)


@st.composite
def darts_series(draw, min_length: int, width: int = 1, index_kinds=DARTS_INDEX_KINDS, prefix: str = "c") -> dict:
    """A target-like Darts series: length around ``min_length`` (or any up to 100), index, values, dtype."""
    length = draw(lengths_around(min_length, 60))
    width = draw(st.sampled_from((width + 1, max(1, width - 1)))) if draw(sometimes(15)) else width
    values, dtype = draw(values_strategy(length, width))
    kind = draw(st.sampled_from(index_kinds))
    start = draw(st.integers(0, 50))
    return {"length": length, "width": width, "values": values, "dtype": dtype, "index": kind, "start": start,
            "prefix": prefix}


def build_darts(spec: dict) -> TimeSeries:
    index, order = darts_index(spec["index"], spec["length"], spec["start"])
    values = cast_values(spec["values"], spec["dtype"])
    columns = [f"{spec['prefix']}{i}" for i in range(spec["width"])]
    if spec["index"] == "unsorted" and spec["length"] >= 3:
        index, values = index[order], values[order]
    return TimeSeries.from_times_and_values(index, values, columns=columns)


def spec_start(spec: dict) -> pd.Timestamp:
    """First time point of an hourly series built from ``spec`` (also when it is empty)."""
    return pd.Timestamp("2024-01-01") + pd.Timedelta(hours=spec["start"])


def check_darts_forecast(forecast: Any, series: TimeSeries, n: int) -> None:
    assert isinstance(forecast, TimeSeries)
    assert len(forecast) == n
    assert np.isfinite(forecast.all_values(copy=False)).all(), "a non-finite forecast was returned"
    assert list(forecast.components) == list(series.components)
    assert forecast.time_index[0] == series.end_time() + series.freq
    assert forecast.freq == series.freq


def check_saliency_result(result: Any, n_windows: int, n_components: int) -> None:
    assert result.n_windows == n_windows
    assert result.input_index.shape == (n_windows, ICL)
    assert result.forecast.shape[:2] == (n_windows, OCL) and np.isfinite(result.forecast).all()
    maps = getattr(result, "available_maps", ("paper", "per_step", "per_component", "gradient", "input_x_gradient"))
    for name in maps:
        values = getattr(result, name)
        if values is not None:
            assert np.isfinite(values).all(), f"saliency map {name} is not finite"
    for name in maps:
        values = getattr(result, name)
        if values is not None:  # (W, L) or (W, L, C) for the cell maps
            assert values.shape == (n_windows, ICL, n_components)[: values.ndim], name
    assert result.paper is not None and result.per_step is not None  # kept by every default


# ------------------------------------------------------------------------------------------ fitted models
def hourly(values: np.ndarray, columns: list[str], start: str = "2024-01-01") -> TimeSeries:
    index = pd.date_range(start, periods=len(values), freq="h")
    return TimeSeries.from_times_and_values(index, values.astype(np.float32), columns=columns)


def train_values(length: int, width: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None] + np.arange(width)[None, :]
    return np.sin(2 * np.pi * t / 24) + 0.1 * rng.normal(size=(length, width))


@pytest.fixture(scope="module")
def darts_point():
    return tiny_model().fit(hourly(train_values(100), ["c0"]))


@pytest.fixture(scope="module")
def darts_covariates():
    """Trained on 2 past and 1 future covariate; the future covariates run 40 steps past the target."""
    series = hourly(train_values(100), ["c0"])
    past = hourly(train_values(100, 2, seed=1), ["p0", "p1"])
    future = hourly(train_values(140, 1, seed=2), ["f0"])
    return tiny_model().fit(series, past_covariates=past, future_covariates=future)


def sk_y(length: int = 80) -> pd.DataFrame:
    return pd.DataFrame({"a": train_values(length)[:, 0] + 2.0},
                        index=pd.date_range("2024-01-01", periods=length, freq="h"))


def sk_X(length: int = 120) -> pd.DataFrame:
    return pd.DataFrame({"x": train_values(length, seed=3)[:, 0]},
                        index=pd.date_range("2024-01-01", periods=length, freq="h"))


@pytest.fixture(scope="module")
def sk_point():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CrossScaleNetForecaster(**SK_SMALL).fit(sk_y())


@pytest.fixture(scope="module")
def sk_exogenous():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CrossScaleNetForecaster(**SK_SMALL).fit(sk_y(), X=sk_X().iloc[:80])


@pytest.fixture(scope="module")
def sk_quantile():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CrossScaleNetForecaster(**SK_SMALL, quantiles=SK_QUANTILES, num_samples=16).fit(sk_y())


def profile(name: str, slow: bool) -> Callable:
    """hypothesis settings of a property: fixed seed, no example database, the example count of ``EXAMPLES``."""
    return settings(
        max_examples=EXAMPLES[name][int(slow)], derandomize=True, database=None, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def both_profiles(name: str, body: Callable) -> tuple[Callable, Callable]:
    """The default-suite test and the ``-m slow`` test of one property."""
    fast = profile(name, slow=False)(given(data=st.data())(body))
    slow = pytest.mark.slow(profile(name, slow=True)(given(data=st.data())(body)))
    return fast, slow


# ------------------------------------------------------------------------------------------ Darts properties
def _darts_predict(darts_point, data):
    series = build_darts(data.draw(darts_series(ICL), label="series"))
    n = data.draw(st.integers(1, 2 * OCL), label="n")
    attempt("darts.predict", lambda: darts_point.predict(n, series=series),
            lambda forecast: check_darts_forecast(forecast, series, n))


test_darts_predict, test_darts_predict_slow = both_profiles("darts_predict", _darts_predict)


@st.composite
def covariate_window(draw, length: int, width: int, prefix: str, lead: int) -> dict:
    """Covariates aligned with an hourly target of ``length`` steps: perhaps late, ending early, other widths."""
    late = draw(st.sampled_from((1, 5, 40))) if draw(sometimes(20)) else 0
    early = draw(st.sampled_from((1, 3))) if draw(sometimes(20)) else 0
    width = draw(st.sampled_from((width + 1, max(1, width - 1)))) if draw(sometimes(15)) else width
    n = max(0, length + lead - late - early)
    values, dtype = draw(values_strategy(n, width, bad_percent=8))
    return {"late": late, "n": n, "width": width, "values": values, "dtype": dtype, "prefix": prefix}


def build_covariates(spec: dict, target_start: pd.Timestamp) -> TimeSeries:
    index = pd.date_range(target_start + pd.Timedelta(hours=spec["late"]), periods=spec["n"], freq="h")
    columns = [f"{spec['prefix']}{i}" for i in range(spec["width"])]
    return TimeSeries.from_times_and_values(index, cast_values(spec["values"], spec["dtype"]), columns=columns)


def _darts_predict_covariates(darts_covariates, data):
    spec = data.draw(darts_series(ICL, index_kinds=("hourly",)), label="series")
    series = build_darts(spec)
    n = data.draw(st.integers(1, 2 * OCL), label="n")
    start = spec_start(spec)
    # past covariates must reach n - output_chunk_length steps past the target when n > output_chunk_length
    past = build_covariates(data.draw(covariate_window(len(series), 2, "p", max(0, n - OCL)), label="past"), start)
    # future covariates must reach max(n, output_chunk_length) steps past the target (Darts reads a whole chunk)
    future = build_covariates(data.draw(covariate_window(len(series), 1, "f", max(n, OCL)), label="future"), start)
    attempt("darts.predict (covariates)",
            lambda: darts_covariates.predict(n, series=series, past_covariates=past, future_covariates=future),
            lambda forecast: check_darts_forecast(forecast, series, n))


test_darts_predict_covariates, test_darts_predict_covariates_slow = both_profiles(
    "darts_predict_covariates", _darts_predict_covariates
)


def _darts_saliency(darts_point, data):
    series = build_darts(data.draw(darts_series(ICL + OCL), label="series"))
    windows = data.draw(st.sampled_from(("last", "all")), label="windows")
    stride = data.draw(st.integers(1, 4), label="stride") if windows == "all" else 1
    gradients = data.draw(st.booleans(), label="gradients")
    expected = 1 if windows == "last" else len(range(0, len(series) - ICL - OCL + 1, stride))
    attempt("darts.saliency",
            lambda: darts_point.saliency(series, windows=windows, stride=stride, gradients=gradients),
            lambda result: check_saliency_result(result, expected, series.width))


test_darts_saliency, test_darts_saliency_slow = both_profiles("darts_saliency", _darts_saliency)


#: every index kind, a RangeIndex with a step > 1 included (explain() once dropped the step; see
#: test_explain_on_a_range_index_with_a_step)
EXPLAIN_INDEX_KINDS = DARTS_INDEX_KINDS


def _darts_saliency_covariates(darts_covariates, data):
    spec = data.draw(darts_series(ICL + OCL, index_kinds=("hourly",)), label="series")
    series = build_darts(spec)
    windows = data.draw(st.sampled_from(("last", "all")), label="windows")
    stride = data.draw(st.integers(1, 4), label="stride") if windows == "all" else 1
    # the last window needs future covariates over its forecast; windows="all" only over the series
    past_spec = data.draw(covariate_window(len(series), 2, "p", 0), label="past")
    future_spec = data.draw(covariate_window(len(series), 1, "f", OCL if windows == "last" else 0), label="future")
    past, future = (build_covariates(spec_, spec_start(spec)) for spec_ in (past_spec, future_spec))
    if windows == "last":
        expected = 1
    else:  # as historical_forecasts: the windows whose inputs (and future covariates) the covariates cover
        first = max(past_spec["late"], future_spec["late"])
        last = min(len(series) - ICL - OCL, past_spec["late"] + past_spec["n"] - ICL,
                   future_spec["late"] + future_spec["n"] - ICL - OCL)
        expected = len(range(first, last + 1, stride))
    attempt("darts.saliency (covariates)",
            lambda: darts_covariates.saliency(series, past_covariates=past, future_covariates=future,
                                              windows=windows, stride=stride),
            lambda result: check_saliency_result(result, expected, 1 + 2 + 1))


test_darts_saliency_covariates, test_darts_saliency_covariates_slow = both_profiles(
    "darts_saliency_covariates", _darts_saliency_covariates
)


def _darts_explain(darts_point, data):
    series = build_darts(data.draw(darts_series(ICL, index_kinds=EXPLAIN_INDEX_KINDS), label="series"))
    gradients = data.draw(st.booleans(), label="gradients")

    def check(result) -> None:
        attention = result.get_attention()
        assert len(attention) == ICL + OCL and np.isfinite(attention.values()).all()
        assert np.isfinite(result.get_encoder_importance().to_numpy(dtype=float)).all()
        check_saliency_result(result.get_saliency(), 1, series.width)

    attempt("darts.explain", lambda: darts_point.explain(series, gradients=gradients), check)


test_darts_explain, test_darts_explain_slow = both_profiles("darts_explain", _darts_explain)


def test_explain_on_a_range_index_with_a_step(darts_point):
    values = train_values(40).astype(np.float32)
    series = TimeSeries.from_times_and_values(pd.RangeIndex(0, 120, 3), values, columns=["c0"])
    result = darts_point.explain(series)
    assert result.get_attention().time_index.step == 3


def _darts_fit(data):
    spec = data.draw(darts_series(ICL + OCL, index_kinds=("hourly", "hourly", "range", "unsorted")), label="series")
    series = build_darts(spec)
    kwargs: dict[str, Any] = {}
    if spec["index"] == "hourly" and data.draw(st.booleans(), label="with covariates"):
        start = spec_start(spec)
        kwargs["past_covariates"] = build_covariates(data.draw(covariate_window(len(series), 1, "p", 0)), start)
        kwargs["future_covariates"] = build_covariates(data.draw(covariate_window(len(series), 1, "f", OCL)), start)
    several = data.draw(st.sampled_from((False, False, False, True)), label="two series")
    model = tiny_model()
    target: Any = series
    if several:  # a second, clean series: lists with other widths or dtypes than the first
        target = [series, hourly(train_values(60), ["c0"])]
        kwargs = {key: [value, value] for key, value in kwargs.items()}

    def check(fitted) -> None:
        assert fitted is model and model.model is not None
        first = target[0] if several else target
        covariates = {key: value[0] if several else value for key, value in kwargs.items()}
        attempt("darts.fit -> predict", lambda: model.predict(OCL, series=first, **covariates),
                lambda forecast: check_darts_forecast(forecast, first, OCL))

    fitted, _ = attempt("darts.fit", lambda: model.fit(target, **kwargs), check)
    if not fitted:
        assert model.model is None, "a failed fit left a half-fitted model"


test_darts_fit, test_darts_fit_slow = both_profiles("darts_fit", _darts_fit)


# ------------------------------------------------------------------------------------------ sktime properties
SK_INDEX_KINDS = ("hourly", "hourly", "hourly_without_freq", "period", "range", "range_step", "integer", "unsorted",
                  "duplicated", "gap")
SK_DTYPES = DTYPES + ("string", "category")


def sk_index(kind: str, length: int, start: pd.Timestamp | int) -> pd.Index:
    if kind == "period":
        return pd.period_range("2000-01", periods=length, freq="M") + int(start if isinstance(start, int) else 0)
    if kind in ("range", "integer", "range_step"):
        first = start if isinstance(start, int) else 3
        if kind == "range_step":
            return pd.RangeIndex(first, first + 2 * length, 2)
        return pd.RangeIndex(first, first + length) if kind == "range" else pd.Index(np.arange(first, first + length))
    first = start if isinstance(start, pd.Timestamp) else pd.Timestamp("2024-01-01")
    index = pd.date_range(first, periods=length, freq="h")
    if kind == "hourly_without_freq":
        return pd.DatetimeIndex(index.values)
    if kind == "unsorted" and length > 1:
        return index[np.random.default_rng(length).permutation(length)]
    if kind == "duplicated" and length > 2:
        return index[:-1].append(index[[length // 2]])
    if kind == "gap" and length > 2:
        return index[:length // 2].append(index[length // 2 + 1:]).append(index[[-1]] + pd.Timedelta(hours=1))
    return index


@st.composite
def sk_frame(draw, min_length: int, start: pd.Timestamp | int | None = None, columns=("a",),
             index_kinds=SK_INDEX_KINDS, lengths=None) -> dict:
    """A y- or X-like pandas object: length around ``min_length``, index kind, values, dtype, container."""
    length = draw(lengths if lengths is not None else lengths_around(min_length, 40))
    names = list(columns)
    if draw(sometimes(15)):
        names = list(draw(st.sampled_from(((*columns, "extra"), columns[:-1], ("other",)))))
    values, dtype = draw(values_strategy(length, max(1, len(names))))
    if draw(sometimes(10)):
        dtype = draw(st.sampled_from(("string", "category")))
    kind = draw(st.sampled_from(index_kinds[1:])) if len(index_kinds) > 1 and draw(sometimes(30)) else index_kinds[0]
    series = len(names) == 1 and draw(st.booleans())
    return {"length": length, "names": names, "values": values, "dtype": dtype, "index": kind, "start": start,
            "series": series}


def build_sk(spec: dict) -> pd.DataFrame | pd.Series:
    index = sk_index(spec["index"], spec["length"], spec["start"])
    values = spec["values"][:, : len(spec["names"])]
    if spec["dtype"] in ("string", "category"):
        frame = pd.DataFrame(values.astype(str), index=index, columns=spec["names"]).astype(spec["dtype"])
    else:
        frame = pd.DataFrame(cast_values(values, spec["dtype"]), index=index, columns=spec["names"])
    return frame.iloc[:, 0] if spec["series"] else frame


def check_sk_forecast(forecast: Any, forecaster: CrossScaleNetForecaster, fh: Any, columns: list) -> None:
    from sktime.forecasting.base import ForecastingHorizon

    horizon = fh if isinstance(fh, ForecastingHorizon) else ForecastingHorizon(fh)
    expected = horizon.to_absolute_index(forecaster.cutoff)
    assert forecast.index.equals(expected)
    assert np.isfinite(forecast.to_numpy(dtype=np.float64)).all(), "a non-finite forecast was returned"
    assert list(forecast.columns if isinstance(forecast, pd.DataFrame) else [forecast.name]) == columns


@st.composite
def fh_strategy(draw, cutoff: pd.Timestamp) -> Any:
    steps = draw(st.lists(st.integers(1, 2 * OCL), min_size=1, max_size=4, unique=True))
    if draw(sometimes(15)):  # in-sample steps
        steps = steps + [draw(st.integers(-2, 0))]
    steps = sorted(set(steps))
    if draw(st.integers(0, 3)) == 0:  # absolute time points, sometimes off the hourly grid
        offset = pd.Timedelta(minutes=draw(st.sampled_from((0, 0, 30))))
        from sktime.forecasting.base import ForecastingHorizon

        return ForecastingHorizon(pd.DatetimeIndex([cutoff + pd.Timedelta(hours=s) + offset for s in steps]),
                                  is_relative=False)
    return steps


def _sktime_predict(sk_point, data):
    fh = data.draw(fh_strategy(sk_point.cutoff[0]), label="fh")
    X = None
    if data.draw(st.integers(0, 4)) == 0:  # X to a forecaster fit without X: ignored with a warning
        X = build_sk(data.draw(sk_frame(2 * OCL, start=sk_point.cutoff[0], columns=("x",))))
    attempt("sktime.predict", lambda: sk_point.predict(fh=fh, X=X),
            lambda forecast: check_sk_forecast(forecast, sk_point, fh, ["a"]))


test_sktime_predict, test_sktime_predict_slow = both_profiles("sktime_predict", _sktime_predict)


def _sktime_predict_X(sk_exogenous, data):
    fh = data.draw(st.lists(st.integers(1, 2 * OCL), min_size=1, max_size=4, unique=True).map(sorted), label="fh")
    start = data.draw(st.sampled_from((2, -5)), label="X start after the cutoff") if data.draw(sometimes(20)) else 1
    cutoff = sk_exogenous.cutoff[0]
    enough = st.integers(max(fh), max(fh) + 4)
    spec = data.draw(sk_frame(max(fh), start=cutoff + pd.Timedelta(hours=start), columns=("x",),
                              index_kinds=("hourly", "unsorted", "duplicated", "period"),
                              lengths=st.one_of(enough, enough, enough, st.integers(0, max(fh)))), label="X")
    X = build_sk(spec)
    attempt("sktime.predict (X)", lambda: sk_exogenous.predict(fh=fh, X=X),
            lambda forecast: check_sk_forecast(forecast, sk_exogenous, fh, ["a"]))


test_sktime_predict_X, test_sktime_predict_X_slow = both_profiles("sktime_predict_X", _sktime_predict_X)


def _sktime_quantiles(sk_quantile, data):
    fh = data.draw(st.lists(st.integers(1, 2 * OCL), min_size=1, max_size=3, unique=True).map(sorted), label="fh")
    if data.draw(st.booleans(), label="interval"):
        coverage = data.draw(st.lists(st.sampled_from((0.5, 0.8, 0.6, 0.9, 0.98)), min_size=1, max_size=2, unique=True))

        def check_interval(frame) -> None:
            assert frame.index.equals(pd.date_range(sk_quantile.cutoff[0], periods=max(fh) + 1, freq="h")[fh])
            values = frame.to_numpy(dtype=np.float64)
            assert np.isfinite(values).all() and len(frame) == len(fh)
            for c in coverage:
                assert (frame[("a", c, "lower")] <= frame[("a", c, "upper")] + 1e-6).all()

        attempt("sktime.predict_interval", lambda: sk_quantile.predict_interval(fh=fh, coverage=coverage),
                check_interval)
        return
    alpha = data.draw(st.lists(st.sampled_from((0.1, 0.25, 0.5, 0.75, 0.9)), min_size=1, max_size=4, unique=True))
    if data.draw(sometimes(20)):  # outside the trained levels
        alpha = alpha + [data.draw(st.sampled_from((0.01, 0.99)))]
    alpha = sorted(set(alpha))

    def check_quantiles(frame) -> None:
        values = frame.to_numpy(dtype=np.float64)
        assert frame.index.equals(pd.date_range(sk_quantile.cutoff[0], periods=max(fh) + 1, freq="h")[fh])
        assert np.isfinite(values).all() and values.shape == (len(fh), len(alpha))
        assert (np.diff(values, axis=1) >= -1e-6).all(), "quantiles cross"

    attempt("sktime.predict_quantiles", lambda: sk_quantile.predict_quantiles(fh=fh, alpha=alpha), check_quantiles)


test_sktime_quantiles, test_sktime_quantiles_slow = both_profiles("sktime_quantiles", _sktime_quantiles)


def _update_spec(data, forecaster: CrossScaleNetForecaster) -> dict:
    cutoff = forecaster.cutoff[0]
    first = data.draw(st.sampled_from((1, 1, 1, -4, 0, 3)), label="first new step after the cutoff")
    return data.draw(sk_frame(8, start=cutoff + pd.Timedelta(hours=first),
                              index_kinds=("hourly", "hourly", "hourly", "hourly_without_freq", "unsorted",
                                           "duplicated", "gap", "range"),
                              lengths=st.integers(0, 20)), label="new y")


def _sktime_update(sk_point, data):
    forecaster = copy.deepcopy(sk_point)
    y_new = build_sk(_update_spec(data, forecaster))
    update_params = data.draw(st.sampled_from((False, False, False, True)), label="update_params")
    before = forecaster.predict(fh=[1, 2, 3])
    cutoff_before = forecaster.cutoff

    def check(updated) -> None:
        assert updated is forecaster
        last = y_new.index.max() if len(y_new) else cutoff_before[0]
        assert forecaster.cutoff[0] == max(last, cutoff_before[0])
        check_sk_forecast(forecaster.predict(fh=[1, 2]), forecaster, [1, 2], ["a"])

    updated, _ = attempt("sktime.update", lambda: forecaster.update(y_new, update_params=update_params), check)
    if not updated:  # a failed update leaves the forecaster as it was
        assert forecaster.cutoff.equals(cutoff_before)
        pd.testing.assert_frame_equal(forecaster.predict(fh=[1, 2, 3]), before)


test_sktime_update, test_sktime_update_slow = both_profiles("sktime_update", _sktime_update)


def _sktime_saliency(sk_point, data):
    forecaster = copy.deepcopy(sk_point)
    if data.draw(st.booleans(), label="update first"):
        y_new = build_sk(_update_spec(data, forecaster))
        attempt("sktime.update", lambda: forecaster.update(y_new, update_params=False), lambda updated: None)
    windows = data.draw(st.sampled_from(("last", "all")), label="windows")
    kind = data.draw(st.sampled_from(("per_component", "per_step", "paper", "gradient", "input_x_gradient", "all")))
    gradients = data.draw(st.booleans(), label="gradients")

    def check(frame) -> None:
        assert np.isfinite(frame.to_numpy(dtype=np.float64)).all()
        if windows == "last":
            assert len(frame) == ICL
            assert frame.index.equals(forecaster._cur_y.index[-ICL:])
        else:
            assert len(frame) == ICL * frame.index.get_level_values("forecast_start").nunique()

    attempt("sktime.saliency", lambda: forecaster.saliency(windows=windows, kind=kind, gradients=gradients), check)


test_sktime_saliency, test_sktime_saliency_slow = both_profiles("sktime_saliency", _sktime_saliency)


def _sktime_fit(data):
    spec = data.draw(sk_frame(ICL + OCL), label="y")
    y = build_sk(spec)
    quantiles = data.draw(st.sampled_from((None, None, SK_QUANTILES)), label="quantiles")
    forecaster = CrossScaleNetForecaster(**SK_SMALL, quantiles=quantiles, num_samples=16)
    X = None
    if spec["index"] == "hourly" and data.draw(st.booleans(), label="with X"):
        late = data.draw(st.sampled_from((0, 0, 0, 2)), label="X starts late by")
        X = build_sk(data.draw(sk_frame(ICL + OCL, start=pd.Timestamp("2024-01-01") + pd.Timedelta(hours=late),
                                        columns=("x",), index_kinds=("hourly",),
                                        lengths=st.integers(max(0, spec["length"] - 3), spec["length"] + OCL)),
                               label="X"))

    def check(fitted) -> None:
        assert fitted is forecaster and forecaster.is_fitted
        future = None
        if X is not None:
            future = X.loc[X.index > forecaster.cutoff[0]] if len(X) else X
        columns = list(y.columns) if isinstance(y, pd.DataFrame) else [y.name]
        call = (lambda: forecaster.predict_quantiles(fh=[1, 2], X=future, alpha=[0.1, 0.9])) if quantiles else (
            lambda: forecaster.predict(fh=[1, 2], X=future))

        def check_forecast(forecast) -> None:
            assert np.isfinite(forecast.to_numpy(dtype=np.float64)).all()
            assert len(forecast) == 2
            if not quantiles:
                check_sk_forecast(forecast, forecaster, [1, 2], columns)

        attempt("sktime.fit -> predict", call, check_forecast)

    fitted, _ = attempt("sktime.fit", lambda: forecaster.fit(y, X=X), check)
    if not fitted:
        assert not forecaster.is_fitted, "a failed fit left a half-fitted forecaster"


test_sktime_fit, test_sktime_fit_slow = both_profiles("sktime_fit", _sktime_fit)


def test_slow_profile_generates_at_least_2000_cases():
    assert SLOW_EXAMPLES >= 2000


def test_explanation_is_strict():
    """The classifier refuses what it must refuse: raw errors, errors without a fix, unlisted library errors."""

    def raised(call: Callable[[], Any]) -> BaseException:
        try:
            call()
        except BaseException as error:  # noqa: BLE001
            return error
        raise AssertionError("no error")

    import torch

    assert explanation(raised(lambda: torch.ones(2, 3) @ torch.ones(2, 3))) is None  # raw torch error
    assert explanation(raised(lambda: np.zeros(3).reshape(2, 2))) is None  # raw numpy ValueError
    assert explanation(raised(lambda: {}["x"])) is None  # KeyError
    from crossscale_ext.darts_model import TrainingDivergedError

    assert explanation(TrainingDivergedError("diverged")) is None  # not a bad-input error
    from crossscale_ext._sktime_data import quantile_levels

    assert explanation(raised(lambda: quantile_levels([0.1, 0.9]))) == "ours"  # names the fix ("Use e.g. ...")
    from crossscale_ext.config import check_int

    assert explanation(raised(lambda: check_int("n_channels", 0, 1))) is None  # ours, but names no fix
    darts_error = raised(lambda: TimeSeries.from_times_and_values(pd.DatetimeIndex(["2024-01-01", "2024-01-03",
                                                                                    "2024-01-04"]), np.zeros(3)))
    assert isinstance(darts_error, ValueError) and explanation(darts_error) is None  # a Darts check not listed
