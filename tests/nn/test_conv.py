"""Conv1d/Conv2d: forward values and gradients vs PyTorch (float64) and finite differences."""

import random
from functools import partial

import pytest
from layer_check import close, compare_with_torch, grads_of, rand_tensor

from engine import Value, gradcheck
from engine import sum as vsum
from nn.conv import Conv1d, Conv2d, conv1d, conv2d, output_size
from nn.utils import flatten_values, shape, to_data

assert_close = partial(close, tol=1e-10)


def copy_weights(ours, theirs, torch):
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(to_data(ours.weight), dtype=torch.float64))
        if ours.bias is not None:
            theirs.bias.copy_(torch.tensor(to_data(ours.bias), dtype=torch.float64))


CONV2D_CASES = [
    # in, out, kernel, stride, padding, dilation, bias, input shape
    (1, 2, 3, 1, 0, 1, True, (1, 6, 6)),
    (2, 3, (2, 3), (2, 1), (1, 2), 1, True, (2, 5, 7)),
    (2, 2, 3, 1, "same", (2, 1), False, (2, 6, 5)),
    (1, 2, 2, 1, "same", 1, True, (1, 4, 4)),  # even kernel: the extra pad goes after
    (3, 2, 3, 2, 1, 1, True, (2, 3, 7, 6)),  # a batch
    (2, 1, 1, 3, "valid", 1, True, (2, 5, 5)),
]


def check_conv_against_torch(cls, args, kwargs, xshape, seed):
    """Forward values, and input, weight and bias gradients, of ``cls`` vs torch's."""
    torch = pytest.importorskip("torch")
    rng = random.Random(seed)
    conv = cls(*args, **kwargs, rng=rng)
    ref = getattr(torch.nn, cls.__name__)(*args, **kwargs, dtype=torch.float64)
    copy_weights(conv, ref, torch)
    compare_with_torch(conv, ref, rand_tensor(rng, xshape), torch, rng, assert_close)
    assert_close(grads_of(conv.weight), ref.weight.grad.flatten().tolist())
    if conv.bias is not None:
        assert_close(grads_of(conv.bias), ref.bias.grad.tolist())
    return conv


def check_case(cls, case, seed):
    cin, cout, k, s, p, d, bias, xshape = case
    kwargs = {"stride": s, "padding": p, "dilation": d, "bias": bias}
    check_conv_against_torch(cls, (cin, cout, k), kwargs, xshape, seed)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_matches_torch(case):
    check_case(Conv2d, case, seed=1)


CONV1D_CASES = [
    (1, 2, 3, 1, 0, 1, True, (1, 7)),
    (2, 3, 2, 2, 1, 1, True, (2, 2, 9)),
    (2, 2, 3, 1, "same", 2, False, (2, 8)),
]


@pytest.mark.parametrize("case", CONV1D_CASES)
def test_conv1d_matches_torch(case):
    check_case(Conv1d, case, seed=2)


@pytest.mark.parametrize("groups, cin, cout, cls, xshape", [
    (2, 4, 6, Conv2d, (4, 5, 5)), (3, 3, 3, Conv2d, (2, 3, 4, 4)), (2, 2, 4, Conv1d, (2, 7)),
])
def test_grouped_convolution_matches_torch(groups, cin, cout, cls, xshape):
    conv = check_conv_against_torch(cls, (cin, cout, 3), {"padding": 1, "groups": groups},
                                    xshape, seed=9)
    assert shape(conv.weight)[1] == cin // groups


def test_depthwise_output_reads_only_its_channel():
    conv = Conv2d(2, 2, 1, groups=2, bias=False, rng=0)
    conv.weight[0][0][0][0].data, conv.weight[1][0][0][0].data = 2.0, 3.0
    out = conv([[[1.0]], [[10.0]]])
    assert to_data(out) == [[[2.0]], [[30.0]]]
    assert repr(conv) == "Conv2d(2, 2, kernel_size=(1, 1), stride=(1, 1), groups=2, bias=False)"
    with pytest.raises(ValueError, match="groups=2 must divide in_channels=3 and out_channels=4"):
        Conv2d(3, 4, 1, groups=2)


def test_functional_conv2d_matches_torch():
    torch = pytest.importorskip("torch")
    rng = random.Random(3)
    x, w, b = rand_tensor(rng, (2, 5, 5)), rand_tensor(rng, (3, 2, 2, 2)), rand_tensor(rng, (3,))
    out = conv2d(x, w, b, stride=2, padding=1)
    ref = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64),
                                     torch.tensor(w, dtype=torch.float64),
                                     torch.tensor(b, dtype=torch.float64), stride=2, padding=1)
    assert_close(to_data(out), ref.tolist())
    x1 = [c[0] for c in x]
    out1 = conv1d(x1, [[row[0] for row in wo] for wo in w], None, padding="same")
    ref1 = torch.nn.functional.conv1d(torch.tensor(x1, dtype=torch.float64),
                                      torch.tensor([[row[0] for row in wo] for wo in w],
                                                   dtype=torch.float64), padding="same")
    assert_close(to_data(out1), ref1.tolist())


