"""Population training: several GCN configurations trained as one batched model.

The point of a population is speed, never a different result: with dropout 0
and the same initial weights, every member must follow the trajectory it
follows alone through ``FullBatchTrainer.fit`` (per-epoch metrics, best epoch,
stopping epoch, best weights), however the others are configured and whenever
they stop. With dropout > 0 only the random stream differs, so those members
are checked for learning, not for equality.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import pytest
import torch
import torch.nn.functional as F

from autoglm.core import ComponentSpec, Engine, TrialError
from autoglm.plugins import FitResult
from autoglm.plugins.nn import MemberAdam
from autoglm.plugins.testing import fit_graph, bag_of_words_graph, tiny_graph
from autoglm.plugins_builtin.gcn import build_gcn, build_gcn_population, gcn_population_key
from autoglm.plugins_builtin.gcn.population import PopulationGCN

ENGINE = Engine(autoload=False)

#: Four members: different widths, learning rates and weight decays (dropout 0: deterministic).
CONFIGS = [
    ({"hidden": 16, "layers": 2, "dropout": 0.0}, {"lr": 0.01, "weight_decay": 5e-4}),
    ({"hidden": 8, "layers": 2, "dropout": 0.0}, {"lr": 0.05, "weight_decay": 0.0}),
    ({"hidden": 32, "layers": 2, "dropout": 0.0}, {"lr": 0.005}),
    ({"hidden": 5, "layers": 2, "dropout": 0.0}, {"lr": 0.02, "weight_decay": 5e-3}),
]

GRAPHS = {"sparse": bag_of_words_graph, "dense": tiny_graph}


def trainer(epochs: int, patience: int | None = None, stop_on: str = "objective") -> Any:
    options = {"device": "cpu", "max_epochs": epochs, "patience": patience or epochs, "stop_on": stop_on}
    return ENGINE.build("trainers", ComponentSpec("cuda", options))


def classes(data: Any) -> int:
    return int(data.y.max()) + 1


def single(data: Any, params: dict[str, Any], seed: int) -> Any:
    torch.manual_seed(seed)
    return build_gcn(data.num_features, classes(data), **params)


def population(data: Any, params: Sequence[dict[str, Any]], seeds: Sequence[int] | None = None) -> PopulationGCN:
    """As the runner builds one: each slot starts from the weights its single model gets from its seed."""
    pop = build_gcn_population(data.num_features, classes(data), params)
    for slot, member in enumerate(params):
        pop.load_member(slot, single(data, member, seeds[slot] if seeds else slot).state_dict())
    return pop


Recorder = Callable[[int, Any], Any]


def recorder(log: list[dict[str, float]], stop_at: int | None = None) -> Recorder:
    def on_epoch(epoch: int, metrics: Any) -> bool:
        log.append({"epoch": epoch, **metrics})
        return epoch == stop_at

    return on_epoch


def solo_runs(data: Any, configs: Sequence[tuple[dict, dict]], epochs: int, patience: int | None = None,
              stops: Sequence[int | None] | None = None, stop_on: str = "objective") -> list[tuple[Any, list[dict[str, float]]]]:
    runs = []
    for i, (params, train) in enumerate(configs):
        log: list[dict[str, float]] = []
        try:
            outcome: Any = fit_graph(
                trainer(epochs, patience, stop_on), single(data, params, i), data, train, recorder(log, stops and stops[i])
            )
        except Exception as exc:
            outcome = exc
        runs.append((outcome, log))
    return runs


def population_runs(data: Any, configs: Sequence[tuple[dict, dict]], epochs: int, patience: int | None = None,
                    stops: Sequence[int | None] | None = None, stop_on: str = "objective",
                    ) -> tuple[list[Any], list[list[dict[str, float]]], PopulationGCN]:
    pop = population(data, [params for params, _ in configs])
    logs: list[list[dict[str, float]]] = [[] for _ in configs]
    hooks = [recorder(log, stops and stops[i]) for i, log in enumerate(logs)]
    results = trainer(epochs, patience, stop_on).fit_population(pop, data, [train for _, train in configs], hooks)
    return results, logs, pop


def assert_same_run(got: tuple[Any, list[dict[str, float]]], want: tuple[Any, list[dict[str, float]]], atol: float = 1e-4) -> None:
    (fit, log), (fit_ref, log_ref) = got, want
    assert isinstance(fit, FitResult) and isinstance(fit_ref, FitResult)
    assert [m["epoch"] for m in log] == [m["epoch"] for m in log_ref]
    for a, b in zip(log, log_ref):
        assert a["val_acc"] == b["val_acc"] and a["train_acc"] == b["train_acc"], (a, b)
        assert a["loss"] == pytest.approx(b["loss"], abs=atol) and a["val_loss"] == pytest.approx(b["val_loss"], abs=atol)
    assert (fit.best_epoch, fit.epochs, fit.val_score, fit.train_score) == (
        fit_ref.best_epoch, fit_ref.epochs, fit_ref.val_score, fit_ref.train_score
    )
    assert list(fit.state_dict) == list(fit_ref.state_dict)
    for key, value in fit.state_dict.items():
        assert value.device.type == "cpu"
        torch.testing.assert_close(value, fit_ref.state_dict[key], rtol=1e-4, atol=atol, msg=key)


# -- (a) each member trains as it would alone ------------------------------------------------


def test_members_stopping_on_validation_loss_follow_their_solo_trajectories() -> None:
    data = tiny_graph()
    results, logs, _ = population_runs(data, CONFIGS, epochs=60, patience=6, stop_on="val_loss")
    solo = solo_runs(data, CONFIGS, epochs=60, patience=6, stop_on="val_loss")
    for got, want in zip(zip(results, logs), solo):
        assert_same_run(got, want)
    for fit, log in solo:  # the kept epoch is the lowest validation loss, and `patience` epochs followed it
        assert fit.best_epoch == min(log, key=lambda m: (m["val_loss"], -m["val_acc"]))["epoch"]
        assert fit.epochs == 60 or fit.epochs - fit.best_epoch == 6


@pytest.mark.parametrize("graph", ["sparse", "dense"])
def test_members_follow_their_solo_trajectories(graph: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Different widths, lr and weight decay; patience 8 so members stop at their own epochs (and compaction happens)."""
    data = GRAPHS[graph]()
    if graph == "sparse":
        assert population(data, [CONFIGS[0][0]]).features.sparse_features(data.x) is not None
    kept: list[list[int]] = []
    real_keep = PopulationGCN.keep
    monkeypatch.setattr(PopulationGCN, "keep", lambda self, index: kept.append(list(index)) or real_keep(self, index))
    stops = [None, None, 9, None]  # one member is also pruned early
    results, logs, _ = population_runs(data, CONFIGS, epochs=40, patience=8, stops=stops)
    for got, want in zip(zip(results, logs), solo_runs(data, CONFIGS, epochs=40, patience=8, stops=stops)):
        assert_same_run(got, want)
    assert len({fit.epochs for fit in results}) > 1, "members should stop at different epochs here"
    assert kept, "at most half the slots training should have compacted the population"


