"""Fast trials compute the same model: sparse input dropout, cached graph work, one sync per epoch.

Input dropout now draws random numbers only for the non-zero features
(:class:`autoglm.plugins.nn.SparseInputDropout`). The random stream differs
from dense ``F.dropout``, so results with dropout cannot be bit-identical;
these tests pin down why they are equivalent instead: with dropout 0 the
models match a plain PyG stack (outputs, gradients, whole training runs),
and with dropout > 0 the mask has exactly dense dropout's distribution over
entries that can change (a zero stays zero either way).
"""

from __future__ import annotations

import copy
import importlib.util
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from autoglm.core import ComponentSpec, Engine
from autoglm.plugins.nn import SparseInputDropout
from autoglm.plugins.testing import fit_graph, bag_of_words_graph, tiny_graph

ENGINE = Engine(autoload=False)
PARAMS = {
    "gcn": {"hidden": 16, "layers": 2},
    "gat": {"hidden": 4, "heads": 2, "layers": 2},
}


def _reference_models() -> Any:
    """bench/reference_models.py: the dense-dropout GCN and GAT the benchmarks compare with."""
    path = Path(__file__).resolve().parents[1] / "bench" / "reference_models.py"
    spec = importlib.util.spec_from_file_location("autoglm_bench_reference_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DENSE = _reference_models().DENSE


def build_pair(name: str, data: Any, dropout: float, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The engine's model and the dense reference, from the same seed."""
    num_classes = int(data.y.max()) + 1
    torch.manual_seed(seed)
    new = ENGINE.component("models", name).factory(data.num_features, num_classes, dropout=dropout, **PARAMS[name])
    torch.manual_seed(seed)
    ref = DENSE[name](data.num_features, num_classes, dropout=dropout, **PARAMS[name])
    return new, ref


def cpu_trainer(epochs: int) -> Any:
    return ENGINE.build("trainers", ComponentSpec("cuda", {"device": "cpu", "max_epochs": epochs, "patience": epochs}))


def test_bag_of_words_graph_takes_the_sparse_path() -> None:
    data = bag_of_words_graph()
    assert 0.01 < float((data.x != 0).float().mean()) < 0.1
    out = SparseInputDropout(0.5)(data.x)
    assert out.layout == torch.sparse_csr and out.shape == data.x.shape


# -- dropout 0: the same numbers as the dense reference --------------------------------------


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_same_parameters_and_initialisation_as_the_dense_reference(name: str) -> None:
    """Saved weights stay loadable: no new state, and the same seed gives the same initial weights."""
    new, ref = build_pair(name, bag_of_words_graph(), dropout=0.5)
    assert list(new.state_dict()) == list(ref.state_dict())
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in new.state_dict().items())


@pytest.mark.parametrize("name", ["gcn", "gat"])
@pytest.mark.parametrize("training", [True, False])
def test_dropout_zero_outputs_and_gradients_match_dense(name: str, training: bool) -> None:
    data = bag_of_words_graph()
    new, ref = build_pair(name, data, dropout=0.0)
    new.train(training)
    ref.train(training)
    out_new, out_ref = new(data.x, data.edge_index), ref(data.x, data.edge_index)
    torch.testing.assert_close(out_new, out_ref, rtol=1e-5, atol=1e-5)
    loss_new = F.cross_entropy(out_new[data.train_mask], data.y[data.train_mask])
    loss_ref = F.cross_entropy(out_ref[data.train_mask], data.y[data.train_mask])
    loss_new.backward()
    loss_ref.backward()
    grads_ref = dict(ref.named_parameters())
    for key, param in new.named_parameters():
        torch.testing.assert_close(param.grad, grads_ref[key].grad, rtol=1e-5, atol=1e-5, msg=key)


def test_dropout_zero_matches_dense_on_cora(cora_root: Any) -> None:
    """The real bag-of-words features (1.3% non-zero), first-layer weight gradient included."""
    data = ENGINE.build("data_loaders", ComponentSpec("planetoid", {"root": str(cora_root)})).load()
    for name in ("gcn", "gat"):
        new, ref = build_pair(name, data, dropout=0.0)
        assert new.input_dropout(data.x).layout == torch.sparse_csr
        out_new, out_ref = new(data.x, data.edge_index), ref(data.x, data.edge_index)
        torch.testing.assert_close(out_new, out_ref, rtol=1e-5, atol=1e-5)
        out_new.square().mean().backward()
        out_ref.square().mean().backward()
        torch.testing.assert_close(new.convs[0].lin.weight.grad, ref.convs[0].lin.weight.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_dropout_zero_training_trajectory_matches_dense(name: str) -> None:
    """Thirty epochs through the trainer: the same per-epoch metrics and the same best weights."""
    data = bag_of_words_graph()
    new, ref = build_pair(name, data, dropout=0.0)
    seen: dict[str, list[dict[str, float]]] = {"new": [], "ref": []}
    fits = {
        key: fit_graph(cpu_trainer(30), model, data, {"lr": 0.01}, lambda e, m, key=key: seen[key].append(m))
        for key, model in (("new", new), ("ref", ref))
    }
    assert fits["new"].best_epoch == fits["ref"].best_epoch and fits["new"].val_score == fits["ref"].val_score
    for a, b in zip(seen["new"], seen["ref"]):
        assert a["val_acc"] == b["val_acc"] and a["train_acc"] == b["train_acc"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
    for key, value in fits["new"].state_dict.items():
        torch.testing.assert_close(value, fits["ref"].state_dict[key], rtol=1e-4, atol=1e-5, msg=key)


# -- dropout > 0: dense dropout's distribution over the entries that can change ---------------


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_sparse_dropout_statistics(p: float) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(500, 400, generator=gen) * (torch.rand(500, 400, generator=gen) < 0.05)
    torch.manual_seed(0)
    out = SparseInputDropout(p)(x).to_dense()
    nonzero = x != 0
    assert torch.all(out[~nonzero] == 0)  # a zero stays zero
    kept = nonzero & (out != 0)
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))  # kept entries scaled by 1/(1-p)
    n = int(nonzero.sum())
    keep_fraction = int(kept.sum()) / n
    assert abs(keep_fraction - (1 - p)) < 5 * (p * (1 - p) / n) ** 0.5  # 5 standard deviations


def test_new_mask_each_call_and_seeded() -> None:
    x = bag_of_words_graph().x
    drop = SparseInputDropout(0.5)
    torch.manual_seed(3)
    first, second = drop(x).values(), drop(x).values()
    torch.manual_seed(3)
    assert not torch.equal(first, second) and torch.equal(drop(x).values(), first)


def test_weight_gradient_with_dropout_matches_dense_with_the_same_mask() -> None:
    x = bag_of_words_graph().x
    weight = torch.randn(16, x.size(1), requires_grad=True)
    torch.manual_seed(0)
    dropped = SparseInputDropout(0.5)(x)
    out_sparse = F.linear(dropped, weight)
    (grad_sparse,) = torch.autograd.grad(out_sparse.square().sum(), weight)
    out_dense = F.linear(dropped.to_dense(), weight)
    (grad_dense,) = torch.autograd.grad(out_dense.square().sum(), weight)
    torch.testing.assert_close(out_sparse, out_dense, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_sparse, grad_dense, rtol=1e-5, atol=1e-5)


# -- when the sparse path is taken, and its cache ----------------------------------------------


def test_eval_mode_and_p_zero_leave_the_features_unchanged() -> None:
    x = bag_of_words_graph().x
    drop = SparseInputDropout(0.5).eval()
    assert torch.equal(drop(x).to_dense(), x)
    assert torch.equal(SparseInputDropout(0.0)(x).to_dense(), x)


def test_structure_is_cached_per_tensor_and_rebuilt_after_an_in_place_change() -> None:
    x = bag_of_words_graph().x.clone()
    drop = SparseInputDropout(0.5)
    first = drop.sparse_features(x)
    assert first is not None and drop.sparse_features(x) is first
    assert drop.sparse_features(x.clone()) is not first  # another tensor, another structure
    x[0, :] = 1.0
    rebuilt = drop.sparse_features(x)
    assert rebuilt is not None and torch.equal(rebuilt.to_dense(), x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(50, 20),  # dense features: the sparse product would not pay
        lambda: bag_of_words_graph().x.requires_grad_(),  # a gradient for x is wanted
        lambda: bag_of_words_graph().x.double()[:, :, None],  # not a node-feature matrix
    ],
    ids=["dense", "requires-grad", "3-d"],
)
def test_other_inputs_get_plain_dropout(make: Any) -> None:
    x = make()
    drop = SparseInputDropout(0.5)
    assert drop.sparse_features(x) is None
    torch.manual_seed(0)
    out = drop(x)
    torch.manual_seed(0)
    assert out.layout == torch.strided and torch.equal(out, F.dropout(x, 0.5, training=True))


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_models_copy_and_pickle_after_a_forward(name: str) -> None:
    data = bag_of_words_graph()
    model, _ = build_pair(name, data, dropout=0.5)
    model.eval()
    expected = model(data.x, data.edge_index)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.input_dropout._cache is None
        torch.testing.assert_close(clone(data.x, data.edge_index), expected)


