r"""Synthetic forecasting data sets with known ground-truth saliency: SYN1-SYN8 and a general generator.

Construction (the paper's Table 1 gives the sets; its exact generator is not public, this one is ours)
-----------------------------------------------------------------------------------------------------
``n_features`` covariate series ``x_f`` are drawn independently, each a stationary Gaussian AR(1) process
with unit variance (coefficient ``covariate_ar``; the default ``0`` gives white Gaussian noise, so no
time step carries information about another and only the true cells are informative). The target is

.. math::

    y_t = \frac{1}{\sqrt{|F|\,|\Lambda|}} \sum_{f \in F} \sum_{l \in \Lambda} x_{f,\,t-l}
          + \sigma\,\varepsilon_t, \qquad \varepsilon_t \sim N(0, 1),

with ``F`` the important features, ``Λ`` the important lags and ``σ`` the ``noise``. With white covariates
the signal part has unit variance exactly (with AR(1) covariates, the sum is rescaled to unit variance
empirically). A forecaster sees the target and the covariates over ``input_length`` steps (the target's
own past is *not* part of the generator: its ground-truth column is all False) and predicts the next
``horizon`` steps.

Ground truth for a multi-step forecast
--------------------------------------
Lag ``l`` of the table means "``l`` steps before the predicted step": ``y_t`` depends on ``x_{f, t-l}``.
A window ending at ``T`` (lag 1 = the last input step, row ``input_length - 1``) is used to predict
``y_{T+1} .. y_{T+H}``. Step ``h`` depends on ``x_{f, T+h-l}``, which lies in the window iff ``l >= h``, at
window lag ``m = l - h + 1`` (row ``input_length - m``). The ground-truth mask of the window is the union
over ``h = 1 .. H`` of these cells: every important lag ``l`` marks window lags ``max(1, l - H + 1) .. l``
of the important features. So the mask is the table's lags widened by ``H - 1`` steps toward lag 1 (cells
``x_{T+1..}`` that lie in the future are unknowable and not part of the mask). The benchmark uses the
shortest horizon for which CrossScaleNet's attention is informative (``horizon = input_length / 16 = 6``
for ``L = 96``), which keeps the mask within 5 steps of the table's lags. :attr:`SyntheticDataset.step_masks`
keeps the mask of every forecast step separately.

Splits
------
The series are split in time at ``train_end = round(train_fraction * length)``: ``train_target`` /
``train_covariates`` (fit on these) and ``test_target`` / ``test_covariates`` (explain and score on these;
every test window lies entirely after ``train_end``). :meth:`SyntheticDataset.windows` returns the
windows of a part as numpy arrays in the network's channel order ``[target, covariates...]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from crossscale_ext.config import check_int

__all__ = [
    "SYN_SPECS",
    "SynSpec",
    "SyntheticDataset",
    "make_synthetic",
    "make_syn",
    "ground_truth_masks",
    "lag_copy_series",
]


@dataclass(frozen=True)
class SynSpec:
    """One row of the paper's Table 1: important lags, important features and noise level."""

    lags: tuple[int, ...]
    features: tuple[int, ...]
    noise: float


def _lags(text: str) -> tuple[int, ...]:
    """Parse ``"1-5, 9-10, 18"`` into the sorted tuple of lags it names."""
    lags: set[int] = set()
    for part in re.split(r"[,\s]+(?:and\s+)?", text.strip()):
        if not part:
            continue
        low, _, high = part.partition("-")
        lags.update(range(int(low), int(high or low) + 1))
    return tuple(sorted(lags))


#: The eight synthetic saliency sets of the paper's Table 1 (lags, features, noise).
SYN_SPECS: dict[str, SynSpec] = {
    "SYN1": SynSpec(_lags("1-15"), (0, 1), 0.01),
    "SYN2": SynSpec(_lags("1-5, 9-10, 15-16, 18, 20, 25-26, 35-36, 50-52, 91-95"), (0, 2), 0.05),
    "SYN3": SynSpec(_lags("9-10, 15-16, 18, 20-25, 31, 34, 60-65"), (1, 2), 0.08),
    "SYN4": SynSpec(_lags("9-10, 15-16, 18-21, 41-42, 45-46"), (1, 2), 0.10),
    "SYN5": SynSpec(_lags("71-77"), (1, 2), 0.06),
    "SYN6": SynSpec(_lags("48-57"), (0, 2), 0.05),
    "SYN7": SynSpec(_lags("60, 62-69"), (0, 1), 0.02),
    "SYN8": SynSpec(_lags("71-77, 48-57"), (0, 1, 2), 0.11),
}