@pytest.mark.parametrize("layers", [1, 3])
def test_other_depths_follow_their_solo_trajectories(layers: int) -> None:
    data = bag_of_words_graph()
    configs = [({**params, "layers": layers}, train) for params, train in CONFIGS[:3]]
    results, logs, _ = population_runs(data, configs, epochs=15)
    for got, want in zip(zip(results, logs), solo_runs(data, configs, epochs=15)):
        assert_same_run(got, want)


# -- (b) members stop on their own ------------------------------------------------------------


def test_a_pruned_member_stops_while_the_others_go_on() -> None:
    data = tiny_graph()
    results, logs, _ = population_runs(data, CONFIGS[:3], epochs=20, stops=[None, 5, None])
    assert results[1].epochs == 5 and [m["epoch"] for m in logs[1]] == [1, 2, 3, 4, 5]
    assert results[0].epochs == results[2].epochs == 20 and len(logs[0]) == len(logs[2]) == 20
    assert all(set(m) == {"epoch", "loss", "train_acc", "val_acc", "val_loss"} for m in logs[0])


def test_patience_is_per_member() -> None:
    """A member that cannot learn (lr 0) stops after ``patience`` stale epochs; the others as they would alone."""
    data = tiny_graph()
    configs = [CONFIGS[0], (CONFIGS[1][0], {"lr": 0.0, "weight_decay": 0.0}), CONFIGS[2]]
    results, logs, _ = population_runs(data, configs, epochs=30, patience=4)
    assert results[1].epochs == 5 and results[1].best_epoch == 1
    for got, want in zip(zip(results, logs), solo_runs(data, configs, epochs=30, patience=4)):
        assert_same_run(got, want)


