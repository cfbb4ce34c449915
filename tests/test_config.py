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
        ({"d_model": True}, r"d_model must be an integer"),
        ({"channel_mixing": "yes"}, r"channel_mixing must be True or False"),
        ({"covariate_path": "dense"}, r"covariate_path must be 'none'"),
        ({"scale_fusion": "mean"}, r"scale_fusion must be 'linear' \(the reference layer\) or 'sum'"),
        ({"instance_norm_center": "median"}, r"instance_norm_center must be 'mean' \(the reference's RevIN\)"),
        ({"instance_norm_center": "last", "instance_norm": False}, r"needs instance_norm=True"),
    ],
)
def test_invalid_fields_name_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ArchitectureConfig(**kwargs)


def test_validate_against_a_window():
    config = ArchitectureConfig()
    config.validate(96, 24)
    with pytest.raises(ValueError, match="input_chunk_length=100 cannot be halved 3 times.*input_chunk_length=96"):
        config.validate(100, 24)
    with pytest.raises(ValueError, match="fewer than two patches"):
        config.validate(24, 4)
    with pytest.raises(ValueError, match="output_chunk_length must be an integer >= 1"):
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