@dataclass
class SyntheticDataset:
    """A synthetic series with its ground-truth saliency (see the module docstring for the construction).

    Attributes
    ----------
    name
        ``"SYN1"`` .. ``"SYN8"`` or the name given to :func:`make_synthetic`.
    target
        The target, a univariate float32 Darts ``TimeSeries`` (component ``"y"``, integer index).
    covariates
        The features, a float32 Darts ``TimeSeries`` with components ``"x0" .. "x{n-1}"``, to pass as
        ``past_covariates``.
    mask
        ``(input_length, 1 + n_features)`` bool: the ground-truth important cells of every input window, in
        the network's channel order ``[target, x0, x1, ...]``; row ``input_length - 1`` is lag 1 (the last
        input step), the layout of ``SaliencyResult.per_component[w]``.
    lag_mask
        ``(input_length,)`` bool: rows of ``mask`` with any important component (the temporal ground truth,
        the layout of ``SaliencyResult.per_step[w]``).
    step_masks
        ``(horizon, input_length, 1 + n_features)`` bool: the mask of each forecast step; ``mask`` is their
        union.
    component_names
        ``["y", "x0", ...]``, the columns of ``mask``.
    important_features, important_lags, noise
        The generator's parameters (features index the covariates ``x_f``; lags as in the table).
    input_length, horizon
        Window and forecast lengths the masks are built for.
    train_end
        Index of the first test time step: the train part is ``[0, train_end)``, the test part the rest.
    seed
        The seed the data were drawn with.
    """

    name: str
    target: object
    covariates: object
    mask: np.ndarray
    lag_mask: np.ndarray
    step_masks: np.ndarray
    component_names: list[str]
    important_features: tuple[int, ...]
    important_lags: tuple[int, ...]
    noise: float
    input_length: int
    horizon: int
    train_end: int
    seed: int
    metadata: dict = field(default_factory=dict)

    @property
    def train_target(self):
        """The target over the train part ``[0, train_end)``."""
        return self.target[: self.train_end]

    @property
    def train_covariates(self):
        """The covariates over the train part ``[0, train_end)``."""
        return self.covariates[: self.train_end]

    @property
    def test_target(self):
        """The target over the test part ``[train_end, length)``."""
        return self.target[self.train_end :]

    @property
    def test_covariates(self):
        """The covariates over the test part ``[train_end, length)``."""
        return self.covariates[self.train_end :]

    @property
    def irreducible_mse(self) -> float:
        """Lowest expected test MSE of any forecaster, averaged over the ``horizon`` steps.

        Step ``h`` cannot know the terms ``x_{f, T+h-l}`` with ``l < h`` (they lie after the window) nor the
        noise: with white covariates its error variance is ``#{l < h} / |lags| + noise**2`` (each term carries
        ``1 / (|features| |lags|)`` of the unit signal variance). With autocorrelated covariates
        (``covariate_ar != 0``) the future terms are partly predictable and this is an upper bound.
        """
        lags = np.asarray(self.important_lags)
        unknown = [np.mean(lags < h) for h in range(1, self.horizon + 1)]
        return float(np.mean(unknown) + self.noise**2)

    def values(self) -> np.ndarray:
        """All inputs as one ``(length, 1 + n_features)`` float32 array, columns ``component_names``."""
        return np.concatenate([self.target.values(copy=False), self.covariates.values(copy=False)], axis=1)

    def train_mean(self) -> np.ndarray:
        """Per-channel mean of the train part, ``(1 + n_features,)`` (a perturbation baseline)."""
        return self.values()[: self.train_end].mean(axis=0)

    def windows(self, part: Literal["train", "test"] = "test") -> tuple[np.ndarray, np.ndarray]:
        """Every input window of a part and the values it should forecast.

        Windows advance by one step and lie entirely inside the part, in the order of
        ``CrossScaleNetModel.saliency(part_target, past_covariates=part_covariates, windows="all")``.

        Parameters
        ----------
        part
            ``"train"`` or ``"test"``.

        Returns
        -------
        inputs
            ``(W, input_length, 1 + n_features)`` float32, channels ``[target, covariates...]``.
        targets
            ``(W, horizon, 1)`` float32: the target over the forecast window.
        """
        if part not in ("train", "test"):
            raise ValueError(f"part must be 'train' or 'test'; got {part!r}.")
        values = self.values()
        values = values[: self.train_end] if part == "train" else values[self.train_end :]
        n_windows = len(values) - self.input_length - self.horizon + 1
        if n_windows < 1:
            raise ValueError(
                f"The {part} part has {len(values)} steps, fewer than input_length + horizon = "
                f"{self.input_length + self.horizon}: use a longer series or another train_fraction."
            )
        starts = np.arange(n_windows)[:, None]
        inputs = values[starts + np.arange(self.input_length)]
        targets = values[starts + self.input_length + np.arange(self.horizon), :1]
        return inputs.astype(np.float32), targets.astype(np.float32)