# -- (c) failures stay with their member --------------------------------------------------------


def test_a_diverging_member_fails_alone() -> None:
    data = bag_of_words_graph()
    pop = population(data, [params for params, _ in CONFIGS[:3]])
    with torch.no_grad():
        pop.weights[1][1, 0, 0] = float("nan")  # slot 1 diverges at once
    logs: list[list[dict[str, float]]] = [[] for _ in range(3)]
    results = trainer(15).fit_population(pop, data, [train for _, train in CONFIGS[:3]], [recorder(log) for log in logs])
    assert isinstance(results[1], TrialError) and "training loss became nan at epoch 1" in str(results[1])
    assert logs[1] == []  # as fit(): the failure comes before the callback
    solo = solo_runs(data, CONFIGS[:3], epochs=15)
    for slot in (0, 2):  # the NaN never reached the others
        assert_same_run((results[slot], logs[slot]), solo[slot])


def test_a_huge_learning_rate_fails_like_its_solo_trial() -> None:
    data = tiny_graph()
    configs = [CONFIGS[0], (CONFIGS[1][0], {"lr": 1e30, "weight_decay": 0.0})]
    results, _, _ = population_runs(data, configs, epochs=20)
    solo = solo_runs(data, configs, epochs=20)
    assert isinstance(solo[1][0], TrialError) and isinstance(results[1], TrialError)
    assert str(results[1]) == str(solo[1][0])
    assert isinstance(results[0], FitResult) and results[0].epochs == 20


def test_bad_training_parameters_fail_their_member_only() -> None:
    data = tiny_graph()
    configs = [CONFIGS[0], (CONFIGS[1][0], {"lr": 0.01, "momentum": 0.9}), (CONFIGS[2][0], {"lr": -1.0})]
    results, logs, _ = population_runs(data, configs, epochs=5)
    assert isinstance(results[1], ValueError) and "unknown training parameters ['momentum']" in str(results[1])
    assert isinstance(results[2], ValueError) and logs[1] == logs[2] == []
    assert_same_run((results[0], logs[0]), solo_runs(data, configs[:1], epochs=5)[0])


def test_a_callback_error_fails_its_member_only() -> None:
    data = tiny_graph()

    def broken(epoch: int, metrics: Any) -> None:
        if epoch == 3:
            raise RuntimeError("reporter broke")

    pop = population(data, [params for params, _ in CONFIGS[:2]])
    results = trainer(6).fit_population(pop, data, [train for _, train in CONFIGS[:2]], [broken, None])
    assert isinstance(results[0], RuntimeError) and isinstance(results[1], FitResult) and results[1].epochs == 6


def test_sizes_must_match() -> None:
    data = tiny_graph()
    pop = population(data, [CONFIGS[0][0]] * 2)
    with pytest.raises(ValueError, match="needs 2 hparams"):
        trainer(2).fit_population(pop, data, [{}], [None, None])


