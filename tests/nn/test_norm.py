"""LayerNorm and BatchNorm1d/2d vs PyTorch (float64, both modes), finite differences, errors."""

import random
from functools import partial

import layer_check
import pytest
from layer_check import compare_with_torch, rand_tensor

from engine import Value, gradcheck
from engine import sum as vsum
from nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm, batch_norm, layer_norm
from nn.utils import flatten_values, to_data, to_values


def randomize(params, rng):
    for p in params:
        p.data = rng.uniform(0.5, 1.5)


close = partial(layer_check.close, tol=1e-9)


def run_both(layer, ref, xdata, torch, seed=0):
    """Forward and backward through both; return (x Values, torch input)."""
    x, tx = compare_with_torch(layer, ref, xdata, torch, seed, close)
    assert all(v.grad is not None for v in flatten_values(x))  # every input reaches the output
    return x, tx


def copy_affine(ours, ref, torch):
    with torch.no_grad():
        if ours.weight is not None:
            ref.weight.copy_(torch.tensor(to_data(ours.weight), dtype=torch.float64))
        if ours.bias is not None:
            ref.bias.copy_(torch.tensor(to_data(ours.bias), dtype=torch.float64))


def check_affine_grads(ours, ref):
    if ours.weight is not None:
        close([p.grad for p in flatten_values(ours.weight)], ref.weight.grad.flatten().tolist())
    if ours.bias is not None:
        close([p.grad for p in flatten_values(ours.bias)], ref.bias.grad.flatten().tolist())


LN_CASES = [
    # normalized_shape, input shape, elementwise_affine, bias
    (4, (3, 4), True, True),
    ((2, 3), (2, 2, 3), True, True),
    (5, (5,), True, True),
    ((3, 2, 2), (3, 2, 2), False, True),
    (4, (2, 4), True, False),
]


@pytest.mark.parametrize("case", LN_CASES)
def test_layernorm_matches_torch(case):
    torch = pytest.importorskip("torch")
    nshape, xshape, affine, bias = case
    rng = random.Random(1)
    ln = LayerNorm(nshape, elementwise_affine=affine, bias=bias)
    randomize(ln.parameters(), rng)
    ref = torch.nn.LayerNorm(nshape, elementwise_affine=affine, bias=bias, dtype=torch.float64)
    copy_affine(ln, ref, torch)
    run_both(ln, ref, rand_tensor(rng, xshape), torch)
    check_affine_grads(ln, ref)


def test_layernorm_is_stable_for_a_large_offset():
    """Two-pass variance: values 1e8 + O(1) normalize as accurately as torch's."""
    torch = pytest.importorskip("torch")
    xdata = rand_tensor(random.Random(2), (2, 6), offset=1e8)
    ln, ref = LayerNorm(6), torch.nn.LayerNorm(6, dtype=torch.float64)
    out = to_data(ln(xdata))
    close(out, ref(torch.tensor(xdata, dtype=torch.float64)).tolist(), tol=1e-6)
    assert abs(sum(out[0])) < 1e-6  # E[x**2] - mean**2 would give garbage here


BN1D_CASES = [
    # input shape, affine, momentum
    ((4, 3), True, 0.1),
    ((3, 2, 5), True, 0.3),
    ((5, 2), False, None),
]


@pytest.mark.parametrize("case", BN1D_CASES)
def test_batchnorm1d_train_then_eval_matches_torch(case):
    torch = pytest.importorskip("torch")
    xshape, affine, momentum = case
    rng = random.Random(3)
    bn = BatchNorm1d(xshape[1], momentum=momentum, affine=affine)
    if affine:
        randomize(bn.parameters(), rng)
    ref = torch.nn.BatchNorm1d(xshape[1], momentum=momentum, affine=affine, dtype=torch.float64)
    copy_affine(bn, ref, torch)
    for step in range(3):  # running statistics over several batches
        bn.zero_grad()
        ref.zero_grad()
        run_both(bn, ref, rand_tensor(rng, xshape, scale=2.0, offset=step), torch, seed=step)
        close(bn.running_mean, ref.running_mean.tolist(), tol=1e-12)
        close(bn.running_var, ref.running_var.tolist(), tol=1e-12)
        assert bn.num_batches_tracked == ref.num_batches_tracked.item() == step + 1
        if affine:
            check_affine_grads(bn, ref)
    bn.eval()
    ref.eval()
    bn.zero_grad()
    ref.zero_grad()
    run_both(bn, ref, rand_tensor(rng, xshape), torch, seed=9)
    if affine:
        check_affine_grads(bn, ref)
    assert bn.num_batches_tracked == 3  # evaluation does not touch the statistics


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm2d_matches_torch(mode):
    torch = pytest.importorskip("torch")
    rng = random.Random(4)
    bn = BatchNorm2d(3, eps=1e-3)
    randomize(bn.parameters(), rng)
    ref = torch.nn.BatchNorm2d(3, eps=1e-3, dtype=torch.float64)
    copy_affine(bn, ref, torch)
    warm = rand_tensor(rng, (2, 3, 3, 2))  # one training step, so the running stats move
    bn(warm)
    ref(torch.tensor(warm, dtype=torch.float64))
    bn.zero_grad()
    ref.zero_grad()
    getattr(bn, mode)()
    getattr(ref, mode)()
    run_both(bn, ref, rand_tensor(rng, (3, 3, 2, 4)), torch)
    check_affine_grads(bn, ref)
    close(bn.running_mean, ref.running_mean.tolist(), tol=1e-12)
    close(bn.running_var, ref.running_var.tolist(), tol=1e-12)


