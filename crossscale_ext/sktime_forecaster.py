"""CrossScaleNet for sktime.

:class:`CrossScaleNetForecaster`, an sktime ``BaseForecaster`` that delegates training and prediction to
:class:`~crossscale_ext.darts_model.CrossScaleNetModel` (one training path), with probabilistic forecasts
through Darts' ``QuantileRegression`` and the model's attention saliency as pandas objects in ``y``'s own
index type.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sktime.forecasting.base import BaseForecaster, ForecastingHorizon

from crossscale_ext.darts_model import QUIET_TRAINER_KWARGS
from crossscale_ext.network import validate_architecture

__all__ = ["CrossScaleNetForecaster"]

# Lightning's INFO messages ("GPU available ...", tips) are silenced during training and prediction unless verbose.
_LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")
# Warnings raised inside Lightning's training loop (data-loader advice, internal deprecations) are silenced too,
# and torch's note that pinned memory needs an accelerator (Darts asks for it; it is harmless on CPU).
_LIGHTNING_MODULES = r"(pytorch_lightning|lightning|lightning_fabric)(\..*)?"
_PIN_MEMORY_NOTE = ".*'pin_memory' argument is set as true but no accelerator is found.*"
# get_fitted_params averages the saliency over at most this many evenly spaced windows per series.
_MAX_SUMMARY_WINDOWS = 512
_SALIENCY_KINDS = ("per_component", "per_step", "paper", "all")


@dataclass
class _Instance:
    """One series of ``y`` (the whole of ``y``, or one instance of a panel / hierarchy) and its exogenous data.

    ``y`` and ``X`` have a plain time index; ``cutoff`` is the last time point as a one-element index that
    carries the series' frequency, as sktime's forecasting horizons expect.
    """

    key: tuple
    y: pd.DataFrame
    X: pd.DataFrame | None
    cutoff: pd.Index

    @property
    def where(self) -> str:
        """How error messages name this series."""
        return "" if not self.key else f" (instance {self.key[0] if len(self.key) == 1 else self.key})"


def _split_instances(frame: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """Split a (multi-indexed) DataFrame into ``(instance key, frame with a plain time index)`` pairs, in order."""
    if not isinstance(frame.index, pd.MultiIndex):
        return [((), frame)]
    levels = list(range(frame.index.nlevels - 1))
    parts = []
    for key, part in frame.groupby(level=levels, sort=False):
        parts.append((key if isinstance(key, tuple) else (key,), part.droplevel(levels)))
    return parts


def _merge_frames(old: pd.DataFrame | None, new: pd.DataFrame | None) -> pd.DataFrame | None:
    """Rows of ``old`` and ``new`` together, ``new`` winning where both have a row, sorted by index."""
    if old is None or new is None:
        return new if old is None else old
    merged = pd.concat([old, new])
    return merged[~merged.index.duplicated(keep="last")].sort_index()


def _grid_cutoff(index: pd.Index, where: str) -> pd.Index:
    """Check that ``index`` is a gap-free regular grid and return its last point with the grid's frequency.

    CrossScaleNet reads windows of consecutive steps, so the series must have no gaps: a DatetimeIndex with a
    regular frequency, a PeriodIndex, or consecutive integers.
    """
    if index.has_duplicates or not index.is_monotonic_increasing:
        raise ValueError(
            f"The time index of y{where} must be strictly increasing without duplicates; sort it and drop "
            "duplicated time points."
        )
    if isinstance(index, pd.PeriodIndex):
        if not index.equals(pd.period_range(index[0], periods=len(index), freq=index.freq)):
            raise ValueError(
                f"The PeriodIndex of y{where} has gaps: CrossScaleNet needs consecutive periods. Fill the "
                "missing periods (e.g. y.asfreq(...) and an imputer such as sktime's Imputer)."
            )
        return index[[-1]]
    if isinstance(index, pd.DatetimeIndex):
        freq = index.freq or (pd.infer_freq(index) if len(index) >= 3 else None)
        if freq is None:
            raise ValueError(
                f"The DatetimeIndex of y{where} has no regular frequency (gaps or uneven spacing): CrossScaleNet "
                "needs equally spaced time points. Resample y to a fixed frequency first (e.g. "
                "y.resample('h').mean() and an imputer such as sktime's Imputer)."
            )
        return pd.DatetimeIndex([index[-1]], freq=freq)
    if pd.api.types.is_integer_dtype(index.dtype):
        if len(index) > 1 and not np.all(np.diff(np.asarray(index)) == 1):
            raise ValueError(
                f"The integer index of y{where} is not consecutive: sktime steps integer indices by 1, so "
                "CrossScaleNet needs y at every integer time point. Fill the gaps or re-index y with a RangeIndex."
            )
        return pd.Index([index[-1]])
    raise TypeError(
        f"y{where} has a {type(index).__name__} of dtype {index.dtype}: CrossScaleNetForecaster supports a "
        "DatetimeIndex, a PeriodIndex or an integer index (RangeIndex included)."
    )


def _absolute_index(steps: Sequence[int], cutoff: pd.Index) -> pd.Index:
    """Time points of the relative ``steps`` after ``cutoff``, in the cutoff's index type."""
    return ForecastingHorizon(list(steps), is_relative=True, freq=getattr(cutoff, "freq", None)).to_absolute_index(
        cutoff
    )


