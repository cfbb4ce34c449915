"""The reference training schedule (lradj=type1) as a Darts option."""

from __future__ import annotations

import pickle

import pytest
import torch
from support import TINY, noisy_sine

from crossscale_ext import CrossScaleNetModel
from crossscale_ext.training import ReferenceLRSchedule, reference_schedule_kwargs


def test_rate_per_epoch_matches_the_reference_scripts():
    # reference: after epoch e (1-based) lr = lr0 * 0.5 ** (e - 1), so epochs 1-2 run at lr0, epoch 3 at lr0 / 2
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=ReferenceLRSchedule())
    rates = []
    for _ in range(5):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([1e-4, 1e-4, 5e-5, 2.5e-5, 1.25e-5])
    assert pickle.loads(pickle.dumps(ReferenceLRSchedule())) == ReferenceLRSchedule()


def test_darts_model_trains_with_it_and_saves(tmp_path, trainer_kwargs):
    kwargs = reference_schedule_kwargs(learning_rate=1e-3)
    model = CrossScaleNetModel(**(TINY | {"n_epochs": 3}), pl_trainer_kwargs=trainer_kwargs, **kwargs)
    model.fit(noisy_sine(length=160))
    scheduler = model.trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.get_last_lr() == pytest.approx([2.5e-4])  # three epochs finished: 1e-3 * 0.5 ** 2
    model.save(str(tmp_path / "model.pt"))
    loaded = CrossScaleNetModel.load(str(tmp_path / "model.pt"))
    assert loaded.model_params["lr_scheduler_kwargs"]["lr_lambda"] == ReferenceLRSchedule()
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        reference_schedule_kwargs(0)


def test_named_recipes_differ_only_in_the_learning_rate(trainer_kwargs):
    from pytorch_lightning.callbacks import EarlyStopping

    from crossscale_ext.training import RECOMMENDED_LEARNING_RATE, REFERENCE_LEARNING_RATE, training_recipe

    reference, recommended = training_recipe("reference"), training_recipe()
    assert reference["optimizer_kwargs"] == {"lr": REFERENCE_LEARNING_RATE} == {"lr": 1e-4}
    assert recommended["optimizer_kwargs"] == {"lr": RECOMMENDED_LEARNING_RATE}
    for kwargs in (reference, recommended):
        assert kwargs["n_epochs"] == 20 and kwargs["batch_size"] == 32
        assert kwargs["lr_scheduler_cls"] is torch.optim.lr_scheduler.LambdaLR
        (stopper,) = kwargs["pl_trainer_kwargs"]["callbacks"]
        assert isinstance(stopper, EarlyStopping) and stopper.patience == 3 and stopper.monitor == "val_loss"
    assert "pl_trainer_kwargs" not in training_recipe(early_stopping_patience=None)
    # the recommended rate depends on the horizon: the reference rate beyond RECOMMENDED_MAX_HORIZON (192)
    assert training_recipe(horizon=192)["optimizer_kwargs"] == {"lr": RECOMMENDED_LEARNING_RATE}
    assert training_recipe(horizon=193)["optimizer_kwargs"] == {"lr": REFERENCE_LEARNING_RATE}
    assert training_recipe("reference", horizon=96)["optimizer_kwargs"] == {"lr": REFERENCE_LEARNING_RATE}
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        training_recipe(horizon=0)
    with pytest.raises(ValueError, match="Unknown training recipe 'paper'"):
        training_recipe("paper")
    with pytest.raises(ValueError, match="positive integer or None"):
        training_recipe(early_stopping_patience=0)
    # the recipe trains a model with early stopping on a validation series
    kwargs = training_recipe(early_stopping_patience=1)
    kwargs["pl_trainer_kwargs"] = trainer_kwargs | {"callbacks": kwargs["pl_trainer_kwargs"]["callbacks"]}
    model = CrossScaleNetModel(**(TINY | kwargs | {"n_epochs": 4}))
    series = noisy_sine(300)
    model.fit(series[:220], val_series=series[220:])
    assert 1 <= model.epochs_trained <= 4


def test_fused_optimizer_is_the_default_unless_the_arguments_choose():
    from crossscale_ext.training import fast_optimizer_kwargs

    assert fast_optimizer_kwargs(torch.optim.Adam, None) == {"fused": True}
    assert fast_optimizer_kwargs(torch.optim.AdamW, {"lr": 1e-3}) == {"lr": 1e-3, "fused": True}
    for chosen in ({"fused": False}, {"foreach": True}, {"differentiable": True}):
        assert fast_optimizer_kwargs(torch.optim.Adam, chosen) == chosen
    assert fast_optimizer_kwargs(torch.optim.RMSprop, {"lr": 0.1}) == {"lr": 0.1}  # no fused implementation
    given = {"lr": 1e-3}
    fast_optimizer_kwargs(torch.optim.Adam, given)
    assert given == {"lr": 1e-3}  # the caller's dict is not modified


def test_darts_model_trains_with_the_fused_adam(trainer_kwargs):
    model = CrossScaleNetModel(**TINY, pl_trainer_kwargs=trainer_kwargs, optimizer_kwargs={"lr": 1e-3})
    model.fit(noisy_sine(120))
    (optimizer,) = model.trainer.optimizers
    assert optimizer.defaults["fused"] is True
    assert model.model_params["optimizer_kwargs"] == {"lr": 1e-3}  # the saved arguments stay the user's
