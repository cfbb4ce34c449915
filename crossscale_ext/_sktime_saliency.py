"""The saliency face of :class:`~crossscale_ext.sktime_forecaster.CrossScaleNetForecaster`, in ``y``'s terms.

- :class:`SktimeSaliencyMixin`: the forecaster's :meth:`~SktimeSaliencyMixin.saliency`,
  :meth:`~SktimeSaliencyMixin.iter_saliency`, :meth:`~SktimeSaliencyMixin.panel_saliency`,
  :meth:`~SktimeSaliencyMixin.check_saliency` and :meth:`~SktimeSaliencyMixin.saliency_summary`;
- the Darts model's saliency over the forecaster's series (:func:`saliency_results`, :func:`iter_saliency_results`,
  :func:`panel_saliency`) and its maps as frames in ``y``'s columns, index type and instance levels
  (:func:`saliency_frame`, :func:`saliency_values`, :func:`saliency_summary`);
- :func:`find_crossscale_forecaster` and :func:`pipeline_saliency`: the forecaster and its maps inside a fitted
  sktime pipeline or tuner.

Darts is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from crossscale_ext._sktime_adapter import DartsAdapter
from crossscale_ext._sktime_data import Instance, absolute_index, concat_frames, take_labels
from crossscale_ext.config import check_int
from crossscale_ext.maps import (
    ATTENTION_MAP_NAMES,
    CELL_MAPS,
    GRADIENT_MAP_NAMES,
    RECOMMENDED_MAP,
    TEMPORAL_MAPS,
    map_label,
)

if TYPE_CHECKING:  # pragma: no cover
    from crossscale_ext.darts_model import CrossScaleNetModel
    from crossscale_ext.saliency import PanelSaliency, SaliencyResult

__all__ = [
    "SALIENCY_KINDS",
    "SaliencyKind",
    "SktimeSaliencyMixin",
    "find_crossscale_forecaster",
    "iter_saliency_results",
    "panel_saliency",
    "pipeline_saliency",
    "saliency_frame",
    "saliency_maps",
    "saliency_needs_gradients",
    "saliency_results",
    "saliency_summary",
    "saliency_values",
    "summary_stride",
]

#: Values of ``kind`` of :meth:`SktimeSaliencyMixin.saliency` (the registry's frame maps, then ``"all"``).
SaliencyKind = Literal[
    "gradient", "input_x_gradient", "aligned_input_x_gradient", "paper", "per_step", "per_component", "all"
]

#: The values of :data:`SaliencyKind`, read from the registry; the gradient kinds need ``gradients=True``.
SALIENCY_KINDS = (*TEMPORAL_MAPS, "all")
GRADIENT_KINDS = GRADIENT_MAP_NAMES
ATTENTION_KINDS = tuple(name for name in TEMPORAL_MAPS if name in ATTENTION_MAP_NAMES)
#: :meth:`SktimeSaliencyMixin.saliency_summary` averages the saliency over at most this many evenly spaced
#: windows per series.
MAX_SUMMARY_WINDOWS = 512

def saliency_needs_gradients(windows: str, kind: str, gradients: bool) -> bool:
    """Check a saliency request; return whether the Darts pass must compute the gradient maps.

    The attention kinds do not need them, so they are computed only for the gradient kinds and for
    ``kind="all"`` with ``gradients=True``.

    Raises
    ------
    ValueError
        For an unknown ``windows`` or ``kind``, a ``gradients`` that is not a bool, or a gradient ``kind`` with
        ``gradients=False``.
    """
    if windows not in ("last", "all"):
        raise ValueError(f"windows must be 'last' or 'all'; got {windows!r}.")
    if kind not in SALIENCY_KINDS:
        raise ValueError(f"kind must be one of {list(SALIENCY_KINDS)}; got {kind!r}.")
    if not isinstance(gradients, bool | np.bool_):
        raise ValueError(f"gradients must be True or False; got {gradients!r}.")
    if kind in GRADIENT_KINDS and not gradients:
        raise ValueError(
            f"kind={kind!r} is a gradient map, but gradients=False skips the gradient maps: pass gradients=True or "
            f"choose an attention kind ({', '.join(repr(k) for k in ATTENTION_KINDS)})."
        )
    return bool(gradients) and kind not in ATTENTION_KINDS


def saliency_maps(kind: str, gradients: bool) -> tuple[str, ...]:
    """The maps the Darts pass must compute for ``kind`` (checked by :func:`saliency_needs_gradients`).

    One kind needs one map; ``"all"`` needs every frame map (the gradient maps only with ``gradients``). The
    raw attention weights are never needed.
    """
    if kind != "all":
        return (kind,)
    return tuple(name for name in TEMPORAL_MAPS if gradients or name not in GRADIENT_KINDS)


#: The maps :func:`saliency_summary` reads.
SUMMARY_MAPS = ("paper", "per_step", "per_component", "gradient")


def saliency_values(result: SaliencyResult, kind: str, labels: list) -> tuple[np.ndarray, pd.Index]:
    """One series' saliency of ``kind`` as values ``(W, L, K)`` and their ``K`` column labels.

    A gradient map (``gradient``, ``input_x_gradient``): one column per input component, labelled ``labels``
    (the Index is named after the map). An attention map: ``per_component`` one column per component
    labelled ``attention_per_component:<label>``, ``paper`` / ``per_step`` one column ``attention_paper`` /
    ``attention_per_step``. ``"all"``: one column per map summed over components, then one column per
    component of every cell map, labelled as :meth:`~crossscale_ext.saliency.SaliencyResult.to_dataframe`
    with ``components="all"`` (its component names replaced by ``labels``).
    """
    if kind in GRADIENT_KINDS:
        return result.component_map(kind), pd.Index(list(labels), name=map_label(kind))
    if kind in CELL_MAPS:
        return result.component_map(kind), pd.Index([map_label(kind, str(label)) for label in labels])
    if kind != "all":
        return result.temporal_map(kind)[..., None], pd.Index([map_label(kind)])
    # the maps themselves rather than to_dataframe(window=None), which rebuilds every map once per window
    temporal = [name for name in TEMPORAL_MAPS if name in result.available_maps]
    cells = [name for name in CELL_MAPS if name in result.available_maps]
    values = [result.temporal_map(name)[..., None] for name in temporal] + [result.component_map(n) for n in cells]
    columns = [map_label(name) for name in temporal]
    columns += [map_label(name, str(label)) for name in cells for label in labels]
    return np.concatenate(values, axis=-1), pd.Index(columns)


def summary_stride(instances: list[Instance], input_chunk_length: int) -> int:
    """Stride between windows so that no series contributes more than :data:`MAX_SUMMARY_WINDOWS` windows."""
    most_windows = max(len(instance.y) for instance in instances) - input_chunk_length + 1
    return max(1, -(-most_windows // MAX_SUMMARY_WINDOWS))


def saliency_summary(results: list[SaliencyResult], labels: list, input_chunk_length: int) -> dict[str, Any]:
    """Saliency averaged over every window of ``results``, by lag (1 = the last input time point).

    Returns
    -------
    dict
        ``saliency_per_step``, ``saliency_paper`` and ``saliency_gradient`` (``pd.Series`` by lag; the gradient
        one in forecast units per input unit); ``saliency_per_component`` (``pd.DataFrame`` lag x input
        component); ``component_importance`` and, when the results hold gradient maps, ``gradient_importance``
        (``pd.Series``: each input component's share of the averaged per-component or gradient map, sums to 1);
        ``n_saliency_windows``.
    """
    lags = pd.RangeIndex(1, input_chunk_length + 1, name="lag")

    def by_lag(maps: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(maps).mean(axis=0)[::-1].astype(np.float64)

    per_component = pd.DataFrame(
        by_lag([r.component_map("per_component") for r in results]), index=lags, columns=labels
    )
    summary: dict[str, Any] = {
        "saliency_per_step": pd.Series(by_lag([r.temporal_map("per_step") for r in results]), lags, name="per_step"),
        "saliency_paper": pd.Series(by_lag([r.temporal_map("paper") for r in results]), index=lags, name="paper"),
        "saliency_per_component": per_component,
        "component_importance": per_component.sum(axis=0).rename("importance"),
        "n_saliency_windows": int(sum(r.n_windows for r in results)),
    }
    if all(r.gradient is not None for r in results):
        gradient = by_lag([r.component_map("gradient") for r in results])  # (L, C)
        summary["saliency_gradient"] = pd.Series(gradient.sum(axis=1), index=lags, name="gradient")
        shares = gradient.sum(axis=0) / max(float(gradient.sum()), 1e-30)
        summary["gradient_importance"] = pd.Series(shares, index=pd.Index(labels), name="importance")
    return summary


def saliency_results(
    adapter: DartsAdapter,
    model: CrossScaleNetModel,
    instances: list[Instance],
    windows: str,
    gradients: bool,
    stride: int = 1,
    quiet: Callable[[], AbstractContextManager] = nullcontext,
    maps: Sequence[str] | None = None,
    ensemble: Sequence[CrossScaleNetModel] | None = None,
) -> list[tuple[Instance, int, SaliencyResult]]:
    """Run the Darts model's saliency over ``instances``; return ``(instance, start row, result)`` triples.

    The maps read only the input window (y and X's past); X over the forecast steps is zero padding. Only
    the Darts call runs inside ``quiet()``. ``maps``: the maps to compute (None: all, the gradient maps when
    ``gradients``); the input windows are not kept. ``ensemble``: other Darts models whose mean forecast with
    ``model``'s is explained (gradient maps only).
    """
    starts = [len(i.y) - adapter.input_chunk_length if windows == "last" else 0 for i in instances]
    series, covariates = adapter.darts_inputs(instances, starts, None, 0, adapter.output_chunk_length, "saliency")
    with quiet():
        results = model.saliency(
            series,
            future_covariates=covariates,
            windows=windows,
            gradients=gradients,
            maps=maps,
            inputs=False,
            ensemble=ensemble,
            **({"stride": stride, "overlap_end": True} if windows == "all" else {}),
        )
    return list(zip(instances, starts, results))

def iter_saliency_results(
    adapter: DartsAdapter,
    model: CrossScaleNetModel,
    instances: list[Instance],
    gradients: bool,
    maps: Sequence[str] | None,
    windows_per_chunk: int,
    quiet: Callable[[], AbstractContextManager] = nullcontext,
) -> Iterator[tuple[Instance, int, SaliencyResult]]:
    """:func:`saliency_results` with ``windows="all"`` in chunks: ``(instance, 0, result)`` per chunk.

    The Darts model's :meth:`~crossscale_ext.darts_model.CrossScaleNetModel.iter_saliency` does the work; each
    chunk is computed inside ``quiet()`` when the iteration reaches it.
    """
    series, covariates = adapter.darts_inputs(instances, [0] * len(instances), None, 0, adapter.output_chunk_length,
                                           "saliency")
    with quiet():
        chunks = model.iter_saliency(
            series, future_covariates=covariates, windows="all", gradients=gradients, maps=maps, inputs=False,
            overlap_end=True, windows_per_chunk=windows_per_chunk,
        )
    while True:
        with quiet():
            result = next(chunks, None)
        if result is None:
            return
        yield instances[result.metadata["series_index"]], 0, result

def panel_saliency(
    adapter: DartsAdapter,
    model: CrossScaleNetModel,
    instances: list[Instance],
    windows: str,
    kind: str,
    groups: Any,
    windows_per_chunk: int,
    quiet: Callable[[], AbstractContextManager] = nullcontext,
) -> PanelSaliency:
    """The Darts model's panel summary over ``instances``, grouped by ``groups``, labelled in y's columns.

    ``groups``: None (one group, ``"all"``), the name of one of y's instance levels, or a function of an
    instance's key (the tuple of its instance labels) that returns its group.
    """
    if groups is None:
        labels = ["all"] * len(instances)
    elif isinstance(groups, str):
        if groups not in adapter.instance_names:
            raise ValueError(f"groups={groups!r} is not an instance level of y; its levels are "
                             f"{list(adapter.instance_names)} (or pass a function of the instance key).")
        position = list(adapter.instance_names).index(groups)
        labels = [instance.key[position] for instance in instances]
    elif callable(groups):
        labels = [groups(instance.key) for instance in instances]
    else:
        raise TypeError(f"groups must be None, an instance level name or a function of the instance key; got "
                        f"{type(groups).__name__}.")
    starts = [len(i.y) - adapter.input_chunk_length if windows == "last" else 0 for i in instances]
    series, covariates = adapter.darts_inputs(instances, starts, None, 0, adapter.output_chunk_length, "saliency")
    from crossscale_ext import explainability

    request = explainability.SaliencyRequest(windows=windows, overlap_end=windows == "all", maps=(kind,), inputs=False)
    with quiet():
        summary = explainability.panel_saliency(model, series, future_covariates=covariates, request=request, kind=kind,
                                 groups=labels, windows_per_chunk=windows_per_chunk)
    if summary.importance is not None:
        summary.importance.columns = pd.Index(adapter.input_components, name=kind)
    return summary

def saliency_frame(
    adapter: DartsAdapter, results: list[tuple[Instance, int, SaliencyResult]], kind: str, windows: str
) -> pd.DataFrame:
    """:func:`saliency_results` as one float64 DataFrame indexed by the input time points in y's index type.

    ``kind`` is one of :data:`SALIENCY_KINDS` (columns as in :func:`saliency_values`); rows as in
    :func:`saliency_index`.
    """
    frames = []
    for instance, start, result in results:
        values, columns = saliency_values(result, kind, adapter.input_components)
        n_windows, length, width = values.shape
        index = saliency_index(adapter, instance, start, result, windows)
        frames.append(pd.DataFrame(
            values.reshape(n_windows * length, width).astype(np.float64), index=index, columns=columns
        ))
    return concat_frames(frames)


def saliency_index(
    adapter: DartsAdapter, instance: Instance, start: int, result: SaliencyResult, windows: str
) -> pd.Index:
    """Rows of a saliency frame: the input time points of every window in y's index type.

    ``result`` was computed on the instance's rows ``start:`` (positions ``0, 1, ...``). With
    ``windows="all"`` a level ``forecast_start`` (the first time point each window forecasts) precedes the
    time level; panels add their instance levels in front.
    """
    extended = instance.y.index.append(absolute_index([1], instance.cutoff))
    positions = np.asarray(result.input_index, dtype=np.int64) + start
    times = take_labels(extended, positions.ravel())
    if windows == "last":
        return adapter.row_index(instance.key, times)
    starts = extended.take(np.asarray(result.forecast_index[:, 0], dtype=np.int64) + start)
    arrays = [np.repeat(np.array([label], dtype=object), len(times)) for label in instance.key]
    return pd.MultiIndex.from_arrays(
        [*arrays, starts.repeat(positions.shape[1]), times],
        names=[*adapter.instance_names, "forecast_start", adapter.time_name],
    )



class SktimeSaliencyMixin:
    """The saliency methods of :class:`~crossscale_ext.sktime_forecaster.CrossScaleNetForecaster`.

    They read the forecaster's fitted Darts model (``darts_model_``), its adapter (``_adapter``) and the series
    seen so far (``_seen_instances()``), and run the Darts calls inside ``_quiet()``.
    """

    def _saliency_results(
        self, windows: str, gradients: bool, stride: int = 1, maps: tuple[str, ...] | None = None,
        ensemble: Sequence[CrossScaleNetModel] | None = None,
    ) -> list[tuple]:
        """The Darts model's saliency of every series seen: ``(instance, start row, SaliencyResult)`` triples."""
        instances = self._seen_instances()
        return saliency_results(
            self._adapter, self.darts_model_, instances, windows, gradients, stride, self._quiet, maps=maps,
            ensemble=ensemble,
        )

    def _ensemble_models(self, ensemble: Sequence[Any] | None, kinds: Sequence[str]) -> list[CrossScaleNetModel] | None:
        """The Darts models of the fitted forecasters in ``ensemble``, checked against this forecaster's data.

        ``kinds``: the maps asked for, which must be gradient maps.
        """
        if ensemble is None:
            return None
        attention = [kind for kind in kinds if kind not in GRADIENT_KINDS]
        if attention:
            raise ValueError(
                f"An ensemble has no attention maps (each member attends with its own weights): kind {attention} "
                f"cannot be computed with ensemble; choose a gradient kind ({', '.join(map(repr, GRADIENT_KINDS))})."
            )
        if isinstance(ensemble, str) or not isinstance(ensemble, Sequence):
            raise TypeError(
                "ensemble must be a list of fitted CrossScaleNetForecaster (e.g. [forecaster_seed1]); "
                f"got {type(ensemble).__name__}."
            )
        models = []
        for i, member in enumerate(ensemble):
            if not isinstance(member, type(self)):
                raise TypeError(
                    f"ensemble[{i}] is a {type(member).__name__}; every member must be a {type(self).__name__}."
                )
            member.check_is_fitted()
            for name in ("y_columns", "X_columns"):
                if getattr(member._adapter, name) != getattr(self._adapter, name):
                    raise ValueError(
                        f"ensemble[{i}] was fit on {name.split('_')[0]} columns {getattr(member._adapter, name)}; this "
                        f"forecaster on {getattr(self._adapter, name)}: the members must share the data's columns."
                    )
            models.append(member.darts_model_)
        return models

    def saliency(
        self,
        windows: Literal["last", "all"] = "last",
        kind: SaliencyKind = RECOMMENDED_MAP,
        gradients: bool = True,
        ensemble: Sequence[Any] | None = None,
    ) -> pd.DataFrame:
        """Saliency of the forecasts, indexed by the input windows' time points in y's index type.

        Built from the Darts model's :class:`~crossscale_ext.saliency.SaliencyResult` of every series
        (``temporal_map``, ``component_map``, ``to_dataframe``), re-indexed into ``y``'s index.

        Parameters
        ----------
        windows : {"last", "all"}, default="last"
            ``"last"``: the input window of the next forecast (the last ``input_chunk_length`` time points of
            every series). ``"all"``: every input window of the data seen so far, from the first full window to
            the last one.
        kind : {"gradient", "input_x_gradient", "aligned_input_x_gradient", "paper", "per_step", \
"per_component", "all"}, \
default="gradient"
            Which map (:data:`~crossscale_ext.maps.RECOMMENDED_MAP`, ``"gradient"``, by default). The gradient
            maps, one column per input component (y's columns, then X's; an X column named like a y column is
            prefixed ``X:``), the columns' Index named after the map: ``"gradient"``, ``|d forecast / d
            input|`` (the forecast summed over its steps and targets; the row sums give the temporal gradient
            map), the recommended reading; ``"input_x_gradient"``, ``|(input - window mean) * d forecast / d
            input|``; ``"aligned_input_x_gradient"``, its cells that push the forecast the way the whole window does.
            The paper's attention maps, whose columns carry the prefix ``attention_``:
            ``"per_component"``, columns ``attention_per_component:<component>``, the per-step attention map
            split across components (the row sums give the per-step map); ``"per_step"``, one column
            ``attention_per_step``, the patch attention refined by the local attention (sums to 1 per window);
            ``"paper"``, one column ``attention_paper``, the reference implementation's map (patch resolution,
            sums to ``n_scales - 1`` per window). ``"all"``: every map summed over components (``gradient``,
            ``input_x_gradient``, ``attention_paper``, ``attention_per_step``, ``attention_per_component``),
            then one column per component of every cell map (``gradient:<component>``, ...), the layout of
            ``SaliencyResult.to_dataframe(components="all")``. See :mod:`crossscale_ext.saliency`.
        gradients : bool, default=True
            Whether the gradient maps may be computed (one backward pass, about twice the cost). Needed by the
            gradient kinds; ``kind="all"`` leaves the gradient columns out when False. The attention kinds never
            compute them.
        ensemble : list of CrossScaleNetForecaster, optional (default=None)
            Other fitted forecasters on the same columns of ``y`` and ``X``, typically this one refit with other
            ``random_state`` values. The map is then that of the ensemble's forecast, the mean of this
            forecaster's and every member's point forecast, on this forecaster's data (see the Darts model's
            ``saliency(ensemble=...)``); gradient kinds only. Each member costs one more forward and backward
            pass.

        Returns
        -------
        pd.DataFrame
            Rows: the input window's time points (``y``'s index type and name). With ``windows="all"`` a
            ``MultiIndex`` ``(forecast_start, time)``, where ``forecast_start`` is the first time point each
            window forecasts. Panels and hierarchies add their instance levels in front.

        Raises
        ------
        ValueError
            When ``windows`` or ``kind`` is unknown, or ``kind`` is a gradient map and ``gradients=False``; with
            ``ensemble``, for an attention kind or ``"all"``, or a member not fitted or fitted on other columns.
        TypeError
            When ``ensemble`` is not a list of ``CrossScaleNetForecaster``.

        Notes
        -----
        With exogenous X, forecast steps after the cutoff have no X (those of the last window, and of the final
        windows with ``windows="all"``): they get zeros. The attention maps do not read them, but the gradient
        maps of those windows are the gradients of a forecast with zero future X.

        Memory: with ``windows="all"`` the frame has one float64 row per window and input time point, so
        ``8 * input_chunk_length * K`` bytes per window for ``K`` columns plus its index (about 9 KB per window
        for 96 time points and 8 columns before the index); the pass computes only the map of ``kind``. For long
        data walk the windows in chunks with :meth:`iter_saliency`.
        """
        self.check_is_fitted()
        needs_gradients = saliency_needs_gradients(windows, kind, gradients)
        maps = saliency_maps(kind, needs_gradients)
        members = self._ensemble_models(ensemble, [kind])
        results = self._saliency_results(windows, needs_gradients, maps=maps, ensemble=members)
        return saliency_frame(self._adapter, results, kind, windows)

    def iter_saliency(
        self,
        kind: SaliencyKind = RECOMMENDED_MAP,
        gradients: bool = True,
        windows_per_chunk: int = 10_000,
    ) -> Iterator[pd.DataFrame]:
        """``saliency(windows="all", kind=kind)`` in chunks of windows, for data too long to hold at once.

        Yields DataFrames laid out as :meth:`saliency` with ``windows="all"`` (``MultiIndex`` ``(forecast_start,
        time)``, instance levels in front for panels), each holding the rows of at most ``windows_per_chunk``
        consecutive windows of one series; concatenated (``pd.concat``) they are exactly ``saliency(windows="all",
        kind=kind, gradients=gradients)``. Only the current chunk is in memory (about ``8 * L * K`` bytes per
        window for ``K`` columns, plus the pass's float32 maps of the kind only). Delegates to the Darts model's
        :meth:`~crossscale_ext.darts_model.CrossScaleNetModel.iter_saliency`.

        Parameters
        ----------
        kind : str, default="gradient"
            As for :meth:`saliency`.
        gradients : bool, default=True
            As for :meth:`saliency`.
        windows_per_chunk : int, default=10_000
            Windows per yielded DataFrame.

        Returns
        -------
        Iterator of pd.DataFrame
            The arguments are checked when this is called; each chunk is computed when the iteration reaches it.

        Raises
        ------
        ValueError
            As :meth:`saliency`, and for a ``windows_per_chunk`` that is not a positive integer.
        """
        self.check_is_fitted()
        needs_gradients = saliency_needs_gradients("all", kind, gradients)
        check_int("windows_per_chunk", windows_per_chunk)
        chunks = iter_saliency_results(
            self._adapter, self.darts_model_, self._seen_instances(), needs_gradients,
            saliency_maps(kind, needs_gradients), windows_per_chunk, self._quiet,
        )
        return (saliency_frame(self._adapter, [chunk], kind, "all") for chunk in chunks)

    def panel_saliency(
        self,
        windows: Literal["last", "all"] = "last",
        kind: SaliencyKind = RECOMMENDED_MAP,
        groups: str | Callable[[tuple], Any] | None = None,
        windows_per_chunk: int = 10_000,
    ) -> Any:
        """Which inputs and lags matter across every series of the panel seen so far, overall or per group.

        The maps of every series' windows (batched across series) are summed as they stream, at most
        ``windows_per_chunk`` windows at a time.

        Parameters
        ----------
        windows : {"last", "all"}, default="last"
            As for :meth:`saliency`.
        kind : str, default="gradient"
            The map summarised (any ``kind`` of :meth:`saliency` but ``"all"``).
        groups : str, callable or None, default=None
            None: one group, ``"all"``. The name of one of y's instance levels (e.g. ``"region"``): one group per
            label of that level. A function of an instance's key (the tuple of its instance labels): its group.
        windows_per_chunk : int, default=10_000
            Windows summed at a time.

        Returns
        -------
        PanelSaliency
            ``lag_profile`` (lag x group), ``importance`` (group x input component, y's columns then X's; rows sum
            to 1), ``n_windows`` per group, and ``plot()``.
        """
        self.check_is_fitted()
        if windows not in ("last", "all"):
            raise ValueError(f"windows must be 'last' or 'all'; got {windows!r}.")
        check_int("windows_per_chunk", windows_per_chunk)
        return panel_saliency(
            self._adapter, self.darts_model_, self._seen_instances(), windows, kind, groups, windows_per_chunk,
            self._quiet,
        )

    def check_saliency(
        self,
        kind: SaliencyKind | Sequence[SaliencyKind] | None = None,
        seeds_models: Sequence[SktimeSaliencyMixin] | None = None,
        ensemble: Sequence[SktimeSaliencyMixin] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Check on the data seen so far that the map points at what the forecasts rest on.

        The sktime face of :func:`crossscale_ext.faithfulness.check_saliency`: the forecaster's windows of y (and
        X's past) have their top-ranked cells removed, and the forecast's move is compared with that of random
        cells and of the most recent steps. For a single series (check one instance of a panel by fitting on
        it). Read the verdict before trusting a map on your data.

        Parameters
        ----------
        kind : str or list of str, optional
            The map checked (any ``kind`` of :meth:`saliency` but ``"all"``), or several. By default
            ``"gradient"`` and ``"aligned_input_x_gradient"`` are compared, and the check of the one that holds up
            best on this data is returned, the other in its ``alternatives``.
        seeds_models : list of CrossScaleNetForecaster, optional
            The same forecaster fitted on the same data with other ``random_state`` values: their maps'
            agreement is measured too.
        ensemble : list of CrossScaleNetForecaster, optional
            Check the map of the ensemble's forecast instead (see :meth:`saliency`); gradient kinds only, not
            together with ``seeds_models``.
        **kwargs
            ``fractions``, ``n_windows``, ``reference``, ``random_draws``, ``seed``, as there.

        Returns
        -------
        SaliencyCheck
            The deletion curves, their ratios to the baselines, a plain ``verdict`` and ``plot()``.
        """
        from crossscale_ext.faithfulness import check_saliency

        self.check_is_fitted()
        instances = self._seen_instances()
        if len(instances) != 1:
            raise ValueError(f"check_saliency checks one series; y holds {len(instances)}. Fit a forecaster on the "
                             "instance you want to check.")
        series, covariates = self._adapter.darts_inputs(instances, [0], None, 0, 0, "saliency")
        others = [other.darts_model_ for other in seeds_models or []]
        members = self._ensemble_models(ensemble, [kind] if isinstance(kind, str) else list(kind or []))
        return check_saliency(self.darts_model_, series[0], future_covariates=None if covariates is None else
                              covariates[0], kind=kind, seeds_models=others, ensemble=members, **kwargs)

    def saliency_summary(self) -> dict:
        """Saliency averaged over the input windows of the data seen so far, by lag and by input component.

        One saliency pass over at most 512 evenly spaced windows per series (so it is not part of
        ``get_fitted_params``, which stays cheap).

        Returns
        -------
        dict
            ``saliency_gradient`` (the recommended map) and the attention maps' ``saliency_per_step`` and
            ``saliency_paper``: ``pd.Series`` indexed by lag (1 = the last input time point; the gradient map in
            forecast units per input unit); ``saliency_per_component``: ``pd.DataFrame`` lag x input component
            (attention); ``gradient_importance`` and ``component_importance``: ``pd.Series`` of each input
            component's share of the gradient map and of the per-component attention map (each sums to 1);
            ``n_saliency_windows``: the number of windows averaged.
        """
        self.check_is_fitted()
        stride = summary_stride(self._seen_instances(), self.input_chunk_length)
        results = self._saliency_results("all", gradients=True, stride=stride, maps=SUMMARY_MAPS)
        return saliency_summary(
            [r for _, _, r in results], self._adapter.input_components, self.input_chunk_length
        )


def _fitted_crossscale_forecasters(estimator: Any) -> list[tuple[str, Any]]:
    """Every fitted :class:`CrossScaleNetForecaster` reachable from ``estimator``, with its attribute path.

    Walks the estimator's attributes (pipeline steps, a tuner's best forecaster, vectorized forecasters held
    in a DataFrame, ...); each object is visited once. When some are reached through fitted attributes (names
    ending in ``_``, such as a pipeline's ``steps_``), only those count: a forecaster the user fitted alone and
    then passed to a pipeline as a parameter is not the one the pipeline forecasts with.
    """
    found: list[tuple[str, Any, bool]] = []
    seen: set[int] = set()

    def visit(obj: Any, path: str, via_fitted: bool) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, SktimeSaliencyMixin):
            if obj.is_fitted:
                found.append((path, obj, via_fitted))
            return
        if isinstance(obj, list | tuple):
            for i, item in enumerate(obj):
                visit(item, f"{path}[{i}]", via_fitted)
        elif isinstance(obj, dict):
            for key, item in obj.items():
                visit(item, f"{path}[{key!r}]", via_fitted)
        elif isinstance(obj, pd.DataFrame) and obj.dtypes.eq(object).all():
            for (row, column), item in obj.stack().items():
                visit(item, f"{path}.loc[{row!r}, {column!r}]", via_fitted)
        elif hasattr(obj, "get_params") and hasattr(obj, "__dict__"):
            names = [name for name in vars(obj) if not name.startswith("__")]
            fitted = [name for name in names if name.endswith("_") and not name.startswith("_")]
            for name in fitted + [name for name in names if name not in fitted]:  # fitted attributes first
                visit(vars(obj)[name], f"{path}.{name}", via_fitted or name in fitted)

    visit(estimator, "estimator", False)
    if any(via_fitted for _, _, via_fitted in found):
        found = [entry for entry in found if entry[2]]
    return [(path, forecaster) for path, forecaster, _ in found]


def find_crossscale_forecaster(estimator: Any) -> Any:
    """The fitted :class:`CrossScaleNetForecaster` inside a fitted sktime estimator.

    ``estimator`` may be the forecaster itself or any fitted composite that holds one: a
    ``TransformedTargetForecaster`` or ``ForecastingPipeline`` step, a tuner's best forecaster
    (``ForecastingGridSearchCV``), a wrapper's inner forecaster, ...

    Raises
    ------
    ValueError
        When ``estimator`` holds no fitted ``CrossScaleNetForecaster`` (e.g. it is not fitted yet), or holds
        several different ones (the message lists where; call :meth:`CrossScaleNetForecaster.saliency` on the
        one you want).
    """
    found = _fitted_crossscale_forecasters(estimator)
    distinct = {id(forecaster): (path, forecaster) for path, forecaster in found}
    if not distinct:
        raise ValueError(
            f"{type(estimator).__name__} holds no fitted CrossScaleNetForecaster: fit it first, and check that "
            "a CrossScaleNetForecaster is one of its forecasters."
        )
    if len(distinct) > 1:
        paths = [path for path, _ in distinct.values()]
        raise ValueError(
            f"{type(estimator).__name__} holds {len(distinct)} fitted CrossScaleNetForecasters ({', '.join(paths)}): "
            "call saliency() on the one you want."
        )
    return next(iter(distinct.values()))[1]


def pipeline_saliency(
    estimator: Any,
    windows: Literal["last", "all"] = "last",
    kind: SaliencyKind = RECOMMENDED_MAP,
    gradients: bool = True,
) -> pd.DataFrame:
    """Saliency of the CrossScaleNet forecaster inside a fitted sktime pipeline or wrapper.

    Finds the forecaster with :func:`find_crossscale_forecaster` and returns its
    :meth:`CrossScaleNetForecaster.saliency`. The maps are in the space the forecaster saw: after the
    pipeline's target transformations (``TransformedTargetForecaster``) and exogenous transformations
    (``ForecastingPipeline``), indexed by the time points of that transformed data. A transformation that
    rescales the data rescales the gradient maps by the same factor; one that differences or detrends it
    changes what each input time point means.

    Parameters
    ----------
    estimator
        A fitted sktime estimator that is, or holds, one fitted ``CrossScaleNetForecaster``.
    windows, kind, gradients
        As for :meth:`CrossScaleNetForecaster.saliency`.

    Returns
    -------
    pd.DataFrame
        The forecaster's saliency frame.

    Raises
    ------
    ValueError
        As :func:`find_crossscale_forecaster`, and as :meth:`CrossScaleNetForecaster.saliency`.

    Examples
    --------
    >>> from sktime.datasets import load_airline
    >>> from sktime.forecasting.compose import TransformedTargetForecaster
    >>> from sktime.transformations.series.boxcox import LogTransformer
    >>> from crossscale_ext import CrossScaleNetForecaster, pipeline_saliency
    >>> forecaster = CrossScaleNetForecaster(
    ...     input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8,
    ...     d_model=16, n_epochs=1, random_state=0,
    ... )
    >>> pipe = TransformedTargetForecaster([("log", LogTransformer()), ("net", forecaster)])
    >>> pipe = pipe.fit(load_airline(), fh=[1, 2, 3])
    >>> pipeline_saliency(pipe).shape  # the gradient map of the log series' last window
    (32, 1)
    """
    return find_crossscale_forecaster(estimator).saliency(windows=windows, kind=kind, gradients=gradients)
