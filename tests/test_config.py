"""ArchitectureConfig: the one definition of the architecture hyperparameters."""

from __future__ import annotations

import dataclasses

import pytest

from crossscale_ext.config import REFERENCE_ARCHITECTURE, ArchitectureConfig, parameter_docs


def test_defaults_and_reference_layout():
    assert ArchitectureConfig().n_scales == 4 and ArchitectureConfig().base_patch_length == 16
    assert REFERENCE_ARCHITECTURE.covariate_path == "none"
    assert ArchitectureConfig(n_scales=3, base_patch_length=8).n_patches(48) == 6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_scales": 1}, r"n_scales must be an integer >= 2"),
        ({"n_scales": 2.0}, r"n_scales must be an integer"),
        ({"base_patch_length": 12}, r"base_patch_length=12 must be a multiple of 2\*\*\(n_scales-1\)=8"),
        ({"moving_avg_kernel": 24}, r"must be odd.*use 25"),
        ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\)"),
        ({"d_model": True}, r"d_model must be a positive integer"),
        ({"channel_mixing": "yes"}, r"channel_mixing must be True or False"),
        ({"covariate_path": "dense"}, r"covariate_path must be 'none'"),
        ({"scale_fusion": "mean"}, r"scale_fusion must be 'linear' \(the reference layer\) or 'sum'"),
        ({"instance_norm_center": "last"}, r"instance_norm_center='last' was removed.*Drop the argument"),
        ({"instance_norm_center": "median"}, r"instance_norm_center='median' was removed"),
    ],
)
def test_invalid_fields_name_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ArchitectureConfig(**kwargs)


def test_removed_centring_option_is_accepted_at_its_remaining_value_with_a_warning():
    with pytest.warns(FutureWarning, match="instance_norm_center is deprecated"):
        config = ArchitectureConfig(instance_norm_center="mean", d_model=8)
    assert config == ArchitectureConfig(d_model=8)
    assert "instance_norm_center" not in config.as_dict()


def test_validate_against_a_window():
    config = ArchitectureConfig()
    config.validate(96, 24)
    with pytest.raises(ValueError, match="input_chunk_length=100 cannot be halved 3 times.*input_chunk_length=96"):
        config.validate(100, 24)
    with pytest.raises(ValueError, match="fewer than two patches"):
        config.validate(24, 4)
    with pytest.raises(ValueError, match="output_chunk_length must be a positive integer"):
        config.validate(96, 0)


def test_from_params_ignores_other_keys_and_is_frozen():
    config = ArchitectureConfig.from_params({"n_scales": 3, "base_patch_length": 8, "n_epochs": 5, "lr": 1e-3})
    assert config == ArchitectureConfig(n_scales=3, base_patch_length=8)
    assert config.as_dict()["n_scales"] == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_scales = 2


def test_parameter_docs_cover_every_field_in_both_styles():
    names = [f.name for f in dataclasses.fields(ArchitectureConfig)]
    darts_doc, sktime_doc = parameter_docs("darts", indent=8), parameter_docs("sktime", indent=4)
    for name in names:
        assert f"\n        {name}\n" in "\n" + darts_doc + "\n"
        assert f"    {name} : " in sktime_doc
    assert "Default: ``4``." in darts_doc and "n_scales : int, default=4" in sktime_doc


def test_darts_model_docstring_documents_the_architecture():
    from crossscale_ext import CrossScaleNetModel

    doc = CrossScaleNetModel.__init__.__doc__
    assert "{architecture_parameters}" not in doc and "covariate_path" in doc and "moving_avg_kernel" in doc


def test_the_default_moving_average_kernel_fits_every_window():
    """None: the reference's 25 from 26 steps on, the largest odd kernel <= L // 2 below; explicit kernels kept."""
    default = ArchitectureConfig()
    assert default.moving_avg_kernel is None
    assert [default.kernel_for(length) for length in (26, 48, 96, 512)] == [25, 25, 25, 25]
    assert [default.kernel_for(length) for length in (24, 16, 8, 4, 2)] == [11, 7, 3, 1, 1]
    assert REFERENCE_ARCHITECTURE.moving_avg_kernel == 25
    assert ArchitectureConfig(moving_avg_kernel=7).kernel_for(96) == 7
    assert default.resolved(24).moving_avg_kernel == 11 and default.resolved(24).n_scales == default.n_scales
    for length in range(16, 200, 8):  # every window that is a multiple of 2 ** (n_scales - 1) and holds 2 patches
        config = ArchitectureConfig(base_patch_length=8) if length < 32 else default
        config.validate(length, 12)
        kernel = config.kernel_for(length)
        assert kernel % 2 == 1 and kernel <= length
    with pytest.raises(ValueError, match=r"moving_avg_kernel=25 is longer than the input window"):
        ArchitectureConfig(base_patch_length=8, moving_avg_kernel=25).validate(24, 12)
    with pytest.raises(ValueError, match=r"use fewer scales \(n_scales\) or a longer input_chunk_length"):
        default.validate(8, 4)


def test_short_windows_work_with_every_other_argument_at_its_default(trainer_kwargs):
    import numpy as np
    import pandas as pd
    from support import noisy_sine

    from crossscale_ext import CrossScaleNetForecaster, CrossScaleNetModel

    model = CrossScaleNetModel(input_chunk_length=24, output_chunk_length=6, base_patch_length=8, n_epochs=1,
                               pl_trainer_kwargs=trainer_kwargs).fit(noisy_sine(length=80))
    assert model.model.network.config.moving_avg_kernel == 11
    assert len(model.predict(6)) == 6
    y = pd.DataFrame({"y": np.sin(np.arange(60) / 3.0)}, index=pd.period_range("2000-01", periods=60, freq="M"))
    forecaster = CrossScaleNetForecaster(input_chunk_length=24, output_chunk_length=6, base_patch_length=8,
                                         n_epochs=1, pl_trainer_kwargs=trainer_kwargs).fit(y, fh=[1, 2])
    assert forecaster.get_params()["moving_avg_kernel"] is None and len(forecaster.predict()) == 2