def test_gcn_normalisation_is_computed_once_per_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once per trial across epochs and the training and evaluation passes, and again for another graph
    (``cached=True`` would keep the first graph's normalisation for every later one)."""
    import torch_geometric.nn.conv.gcn_conv as gcn_conv

    calls = []
    real = gcn_conv.gcn_norm
    monkeypatch.setattr(gcn_conv, "gcn_norm", lambda *a, **k: calls.append(1) or real(*a, **k))
    data = bag_of_words_graph()
    model, _ = build_pair("gcn", data, dropout=0.5)
    fit_graph(cpu_trainer(10), model, data, {})
    assert len(calls) == 1
    model.eval()
    half = data.edge_index[:, : data.edge_index.size(1) // 2].clone()
    with torch.no_grad():
        on_half = model(data.x, half)
        assert len(calls) == 2
        fresh = build_pair("gcn", data, dropout=0.5)[0]
        fresh.load_state_dict(model.state_dict())
        fresh.eval()
        assert torch.allclose(on_half, fresh(data.x, half), atol=1e-6)  # the other graph's own normalisation


# -- whole trials ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_a_trial_on_sparse_features_still_reaches_normal_accuracy(name: str) -> None:
    """Paper dropout on the sparse path, two seeds; the dense reference sets the bar."""
    data = bag_of_words_graph()
    dropout = 0.5 if name == "gcn" else 0.6
    scores: dict[str, list[float]] = {"new": [], "ref": []}
    for seed in range(2):
        for key, model in zip(("new", "ref"), build_pair(name, data, dropout, seed)):
            trainer = cpu_trainer(60)
            fit_graph(trainer, model, data, {"lr": 0.01, "weight_decay": 5e-4})
            pred = trainer.predict(model, data).argmax(-1)
            scores[key].append(float((pred[data.test_mask] == data.y[data.test_mask]).float().mean()))
    new, ref = (sum(v) / len(v) for v in (scores["new"], scores["ref"]))
    assert new > 0.75 and new >= ref - 0.05, scores


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_dense_features_train_bit_for_bit_as_before(name: str) -> None:
    """Gaussian features take plain F.dropout: the same random stream, so the very same trial."""
    data = tiny_graph()
    new, ref = build_pair(name, data, dropout=0.5)
    fits = []
    for model in (new, ref):
        torch.manual_seed(1)  # the same dropout stream for both
        fits.append(fit_graph(cpu_trainer(20), model, data, {"lr": 0.01}))
    assert fits[0].best_epoch == fits[1].best_epoch and fits[0].val_score == fits[1].val_score
    assert all(torch.equal(v, fits[1].state_dict[k]) for k, v in fits[0].state_dict.items())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_cora_trial_accuracy_is_normal(cora_root: Any, name: str) -> None:
    """The paper settings for 200 epochs: Kipf & Welling report 81.5% (GCN), Velickovic et al. 83.0% (GAT)."""
    data = ENGINE.build("data_loaders", ComponentSpec("planetoid", {"root": str(cora_root)})).load()
    params = {"hidden": 16, "layers": 2, "dropout": 0.5} if name == "gcn" else {"hidden": 8, "heads": 8, "dropout": 0.6}
    torch.manual_seed(0)
    model = ENGINE.component("models", name).factory(data.num_features, 7, **params)
    trainer = cpu_trainer(200)
    fit = fit_graph(trainer, model, data, {"lr": 0.01, "weight_decay": 5e-4})
    pred = trainer.predict(model, data).argmax(-1)
    assert fit.val_score > 0.76
    assert float((pred[data.test_mask] == data.y[data.test_mask]).float().mean()) > 0.78


# -- uniform_dropout: F.dropout's distribution from cheaper draws --------------------------------


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_uniform_dropout_keeps_one_minus_p_scaled_like_f_dropout(p: float) -> None:
    from autoglm.plugins.nn import uniform_dropout

    x = torch.rand(400, 250) + 0.5  # no zeros: every dropped entry shows
    torch.manual_seed(0)
    out = uniform_dropout(x, p)
    kept = out != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01  # 100k entries: the std of the fraction is ~0.0015
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    # The gradient is the mask scaled, as for F.dropout.
    leaf = x.clone().requires_grad_()
    torch.manual_seed(0)
    uniform_dropout(leaf, p).sum().backward()
    torch.testing.assert_close(leaf.grad, kept.float() / (1 - p))
    torch.manual_seed(0)
    assert torch.equal(uniform_dropout(x, p), out)  # seeded like any torch draw


def test_uniform_dropout_off_and_bad_rates() -> None:
    from autoglm.plugins.nn import uniform_dropout

    x = torch.randn(5, 3)
    assert uniform_dropout(x, 0.5, training=False) is x and uniform_dropout(x, 0.0) is x
    assert torch.count_nonzero(uniform_dropout(x, 1.0)) == 0
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\], got 1.5"):
        uniform_dropout(x, 1.5)


def test_gcnii_trains_on_sparse_input_and_its_dropout_is_off_in_eval() -> None:
    data = bag_of_words_graph()  # sparse features: the input dropout's CSR path into lin_in
    num_classes = int(data.y.max()) + 1
    model = ENGINE.component("models", "gcnii").factory(
        data.num_features, num_classes, layers=4, hidden=8, alpha=0.1, theta=0.5, dropout=0.5)
    model.train()
    torch.manual_seed(0)
    first = model(data.x, data.edge_index)
    first.square().sum().backward()
    assert model.lin_in.weight.grad is not None and torch.count_nonzero(model.lin_in.weight.grad) > 0
    torch.manual_seed(1)
    assert not torch.equal(model(data.x, data.edge_index), first)  # a new mask per call
    # In eval mode nothing is dropped: the same weights without dropout, fed dense features, agree.
    plain = ENGINE.component("models", "gcnii").factory(
        data.num_features, num_classes, layers=4, hidden=8, alpha=0.1, theta=0.5, dropout=0.0)
    plain.load_state_dict(model.state_dict())
    plain.input_dropout.max_density = 0.0  # never the sparse path
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(data.x, data.edge_index), plain.eval()(data.x, data.edge_index))