def ground_truth_masks(
    important_features: Sequence[int],
    important_lags: Sequence[int],
    n_features: int,
    input_length: int,
    horizon: int,
) -> np.ndarray:
    """Ground-truth cells of each forecast step, ``(horizon, input_length, 1 + n_features)`` bool.

    Step ``h`` (1-based) depends on ``x_{f, T+h-l}``; it is inside the window ending at ``T`` at window lag
    ``l - h + 1`` (row ``input_length - (l - h + 1)``) when ``l >= h``. Column 0 is the target (never
    important in this construction), column ``1 + f`` the covariate ``x_f``.
    """
    masks = np.zeros((horizon, input_length, 1 + n_features), dtype=bool)
    columns = [1 + f for f in important_features]
    for h in range(1, horizon + 1):
        for lag in important_lags:
            window_lag = lag - h + 1
            if 1 <= window_lag <= input_length:
                masks[h - 1, input_length - window_lag, columns] = True
    return masks


def _check_int_set(name: str, values: Iterable[int], low: int, high: int) -> tuple[int, ...]:
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of integers; got {values!r}.") from None
    if not items:
        raise ValueError(f"{name} must not be empty: give at least one value in [{low}, {high}].")
    bad = [v for v in items if isinstance(v, bool) or not isinstance(v, int | np.integer) or not low <= v <= high]
    if bad:
        raise ValueError(f"{name} must hold integers in [{low}, {high}]; got {bad}.")
    if len(set(items)) != len(items):
        raise ValueError(f"{name} holds duplicates: {sorted(items)}; give each value once.")
    return tuple(sorted(int(v) for v in items))


def make_synthetic(
    important_features: Sequence[int],
    important_lags: Sequence[int],
    noise: float,
    length: int = 2000,
    n_features: int = 5,
    input_length: int = 96,
    horizon: int = 6,
    seed: int = 0,
    train_fraction: float = 0.7,
    covariate_ar: float = 0.0,
    name: str = "custom",
) -> SyntheticDataset:
    """Draw a synthetic series whose forecast depends on known (lag, feature) cells.

    See the module docstring for the construction and the ground-truth mask of a multi-step forecast.

    Parameters
    ----------
    important_features
        Indices of the covariates the target depends on, in ``[0, n_features)``.
    important_lags
        Lags (``>= 1``, ``<= input_length``) at which they matter; lag ``l`` is ``l`` steps before the
        predicted step.
    noise
        Standard deviation of the Gaussian noise added to the unit-variance signal (``>= 0``).
    length
        Number of time steps of the series. Default 2000.
    n_features
        Number of covariates. Default 5.
    input_length
        Length of the input windows the mask is built for (the model's ``input_chunk_length``). Default 96.
    horizon
        Forecast steps per window (the model's ``output_chunk_length``). Default 6, the shortest for which
        CrossScaleNet's attention is informative with ``input_length=96``.
    seed
        Seed of the random generator; equal seeds give equal data. Default 0.
    train_fraction
        Share of the time steps in the train part. Default 0.7.
    covariate_ar
        AR(1) coefficient of the covariates in ``(-1, 1)``; 0 (default) gives white noise.
    name
        Name stored on the result. Default ``"custom"``.

    Returns
    -------
    SyntheticDataset

    Raises
    ------
    ValueError
        For features or lags out of range, a negative noise, or a series too short for both parts.

    Examples
    --------
    >>> ds = make_synthetic(important_features=[0], important_lags=[3, 4], noise=0.1, length=400,
    ...                     input_length=32, horizon=2)
    >>> ds.mask.shape, ds.component_names[:2]
    ((32, 6), ['y', 'x0'])
    >>> [32 - row for row in range(32) if ds.lag_mask[row]]  # important window lags, lag 1 = last step
    [4, 3, 2]
    """
    from darts import TimeSeries

    for param, value in (("n_features", n_features), ("input_length", input_length), ("horizon", horizon),
                         ("length", length)):
        check_int(param, value)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an integer; got {seed!r}.")
    features = _check_int_set("important_features", important_features, 0, n_features - 1)
    lags = _check_int_set("important_lags", important_lags, 1, input_length)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite standard deviation >= 0; got {noise!r}.")
    if not -1.0 < covariate_ar < 1.0:
        raise ValueError(f"covariate_ar must lie in (-1, 1) for a stationary AR(1); got {covariate_ar!r}.")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1); got {train_fraction!r}.")
    train_end = int(round(train_fraction * length))
    needed = input_length + horizon
    if min(train_end, length - train_end) < needed:
        raise ValueError(
            f"length={length} with train_fraction={train_fraction} leaves a part shorter than input_length + "
            f"horizon = {needed} steps; use length >= {int(np.ceil(needed / min(train_fraction, 1 - train_fraction)))}."
        )

    rng = np.random.default_rng(seed)
    burn_in = max(lags) + 50
    total = length + burn_in
    innovations = rng.standard_normal((total, n_features))
    covariates = np.empty_like(innovations)
    covariates[0] = innovations[0]
    scale = np.sqrt(1.0 - covariate_ar**2)
    for t in range(1, total):
        covariates[t] = covariate_ar * covariates[t - 1] + scale * innovations[t]
    signal = np.zeros(total)
    for lag in lags:
        signal[lag:] += covariates[:-lag, list(features)].sum(axis=1)
    signal = signal[burn_in:]
    if covariate_ar == 0.0:
        signal = signal / np.sqrt(len(features) * len(lags))
    else:
        signal = signal / signal.std()
    target = signal + noise * rng.standard_normal(length)
    covariates = covariates[burn_in:]

    target_ts = TimeSeries.from_values(target.astype(np.float32)[:, None], columns=["y"])
    covariates_ts = TimeSeries.from_values(covariates.astype(np.float32), columns=[f"x{i}" for i in range(n_features)])
    step_masks = ground_truth_masks(features, lags, n_features, input_length, horizon)
    mask = step_masks.any(axis=0)
    return SyntheticDataset(
        name=name,
        target=target_ts,
        covariates=covariates_ts,
        mask=mask,
        lag_mask=mask.any(axis=1),
        step_masks=step_masks,
        component_names=["y"] + [f"x{i}" for i in range(n_features)],
        important_features=features,
        important_lags=lags,
        noise=float(noise),
        input_length=input_length,
        horizon=horizon,
        train_end=train_end,
        seed=int(seed),
        metadata={"covariate_ar": covariate_ar, "train_fraction": train_fraction},
    )