# -- (d) member weights load into the single model ---------------------------------------------


@pytest.mark.parametrize("graph", ["sparse", "dense"])
def test_member_state_dict_loads_strictly_and_predicts_the_same(graph: str) -> None:
    data = GRAPHS[graph]()
    params = [{"hidden": 12, "dropout": 0.5}, {"hidden": 4, "dropout": 0.2, "layers": 2}, {"hidden": 7}]
    pop = population(data, params)
    trainer(5).fit_population(pop, data, [{}] * 3, [None] * 3)  # trained weights, padding included
    pop.eval()
    with torch.no_grad():
        out = pop(data.x, data.edge_index)
    for slot, member in enumerate(params):
        model = build_gcn(data.num_features, classes(data), **member)
        model.load_state_dict(pop.member_state_dict(slot), strict=True)
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(model(data.x, data.edge_index), out[slot], rtol=1e-5, atol=1e-5)


def test_load_member_round_trips_and_checks_shapes() -> None:
    data = tiny_graph()
    pop = population(data, [{"hidden": 6}, {"hidden": 10}])
    model = single(data, {"hidden": 6}, 0)
    for key, value in model.state_dict().items():
        assert torch.equal(pop.member_state_dict(0)[key], value)
    with pytest.raises(ValueError, match="slot 0, layer 0"):
        pop.load_member(0, single(data, {"hidden": 10}, 0).state_dict())
    with pytest.raises(ValueError, match="keys"):
        pop.load_member(1, {})


# -- (e) padding is exact ----------------------------------------------------------------------


@pytest.mark.parametrize("graph", ["sparse", "dense"])
def test_padding_stays_exactly_zero(graph: str) -> None:
    """Narrow members inside wide tensors, after training with dropout and weight decay."""
    data = GRAPHS[graph]()
    params = [{"hidden": 16, "layers": 3, "dropout": 0.5}, {"hidden": 3, "layers": 3, "dropout": 0.3},
              {"hidden": 9, "layers": 3, "dropout": 0.0}]
    pop = population(data, params)
    train = {"lr": 0.05, "weight_decay": 5e-3}
    trainer(10).fit_population(pop, data, [train] * 3, [None] * 3)  # no member stops early: nothing compacted
    assert pop.size == 3
    for slot, hidden in enumerate(pop.hidden):
        assert pop.weights[0][slot, :, hidden:].count_nonzero() == 0
        assert pop.weights[1][slot, hidden:, :].count_nonzero() == 0 and pop.weights[1][slot, :, hidden:].count_nonzero() == 0
        assert pop.weights[2][slot, hidden:, :].count_nonzero() == 0
        assert pop.biases[0][slot, hidden:].count_nonzero() == 0 and pop.biases[1][slot, hidden:].count_nonzero() == 0
        assert pop.weights[0][slot, :, :hidden].count_nonzero() > 0


def test_padded_units_get_exactly_zero_gradient() -> None:
    data = bag_of_words_graph()
    pop = population(data, [{"hidden": 8, "dropout": 0.5}, {"hidden": 2, "dropout": 0.5}])
    pop.train()
    out = pop(data.x, data.edge_index)
    F.cross_entropy(out.reshape(-1, out.size(-1)), data.y.repeat(2)).backward()
    assert pop.weights[0].grad[1, :, 2:].count_nonzero() == 0 and pop.biases[0].grad[1, 2:].count_nonzero() == 0
    assert pop.weights[1].grad[1, 2:, :].count_nonzero() == 0


# -- (f) MemberAdam is torch.optim.Adam, per member -------------------------------------------


