"""The built-in trainer: device choice, early stopping, best weights, and failures it must report."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import torch

from autoglm.core import ComponentSpec, ConfigError, Engine, TrialError
from autoglm.plugins.testing import fit_graph, tiny_graph

ENGINE = Engine(autoload=False)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def trainer(**options: Any) -> Any:
    return ENGINE.build("trainers", ComponentSpec("cuda", options))


def gcn(data: Any, **params: Any) -> Any:
    torch.manual_seed(0)
    return ENGINE.component("models", "gcn").factory(data.num_features, int(data.y.max()) + 1, **params)


def accuracy(logits: torch.Tensor, data: Any, mask: torch.Tensor) -> float:
    return float((logits.argmax(-1)[mask] == data.y[mask]).float().mean())


def test_auto_device_logs_its_choice(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="autoglm"):
        t = trainer(device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert t.device == expected and f"device auto: using {expected}" in caplog.text


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_request_without_cuda_is_a_config_error(device: str) -> None:
    with pytest.raises(ConfigError, match="CUDA is not available.*device: auto or cpu"):
        trainer(device=device)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "gpu"}, "device must be auto, cpu, cuda or cuda:N"),
        ({"max_epochs": 0}, "max_epochs must be at least 1"),
        ({"patience": 0}, "patience must be at least 1"),
        ({"device": "cpu", "amp": True}, "amp .* needs a CUDA device"),
        ({"stop_on": "val_acc"}, "stop_on must be objective or val_loss, got 'val_acc'"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        trainer(**options)


def test_amp_with_auto_on_a_cpu_machine_falls_back_to_float32() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert trainer(device="auto", amp=True).amp is False


def test_early_stopping_and_best_weights() -> None:
    data = tiny_graph()
    epochs_seen: list[tuple[int, float]] = []
    t = trainer(device="cpu", max_epochs=300, patience=5)
    model = gcn(data, hidden=16, layers=2, dropout=0.0)
    fit = fit_graph(t, model, data, {"lr": 0.05, "weight_decay": 0.0}, lambda e, m: epochs_seen.append((e, m["val_acc"])))
    assert fit.epochs < 300 and fit.epochs == len(epochs_seen)
    assert fit.epochs - fit.best_epoch == 5  # stopped after `patience` epochs without improvement
    assert fit.val_score == max(acc for _, acc in epochs_seen)
    # The model is left holding the best epoch's weights, and they are the ones returned.
    assert accuracy(t.predict(model, data), data, data.val_mask) == pytest.approx(fit.val_score)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in fit.state_dict.items())


def test_stopping_on_validation_loss_keeps_the_lowest_loss_epoch() -> None:
    """GCNII's and GCN's papers stop on the validation loss: it keeps falling after the accuracy plateaus."""
    data = tiny_graph()
    seen: list[dict[str, float]] = []
    t = trainer(device="cpu", max_epochs=300, patience=5, stop_on="val_loss")
    fit = fit_graph(t, gcn(data, hidden=16, layers=2, dropout=0.0), data, {"lr": 0.05, "weight_decay": 0.0},
                    lambda e, m: seen.append({"epoch": e, **m}))
    best = min(seen, key=lambda m: (m["val_loss"], -m["val_acc"]))
    assert fit.best_epoch == best["epoch"] and fit.val_score == best["val_acc"]
    assert fit.epochs - fit.best_epoch == 5
    by_accuracy = fit_graph(trainer(device="cpu", max_epochs=300, patience=5), gcn(data, hidden=16, layers=2, dropout=0.0),
                            data, {"lr": 0.05, "weight_decay": 0.0})
    assert by_accuracy.best_epoch != fit.best_epoch, "the tiny graph's accuracy and loss peak at different epochs"


def test_training_is_deterministic_on_cpu() -> None:
    data = tiny_graph()
    runs = []
    for _ in range(2):
        fit = fit_graph(trainer(device="cpu", max_epochs=30, patience=30), gcn(data, dropout=0.5), data, {"lr": 0.01})
        runs.append((fit.val_score, fit.best_epoch, fit.state_dict["convs.0.lin.weight"].sum().item()))
    assert runs[0] == runs[1]


def test_nan_loss_is_a_trial_error() -> None:
    data = tiny_graph()
    model = gcn(data)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))  # the data is fine (the task checks it); training diverges
    with pytest.raises(TrialError, match="training loss became nan at epoch 1"):
        fit_graph(trainer(device="cpu"), model, data, {})


def test_unknown_training_parameter_is_rejected() -> None:
    data = tiny_graph()
    with pytest.raises(ValueError, match="unknown training parameters \\['momentum'\\]"):
        fit_graph(trainer(device="cpu"), gcn(data), data, {"momentum": 0.9})


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("amp", [False, True])
def test_trains_on_cuda(amp: bool) -> None:
    data = tiny_graph()
    t = trainer(device="cuda", amp=amp, max_epochs=50, patience=50)
    model = gcn(data, hidden=32)
    fit = fit_graph(t, model, data, {"lr": 0.01, "weight_decay": 5e-4})
    assert next(model.parameters()).is_cuda
    assert all(v.device.type == "cpu" for v in fit.state_dict.values())
    logits = t.predict(model, data)
    assert logits.device.type == "cpu" and logits.dtype == torch.float32
    assert fit.val_score > 0.5


@pytest.mark.cuda
@needs_cuda
def test_a_whole_search_on_cuda(tiny_config: dict[str, Any]) -> None:
    tiny_config["trainer"]["options"]["device"] = "cuda"
    result = Engine(autoload=False).run(tiny_config)
    assert all(t.ok for t in result.trials) and 0.0 <= result.test_accuracy <= 1.0
