"""Long-horizon forecasting benchmarks on real data: the loaders.

Loaders for ETTh1, ETTh2, ETTm1, ETTm2, Weather and Exchange that follow the standard long-term forecasting
protocol of the Informer / Autoformer / DLinear / iTransformer code bases. The exact evaluation over every test
window, :func:`~crossscale_ext.benchmarks.harness.evaluate_windows`, lives with the benchmark harness.

The protocol, for a lookback (input length) ``L``:

- ETTh1 / ETTh2: train rows ``[0, 8640)``, validation ``[8640 - L, 11520)``, test ``[11520 - L, 14400)``
  (12 / 4 / 4 months of hourly data; the last rows of the files are not used);
- ETTm1 / ETTm2: the same borders times 4 (15-minute data);
- Weather and Exchange: chronological 70 / 10 / 20 % splits (``n_train = int(0.7 n)``,
  ``n_test = int(0.2 n)``, validation the rest), validation and test starting ``L`` rows early;
- a ``StandardScaler`` fit on the training rows only, applied to all rows; every channel is both input and
  target (the "M" multivariate setting);
- MSE and MAE on the scaled data, averaged over every test window (stride 1, none dropped), every forecast
  step and every channel.

Data come from a local folder (the ``data_dir`` argument, else the environment variable
``CROSSSCALE_DATA_DIR``) holding the usual files (``ETTh1.csv``, ..., ``weather.csv``, ``exchange_rate.csv``,
optionally gzipped), or else from ``darts.datasets``, which downloads them (network needed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from crossscale_ext.config import check_int

if TYPE_CHECKING:  # heavy imports stay inside functions
    import pandas as pd
    from darts import TimeSeries
    from sklearn.preprocessing import StandardScaler

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DatasetSpec",
    "LongHorizonData",
    "count_windows",
    "split_borders",
    "load_long_horizon",
    "load_many",
]

#: Environment variable naming the folder with the benchmark CSV files.
DATA_DIR_ENV = "CROSSSCALE_DATA_DIR"


@dataclass(frozen=True)
class DatasetSpec:
    """How one benchmark data set is found and split.

    Attributes
    ----------
    file_name
        File name in the data folder (``<file_name>`` or ``<file_name>.gz`` is read).
    borders
        ``"ett_hourly"`` (fixed 12 / 4 / 4 month borders), ``"ett_minute"`` (the same times 4) or
        ``"ratio"`` (chronological 70 / 10 / 20 %).
    darts_loader
        Name of the ``darts.datasets`` class that downloads the same data, or ``None``.
    """

    file_name: str
    borders: Literal["ett_hourly", "ett_minute", "ratio"]
    darts_loader: str | None


#: Benchmark name -> file and split rule.
DATASETS: dict[str, DatasetSpec] = {
    "ETTh1": DatasetSpec("ETTh1.csv", "ett_hourly", "ETTh1Dataset"),
    "ETTh2": DatasetSpec("ETTh2.csv", "ett_hourly", "ETTh2Dataset"),
    "ETTm1": DatasetSpec("ETTm1.csv", "ett_minute", "ETTm1Dataset"),
    "ETTm2": DatasetSpec("ETTm2.csv", "ett_minute", "ETTm2Dataset"),
    "Weather": DatasetSpec("weather.csv", "ratio", "WeatherDataset"),
    "Exchange": DatasetSpec("exchange_rate.csv", "ratio", "ExchangeRateDataset"),
}

_ETT_HOURLY_BORDERS = (12 * 30 * 24, (12 + 4) * 30 * 24, (12 + 8) * 30 * 24)  # 8640, 11520, 14400


@dataclass
class LongHorizonData:
    """One benchmark data set, split and scaled by the standard protocol.

    Attributes
    ----------
    name
        Benchmark name, e.g. ``"ETTh1"``.
    train, val, test
        Scaled ``float32`` multivariate ``TimeSeries``; ``val`` and ``test`` start ``input_length`` rows before
        their borders, so their first forecast window starts exactly at the border.
    scaler
        The ``sklearn.preprocessing.StandardScaler`` fit on the training rows only.
    columns
        Channel names of the raw file (the time column excluded), in order.
    borders
        ``{"train": (start, end), "val": (start, end), "test": (start, end)}``: row positions in the raw file
        (end exclusive).
    input_length
        The lookback ``L`` the borders were built for.
    source
        Where the data came from: the file path, or ``"darts.datasets.<Loader>"``.
    """

    name: str
    train: TimeSeries
    val: TimeSeries
    test: TimeSeries
    scaler: StandardScaler
    columns: list[str]
    borders: dict[str, tuple[int, int]]
    input_length: int
    source: str = field(default="")

    def n_windows(self, horizon: int, split: Literal["train", "val", "test"] = "test") -> int:
        """Number of (input, forecast) windows of ``split`` for ``horizon`` (stride 1)."""
        start, end = self.borders[split]
        return count_windows(end - start, self.input_length, horizon)


def count_windows(series_length: int, input_length: int, horizon: int) -> int:
    """Number of stride-1 windows of ``input_length`` inputs and ``horizon`` targets in a series.

    Parameters
    ----------
    series_length
        Number of rows of the series (for a test split: including the ``input_length`` rows before the border).
    input_length
        Lookback ``L``.
    horizon
        Forecast horizon ``H``.

    Returns
    -------
    int
        ``max(series_length - input_length - horizon + 1, 0)``; e.g. 2785 for the ETTh1 test split
        (2976 rows) with ``L = H = 96``.
    """
    series_length = int(series_length)
    if series_length < 0:
        raise ValueError(f"series_length must be non-negative; got {series_length}.")
    input_length = check_int("input_length", input_length)
    horizon = check_int("horizon", horizon)
    return max(series_length - input_length - horizon + 1, 0)


def split_borders(name: str, n_rows: int, input_length: int = 96) -> dict[str, tuple[int, int]]:
    """Train / validation / test row ranges of a benchmark under the standard protocol.

    Parameters
    ----------
    name
        A key of :data:`DATASETS`.
    n_rows
        Number of rows of the raw file.
    input_length
        Lookback ``L``: validation and test start ``L`` rows before their borders.

    Returns
    -------
    dict
        ``{"train": (0, b1), "val": (b1 - L, b2), "test": (b2 - L, b3)}`` (end exclusive).

    Raises
    ------
    ValueError
        For an unknown name, or a file too short for the borders.
    """
    spec = _spec(name)
    input_length = check_int("input_length", input_length)
    if spec.borders == "ratio":
        n_train = int(n_rows * 0.7)
        n_test = int(n_rows * 0.2)
        ends = (n_train, n_rows - n_test, n_rows)
    else:
        factor = 1 if spec.borders == "ett_hourly" else 4
        ends = tuple(b * factor for b in _ETT_HOURLY_BORDERS)
        if n_rows < ends[2]:
            raise ValueError(f"{name} needs at least {ends[2]} rows for its standard borders; the file has {n_rows}.")
    if input_length >= ends[0]:
        raise ValueError(f"input_length={input_length} must be shorter than the training split ({ends[0]} rows).")
    return {"train": (0, ends[0]), "val": (ends[0] - input_length, ends[1]), "test": (ends[1] - input_length, ends[2])}


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; choose one of {sorted(DATASETS)}.")
    return DATASETS[name]


def _resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    if data_dir is not None:
        path = Path(data_dir)
        if not path.is_dir():
            raise ValueError(
                f"data_dir={str(path)!r} is not a folder; pass the folder holding the benchmark CSV files."
            )
        return path
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_dir():
            raise ValueError(
                f"The environment variable {DATA_DIR_ENV}={from_env!r} is not a folder; point it at the folder "
                "holding the benchmark CSV files, or unset it to download through darts.datasets."
            )
        return path
    return None


def _read_local(folder: Path, spec: DatasetSpec) -> tuple[pd.DataFrame, str] | None:
    import pandas as pd

    for candidate in (folder / spec.file_name, folder / (spec.file_name + ".gz")):
        if candidate.is_file():
            frame = pd.read_csv(candidate)
            return frame, str(candidate)
    return None


def _read_darts(name: str, spec: DatasetSpec) -> tuple[pd.DataFrame, str]:
    import darts.datasets

    if spec.darts_loader is None:
        raise ValueError(f"{name} has no darts.datasets loader; pass data_dir or set {DATA_DIR_ENV}.")
    series = getattr(darts.datasets, spec.darts_loader)().load()
    frame = series.to_dataframe(time_as_index=True).reset_index()
    return frame, f"darts.datasets.{spec.darts_loader}"


def _frame_to_values(frame: pd.DataFrame) -> tuple[np.ndarray, list[str], pd.Index]:
    """Split a raw frame into float values, channel names and a time index (datetime when regular)."""
    import pandas as pd

    first = frame.columns[0]
    time_index: pd.Index
    if str(first).lower() in {"date", "time", "date time", "datetime"} or frame[first].dtype == object:
        times = pd.to_datetime(frame[first], errors="coerce")
        channels = frame.drop(columns=[first])
        freq = pd.infer_freq(times) if times.notna().all() and len(times) > 2 else None
        time_index = pd.DatetimeIndex(times, freq=freq) if freq else pd.RangeIndex(len(frame))
    else:
        channels = frame
        time_index = pd.RangeIndex(len(frame))
    values = channels.to_numpy(dtype=np.float64)
    return values, [str(c) for c in channels.columns], time_index


def load_long_horizon(
    name: str,
    input_length: int = 96,
    data_dir: str | os.PathLike | None = None,
) -> LongHorizonData:
    """Load a long-horizon benchmark split and scaled by the standard protocol.

    Parameters
    ----------
    name
        ``"ETTh1"``, ``"ETTh2"``, ``"ETTm1"``, ``"ETTm2"``, ``"Weather"`` or ``"Exchange"``.
    input_length
        Lookback ``L`` (96 in the standard protocol): validation and test start ``L`` rows before their borders.
    data_dir
        Folder holding the benchmark files (``ETTh1.csv``, ``weather.csv``, ``exchange_rate.csv``, ... or the
        same gzipped). When ``None``, the environment variable ``CROSSSCALE_DATA_DIR`` is used; when that is unset
        too, the data are downloaded through ``darts.datasets`` (needs the network; Darts caches them under
        ``~/.darts/datasets``). Darts' Weather and Exchange files are not the exact files of the long-horizon
        papers (different time columns), so prefer a local folder for those.

    Returns
    -------
    LongHorizonData
        Scaled float32 train / validation / test series, the fitted scaler, the channel names and the borders.

    Raises
    ------
    ValueError
        For an unknown name, a missing folder, a folder without the file, or a file too short for the borders.
    RuntimeError
        When no folder is given and the download through ``darts.datasets`` fails.

    Examples
    --------
    >>> data = load_long_horizon("ETTh1", data_dir="../shared/data")  # doctest: +SKIP
    >>> data.n_windows(horizon=96)  # doctest: +SKIP
    2785
    """
    from darts import TimeSeries
    from sklearn.preprocessing import StandardScaler

    spec = _spec(name)
    input_length = check_int("input_length", input_length)
    folder = _resolve_data_dir(data_dir)
    if folder is not None:
        found = _read_local(folder, spec)
        if found is None:
            raise ValueError(
                f"{name}: neither {spec.file_name} nor {spec.file_name}.gz is in {str(folder)!r}; put the file there, "
                f"pass another data_dir, or unset {DATA_DIR_ENV} and pass data_dir=None to download it."
            )
        frame, source = found
    else:
        try:
            frame, source = _read_darts(name, spec)
        except ValueError:
            raise
        except Exception as error:  # network, hash or parsing problems of the download
            raise RuntimeError(
                f"Could not download {name} through darts.datasets ({error}). Pass data_dir=<folder with "
                f"{spec.file_name}> or set the environment variable {DATA_DIR_ENV}."
            ) from error

    values, columns, time_index = _frame_to_values(frame)
    if np.isnan(values).any():
        raise ValueError(f"{name} ({source}) holds missing values; the standard protocol expects complete files.")
    borders = split_borders(name, len(values), input_length)
    scaler = StandardScaler().fit(values[slice(*borders["train"])])
    scaled = scaler.transform(values).astype(np.float32)

    def part(split: str) -> TimeSeries:
        start, end = borders[split]
        return TimeSeries.from_times_and_values(time_index[start:end], scaled[start:end], columns=columns)

    return LongHorizonData(
        name=name,
        train=part("train"),
        val=part("val"),
        test=part("test"),
        scaler=scaler,
        columns=columns,
        borders=borders,
        input_length=input_length,
        source=source,
    )


def load_many(names: Sequence[str], input_length: int = 96, data_dir: str | os.PathLike | None = None
              ) -> dict[str, LongHorizonData]:
    """Load several benchmarks with :func:`load_long_horizon` (same arguments); returns ``{name: data}``."""
    return {name: load_long_horizon(name, input_length=input_length, data_dir=data_dir) for name in names}
