"""fit's compiled backend on arrays (issue 13): the training set held as numpy arrays, the
outputs returned as arrays and decided vectorised, the optimizer's state written back only
when something reads it. Every speed path here must give the numbers of the slow one."""

from __future__ import annotations

import math

import pytest

from nn.losses import REGISTRY
from nn.targets import Targets

np = pytest.importorskip("numpy")
nan, inf = math.nan, math.inf

#: Rows where Python's max/index and numpy's argmax part ways: ties, NaN first, in the
#: middle and everywhere, infinities, signed zeros.
AWKWARD_ROWS = [
    [1.0, 2.0, 2.0], [2.0, 2.0, 1.0], [nan, 5.0, 1.0], [1.0, nan, 5.0], [5.0, nan, 1.0],
    [nan, nan, nan], [-inf, nan, -inf], [-inf, -inf, -inf], [inf, inf, 1.0], [1.0, inf, nan],
    [-0.0, 0.0, -1.0], [0.0, -0.0, -1.0], [-1.0, -0.0, 0.0], [nan, -inf, inf],
]


@pytest.mark.parametrize("loss", sorted(REGISTRY))
def test_vectorised_decision_equals_the_per_sample_rule_on_ties_and_nan(loss):
    """Targets.decide_rows on a (N, k) array gives decide's class for every row."""
    for k, rows in ((3, AWKWARD_ROWS), (1, [[nan], [0.0], [-0.0], [0.5], [0.7], [-1.0],
                                            [inf], [-inf], [1.0]])):
        plan = Targets("classify", loss, [0, 1, 2][:max(k, 2)], k)
        want = [plan.decide(r) for r in rows]
        got = plan.decide_rows(np.array(rows)).tolist()
        assert got == want, (loss, k)


def test_vectorised_decision_with_a_sigmoid_threshold():
    plan = Targets("classify", "hinge", [0, 1], 1, threshold=0.5)
    rows = [[nan], [0.5], [0.50001], [0.2], [inf]]
    assert plan.decide_rows(np.array(rows)).tolist() == [plan.decide(r) for r in rows] == [
        0, 0, 1, 0, 1]


#: AWKWARD_ROWS' classes, derived by hand from Python's max/index: a first NaN wins,
#: other NaNs are passed over, the first of equal values wins (-0.0 == 0.0).
AWKWARD_CLASSES = [1, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0]


def test_accuracy_of_an_array_equals_the_accuracy_of_lists():
    plan = Targets("classify", "cross_entropy", [0, 1, 2], 3)
    assert [plan.decide(r) for r in AWKWARD_ROWS] == AWKWARD_CLASSES
    idx = [1, 0, 2, 2, 0, 1, 1, 0, 2, 0, 1, 2, 0, 0]  # right at rows 0, 1, 3, 4, 7, 13
    assert plan.accuracy(np.array(AWKWARD_ROWS), idx) == plan.accuracy(AWKWARD_ROWS, idx)
    assert plan.accuracy(np.array(AWKWARD_ROWS), idx) == 6 / 14
    with pytest.raises(ValueError, match="14 outputs but 2 labels"):
        plan.accuracy(np.array(AWKWARD_ROWS), [0, 1])


def test_vectorised_decision_property():
    """Random rows drawn from a few awkward values: vectorised and per-sample agree."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    values = st.sampled_from([nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0])

    @hypothesis.settings(max_examples=200, deadline=None)
    @hypothesis.given(st.integers(1, 4).flatmap(
        lambda k: st.lists(st.lists(values, min_size=k, max_size=k), min_size=1, max_size=6)))
    def check(rows):
        for loss in REGISTRY:
            plan = Targets("classify", loss, [0, 1, 2, 3], len(rows[0]))
            assert plan.decide_rows(np.array(rows)).tolist() == [plan.decide(r) for r in rows]

    check()