def _relative_steps(fh: ForecastingHorizon, cutoff: pd.Index, where: str) -> tuple[np.ndarray, pd.Index]:
    """The steps of ``fh`` after ``cutoff`` as integers (1 = the first step after the cutoff) and their time points.

    Raises ``ValueError`` when a time point of ``fh`` is not on the series' time grid (e.g. 08:30 for an hourly
    series), since the model forecasts whole steps only.
    """
    absolute = fh.to_absolute_index(cutoff)
    if fh.is_relative and pd.api.types.is_integer_dtype(fh.to_pandas().dtype):
        return np.asarray(fh.to_numpy(), dtype=int), absolute
    relative = ForecastingHorizon(absolute, is_relative=False, freq=getattr(cutoff, "freq", None)).to_relative(cutoff)
    steps = np.asarray(relative.to_numpy())
    if not pd.api.types.is_integer_dtype(steps.dtype):
        steps = np.asarray([getattr(step, "n", step) for step in steps])
    steps = np.rint(steps.astype(float)).astype(int)
    off_grid = [str(t) for t, expected in zip(absolute, _absolute_index(steps, cutoff)) if t != expected]
    if off_grid:
        raise ValueError(
            f"fh contains time points that are not on the time grid of y{where} (first: {off_grid[:3]}): "
            "CrossScaleNetForecaster forecasts whole steps of y's frequency. Use relative integer steps, e.g. "
            "fh=[1, 2, 3], or time points of y's frequency."
        )
    return steps, absolute


def _take_labels(index: pd.Index, positions: np.ndarray) -> pd.Index:
    """Labels at ``positions`` of ``index``; a contiguous run of an integer index stays a RangeIndex."""
    labels = index.take(positions)
    if isinstance(index, pd.RangeIndex) and len(positions) and np.all(np.diff(positions) == 1):
        return pd.RangeIndex(labels[0], labels[-1] + 1, name=index.name)
    return labels