def make_syn(name: str, **kwargs) -> SyntheticDataset:
    """One of the eight synthetic sets of the paper's Table 1 (:data:`SYN_SPECS`).

    Parameters
    ----------
    name
        ``"SYN1"`` .. ``"SYN8"`` (case-insensitive).
    **kwargs
        Any argument of :func:`make_synthetic` except the table's ``important_features``,
        ``important_lags`` and ``noise`` (e.g. ``length``, ``horizon``, ``seed``).

    Returns
    -------
    SyntheticDataset

    Examples
    --------
    >>> ds = make_syn("SYN6", seed=1)
    >>> ds.name, ds.important_features, ds.important_lags[:3], ds.noise
    ('SYN6', (0, 2), (48, 49, 50), 0.05)
    """
    if not isinstance(name, str) or name.upper() not in SYN_SPECS:
        raise ValueError(f"Unknown synthetic set {name!r}; choose one of {list(SYN_SPECS)}.")
    fixed = {"important_features", "important_lags", "noise"} & set(kwargs)
    if fixed:
        raise TypeError(
            f"make_syn() fixes {sorted(fixed)} from the paper's Table 1; call make_synthetic() to choose them yourself."
        )
    spec = SYN_SPECS[name.upper()]
    return make_synthetic(spec.features, spec.lags, spec.noise, name=name.upper(), **kwargs)


def lag_copy_series(lag: int, length: int = 3000, seed: int = 0, coefficient: float = 0.95, noise: float = 0.3):
    """A series that copies its value ``lag`` steps back: ``y_t = coefficient * y_(t-lag) + noise * e_t``.

    An ``H``-step forecast of this series rests on the input lags ``lag - H + 1 .. lag`` and on nothing else,
    so a saliency map can be checked against them (``crossscale bench lagcopy``, ``docs/saliency.md``).

    Parameters
    ----------
    lag
        The copied lag ``K`` (at least 1).
    length
        Number of time steps; at least ``4 * lag``. Default: 3000.
    seed
        Seed of the Gaussian noise ``e_t`` and of the first ``lag`` values. Default: 0.
    coefficient
        How much of ``y_(t-lag)`` is copied. Default: 0.95.
    noise
        Standard deviation of the added noise. Default: 0.3.

    Returns
    -------
    darts.TimeSeries
        A univariate ``float32`` series with an integer (range) index.

    Raises
    ------
    ValueError
        When ``lag < 1`` or ``length < 4 * lag``.

    Examples
    --------
    >>> series = lag_copy_series(48, length=2200)
    >>> len(series), series.dtype
    (2200, dtype('float32'))
    """
    from darts import TimeSeries

    if lag < 1 or length < 4 * lag:
        raise ValueError(f"need lag >= 1 and length >= 4 * lag; got lag={lag}, length={length}.")
    rng = np.random.default_rng(seed)
    y = np.zeros(length)
    y[:lag] = rng.normal(size=lag)
    for t in range(lag, length):
        y[t] = coefficient * y[t - lag] + noise * rng.normal()
    return TimeSeries.from_values(y.astype("float32"))
