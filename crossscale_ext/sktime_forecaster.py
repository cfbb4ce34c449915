"""CrossScaleNet for sktime.

:class:`CrossScaleNetForecaster`, an sktime ``BaseForecaster`` that delegates training and prediction to
:class:`~crossscale_ext.darts_model.CrossScaleNetModel` (one training path), with probabilistic forecasts
through Darts' ``QuantileRegression`` and the model's saliency as pandas objects in ``y``'s own index type.
The estimator holds sktime's contract (tags, ``_fit``, ``_predict``, ``get_test_params``); the checks of sktime's
data are in :mod:`crossscale_ext._sktime_data`, the conversions to and from the Darts model in
:mod:`crossscale_ext._sktime_adapter` (as sktime keeps them in ``sktime/forecasting/base/adapters/_darts.py``) and
the saliency methods in :mod:`crossscale_ext._sktime_saliency`. Importing this module loads no Darts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pandas as pd
from sktime.forecasting.base import BaseForecaster, ForecastingHorizon

from crossscale_ext import _sktime_adapter as adapter
from crossscale_ext import _sktime_data as sktime_data
from crossscale_ext._lightning import quiet_lightning
from crossscale_ext._sktime_saliency import (
    SktimeSaliencyMixin,
    find_crossscale_forecaster,
    pipeline_saliency,
)
from crossscale_ext.config import ArchitectureConfig, check_removed_center, fill_parameter_docs

__all__ = ["CrossScaleNetForecaster", "find_crossscale_forecaster", "pipeline_saliency"]

#: The default architecture: the constructor's defaults are read from it, as the Darts model's are.
_DEFAULT = ArchitectureConfig()


class CrossScaleNetForecaster(SktimeSaliencyMixin, BaseForecaster):
    """CrossScaleNet for sktime: multi-scale forecasts, each with a saliency map of the inputs it rests on.

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
    - ``y`` and ``X`` must be numeric and complete: missing values and non-numeric (object, string,
      categorical, datetime) columns are an error that names the columns and the fix.
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

    Saliency: :meth:`saliency` returns a saliency map over the last input window or every input window,
    indexed by ``y``'s time points: by default the ``gradient`` map (``|d forecast / d input|`` per time point
    and input component), the map to read (on synthetic data with known important lags it ranks them first,
    mean AUROC 0.99; see the saliency benchmark). The paper's attention maps (``paper``, ``per_step``,
    ``per_component``) are one argument away (``kind=``); their columns carry the prefix ``attention_``, as
    they score near chance on the same benchmark. In a fitted pipeline, :func:`pipeline_saliency` finds this
    forecaster and returns its maps. :meth:`saliency_summary` averages the maps over the windows of the data
    seen so far (``saliency_gradient`` and ``gradient_importance``, and the attention summaries
    ``saliency_per_step``, ``saliency_paper``, ``saliency_per_component``, ``component_importance``);
    ``get_fitted_params()`` holds the Darts model and the input channels, and runs no saliency pass.

    Parameters
    ----------
    input_chunk_length : int, default=96
        Lookback ``L``: time points fed to the network. A multiple of ``2 ** (n_scales - 1)`` and at least
        ``2 * base_patch_length``. Every series must have at least ``input_chunk_length + output_chunk_length``
        time points to fit.
    output_chunk_length : int, default=24
        Horizon ``H`` the network predicts at once; longer ``fh`` are forecast auto-regressively. The attention
        maps are informative only when it is at least the number of patches
        ``input_chunk_length / base_patch_length``.
    {architecture_parameters}
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
    crossscale_ext.ArchitectureConfig : The architecture parameters, validated once for every wrapper.

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
    >>> saliency = forecaster.saliency()  # the gradient map: 32 months x 1 component
    >>> saliency.shape
    (32, 1)
    >>> forecaster.saliency(kind="per_step").columns.tolist()  # an attention map of the paper
    ['attention_per_step']
    >>> forecaster.saliency_summary()["gradient_importance"].round(2).tolist()
    [1.0]
    """

    _tags = {
        # packaging info and estimator type
        "authors": ["crossscale_ext developers"],
        "maintainers": ["crossscale_ext developers"],
        "python_dependencies": ["darts>=0.48", "torch>=2.6"],
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
        # the saliency summaries need a saliency pass: saliency_summary(), not get_fitted_params (kept cheap)
        "capability:feature_importance": False,
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
        n_scales: int = _DEFAULT.n_scales,
        base_patch_length: int = _DEFAULT.base_patch_length,
        moving_avg_kernel: int | None = _DEFAULT.moving_avg_kernel,
        d_model: int = _DEFAULT.d_model,
        dropout: float = _DEFAULT.dropout,
        channel_mixing: bool = _DEFAULT.channel_mixing,
        instance_norm: bool = _DEFAULT.instance_norm,
        covariate_path: str = _DEFAULT.covariate_path,
        mean_gate_init: float = _DEFAULT.mean_gate_init,
        scale_fusion: str = _DEFAULT.scale_fusion,
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
        self.covariate_path = covariate_path
        self.mean_gate_init = mean_gate_init
        self.scale_fusion = scale_fusion
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

        self._architecture().validate(input_chunk_length, output_chunk_length)
        sktime_data.quantile_levels(quantiles)
        sktime_data.check_training_params(
            n_epochs=n_epochs, batch_size=batch_size, num_samples=num_samples, update_epochs=update_epochs
        )
        self.set_tags(**{"capability:pred_int": quantiles is not None})

    # ------------------------------------------------------------------ hyperparameters -> Darts model
    def _architecture(self) -> ArchitectureConfig:
        """The architecture hyperparameters, validated by :class:`~crossscale_ext.config.ArchitectureConfig`."""
        return ArchitectureConfig.from_params(self.get_params(deep=False))

    def _quiet(self) -> AbstractContextManager:
        """Silence Lightning's info messages and harmless warnings during a Darts call, unless verbose."""
        return nullcontext() if self.verbose else quiet_lightning()

    # ------------------------------------------------------------------ data
    def _check_X_y(self, X=None, y=None, *args: Any, **kwargs: Any):
        """Run sktime's input checks, preceded by ours, which name the columns and the fix.

        sktime rejects missing values and non-numeric columns inside ``fit``, ``update`` and every ``predict*``
        (all call this method) before ``_fit`` sees the data, with messages that name neither column nor fix.
        """
        sktime_data.check_numeric_complete(y, "y")  # first: sktime's checks expect its TypeError for categorical data
        sktime_data.check_numeric_complete(X, "X")
        sktime_data.check_index_and_columns(y, X)
        seen = getattr(self, "_cur_y", None)  # after fit: X in predict and y in update must be indexed like it
        sktime_data.check_index_type(y, seen, "y", "the y seen in fit")
        sktime_data.check_index_type(X, seen, "X", "the y seen in fit")
        return super()._check_X_y(X, y, *args, **kwargs)

    def _restoring_state(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` (sktime's ``fit`` or ``update``); on any exception put the forecaster's state back first.

        sktime's ``fit`` resets the forecaster (deletes every attribute, runs ``__init__``) and ``update`` moves
        the cutoff before the inner ``_fit`` / ``_update`` runs, so a failure there would leave a half-changed
        forecaster. The snapshot is the instance dictionary (with its dict values copied); ``reset`` and the
        inner methods replace attributes rather than change them in place, and the Darts model that
        ``update(update_params=True)`` with ``update_epochs > 0`` trains in place restores itself on failure
        (:meth:`CrossScaleNetModel.fit <crossscale_ext.darts_model.CrossScaleNetModel.fit>`).
        """
        snapshot = {key: dict(value) if type(value) is dict else value for key, value in self.__dict__.items()}
        try:
            return call()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise

    def fit(self, y, X=None, fh=None):
        """Fit forecaster to training data; sktime's ``BaseForecaster.fit``, restoring the state on failure.

        Parameters
        ----------
        y : time series in an sktime compatible data container format
            Time series to fit the forecaster to (see the class docstring for the index types).
        X : time series in an sktime compatible data container format, optional (default=None)
            Future-known exogenous time series, with a row for every time point of ``y``.
        fh : int, list, pd.Index coercible, or ForecastingHorizon, optional (default=None)
            Forecasting horizon (not needed in fit).

        Returns
        -------
        self : reference to self.

        Raises
        ------
        TypeError
            When ``y`` is None or not numeric.
        ValueError
            For missing or infinite values, an unsorted or irregular time index, too short series, or an ``X`` that
            does not cover ``y``, naming the fix.

        Notes
        -----
        A failed fit (bad input, ``TrainingDivergedError``, ``KeyboardInterrupt``, ...) leaves the forecaster as it
        was before the call: a fitted forecaster stays fitted on its previous data and predicts exactly what it
        predicted before, an unfitted one stays unfitted.
        """
        if y is None:
            raise TypeError("y must be given to fit: pass the series to forecast (e.g. a pd.DataFrame or pd.Series).")
        return self._restoring_state(lambda: super(CrossScaleNetForecaster, self).fit(y, X=X, fh=fh))

    def update(self, y, X=None, update_params=True):
        """Update the forecaster with new data; sktime's ``BaseForecaster.update``, restoring the state on failure.

        Parameters
        ----------
        y : time series in an sktime compatible data container format
            New observations (rows after or overlapping the data seen so far; new values win).
        X : time series in an sktime compatible data container format, optional (default=None)
            Exogenous data for the new time points; needed when fit had X.
        update_params : bool, optional (default=True)
            Whether to retrain (see ``update_epochs``) or only append the data.

        Returns
        -------
        self : reference to self.

        Notes
        -----
        A failed update (bad input, a diverging retraining, ...) leaves the forecaster as it was before the call:
        same cutoff, same data, same weights, the same predictions.
        """
        return self._restoring_state(
            lambda: super(CrossScaleNetForecaster, self).update(y, X=X, update_params=update_params)
        )

    def _seen_instances(self) -> list[sktime_data.Instance]:
        """The series seen so far (fit plus updates)."""
        return self._adapter.instances(self._cur_y, self._cur_X, "predict", training=False)

    def _train(self, instances: list[sktime_data.Instance], model=None):
        """Train a fresh model (``model=None``) or continue training ``model`` for ``update_epochs`` epochs."""
        series, covariates = self._adapter.training_inputs(instances)
        epochs = {} if model is None else {"epochs": self.update_epochs}
        if model is None:  # before quieting: the first Darts import sets Lightning's log levels
            model = adapter.build_darts_model(self.get_params(deep=False))
        with self._quiet():
            model.fit(series, future_covariates=covariates, **epochs)
        return model

    # ------------------------------------------------------------------ sktime interface
    def _fit(self, y: pd.DataFrame, X: pd.DataFrame | None = None, fh: ForecastingHorizon | None = None):
        """Train a new ``CrossScaleNetModel`` on every series of ``y`` with future-known ``X`` (``fh`` is unused)."""
        self._adapter = adapter.DartsAdapter.from_data(
            y, X, self.input_chunk_length, self.output_chunk_length, self._architecture()
        )
        instances = self._adapter.instances(y, X, "fit", training=True)
        # copies: sktime may hand over the caller's own frame, which the caller may change later
        self._cur_y, self._cur_X = y.copy(), (None if X is None else X.copy())
        self.darts_model_ = self._train(instances)
        return self

    def _update(self, y: pd.DataFrame, X: pd.DataFrame | None = None, update_params: bool = True):
        """Append ``y`` and ``X`` (new values win); with ``update_params``, retrain (see ``update_epochs``)."""
        all_y, all_X = self._adapter.updated_data(self._cur_y, self._cur_X, y, X)
        instances = self._adapter.instances(all_y, all_X, "update", training=update_params)
        if update_params:
            self.darts_model_ = self._train(instances, None if self.update_epochs == 0 else self.darts_model_)
        self._cur_y, self._cur_X = all_y, all_X
        return self

    def _check_fh(self, fh, pred_int: bool = False):
        """The base class's fh check, with a fix named in the in-sample error.

        The base class writes ``fh`` to ``self._fh`` and returns what it reads back from there; the check runs
        under ``INFERENCE_LOCK`` so that threads forecasting different horizons with one fitted forecaster
        each get their own ``fh`` back.
        """
        from crossscale_ext.darts_model import INFERENCE_LOCK

        try:
            with INFERENCE_LOCK:
                return super()._check_fh(fh, pred_int=pred_int)
        except NotImplementedError as error:
            if "in-sample" not in str(error):
                raise
            raise NotImplementedError(sktime_data.in_sample_message(str(error), self._cutoff)) from error

    def _forecast(self, fh: ForecastingHorizon, X: pd.DataFrame | None, alphas: list[float] | None) -> list:
        """Forecasts of every series at ``fh`` (the point forecast when ``alphas`` is None); see the adapter.

        Runs under the Darts model's process-wide ``INFERENCE_LOCK`` (one forecast of several Darts calls at a time),
        so threads sharing a fitted forecaster get what sequential calls get.
        """
        from crossscale_ext.darts_model import INFERENCE_LOCK

        X = self._adapter.checked_X(X, "predict")
        instances = self._seen_instances()
        levels = sktime_data.quantile_levels(self.quantiles)
        with INFERENCE_LOCK:
            return self._adapter.forecast(
                self.darts_model_, instances, fh, X, levels, alphas, self.num_samples, self.random_state, self._quiet
            )

    def _predict(self, fh: ForecastingHorizon, X: pd.DataFrame | None = None) -> pd.DataFrame:
        """Point forecasts (the median when ``quantiles`` is set) at ``fh``, indexed like ``y``."""
        return self._adapter.forecast_frame(self._forecast(fh, X, alphas=None))

    def _predict_quantiles(self, fh: ForecastingHorizon, X: pd.DataFrame | None, alpha: list[float]) -> pd.DataFrame:
        """Quantile forecasts at ``fh``, columns ``(variable, alpha)``, for ``alpha`` within the trained levels."""
        alphas = sktime_data.checked_alphas(alpha, sktime_data.quantile_levels(self.quantiles))
        columns = self._get_columns(method="predict_quantiles", alpha=alpha)
        return self._adapter.forecast_frame(self._forecast(fh, X, alphas=alphas), columns)

    def _get_fitted_params(self) -> dict:
        """Get fitted parameters: the Darts model and the network's input channels (no saliency pass).

        Returns
        -------
        fitted_params : dict
            ``darts_model``: the fitted ``CrossScaleNetModel``; ``input_components``: the network's input
            channels (y's columns, then X's). The saliency summaries are :meth:`saliency_summary`.
        """
        return {"darts_model": self.darts_model_, "input_components": self._adapter.input_components}

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
        check_removed_center(state.pop("instance_norm_center", None), saved=True)
        module = state.pop("_fitted_lightning_module", None)
        self.__dict__.update(state)
        if module is not None:
            self.darts_model_.model = module

    @classmethod
    def load_from_serial(cls, serial: bytes, trusted: bool = False) -> CrossScaleNetForecaster:
        """Load a forecaster from the in-memory save ``serial`` (the second element of ``save()``), safely.

        sktime's ``load_from_serial`` runs ``pickle.loads``, which executes whatever code the bytes name. Here the
        bytes are unpickled with Darts' restricted unpickler (the one behind ``CrossScaleNetModel.load``), which
        accepts only the classes and functions a forecaster's save needs; ``sktime.base.load((cls, serial))``
        dispatches to this method. See :mod:`crossscale_ext._safe_pickle`.

        Parameters
        ----------
        serial : bytes
            The pickled forecaster.
        trusted : bool, default=False
            Unpickle without restrictions (as sktime does). Only for bytes you fully trust: unpickling can run code.

        Returns
        -------
        CrossScaleNetForecaster

        Raises
        ------
        ValueError
            When ``serial`` is not a complete pickle of a ``CrossScaleNetForecaster`` (truncated, corrupt, another
            object) or names objects the safe loader refuses (it may run code when unpickled).
        """
        from crossscale_ext._safe_pickle import load_forecaster_bytes

        return load_forecaster_bytes(cls, serial, "the in-memory save", trusted=trusted)

    @classmethod
    def load_from_path(cls, serial: Any, trusted: bool = False) -> CrossScaleNetForecaster:
        """Load a forecaster from a zip file written by ``save(path)``, safely.

        Both members of the file, ``_metadata`` (the class) and ``_obj`` (the forecaster), are unpickled with a
        restricted unpickler: ``_metadata`` must name ``CrossScaleNetForecaster`` and nothing else, ``_obj`` may
        name only the classes and functions a forecaster's save needs (see :mod:`crossscale_ext._safe_pickle`).
        Prefer ``CrossScaleNetForecaster.load_from_path(path)`` to ``sktime.base.load(path)`` for files you did not
        make: ``sktime.base.load`` unpickles ``_metadata`` with plain pickle before it calls this method, so only
        ``_obj`` is guarded on that path.

        Parameters
        ----------
        serial : str, pathlib.Path or zipfile.ZipFile
            The file ``save(path)`` wrote: ``"path.zip"``, or ``"path"`` as given to ``save``.
        trusted : bool, default=False
            Unpickle without restrictions (as sktime does). Only for files you fully trust: unpickling can run code.

        Returns
        -------
        CrossScaleNetForecaster

        Raises
        ------
        ValueError
            When the file is missing, not a zip file, truncated or corrupt, a save of another class, or holds
            objects the safe loader refuses.
        """
        from crossscale_ext._safe_pickle import load_forecaster_zip

        return load_forecaster_zip(cls, serial, trusted=trusted)

    # ------------------------------------------------------------------ testing
    @classmethod
    def get_test_params(cls, parameter_set: str = "default") -> list[dict]:
        """Return testing parameter settings for the estimator.

        Two tiny, fast configurations that fit sktime's short check data (panels of 10 time points): a point
        forecaster with two scales, and a probabilistic one with three scales, no channel mixing, the linear
        covariate path and fine-tuning on update.

        Parameters
        ----------
        parameter_set : str, default="default"
            Name of the set of test parameters to return; only "default" exists.

        Returns
        -------
        params : list of dict
            Parameters to create testing instances of the class.
        """
        tiny = {"output_chunk_length": 2, "moving_avg_kernel": 3, "d_model": 8, "n_epochs": 1,
                "pl_trainer_kwargs": {"accelerator": "cpu"}}
        point = {**tiny, "input_chunk_length": 4, "n_scales": 2, "base_patch_length": 2, "batch_size": 32,
                 "random_state": 0}
        probabilistic = {
            **tiny, "input_chunk_length": 8, "n_scales": 3, "base_patch_length": 4, "dropout": 0.0,
            "channel_mixing": False, "covariate_path": "linear", "scale_fusion": "sum",
            "quantiles": [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95],
            "num_samples": 32, "batch_size": 16, "update_epochs": 1, "random_state": 1,
        }
        return [point, probabilistic]


CrossScaleNetForecaster.__doc__ = fill_parameter_docs(CrossScaleNetForecaster.__doc__, style="sktime")