class CrossScaleNetForecaster(BaseForecaster):
    """CrossScaleNet: multi-scale forecasting whose cross-scale attention is temporal saliency, for sktime.

    An sktime forecaster around :class:`~crossscale_ext.darts_model.CrossScaleNetModel` (the Darts model of
    "Learning Temporal Saliency for Time Series Forecasting with Cross-Scale Attention", arXiv 2509.22839):
    ``fit`` builds a ``CrossScaleNetModel`` from the hyperparameters below and trains it; ``predict``,
    ``predict_quantiles`` and :meth:`saliency` call that model. Training and prediction therefore have one
    implementation, the Darts one.

    Data handling:

    - ``y`` may be univariate or multivariate, a single series, a panel or a hierarchy (a ``MultiIndex``
      DataFrame). Every instance is one series of a single global model; the network forecasts all of
      ``y``'s columns jointly.
    - Every sktime index type works: ``DatetimeIndex`` (with a regular frequency), ``PeriodIndex``,
      ``RangeIndex`` and consecutive integer indices. The model sees positions ``0, 1, ...``; forecasts and
      saliency are re-indexed in ``y``'s own index type. Gaps in the time index are an error.
    - Exogenous ``X`` is treated as *future-known* (Darts future covariates): its past over the input window
      is an extra input channel beside ``y`` (attended over and present in the per-component saliency), its
      values over the forecast steps enter the forecast head. So ``predict`` needs ``X`` for every step from
      the cutoff up to the last step of ``fh`` (``capability:non_contiguous_X`` is False).
    - ``fh`` may be relative or absolute and reach beyond ``output_chunk_length``: the model then forecasts
      auto-regressively. In-sample ``fh`` is not supported (``capability:insample`` is False).
    - ``update(update_params=False)`` appends the new data, so the next forecast starts from it;
      ``update(update_params=True)`` also retrains (see ``update_epochs``).

    Probabilistic forecasts (``predict_quantiles``, ``predict_interval``, and sktime's defaults for
    ``predict_var`` and ``predict_proba`` built on them) are available when ``quantiles`` is set: the network
    is trained with Darts' ``QuantileRegression`` at those levels. For ``fh`` within ``output_chunk_length``
    the quantiles are read from the network's outputs (sorted so that they never cross) and linearly
    interpolated between the trained levels, which is the quantile function Darts samples from; beyond
    ``output_chunk_length`` they are empirical quantiles of ``num_samples`` auto-regressive sample paths
    drawn with a fixed seed. Quantiles outside the trained levels are an error, as the model knows nothing
    about those tails. With ``quantiles`` set, ``predict`` returns the median.

    Saliency: :meth:`saliency` returns the model's attention maps (paper map, per-step map, per-component
    map) over the last input window or every input window, indexed by ``y``'s time points; it needs no
    future X, as the attention reads only the input window. ``get_fitted_params()`` contains summaries
    averaged over the windows of the data seen so far (``saliency_per_step``, ``saliency_paper``,
    ``saliency_per_component``, ``component_importance``; tag ``capability:feature_importance``).

    Parameters
    ----------
    input_chunk_length : int, default=96
        Lookback ``L``: time points fed to the network. A multiple of ``2 ** (n_scales - 1)`` and at least
        ``2 * base_patch_length``. Every series must have at least ``input_chunk_length + output_chunk_length``
        time points to fit.
    output_chunk_length : int, default=24
        Horizon ``H`` the network predicts at once; longer ``fh`` are forecast auto-regressively. Saliency is
        informative only when it is at least the number of patches ``input_chunk_length / base_patch_length``.
    n_scales : int, default=4
        Number of scales (the input and ``n_scales - 1`` average-pooled versions).
    base_patch_length : int, default=16
        Patch length at the input resolution (halved at every scale); a multiple of ``2 ** (n_scales - 1)``.
    moving_avg_kernel : int, default=25
        Odd kernel of the moving average that splits trend from seasonality, at most ``input_chunk_length``.
    d_model : int, default=32
        Hidden width of the encoders' temporal and channel MLPs.
    dropout : float, default=0.1
        Dropout rate of the encoders.
    channel_mixing : bool, default=True
        Mix channels inside every scale encoder; False is the reference's channel-independent mode.
    instance_norm : bool, default=True
        The network's reversible instance normalisation of every input channel (the reference's RevIN).
    use_reversible_instance_norm : bool, default=False
        Darts' own reversible instance normalisation of the target, before the network.
    quantiles : list of float or None, default=None
        Quantile levels in (0, 1), containing 0.5, to train Darts' ``QuantileRegression`` on, e.g.
        ``[0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]``; makes the forecaster probabilistic. None: point
        forecasts trained with ``loss_fn``.
    num_samples : int, default=500
        Sample paths drawn for quantile forecasts beyond ``output_chunk_length`` (only with ``quantiles``).
    loss_fn : torch.nn.Module or None, default=None
        Training loss of point forecasts; None is Darts' default ``torch.nn.MSELoss()``. Ignored when
        ``quantiles`` is set (the quantile loss is used).
    n_epochs : int, default=100
        Training epochs (Darts' default).
    batch_size : int, default=32
        Training windows per batch.
    optimizer_cls : type or None, default=None
        A ``torch.optim.Optimizer`` class; None is ``torch.optim.Adam``.
    optimizer_kwargs : dict or None, default=None
        Keyword arguments of the optimizer, e.g. ``{"lr": 1e-4}``; None is Darts' default (``lr=1e-3``).
    lr_scheduler_cls : type or None, default=None
        A ``torch.optim.lr_scheduler`` class, e.g. ``torch.optim.lr_scheduler.ExponentialLR``; None: none.
    lr_scheduler_kwargs : dict or None, default=None
        Keyword arguments of the scheduler, e.g. ``{"gamma": 0.5}``.
    update_epochs : int, default=0
        What ``update(update_params=True)`` does: 0 trains a fresh model on all data seen so far, exactly as
        ``fit`` on that data would; a positive number continues training the fitted network on all data seen
        so far for that many epochs (cheaper fine-tuning).
    random_state : int or None, default=None
        Seed of weight initialisation, batch order and dropout, and of the sample paths drawn for quantile
        forecasts beyond ``output_chunk_length`` (seed 0 when None). Set it for reproducible fits.
    pl_trainer_kwargs : dict or None, default=None
        PyTorch Lightning ``Trainer`` arguments, e.g. ``{"accelerator": "gpu", "devices": [0]}`` or
        ``{"callbacks": [...]}``. Unless ``verbose`` is True they are merged over quiet defaults (no progress
        bar, model summary, logger or checkpoints).
    verbose : bool, default=False
        Show Lightning's progress bars, model summary and info messages.

    Attributes
    ----------
    darts_model_ : CrossScaleNetModel
        The fitted Darts model.

    Notes
    -----
    Darts arguments of ``CrossScaleNetModel`` that have no sktime counterpart are not exposed:
    ``output_chunk_shift`` (sktime's ``fh`` already selects the steps), static covariates (sktime has none),
    ``add_encoders`` (the model sees positions, not calendar time: give calendar features as columns of X,
    e.g. with sktime's ``DateTimeFeatures`` in a ``ForecastingPipeline``), validation series and checkpoint /
    logging folders (use ``pl_trainer_kwargs`` for Lightning callbacks and loggers).

    See Also
    --------
    crossscale_ext.CrossScaleNetModel : The Darts model that does the work.

    Examples
    --------
    >>> from sktime.datasets import load_airline
    >>> from crossscale_ext import CrossScaleNetForecaster
    >>> y = load_airline()  # monthly, PeriodIndex
    >>> forecaster = CrossScaleNetForecaster(
    ...     input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8,
    ...     moving_avg_kernel=7, d_model=16, n_epochs=2, random_state=0,
    ... )
    >>> forecaster.fit(y)  # doctest: +ELLIPSIS
    CrossScaleNetForecaster(...)
    >>> y_pred = forecaster.predict(fh=[1, 2, 3])
    >>> saliency = forecaster.saliency()  # last input window: 32 months x 1 component
    >>> saliency.shape
    (32, 1)
    >>> forecaster.get_fitted_params()["component_importance"].round(2).tolist()
    [1.0]
    """

    _tags = {
        # packaging info
        # --------------
        "authors": ["crossscale_ext developers"],
        "maintainers": ["crossscale_ext developers"],
        "python_dependencies": ["darts>=0.48", "torch>=2.6"],
        # estimator type
        # --------------
        "object_type": "forecaster",
        # y and X: single series, panels and hierarchies, all handled natively by one global model
        "y_inner_mtype": ["pd.DataFrame", "pd-multiindex", "pd_multiindex_hier"],
        "X_inner_mtype": ["pd.DataFrame", "pd-multiindex", "pd_multiindex_hier"],
        "capability:multivariate": True,  # all columns of y are forecast jointly
        "capability:exogenous": True,  # X is used, as future-known covariates
        "capability:categorical_in_X": False,  # X must be numeric
        "capability:non_contiguous_X": False,  # predict needs X at every step up to max(fh)
        "capability:missing_values": False,  # no NaN in y or X
        "capability:unequal_length": True,  # instances may differ in length and end point
        "capability:insample": False,  # forecasts only after the cutoff
        "capability:pred_int": False,  # set to True in __init__ when quantiles are given
        "capability:pred_int:insample": False,
        "capability:update": True,  # _update appends data and optionally retrains
        "capability:random_state": True,  # random_state is a parameter
        "property:randomness": "derandomized",  # deterministic once random_state is set
        "capability:feature_importance": True,  # saliency summaries in get_fitted_params
        "requires-fh-in-fit": False,  # the network's horizon is output_chunk_length, not fh
        "X-y-must-have-same-index": True,
        "fit_is_empty": False,
    }
    # the forecaster keeps the data it needs itself (``_cur_y``, ``_cur_X``), so the base class need not
    _config = {"remember_data": False}

    def __init__(
        self,
        input_chunk_length: int = 96,
        output_chunk_length: int = 24,
        n_scales: int = 4,
        base_patch_length: int = 16,
        moving_avg_kernel: int = 25,
        d_model: int = 32,
        dropout: float = 0.1,
        channel_mixing: bool = True,
        instance_norm: bool = True,
        use_reversible_instance_norm: bool = False,
        quantiles: Sequence[float] | None = None,
        num_samples: int = 500,
        loss_fn: Any = None,
        n_epochs: int = 100,
        batch_size: int = 32,
        optimizer_cls: type | None = None,
        optimizer_kwargs: dict | None = None,
        lr_scheduler_cls: type | None = None,
        lr_scheduler_kwargs: dict | None = None,
        update_epochs: int = 0,
        random_state: int | None = None,
        pl_trainer_kwargs: dict | None = None,
        verbose: bool = False,
    ) -> None:
        self.input_chunk_length = input_chunk_length
        self.output_chunk_length = output_chunk_length
        self.n_scales = n_scales
        self.base_patch_length = base_patch_length
        self.moving_avg_kernel = moving_avg_kernel
        self.d_model = d_model
        self.dropout = dropout
        self.channel_mixing = channel_mixing
        self.instance_norm = instance_norm
        self.use_reversible_instance_norm = use_reversible_instance_norm
        self.quantiles = quantiles
        self.num_samples = num_samples
        self.loss_fn = loss_fn
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.optimizer_cls = optimizer_cls
        self.optimizer_kwargs = optimizer_kwargs
        self.lr_scheduler_cls = lr_scheduler_cls
        self.lr_scheduler_kwargs = lr_scheduler_kwargs
        self.update_epochs = update_epochs
        self.random_state = random_state
        self.pl_trainer_kwargs = pl_trainer_kwargs
        self.verbose = verbose
        super().__init__()
        # the base class creates _y / _X only while remember_data is True at construction; sktime code that
        # switches remember_data on later (set_config) expects them to exist
        self._y, self._X = None, None

        validate_architecture(
            input_length=input_chunk_length,
            output_length=output_chunk_length,
            n_scales=n_scales,
            base_patch_length=base_patch_length,
            moving_avg_kernel=moving_avg_kernel,
            d_model=d_model,
            dropout=dropout,
        )
        self._quantile_levels()  # validates quantiles
        for name in ("n_epochs", "batch_size", "num_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if isinstance(update_epochs, bool) or not isinstance(update_epochs, int | np.integer) or update_epochs < 0:
            raise ValueError(
                "update_epochs must be a non-negative integer (0 refits from scratch on update); "
                f"got {update_epochs!r}."
            )
        self.set_tags(**{"capability:pred_int": quantiles is not None})

    # ------------------------------------------------------------------ hyperparameters -> Darts model
    def _quantile_levels(self) -> list[float] | None:
        """The sorted quantile levels, validated; None for a point forecaster."""
        if self.quantiles is None:
            return None
        if isinstance(self.quantiles, str | bytes) or not isinstance(self.quantiles, Sequence | np.ndarray):
            raise TypeError(
                f"quantiles must be a list of floats in (0, 1) containing 0.5, e.g. [0.1, 0.5, 0.9], or None; "
                f"got {self.quantiles!r}."
            )
        levels = sorted(float(q) for q in self.quantiles)
        if not levels or any(not 0.0 < q < 1.0 for q in levels) or len(set(levels)) != len(levels):
            raise ValueError(
                f"quantiles must be distinct levels strictly between 0 and 1; got {list(self.quantiles)!r}."
            )
        if 0.5 not in levels:
            raise ValueError(
                f"quantiles must contain 0.5 (the median is the point forecast); got {list(self.quantiles)!r}. "
                f"Use e.g. {sorted(levels + [0.5])!r}."
            )
        return levels

    def _trainer_kwargs(self) -> dict:
        """Lightning trainer arguments: the user's, over quiet defaults unless verbose."""
        user = copy.deepcopy(self.pl_trainer_kwargs) if self.pl_trainer_kwargs else {}
        return user if self.verbose else {**QUIET_TRAINER_KWARGS, **user}

    def _new_darts_model(self):
        """A fresh, unfitted ``CrossScaleNetModel`` with this forecaster's hyperparameters."""
        from darts.utils.likelihood_models.torch import QuantileRegression

        from crossscale_ext.darts_model import CrossScaleNetModel

        optional: dict[str, Any] = {
            "loss_fn": self.loss_fn,
            "optimizer_cls": self.optimizer_cls,
            "optimizer_kwargs": self.optimizer_kwargs,
            "lr_scheduler_cls": self.lr_scheduler_cls,
            "lr_scheduler_kwargs": self.lr_scheduler_kwargs,
        }
        kwargs = {name: copy.deepcopy(value) for name, value in optional.items() if value is not None}
        levels = self._quantile_levels()
        if levels is not None:
            kwargs["likelihood"] = QuantileRegression(quantiles=levels)
        return CrossScaleNetModel(
            input_chunk_length=self.input_chunk_length,
            output_chunk_length=self.output_chunk_length,
            n_scales=self.n_scales,
            base_patch_length=self.base_patch_length,
            moving_avg_kernel=self.moving_avg_kernel,
            d_model=self.d_model,
            dropout=self.dropout,
            channel_mixing=self.channel_mixing,
            instance_norm=self.instance_norm,
            use_reversible_instance_norm=self.use_reversible_instance_norm,
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            random_state=copy.deepcopy(self.random_state),
            pl_trainer_kwargs=self._trainer_kwargs(),
            **kwargs,
        )

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Silence Lightning's info messages and warnings during a Darts call, unless verbose."""
        if self.verbose:
            yield
            return
        loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            if logger.getEffectiveLevel() < logging.WARNING:
                logger.setLevel(logging.WARNING)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", module=_LIGHTNING_MODULES)
                warnings.filterwarnings("ignore", message=_PIN_MEMORY_NOTE)
                yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)

    def _sampling_seed(self) -> int:
        """Seed of the sample paths of quantile forecasts beyond ``output_chunk_length``."""
        return int(self.random_state) if isinstance(self.random_state, int | np.integer) else 0

    # ------------------------------------------------------------------ data: sktime -> per-series pieces
    @property
    def _min_fit_length(self) -> int:
        return self.input_chunk_length + self.output_chunk_length

    def _instances(self, y: pd.DataFrame, X: pd.DataFrame | None, min_length: int, role: str) -> list[_Instance]:
        """Split ``y`` (and ``X``) into validated series: long enough, gap-free, ``X`` covering ``y``."""
        X_parts = dict(_split_instances(X)) if X is not None else {}
        instances = []
        for key, y_part in _split_instances(y):
            instance = _Instance(key=key, y=y_part, X=None, cutoff=pd.Index([]))
            if len(y_part) < min_length:
                raise ValueError(
                    f"y{instance.where} has {len(y_part)} time points, but CrossScaleNetForecaster needs at least "
                    f"{min_length} to {role} (input_chunk_length={self.input_chunk_length}"
                    + (f" + output_chunk_length={self.output_chunk_length}" if min_length > self.input_chunk_length
                       else "")
                    + "). Pass a longer y, or use a smaller input_chunk_length (a multiple of "
                    f"2**(n_scales-1)={2 ** (self.n_scales - 1)}, at least 2*base_patch_length="
                    f"{2 * self.base_patch_length}) or a smaller output_chunk_length."
                )
            instance.cutoff = _grid_cutoff(y_part.index, instance.where)
            if X is not None:
                X_part = X_parts.get(key)
                if X_part is None:
                    raise ValueError(
                        f"X has no rows for instance {key} of y: give X for every instance of y, or fit without X."
                    )
                X_part = X_part[~X_part.index.duplicated(keep="last")].sort_index()
                missing = y_part.index.difference(X_part.index)
                if len(missing):
                    raise ValueError(
                        f"X{instance.where} lacks {len(missing)} of y's time points (first: {list(missing[:3])}): "
                        "X must have a row for every time point of y."
                    )
                instance.X = X_part
            instances.append(instance)
        return instances

    def _seen_instances(self) -> list[_Instance]:
        """The series seen so far (fit plus updates), already validated when they were seen."""
        return self._instances(self._cur_y, self._cur_X, self.input_chunk_length, "predict")

    def _checked_X(self, X: pd.DataFrame | None, role: str) -> pd.DataFrame | None:
        """``X`` passed after fit, checked against the columns seen in fit; None when fit had no X."""
        if self._X_columns is None:
            if X is not None:
                warnings.warn(
                    f"CrossScaleNetForecaster was fit without X; the X passed to {role} is ignored. Refit with X "
                    "to use exogenous data.",
                    UserWarning,
                    stacklevel=3,
                )
            return None
        if X is None:
            return None
        columns = list(X.columns)
        if set(columns) != set(self._X_columns) or len(columns) != len(self._X_columns):
            missing = [c for c in self._X_columns if c not in columns]
            unexpected = [c for c in columns if c not in self._X_columns]
            raise ValueError(
                f"X passed to {role} has different columns from the X seen in fit: missing {missing}, unexpected "
                f"{unexpected}. Pass X with exactly the columns {self._X_columns} (the model was trained on them), "
                "or refit with the new columns."
            )
        return X[self._X_columns]

    def _target_series(self, instance: _Instance, start: int = 0):
        """Rows ``start:`` of the instance's y as a float32 Darts series on positions 0, 1, ..."""
        from darts import TimeSeries

        values = instance.y.to_numpy(dtype=np.float32)[start:]
        return TimeSeries.from_values(values, columns=self._target_names)

    def _future_covariates(
        self, instance: _Instance, X_new: pd.DataFrame | None, start: int, n_future: int, n_padding: int, role: str
    ):
        """X as a float32 Darts series: y's rows ``start:``, the ``n_future`` steps after the cutoff, then padding.

        Rows come from ``X_new`` (the X passed to predict) where it has them, else from the X seen in fit and
        update. ``n_padding`` zero rows follow: Darts asks for future covariates over a whole output chunk, but the
        network reads the covariate of forecast step ``k`` only for step ``k`` (and its attention not at all), so
        rows past the requested steps change nothing. None when the forecaster was fit without X.
        """
        from darts import TimeSeries

        if self._X_columns is None:
            return None
        future = _absolute_index(range(1, n_future + 1), instance.cutoff) if n_future else instance.y.index[:0]
        needed = instance.y.index[start:].append(future)
        values = _merge_frames(instance.X, X_new).reindex(needed)
        missing = needed[values.isna().any(axis=1).to_numpy()]
        if len(missing):
            first_missing = [str(t) for t in missing[:3]]
            given = "no X was passed" if X_new is None else f"X lacks {len(missing)} of them (first: {first_missing})"
            raise ValueError(
                f"CrossScaleNetForecaster was fit with exogenous X (columns {self._X_columns}), which it uses as "
                f"future-known covariates, so {role} needs X{instance.where} at every time point from the cutoff to "
                f"the last forecast step, {future[0]} to {future[-1]} ({n_future} time points); {given}. Pass X "
                f"covering these time points to {role}."
            )
        array = values.to_numpy(dtype=np.float32)
        if n_padding:
            array = np.concatenate([array, np.zeros((n_padding, array.shape[1]), dtype=np.float32)])
        return TimeSeries.from_values(array, columns=self._covariate_names)

    def _row_index(self, key: tuple, times: pd.Index) -> pd.Index:
        """Output row index: ``times`` for a single series, ``(instance levels..., time)`` for panels."""
        if not key:
            return times.rename(self._time_name)
        arrays = [np.repeat(np.array([label], dtype=object), len(times)) for label in key]
        return pd.MultiIndex.from_arrays([*arrays, times], names=[*self._instance_names, self._time_name])

    def _series_and_covariates(self, instances: list[_Instance]) -> tuple[list, list | None]:
        """Darts training inputs: every instance's whole y and X."""
        series = [self._target_series(instance) for instance in instances]
        covariates = [self._future_covariates(instance, None, 0, 0, 0, "fit") for instance in instances]
        return series, (covariates if self._X_columns is not None else None)

    # ------------------------------------------------------------------ sktime interface
    def _fit(self, y: pd.DataFrame, X: pd.DataFrame | None = None, fh: ForecastingHorizon | None = None):
        """Fit the forecaster to training data.

        Parameters
        ----------
        y : pd.DataFrame
            Target series; a ``MultiIndex`` DataFrame for panels and hierarchies.
        X : pd.DataFrame, optional (default=None)
            Exogenous series, future-known, with a row for every time point of ``y``.
        fh : ForecastingHorizon, optional (default=None)
            Not needed in fit; checked against the in-sample restriction by the base class.

        Returns
        -------
        self : reference to self
        """
        self._y_columns = list(y.columns)
        self._X_columns = None if X is None else list(X.columns)
        self._time_name = y.index.names[-1]
        self._instance_names = list(y.index.names[:-1])
        self._target_names = [f"y{i}" for i in range(len(self._y_columns))]
        self._covariate_names = None if X is None else [f"x{i}" for i in range(len(self._X_columns))]
        instances = self._instances(y, X, self._min_fit_length, "fit")
        # copies: sktime may hand over the caller's own frame, which the caller may change later
        self._cur_y, self._cur_X = y.copy(), (None if X is None else X.copy())
        self.darts_model_ = self._train(instances)
        return self

    def _train(self, instances: list[_Instance], model=None):
        """Train a fresh model (``model=None``) or continue training ``model`` for ``update_epochs`` epochs."""
        series, covariates = self._series_and_covariates(instances)
        with self._quiet():
            if model is None:
                model = self._new_darts_model()
                model.fit(series, future_covariates=covariates)
            else:
                model.fit(series, future_covariates=covariates, epochs=self.update_epochs)
        return model

    def _update(self, y: pd.DataFrame, X: pd.DataFrame | None = None, update_params: bool = True):
        """Append new data; with ``update_params``, retrain (see ``update_epochs``).

        Parameters
        ----------
        y : pd.DataFrame
            New observations of the target (may overlap the data seen; new values win).
        X : pd.DataFrame, optional (default=None)
            Exogenous data for the new time points; required when the forecaster was fit with X.
        update_params : bool, optional (default=True)
            Whether to retrain the network on all data seen so far.

        Returns
        -------
        self : reference to self
        """
        X = self._checked_X(X, "update")
        if self._X_columns is not None and X is None:
            raise ValueError(
                f"CrossScaleNetForecaster was fit with exogenous X (columns {self._X_columns}): update needs X for "
                "the new time points of y as well. Pass X to update."
            )
        if list(y.columns) != self._y_columns:
            raise ValueError(
                f"y passed to update has columns {list(y.columns)}, but the forecaster was fit on {self._y_columns}."
            )
        all_y, all_X = _merge_frames(self._cur_y, y), _merge_frames(self._cur_X, X)
        min_length = self._min_fit_length if update_params else self.input_chunk_length
        instances = self._instances(all_y, all_X, min_length, "update")
        if update_params:
            self.darts_model_ = self._train(instances, None if self.update_epochs == 0 else self.darts_model_)
        self._cur_y, self._cur_X = all_y, all_X
        return self

    def _check_fh(self, fh, pred_int: bool = False):
        """The base class's fh check, with a fix named in the in-sample error."""
        try:
            return super()._check_fh(fh, pred_int=pred_int)
        except NotImplementedError as error:
            if "in-sample" not in str(error):
                raise
            raise NotImplementedError(
                f"{error}. CrossScaleNetForecaster forecasts only time points after the cutoff "
                f"({self._cutoff[0] if self._cutoff is not None and len(self._cutoff) else 'the end of y'}): use "
                "relative steps >= 1, e.g. fh=[1, 2, 3]. For forecasts of past time points, refit on the data "
                "before them (e.g. sktime's evaluate with an ExpandingWindowSplitter)."
            ) from error

    def _forecast(
        self, fh: ForecastingHorizon, X: pd.DataFrame | None, alphas: list[float] | None
    ) -> list[tuple[_Instance, pd.Index, np.ndarray]]:
        """Forecasts of every series at ``fh``: ``(instance, time index, values (len(fh), n_targets, A))``.

        ``alphas=None`` gives the point forecast (``A = 1``): the network's output, or the median when the
        forecaster is probabilistic.
        """
        X = self._checked_X(X, "predict")
        X_new = dict(_split_instances(X)) if X is not None else {}
        instances = self._seen_instances()
        plans = []
        for instance in instances:
            steps, index = _relative_steps(fh, instance.cutoff, instance.where)
            if (steps < 1).any():
                raise NotImplementedError(
                    f"fh contains in-sample steps {sorted(steps[steps < 1].tolist())} for y{instance.where}; "
                    "CrossScaleNetForecaster can not perform in-sample prediction: use steps >= 1 after the cutoff."
                )
            plans.append((instance, steps, index))
        n = int(max(steps.max() for _, steps, _ in plans))
        start = [len(instance.y) - self.input_chunk_length for instance in instances]
        series = [self._target_series(instance, s) for instance, s in zip(instances, start)]
        covariates = None
        if self._X_columns is not None:
            covariates = [
                self._future_covariates(
                    instance, X_new.get(instance.key), s, n, max(0, self.output_chunk_length - n), "predict"
                )
                for instance, s in zip(instances, start)
            ]

        levels = self._quantile_levels()
        model = self.darts_model_
        with self._quiet():
            if levels is None:
                predictions = model.predict(n, series=series, future_covariates=covariates)
                values = [p.values(copy=False)[:, :, None] for p in predictions]
            elif n <= self.output_chunk_length:
                predictions = model.predict(
                    n, series=series, future_covariates=covariates, predict_likelihood_parameters=True
                )
                n_targets = len(self._target_names)
                values = []
                for p in predictions:
                    quantile_values = np.sort(p.values(copy=False).reshape(n, n_targets, len(levels)), axis=-1)
                    wanted = [0.5] if alphas is None else alphas
                    values.append(np.stack([self._interpolate(quantile_values, levels, a) for a in wanted], axis=-1))
            else:
                predictions = model.predict(
                    n,
                    series=series,
                    future_covariates=covariates,
                    num_samples=self.num_samples,
                    random_state=self._sampling_seed(),
                )
                wanted = [0.5] if alphas is None else alphas
                values = [np.moveaxis(np.quantile(p.all_values(copy=False), wanted, axis=-1), 0, -1)
                          for p in predictions]
        return [
            (instance, index, np.asarray(v, dtype=np.float64)[steps - 1])
            for (instance, steps, index), v in zip(plans, values)
        ]

    @staticmethod
    def _interpolate(quantile_values: np.ndarray, levels: list[float], alpha: float) -> np.ndarray:
        """Linear interpolation of sorted quantile values ``(n, targets, Q)`` at level ``alpha``."""
        position = np.interp(alpha, levels, np.arange(len(levels)))
        lower = int(np.floor(position))
        upper = min(lower + 1, len(levels) - 1)
        weight = position - lower
        return (1.0 - weight) * quantile_values[..., lower] + weight * quantile_values[..., upper]

    def _predict(self, fh: ForecastingHorizon, X: pd.DataFrame | None = None) -> pd.DataFrame:
        """Forecast time series at future horizon.

        Parameters
        ----------
        fh : ForecastingHorizon
            Steps after the cutoff (out-of-sample only); may exceed ``output_chunk_length``.
        X : pd.DataFrame, optional (default=None)
            Exogenous data covering every step from the cutoff to ``max(fh)``; required when fit with X.

        Returns
        -------
        y_pred : pd.DataFrame
            Point forecasts (the median when ``quantiles`` is set), indexed like ``y``.
        """
        frames = [
            pd.DataFrame(values[:, :, 0], index=self._row_index(instance.key, index), columns=self._y_columns)
            for instance, index, values in self._forecast(fh, X, alphas=None)
        ]
        return pd.concat(frames) if len(frames) > 1 else frames[0]

    def _predict_quantiles(self, fh: ForecastingHorizon, X: pd.DataFrame | None, alpha: list[float]) -> pd.DataFrame:
        """Compute quantile forecasts.

        Parameters
        ----------
        fh : ForecastingHorizon
            Steps after the cutoff (out-of-sample only).
        X : pd.DataFrame or None
            Exogenous data, as for ``predict``.
        alpha : list of float
            Quantile levels, each within the range of the trained ``quantiles``.

        Returns
        -------
        quantiles : pd.DataFrame
            Columns ``(variable, alpha)``, rows indexed like ``predict``'s output.
        """
        levels = self._quantile_levels()
        # sktime computes interval ends as 0.5 -/+ coverage / 2, e.g. 0.04999999999999999 for coverage 0.9
        lowest, highest = levels[0], levels[-1]
        alphas = [
            min(max(float(a), lowest), highest) if np.isclose(a, lowest) or np.isclose(a, highest) else float(a)
            for a in alpha
        ]
        outside = [round(a, 10) for a in alphas if not levels[0] <= a <= levels[-1]]
        if outside:
            raise ValueError(
                f"alpha {outside} lies outside the quantile levels the model was trained for ({levels[0]} to "
                f"{levels[-1]}), so it knows nothing about that tail. Add the levels you need to `quantiles` "
                f"(e.g. quantiles={sorted(set(levels) | set(outside))}) and refit."
            )
        columns = self._get_columns(method="predict_quantiles", alpha=alpha)
        frames = []
        for instance, index, values in self._forecast(fh, X, alphas=alphas):
            flat = values.reshape(len(index), -1)  # (time, variable * alpha), variable-major like `columns`
            frames.append(pd.DataFrame(flat, index=self._row_index(instance.key, index), columns=columns))
        return pd.concat(frames) if len(frames) > 1 else frames[0]

    # ------------------------------------------------------------------ saliency
    def _input_component_labels(self) -> list:
        """Labels of the network's input channels: y's columns, then X's (prefixed ``X:`` on a name clash)."""
        x_labels = [f"X:{c}" if c in self._y_columns else c for c in (self._X_columns or [])]
        return [*self._y_columns, *x_labels]

    def _saliency_results(self, windows: str, stride: int = 1) -> list[tuple[_Instance, int, Any]]:
        """Run the Darts model's saliency over the series seen; return ``(instance, start row, result)`` triples.

        The attention reads only the input window (y and X's past), so the forecast steps' X is zero padding.
        """
        instances = self._seen_instances()
        starts = [len(i.y) - self.input_chunk_length if windows == "last" else 0 for i in instances]
        series = [self._target_series(instance, s) for instance, s in zip(instances, starts)]
        covariates = None
        if self._X_columns is not None:
            covariates = [
                self._future_covariates(instance, None, s, 0, self.output_chunk_length, "saliency")
                for instance, s in zip(instances, starts)
            ]
        with self._quiet():
            results = self.darts_model_.saliency(
                series,
                future_covariates=covariates,
                windows=windows,
                **({"stride": stride, "overlap_end": True} if windows == "all" else {}),
            )
        return list(zip(instances, starts, results))

    def saliency(
        self,
        windows: Literal["last", "all"] = "last",
        kind: Literal["per_component", "per_step", "paper", "all"] = "per_component",
    ) -> pd.DataFrame:
        """Attention saliency of the forecasts, indexed by the input windows' time points in y's index type.

        Parameters
        ----------
        windows : {"last", "all"}, default="last"
            ``"last"``: the input window of the next forecast (the last ``input_chunk_length`` time points of
            every series). ``"all"``: every input window of the data seen so far, from the first full window to
            the last one.
        kind : {"per_component", "per_step", "paper", "all"}, default="per_component"
            ``"per_component"``: one column per input component (y's columns, then X's, an X column named like
            a y column is prefixed ``X:``), the per-step map split across components; the row sums give the
            per-step map. ``"per_step"``: one column ``per_step``, the patch attention refined by the local
            attention (sums to 1 per window). ``"paper"``: one column ``paper``, the reference
            implementation's map (patch resolution, sums to ``n_scales - 1`` per window). ``"all"``: ``paper``,
            ``per_step`` and the per-component columns. See :mod:`crossscale_ext.saliency`.

        Returns
        -------
        pd.DataFrame
            Rows: the input window's time points (``y``'s index type and name). With ``windows="all"`` a
            ``MultiIndex`` ``(forecast_start, time)``, where ``forecast_start`` is the first time point each
            window forecasts. Panels and hierarchies add their instance levels in front.

        Raises
        ------
        ValueError
            When ``windows`` or ``kind`` is unknown.
        """
        self.check_is_fitted()
        if windows not in ("last", "all"):
            raise ValueError(f"windows must be 'last' or 'all'; got {windows!r}.")
        if kind not in _SALIENCY_KINDS:
            raise ValueError(f"kind must be one of {list(_SALIENCY_KINDS)}; got {kind!r}.")
        components = self._input_component_labels()
        frames = []
        for instance, start, result in self._saliency_results(windows):
            n_windows, length = result.per_step.shape
            pieces = {"paper": result.paper[..., None], "per_step": result.per_step[..., None],
                      "per_component": result.per_component}
            names = {"paper": ["paper"], "per_step": ["per_step"], "per_component": components}
            chosen = ["paper", "per_step", "per_component"] if kind == "all" else [kind]
            values = np.concatenate([pieces[k] for k in chosen], axis=-1).reshape(n_windows * length, -1)
            columns = [label for k in chosen for label in names[k]]
            extended = instance.y.index.append(_absolute_index([1], instance.cutoff))
            times = _take_labels(extended, (result.input_index + start).ravel())
            if windows == "last":
                index = self._row_index(instance.key, times)
            else:
                starts = extended.take(result.forecast_index[:, 0] + start).repeat(length)
                arrays = [np.repeat(np.array([label], dtype=object), len(times)) for label in instance.key]
                index = pd.MultiIndex.from_arrays(
                    [*arrays, starts, times], names=[*self._instance_names, "forecast_start", self._time_name]
                )
            frames.append(pd.DataFrame(values.astype(np.float64), index=index, columns=columns))
        return pd.concat(frames) if len(frames) > 1 else frames[0]

    def _get_fitted_params(self) -> dict:
        """Get fitted parameters: the Darts model and saliency summaries.

        The summaries average the saliency over the input windows of the data seen so far (at most 512 evenly
        spaced windows per series).

        Returns
        -------
        fitted_params : dict
            ``darts_model``: the fitted ``CrossScaleNetModel``; ``input_components``: the network's input
            channels (y's columns, then X's); ``saliency_per_step`` and ``saliency_paper``: ``pd.Series``
            indexed by lag (1 = the last input time point); ``saliency_per_component``: ``pd.DataFrame`` lag x
            input component; ``component_importance``: ``pd.Series`` of each input component's share of the
            saliency (sums to 1); ``n_saliency_windows``: the number of windows averaged.
        """
        instances = self._seen_instances()
        most_windows = max(len(i.y) for i in instances) - self.input_chunk_length + 1
        stride = max(1, -(-most_windows // _MAX_SUMMARY_WINDOWS))
        results = [result for _, _, result in self._saliency_results("all", stride=stride)]
        paper = np.concatenate([r.paper for r in results])
        per_step = np.concatenate([r.per_step for r in results])
        per_component = np.concatenate([r.per_component for r in results])
        components = self._input_component_labels()
        lags = pd.RangeIndex(1, self.input_chunk_length + 1, name="lag")
        per_component_by_lag = pd.DataFrame(
            per_component.mean(axis=0)[::-1].astype(np.float64), index=lags, columns=components
        )
        return {
            "darts_model": self.darts_model_,
            "input_components": components,
            "saliency_per_step": pd.Series(per_step.mean(axis=0)[::-1].astype(np.float64), index=lags, name="per_step"),
            "saliency_paper": pd.Series(paper.mean(axis=0)[::-1].astype(np.float64), index=lags, name="paper"),
            "saliency_per_component": per_component_by_lag,
            "component_importance": per_component_by_lag.sum(axis=0).rename("importance"),
            "n_saliency_windows": int(per_step.shape[0]),
        }

    # ------------------------------------------------------------------ persistence
    def __getstate__(self) -> dict:
        """Pickle state; keeps the fitted Lightning module, which Darts drops from its own pickle."""
        state = self.__dict__.copy()
        model = state.get("darts_model_")
        if model is not None and model.model is not None:
            state["_fitted_lightning_module"] = model.model
        return state

    def __setstate__(self, state: dict) -> None:
        """Restore pickled state and re-attach the fitted Lightning module to the Darts model."""
        state = dict(state)
        module = state.pop("_fitted_lightning_module", None)
        self.__dict__.update(state)
        if module is not None:
            self.darts_model_.model = module

    # ------------------------------------------------------------------ testing
    @classmethod
    def get_test_params(cls, parameter_set: str = "default") -> list[dict]:
        """Return testing parameter settings for the estimator.

        Two tiny, fast configurations that fit sktime's short check data (panels of 10 time points): a point
        forecaster with two scales, and a probabilistic one with three scales, no channel mixing and
        fine-tuning on update.

        Parameters
        ----------
        parameter_set : str, default="default"
            Name of the set of test parameters to return; only "default" exists.

        Returns
        -------
        params : list of dict
            Parameters to create testing instances of the class.
        """
        point = {
            "input_chunk_length": 4,
            "output_chunk_length": 2,
            "n_scales": 2,
            "base_patch_length": 2,
            "moving_avg_kernel": 3,
            "d_model": 8,
            "n_epochs": 1,
            "batch_size": 32,
            "random_state": 0,
            "pl_trainer_kwargs": {"accelerator": "cpu"},
        }
        probabilistic = {
            "input_chunk_length": 8,
            "output_chunk_length": 2,
            "n_scales": 3,
            "base_patch_length": 4,
            "moving_avg_kernel": 3,
            "d_model": 8,
            "dropout": 0.0,
            "channel_mixing": False,
            "quantiles": [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95],
            "num_samples": 32,
            "n_epochs": 1,
            "batch_size": 16,
            "update_epochs": 1,
            "random_state": 1,
            "pl_trainer_kwargs": {"accelerator": "cpu"},
        }
        return [point, probabilistic]
