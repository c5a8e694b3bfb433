"""gradcheck (reverse and forward mode, vector outputs) and gradgradcheck."""

import math

import pytest

import engine
from engine import GradcheckError, Op, Value, apply, gradcheck
from engine.check import gradgradcheck, numerical_grad


def test_numerical_grad_is_central_differences():
    assert numerical_grad(lambda x: x**3, [2.0], eps=1e-3) == pytest.approx([12.000001], rel=1e-9)


@pytest.mark.parametrize("forward", [False, True])
def test_gradcheck_passes_on_correct_functions(forward):
    assert gradcheck(lambda x, y: (x * y).tanh() + x.exp() / y, [0.3, -0.7],
                     check_forward_ad=forward)
    assert gradcheck(lambda x, y: [x * y, engine.dot([x, y], [y, x]), Value(2.0)], [0.3, -0.7],
                     check_forward_ad=forward)
    assert gradcheck(lambda x: Value(1.0, requires_grad=False), [0.5], check_forward_ad=forward)


def test_gradcheck_reports_output_input_and_mode():
    # a function whose engine derivative is wrong: detach cuts one path
    def f(x, y):
        return [x * y, x * y.detach() * y]

    with pytest.raises(GradcheckError) as err:
        gradcheck(f, [2.0, 3.0], check_forward_ad=True)
    msg = str(err.value)
    assert "output 1, input 1 (= 3.0): reverse mode 6.0, finite differences 12.0" in msg
    assert "output 1, input 1 (= 3.0): forward mode 6.0, finite differences 12.0" in msg
    assert "output 0" not in msg
    assert gradcheck(f, [2.0, 3.0], raise_exception=False) is False


def test_gradcheck_rejects_bad_outputs():
    with pytest.raises(TypeError, match="f must return a Value or a sequence of Values, got str"):
        gradcheck(lambda x: "x", [1.0])


def test_gradcheck_works_under_no_grad():
    with engine.no_grad():
        assert gradcheck(lambda x: x.sin(), [0.2], check_forward_ad=True)


@pytest.mark.parametrize("forward", [False, True])
def test_gradgradcheck_passes_on_every_smooth_op(forward):
    def f(x, y):
        return [(x * y).sin() + x.exp() * y.tanh(), (x * x + 1.0).log() / y.sigmoid(),
                engine.dot([x, y], [y.sqrt(), x]) + engine.sum([x, y]) ** 2.5]

    assert gradgradcheck(f, [0.4, 1.3], check_forward_ad=forward)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    # right first derivative on floats, but on Values the partial is a constant
    flatexp = Op("flatexp", "exp", 1, math.exp, lambda m, out, x: (float(m.exp(x)),))

    def f(x):
        return apply(flatexp, x)

    assert gradcheck(f, [1.5], check_forward_ad=True)
    with pytest.raises(GradcheckError, match=r"gradgradcheck failed:\n  input 0 \(= 1.5\): "
                                             r"reverse mode 0.0, finite differences 4.48"):
        gradgradcheck(f, [1.5])


def test_gradgradcheck_message_for_several_first_derivatives():
    def f(x, y):
        return x * y.detach() * y

    with pytest.raises(GradcheckError, match=r"first derivative 0, input 1 \(= 2.0\): forward "
                                             r"mode 2.0, finite differences 4.0"):
        gradgradcheck(f, [1.0, 2.0], check_backward_ad=False, check_forward_ad=True)


def test_gradgradcheck_at_a_kink_free_point_of_relu_and_abs():
    assert gradgradcheck(lambda x: x.relu() * abs(x) + engine.max(x, 0.5 * x), [0.7],
                         check_forward_ad=True)
    assert gradcheck(lambda x: x.relu(), [2.0], check_forward_ad=True)