def test_batchnorm_without_running_stats_uses_the_batch_in_eval():
    torch = pytest.importorskip("torch")
    bn = BatchNorm1d(2, track_running_stats=False).eval()
    ref = torch.nn.BatchNorm1d(2, track_running_stats=False, dtype=torch.float64).eval()
    run_both(bn, ref, rand_tensor(random.Random(5), (3, 2)), torch)
    assert "running_mean" not in bn.state_dict()


def test_batchnorm_gradients_match_finite_differences():
    """The full batch-norm gradient (through the mean and variance) vs central differences."""
    point = [0.3, -1.2, 0.8, 2.0, -0.4, 0.9, 1.1, -0.6]

    def f(*vs):
        x = [[vs[0], vs[1]], [vs[2], vs[3]], [vs[4], vs[5]]]
        w, b = [vs[6], 1.0], [vs[7], 0.0]
        y = batch_norm(x, None, None, w, b, training=True)
        return vsum([v * (i + 1) for i, v in enumerate(flatten_values(y))]).tanh()

    assert gradcheck(f, point)


def test_layernorm_gradients_match_finite_differences():
    point = [0.5, -0.3, 1.7, 0.2, 1.3, -0.8]

    def f(*vs):
        y = layer_norm([list(vs[:4])], 4, weight=[vs[4], 1.0, vs[5], 2.0])
        return vsum([v * (i - 1.5) for i, v in enumerate(y[0])]).sin()

    assert gradcheck(f, point)


def test_running_stats_are_floats_not_graph_nodes():
    bn = BatchNorm1d(2)
    bn(to_values([[1.0, 2.0], [3.0, 5.0]]))
    assert all(type(v) is float for v in bn.running_mean + bn.running_var)
    state = bn.state_dict()
    assert state["running_mean"] == pytest.approx([0.2, 0.35])
    assert state["running_var"] == pytest.approx([0.9 + 0.1 * 2.0, 0.9 + 0.1 * 4.5])
    assert state["num_batches_tracked"] == 1.0
    twin = BatchNorm1d(**bn.config())
    twin.load_state_dict(state)
    assert twin.running_var == bn.running_var


def test_shape_errors_name_the_layer_and_both_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3, eps=1e-05, .*\): expected a batch "
                       r"\[N\]\[3\] or \[N\]\[3\]\[L\] \(a list of samples\), got \[4\]\[2\]"):
        BatchNorm1d(3)([[0.0, 1.0]] * 4)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(2, .*expected a batch \[N\]\[2\]\[H\]\[W\]"
                       r" \(a list of samples\), got \[2\]\[4\]\[4\]"):
        BatchNorm2d(2)([[[0.0] * 4] * 4] * 2)
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4,\), .*\): expected input \[\.\.\.\]\[4\]"
                       r" \(any leading dimensions\), got \[2\]\[3\]"):
        LayerNorm(4)([[0.0] * 3] * 2)


def test_one_value_per_channel_in_training_is_an_error_that_changes_nothing():
    bn = BatchNorm1d(2)
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        bn([[1.0, 2.0]])
    assert bn.num_batches_tracked == 0.0 and bn.running_mean == [0.0, 0.0]
    assert len(bn.eval()([[1.0, 2.0]])) == 1  # fine in evaluation mode


def test_eval_output_depends_only_on_its_own_sample():
    bn = BatchNorm1d(1).eval()
    x = to_values([[1.0], [4.0]])
    out = bn(x)
    out[0][0].backward()
    assert x[1][0].grad is None and x[0][0].grad == pytest.approx(1 / (1 + 1e-5) ** 0.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="momentum must be in"):
        BatchNorm1d(2, momentum=2.0)
    with pytest.raises(ValueError, match="eps must be a number >= 0"):
        LayerNorm(2, eps=-1.0)
    with pytest.raises(ValueError, match="normalized_shape must be"):
        LayerNorm(())


def test_parameter_names_and_repr():
    assert [n for n, _ in LayerNorm((1, 2)).named_parameters()] == [
        "weight.0.0", "weight.0.1", "bias.0.0", "bias.0.1"]
    assert repr(BatchNorm2d(4)) == ("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, "
                                   "track_running_stats=True)")
    assert isinstance(BatchNorm2d(1).weight[0], Value)