def test_conv2d_gradients_match_finite_differences():
    """No torch needed: every input and parameter gradient vs central differences."""
    rng = random.Random(4)
    cin, cout, h, w = 2, 2, 4, 3
    nx = cin * h * w
    nw = cout * cin * 2 * 2

    def f(*vs):
        x = [[list(vs[(c * h + i) * w:(c * h + i + 1) * w]) for i in range(h)]
             for c in range(cin)]
        ws = vs[nx:nx + nw]
        weight = [[[[ws[((o * cin + c) * 2 + i) * 2 + j] for j in range(2)] for i in range(2)]
                   for c in range(cin)] for o in range(cout)]
        bias = list(vs[nx + nw:])
        out = conv2d(x, weight, bias, stride=(1, 2), padding=1)
        coeffs = [0.3, -1.1, 0.7, 2.0, -0.4, 0.9]
        flat = flatten_values(out)
        return vsum([o * coeffs[i % len(coeffs)] for i, o in enumerate(flat)]).tanh()

    point = [rng.uniform(-1, 1) for _ in range(nx + nw + cout)]
    assert gradcheck(f, point)


def test_each_output_is_one_dot_node_with_border_taps_dropped():
    conv = Conv2d(2, 1, 3, padding=1, rng=0)
    out = conv([[[1.0] * 4 for _ in range(4)] for _ in range(2)])
    inner, corner = out[0][1][1], out[0][0][0]
    assert inner.op.name == "dot" and len(inner.parents) == 2 * (2 * 9) + 1
    assert corner.op.name == "dot" and len(corner.parents) == 2 * (2 * 4) + 1
    assert inner.parents[-1] is conv.bias[0]


def test_weight_sharing_is_fan_out_in_the_graph():
    """d/dw of the sum of all outputs = sum of the inputs the weight touched."""
    conv = Conv1d(1, 1, 2, bias=False, rng=0)
    x = [[1.0, 2.0, 3.0, 4.0]]
    vsum(conv(x)[0]).backward()
    assert [w.grad for w in conv.weight[0][0]] == [1.0 + 2.0 + 3.0, 2.0 + 3.0 + 4.0]


def test_batched_equals_per_sample():
    conv = Conv2d(1, 2, 2, stride=2, rng=5)
    rng = random.Random(5)
    batch = [rand_tensor(rng, (1, 4, 4)) for _ in range(3)]
    assert to_data(conv(batch)) == [to_data(conv(x)) for x in batch]


def test_shape_errors_name_the_layer_and_both_shapes():
    conv = Conv2d(1, 4, 3, rng=0)
    with pytest.raises(ValueError, match=r"Conv2d\(1, 4, kernel_size=\(3, 3\), stride=\(1, 1\)\):"
                       r" expected input \[1\]\[H\]\[W\] or \[N\]\[1\]\[H\]\[W\] with H, W >= 3,"
                       r" got \[2\]\[8\]\[8\]"):
        conv([[[0.0] * 8] * 8] * 2)
    with pytest.raises(ValueError, match=r"got \[1\]\[2\]\[8\]"):
        conv([[[0.0] * 8] * 2])
    with pytest.raises(ValueError, match=r"got \[8\]"):
        conv([0.0] * 8)
    with pytest.raises(ValueError, match=r"ragged nested list: x\[0\]\[1\] has length 7"):
        conv([[[0.0] * 8, [0.0] * 7, [0.0] * 8]])
    with pytest.raises(ValueError, match=r"Conv1d\(2, 1, .*expected input \[2\]\[L\] or "
                       r"\[N\]\[2\]\[L\] with L >= 5, got \[2\]\[4\]"):
        Conv1d(2, 1, 3, dilation=2, rng=0)([[0.0] * 4] * 2)
    with pytest.raises(ValueError, match=r"H >= 3 and W >= 1"):
        Conv2d(1, 1, (3, 1), rng=0)([[[0.0]]])


def test_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        Conv2d(1, 1, 0)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"kernel_size must be an int or a tuple of 2 ints"):
        Conv2d(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: expected input \[2\]"):
        conv2d([[[1.0]]], [[[[1.0]], [[1.0]]]])


def test_init_bound_and_seeded():
    a, b = Conv2d(2, 3, 3, rng=7), Conv2d(2, 3, 3, rng=7)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    bound = 1 / (2 * 9) ** 0.5
    assert all(-bound <= p.data <= bound for p in a.parameters())
    names = [n for n, _ in a.named_parameters()]
    assert names[0] == "weight.0.0.0.0" and names[-1] == "bias.2" and len(names) == 3 * 18 + 3


def test_config_rebuilds_and_state_dict_round_trips():
    conv = Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), rng=1)
    twin = Conv2d(**conv.config())
    twin.load_state_dict(conv.state_dict())
    x = rand_tensor(random.Random(0), (2, 5, 4))
    assert to_data(twin(x)) == to_data(conv(x))
    assert repr(twin) == repr(conv) == "Conv2d(2, 3, kernel_size=(3, 2), stride=(2, 1), " \
        "padding=(1, 0))"


def test_output_size_matches_torch_rule():
    torch = pytest.importorskip("torch")
    for n in range(3, 9):
        for k in (1, 2, 3):
            for s in (1, 2, 3):
                for p in (0, 1):
                    conv = torch.nn.Conv1d(1, 1, k, stride=s, padding=p)
                    expected = conv(torch.zeros(1, 1, n)).shape[-1]
                    assert output_size(n, k, s, (p, p)) == expected


def test_inputs_as_values_keep_their_identity():
    x = [[[Value(float(i + j)) for j in range(3)] for i in range(3)]]
    out = Conv2d(1, 1, 3, rng=0)(x)
    assert x[0][0][0] in out[0][0][0].parents