def test_member_adam_equals_torch_adam_per_member() -> None:
    gen = torch.Generator().manual_seed(0)
    lrs, decays = [0.01, 0.1, 0.003, 0.5], [5e-4, 0.0, 1e-2, 0.3]
    shapes = [(4, 6, 3), (4, 3)]
    params = [torch.randn(shape, generator=gen).requires_grad_() for shape in shapes]
    optimizer = MemberAdam(params, lr=lrs, weight_decay=decays)
    solos = [[p[i].detach().clone().requires_grad_() for p in params] for i in range(4)]
    references = [torch.optim.Adam(solo, lr=lr, weight_decay=wd) for solo, lr, wd in zip(solos, lrs, decays)]
    for step in range(8):
        grads = [torch.randn(shape, generator=gen) * 10 ** (step % 3 - 1) for shape in shapes]
        active = [True, step % 3 != 1, True, step < 5]  # frozen members skip steps, as if they were not trained
        optimizer.zero_grad()
        for param, grad in zip(params, grads):
            param.grad = grad.clone()
        optimizer.set_active(active)
        optimizer.step()
        for i, (solo, reference) in enumerate(zip(solos, references)):
            if active[i]:
                for p, grad in zip(solo, grads):
                    p.grad = grad[i].clone()
                reference.step()
            for p, mine in zip(solo, params):
                torch.testing.assert_close(mine[i], p, rtol=1e-6, atol=1e-7)
    for i, reference in enumerate(references):
        state = reference.state[solos[i][0]]
        torch.testing.assert_close(optimizer.exp_avg[0][i], state["exp_avg"], rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(optimizer.exp_avg_sq[0][i], state["exp_avg_sq"], rtol=1e-6, atol=1e-9)
        assert optimizer.steps[i] == float(state["step"])


def test_member_adam_frozen_members_never_see_nan() -> None:
    param = torch.zeros(2, 3, requires_grad=True)
    optimizer = MemberAdam([param], lr=0.1)
    param.grad = torch.tensor([[1.0, 1.0, 1.0], [float("nan")] * 3])
    optimizer.set_active([True, False])
    optimizer.step()
    assert torch.isfinite(param).all() and (param[1] == 0).all() and (param[0] != 0).all()
    assert optimizer.exp_avg[0][1].eq(0).all() and optimizer.steps.tolist() == [1.0, 0.0]


def test_member_adam_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="one value per member"):
        MemberAdam([torch.zeros(3, 2, requires_grad=True)], lr=[0.1, 0.2])
    with pytest.raises(ValueError, match="member dimension first"):
        MemberAdam([torch.zeros(3, 2, requires_grad=True), torch.zeros(2, requires_grad=True)], lr=0.1)


# -- (g) compaction changes nothing --------------------------------------------------------------


@pytest.mark.parametrize("graph", ["sparse", "dense"])
def test_keep_compacts_without_changing_the_kept_members(graph: str) -> None:
    """keep() on model and optimizer == freezing the dropped members; outputs and later steps alike."""
    data = GRAPHS[graph]()
    params = [params for params, _ in CONFIGS]
    frozen = population(data, params)
    compacted = copy.deepcopy(frozen)
    optimizers = [MemberAdam(m.parameters(), lr=[0.01, 0.05, 0.005, 0.02], weight_decay=5e-4) for m in (frozen, compacted)]

    def step(model: PopulationGCN, optimizer: MemberAdam) -> None:
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)[:, data.train_mask]
        F.cross_entropy(out.reshape(-1, out.size(-1)), data.y[data.train_mask].repeat(model.size), reduction="sum").backward()
        optimizer.step()

    for _ in range(3):
        for model, optimizer in zip((frozen, compacted), optimizers):
            step(model, optimizer)
    optimizers[0].set_active([False, True, False, True])
    compacted.keep([3, 1])  # a new order too
    optimizers[1].keep([3, 1])
    assert compacted.size == 2 and compacted.hidden == [5, 8] and compacted.dropout.shape == (2,)
    for _ in range(3):
        for model, optimizer in zip((frozen, compacted), optimizers):
            step(model, optimizer)
    for new_slot, old_slot in enumerate([3, 1]):
        for key, value in compacted.member_state_dict(new_slot).items():
            torch.testing.assert_close(value, frozen.member_state_dict(old_slot)[key], rtol=1e-6, atol=1e-7, msg=key)


def test_compaction_gives_the_same_results_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same population trained twice, once with compaction switched off."""
    from autoglm.plugins_builtin.cuda_trainer import FullBatchTrainer

    data = bag_of_words_graph()
    stops = [3, 4, 12, None]
    kept: list[list[int]] = []
    real_keep = PopulationGCN.keep
    monkeypatch.setattr(PopulationGCN, "keep", lambda self, index: kept.append(list(index)) or real_keep(self, index))
    compacted = population_runs(data, CONFIGS, epochs=15, stops=stops)
    assert kept == [[2, 3], [1]]  # after epoch 4 two of four slots train, after epoch 12 one of two
    monkeypatch.setattr(FullBatchTrainer, "compact_fraction", 0.0)
    uncompacted = population_runs(data, CONFIGS, epochs=15, stops=stops)
    assert len(kept) == 2 and uncompacted[2].size == 4
    for a, b, log_a, log_b in zip(compacted[0], uncompacted[0], compacted[1], uncompacted[1]):
        assert_same_run((a, log_a), (b, log_b), atol=1e-6)


# -- (h) with dropout, members learn -------------------------------------------------------------


@pytest.mark.parametrize("graph", ["sparse", "dense"])
def test_members_with_dropout_learn(graph: str) -> None:
    data = GRAPHS[graph]()
    params = [{"hidden": 32, "dropout": 0.5}, {"hidden": 16, "dropout": 0.8}, {"hidden": 64, "dropout": 0.3}]
    torch.manual_seed(0)
    pop = population(data, params)
    results = trainer(60, 20).fit_population(pop, data, [{"lr": 0.01, "weight_decay": 5e-4}] * 3, [None] * 3)
    for fit in results:
        assert isinstance(fit, FitResult) and fit.val_score > 0.6  # chance: 1/3


def test_dropout_masks_differ_per_member_and_use_each_rate() -> None:
    """Members with the same weights but different rates: rate 0 is exact, others are noisy."""
    data = bag_of_words_graph()
    params = [{"hidden": 8, "dropout": 0.0}, {"hidden": 8, "dropout": 0.5}, {"hidden": 8, "dropout": 0.5}]
    pop = population(data, params, seeds=[0, 0, 0])
    pop.train()
    out = pop(data.x, data.edge_index)
    clean = single(data, params[0], 0).eval()(data.x, data.edge_index)
    torch.testing.assert_close(out[0], clean, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out[1], clean) and not torch.allclose(out[1], out[2])


# -- the factory and its registration --------------------------------------------------------------


def test_registered_with_the_gcn() -> None:
    component = ENGINE.component("models", "gcn")
    assert component.population is build_gcn_population and component.population_key is gcn_population_key
    key = gcn_population_key
    assert key({"hidden": 8, "layers": 3}) == (3, 4) and key({}) == (2, 7)  # defaults: 2 layers of 64
    assert key({"hidden": 64, "layers": 2}) == key({"hidden": 127, "layers": 2}) != key({"hidden": 128, "layers": 2})
    assert key({"hidden": 64, "layers": 2}) != key({"hidden": 64, "layers": 3})
    assert key({"hidden": 32, "layers": 1}) == key({"hidden": 256, "layers": 1})  # one layer: no hidden width


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([], "at least one member"),
        ([{"layers": 2}, {"layers": 3}], "must share layers"),
        ([{"layers": 0}], "layers must be at least 1"),
        ([{"dropout": 1.0}], r"dropout must lie in \[0, 1\)"),
        ([{"hidden": 8, "heads": 2}], "unknown GCN parameters"),
    ],
)
def test_population_factory_rejects_bad_members(members: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_gcn_population(8, 3, members)
