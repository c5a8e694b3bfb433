"""Toy data sets generated in pure Python from a seed, a train/test split, and batching.

Every generator returns ``(X, y)``: ``X`` a list of ``[x0, x1]`` float pairs,
``y`` a list of int class labels (0, 1, ...). Randomness comes from ``rng``:
a ``random.Random`` (used and advanced) or an int seed (0 by default), so the
same seed gives the same points on every machine. Nothing is downloaded and
numpy is not needed, except by :func:`micrograd_moons`, which regenerates
numpy's exact random stream.

The geometry follows scikit-learn's ``make_moons``, ``make_circles`` and
``make_blobs``; the spiral is CS231n's; XOR is the four quadrants.

Batching (:func:`batches`) covers the three modes people learn:

* full batch (``batch_size=None``): one batch, the whole set in order;
* stochastic (``batch_size=1``): one sample at a time, shuffled each epoch;
* mini-batch (``batch_size=k``): shuffled each epoch, the last batch smaller
  unless ``drop_last``.

Your own data: :func:`read_table` reads CSV (with or without a header; the
csv module), ``.npy`` and ``.npz`` files into a :class:`Table`;
:func:`load_sklearn` gives scikit-learn's bundled real data sets (iris, wine,
breast cancer, digits, diabetes) when scikit-learn is installed.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
from collections.abc import Iterator, Sequence
from typing import Any

from nn.utils import make_rng as _rng

Dataset = tuple[list[list[float]], list[int]]


def _count(n: Any, what: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ValueError(f"{what}: expected an int >= {minimum}, got {n!r}")
    return n


def _linspace(start: float, stop: float, n: int, endpoint: bool = True) -> list[float]:
    """numpy's ``linspace``: ``n`` evenly spaced numbers."""
    if n == 1:
        return [float(start)]
    div = (n - 1) if endpoint else n
    step = (stop - start) / div
    return [start + i * step for i in range(n)]


def _check_noise(noise: float | None) -> float:
    """``noise`` as a float >= 0 (None means 0, as in scikit-learn)."""
    if noise is None:
        return 0.0
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0 \
            or math.isinf(noise):
        raise ValueError(f"noise: expected a finite number >= 0, got {noise!r}")
    return float(noise)


def _finish(X: list[list[float]], y: list[int], noise: float, shuffle: bool,
            rng: random.Random) -> Dataset:
    noise = _check_noise(noise)
    if shuffle:
        order = list(range(len(X)))
        rng.shuffle(order)
        X, y = [X[i] for i in order], [y[i] for i in order]
    if noise:
        X = [[a + rng.gauss(0.0, noise), b + rng.gauss(0.0, noise)] for a, b in X]
    return X, y


def make_moons(n_samples: int = 100, noise: float = 0.0, rng: random.Random | int | None = 0,
               shuffle: bool = True) -> Dataset:
    """Two interleaving half circles, as ``sklearn.datasets.make_moons``.

    Args:
        n_samples: Total number of points (the outer moon gets ``n // 2``).
        noise: Standard deviation of Gaussian noise added to each coordinate.
        rng: A ``random.Random`` or an int seed.
        shuffle: Shuffle the points (else the outer moon comes first).

    Returns:
        ``(X, y)`` with labels 0 (outer moon) and 1 (inner moon).

    >>> X, y = make_moons(4, shuffle=False)
    >>> [[round(a, 3), round(b, 3)] for a, b in X], y
    ([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [2.0, 0.5]], [0, 0, 1, 1])
    """
    n = _count(n_samples, "make_moons n_samples", 2)
    n_out, n_in = n // 2, n - n // 2
    outer = [[math.cos(t), math.sin(t)] for t in _linspace(0.0, math.pi, n_out)]
    inner = [[1 - math.cos(t), 1 - math.sin(t) - 0.5] for t in _linspace(0.0, math.pi, n_in)]
    return _finish(outer + inner, [0] * n_out + [1] * n_in, noise, shuffle, _rng(rng))


def make_circles(n_samples: int = 100, noise: float = 0.0, factor: float = 0.8,
                 rng: random.Random | int | None = 0, shuffle: bool = True) -> Dataset:
    """A small circle inside a large one, as ``sklearn.datasets.make_circles``.

    Args:
        n_samples: Total number of points (the outer circle gets ``n // 2``).
        noise: Standard deviation of Gaussian noise.
        factor: Inner radius over outer radius, in (0, 1).
        rng: A ``random.Random`` or an int seed.
        shuffle: Shuffle the points.

    Returns:
        ``(X, y)`` with labels 0 (outer) and 1 (inner).

    >>> X, y = make_circles(4, factor=0.5, shuffle=False)
    >>> [[round(a, 3), round(b, 3)] for a, b in X], y
    ([[1.0, 0.0], [-1.0, 0.0], [0.5, 0.0], [-0.5, 0.0]], [0, 0, 1, 1])
    """
    n = _count(n_samples, "make_circles n_samples", 2)
    if not 0 < factor < 1:
        raise ValueError(f"make_circles: factor must be in (0, 1), got {factor!r}")
    n_out, n_in = n // 2, n - n // 2
    outer = [[math.cos(t), math.sin(t)]
             for t in _linspace(0.0, 2 * math.pi, n_out, endpoint=False)]
    inner = [[factor * math.cos(t), factor * math.sin(t)]
             for t in _linspace(0.0, 2 * math.pi, n_in, endpoint=False)]
    return _finish(outer + inner, [0] * n_out + [1] * n_in, noise, shuffle, _rng(rng))


def make_spirals(n_samples: int = 150, n_classes: int = 3, noise: float = 0.2,
                 rng: random.Random | int | None = 0, shuffle: bool = True) -> Dataset:
    """Interleaved spiral arms, one per class (CS231n's spiral data).

    Arm ``j`` has radius ``r`` from 0 to 1 and angle ``4j + 4r`` plus
    Gaussian noise of standard deviation ``noise`` (radians).

    Args:
        n_samples: Total number of points, split as evenly as possible.
        n_classes: Number of arms (classes).
        noise: Angular noise.
        rng: A ``random.Random`` or an int seed.
        shuffle: Shuffle the points.

    Returns:
        ``(X, y)`` with labels ``0 .. n_classes - 1``.

    >>> X, y = make_spirals(6, n_classes=3, noise=0.0, shuffle=False)
    >>> y
    [0, 0, 1, 1, 2, 2]
    """
    n = _count(n_samples, "make_spirals n_samples")
    k = _count(n_classes, "make_spirals n_classes", 1)
    noise = _check_noise(noise)
    gen = _rng(rng)
    X: list[list[float]] = []
    y: list[int] = []
    for j in range(k):
        m = n // k + (1 if j < n % k else 0)
        for r in _linspace(0.0, 1.0, m) if m else []:
            t = 4.0 * j + 4.0 * r + (gen.gauss(0.0, noise) if noise else 0.0)
            X.append([r * math.sin(t), r * math.cos(t)])
            y.append(j)
    return _finish(X, y, 0.0, shuffle, gen)


def make_xor(n_samples: int = 100, noise: float = 0.0, rng: random.Random | int | None = 0,
             shuffle: bool = True) -> Dataset:
    """Points uniform in ``[-1, 1]^2``, labelled 1 where exactly one coordinate is positive.

    Args:
        n_samples: Number of points.
        noise: Standard deviation of Gaussian noise added after labelling.
        rng: A ``random.Random`` or an int seed.
        shuffle: Accepted for a uniform signature (the points are already random).

    Returns:
        ``(X, y)`` with labels 0 and 1.

    >>> X, y = make_xor(200, rng=1)
    >>> all(label == int((a > 0) != (b > 0)) for (a, b), label in zip(X, y))
    True
    """
    n = _count(n_samples, "make_xor n_samples")
    gen = _rng(rng)
    X = [[gen.uniform(-1, 1), gen.uniform(-1, 1)] for _ in range(n)]
    y = [int((a > 0) != (b > 0)) for a, b in X]
    return _finish(X, y, noise, False, gen)


def make_blobs(n_samples: int = 100, centers: int | Sequence[Sequence[float]] = 3,
               cluster_std: float = 1.0, center_box: tuple[float, float] = (-10.0, 10.0),
               rng: random.Random | int | None = 0, shuffle: bool = True) -> Dataset:
    """Gaussian blobs in 2-D, as ``sklearn.datasets.make_blobs``.

    Args:
        n_samples: Total number of points, split as evenly as possible.
        centers: Number of blobs (centres drawn uniformly in ``center_box``)
            or their ``[x, y]`` centres.
        cluster_std: Standard deviation of each blob.
        center_box: Bounds for random centres.
        rng: A ``random.Random`` or an int seed.
        shuffle: Shuffle the points.

    Returns:
        ``(X, y)`` with label ``i`` for blob ``i``.

    >>> X, y = make_blobs(6, centers=[[0.0, 0.0], [5.0, 5.0]], cluster_std=0.0, shuffle=False)
    >>> X[-1], y
    ([5.0, 5.0], [0, 0, 0, 1, 1, 1])
    """
    n = _count(n_samples, "make_blobs n_samples")
    gen = _rng(rng)
    if isinstance(centers, int):
        lo, hi = center_box
        cs = [[gen.uniform(lo, hi), gen.uniform(lo, hi)]
              for _ in range(_count(centers, "make_blobs centers"))]
    else:
        cs = [[float(a), float(b)] for a, b in centers]
        if not cs:
            raise ValueError("make_blobs: centers is empty")
    if cluster_std < 0:
        raise ValueError(f"make_blobs: cluster_std must be >= 0, got {cluster_std!r}")
    X: list[list[float]] = []
    y: list[int] = []
    for i, (cx, cy) in enumerate(cs):
        for _ in range(n // len(cs) + (1 if i < n % len(cs) else 0)):
            X.append([cx + gen.gauss(0.0, cluster_std), cy + gen.gauss(0.0, cluster_std)])
            y.append(i)
    return _finish(X, y, 0.0, shuffle, gen)


#: Generators by the names the command line accepts.
DATASETS = {
    "moons": make_moons,
    "circles": make_circles,
    "spirals": make_spirals,
    "xor": make_xor,
    "blobs": make_blobs,
}


def micrograd_moons() -> tuple[list[list[float]], list[int]]:
    """The exact 100 points of micrograd's demo notebook, labels in {-1, +1}.

    The notebook ran ``np.random.seed(1337); X, y =
    sklearn.datasets.make_moons(n_samples=100, noise=0.1); y = y*2 - 1``.
    This re-implements scikit-learn's ``make_moons`` with numpy alone (numpy's
    random stream is what must be reproduced; scikit-learn is not needed), on a
    private ``RandomState(1337)`` so numpy's global state is left alone.

    Returns:
        ``(X, y)``: 100 ``[x0, x1]`` pairs and labels -1/+1.

    Raises:
        ImportError: numpy is not installed (``pip install 'dagrad[speed]'``).
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is in the test extras
        raise ImportError("micrograd_moons needs numpy to regenerate numpy's random stream: "
                          "pip install numpy (or 'dagrad[speed]')") from None
    gen = np.random.RandomState(1337)  # what np.random.seed(1337) sets up globally
    n = 100
    n_out, n_in = n // 2, n - n // 2
    outer_x = np.cos(np.linspace(0, np.pi, n_out))
    outer_y = np.sin(np.linspace(0, np.pi, n_out))
    inner_x = 1 - np.cos(np.linspace(0, np.pi, n_in))
    inner_y = 1 - np.sin(np.linspace(0, np.pi, n_in)) - 0.5
    X = np.vstack([np.append(outer_x, inner_x), np.append(outer_y, inner_y)]).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    indices = np.arange(n)  # sklearn.utils.shuffle
    gen.shuffle(indices)
    X, y = X[indices], y[indices]
    X += gen.normal(scale=0.1, size=X.shape)
    return X.tolist(), (y * 2 - 1).tolist()


# -- splitting and batching -----------------------------------------------------------------


def train_test_split(X: Sequence[Any], y: Sequence[Any], test_size: float | int = 0.25,
                     rng: random.Random | int | None = 0, shuffle: bool = True,
                     stratify: bool = False) -> tuple[list, list, list, list]:
    """Split into train and test sets, as ``sklearn.model_selection.train_test_split``.

    Args:
        X: Inputs.
        y: Targets, aligned with ``X``.
        test_size: A fraction in (0, 1) (the test count is rounded up) or a count.
        rng: A ``random.Random`` or an int seed for the shuffle.
        shuffle: Shuffle before splitting (else the last samples are the test set).
        stratify: Keep each class's share in both parts (``y`` are class labels).

    Returns:
        ``(X_train, X_test, y_train, y_test)``.

    Raises:
        ValueError: Lengths differ, or the split would leave a part empty.

    >>> Xtr, Xte, ytr, yte = train_test_split(list(range(10)), list(range(10)), 0.3)
    >>> len(Xtr), len(Xte), sorted(Xtr + Xte) == list(range(10)), Xte == yte
    (7, 3, True, True)
    """
    X, y = list(X), list(y)
    n = len(X)
    if len(y) != n:
        raise ValueError(f"train_test_split: {n} inputs but {len(y)} targets")
    if isinstance(test_size, float):
        if not 0 < test_size < 1:
            raise ValueError(f"train_test_split: test_size fraction must be in (0, 1), got "
                             f"{test_size!r}")
        n_test = math.ceil(test_size * n)
    else:
        n_test = _count(test_size, "train_test_split test_size")
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size!r} leaves an empty part of "
                         f"{n} samples")
    gen = _rng(rng)
    if stratify:
        by_class: dict[Any, list[int]] = {}
        for i, label in enumerate(y):
            by_class.setdefault(label, []).append(i)
        test_idx: list[int] = []
        train_idx: list[int] = []
        for label in sorted(by_class, key=repr):
            idx = by_class[label]
            if shuffle:
                gen.shuffle(idx)
            k = round(len(idx) * n_test / n)
            test_idx += idx[:k]
            train_idx += idx[k:]
        if shuffle:
            gen.shuffle(test_idx)
            gen.shuffle(train_idx)
    else:
        order = list(range(n))
        if shuffle:
            gen.shuffle(order)
            test_idx, train_idx = order[:n_test], order[n_test:]
        else:
            train_idx, test_idx = order[: n - n_test], order[n - n_test:]
    return ([X[i] for i in train_idx], [X[i] for i in test_idx],
            [y[i] for i in train_idx], [y[i] for i in test_idx])


class Batches:
    """An iterable over ``(X_batch, y_batch)`` pairs, re-shuffled on every pass.

    Args:
        X: Inputs.
        y: Targets, aligned with ``X``.
        batch_size: None (or >= the set size) for full batch, 1 for
            stochastic, ``k`` for mini-batches.
        shuffle: Shuffle on each pass (ignored for a full batch, which keeps
            the order so the loss is the same sum in the same order).
        rng: A ``random.Random`` (advanced by each pass) or an int seed.
        drop_last: Skip a last batch smaller than ``batch_size``; a set
            smaller than ``batch_size`` then gives no batch (PyTorch's
            ``DataLoader``).

    Raises:
        ValueError: Lengths differ, the set is empty, or ``batch_size < 1``.

    >>> b = Batches([1, 2, 3, 4, 5], "abcde", batch_size=2, shuffle=False)
    >>> len(b), [xb for xb, _ in b]
    (3, [[1, 2], [3, 4], [5]])
    """

    def __init__(self, X: Sequence[Any], y: Sequence[Any], batch_size: int | None = None,
                 shuffle: bool = True, rng: random.Random | int | None = 0,
                 drop_last: bool = False) -> None:
        self.X, self.y = list(X), list(y)
        if len(self.X) != len(self.y):
            raise ValueError(f"batches: {len(self.X)} inputs but {len(self.y)} targets")
        if not self.X:
            raise ValueError("batches: the data set is empty")
        if batch_size is not None:
            _count(batch_size, "batches batch_size")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = _rng(rng)
        self.drop_last = drop_last

    @property
    def full(self) -> bool:
        """Whether every pass is one batch of the whole set."""
        return self.batch_size is None or self.batch_size >= len(self.X)

    def __len__(self) -> int:
        if self.batch_size is not None and self.drop_last and self.batch_size > len(self.X):
            return 0  # PyTorch's DataLoader: the one short batch is dropped
        if self.full:
            return 1
        n, k = len(self.X), self.batch_size
        return n // k if self.drop_last else -(-n // k)

    def __iter__(self) -> Iterator[tuple[list, list]]:
        if self.full:
            for _ in self.index_batches():
                yield self.X, self.y
            return
        for idx in self.index_batches():
            yield [self.X[i] for i in idx], [self.y[i] for i in idx]

    def index_batches(self) -> Iterator[Sequence[int]]:
        """The row numbers of each batch of one pass (PyTorch's ``BatchSampler``), drawn
        as iterating draws them (one ``rng.shuffle`` per pass); a full batch is
        ``range(len(X))``. Lets a caller that holds the data otherwise (``fit``'s
        compiled path: numpy arrays) gather the same batches.

        >>> list(Batches([1, 2, 3], "abc", batch_size=2, shuffle=False).index_batches())
        [[0, 1], [2]]
        """
        if not len(self):
            return
        if self.full:
            yield range(len(self.X))
            return
        order = list(range(len(self.X)))
        if self.shuffle:
            self.rng.shuffle(order)
        k = self.batch_size
        for start in range(0, len(order), k):
            idx = order[start:start + k]
            if len(idx) < k and self.drop_last:
                return
            yield idx


def batches(X: Sequence[Any], y: Sequence[Any], batch_size: int | None = None,
            shuffle: bool = True, rng: random.Random | int | None = 0,
            drop_last: bool = False) -> Batches:
    """Batches over ``(X, y)``: full batch, stochastic or mini-batch; see :class:`Batches`.

    >>> [len(xb) for xb, _ in batches(list(range(7)), list(range(7)), batch_size=3)]
    [3, 3, 1]
    >>> list(batches(range(7), range(7), batch_size=10, drop_last=True))
    []
    """
    return Batches(X, y, batch_size, shuffle, rng, drop_last)


# -- your own data: files and scikit-learn's real data sets -----------------------------------


class Table:
    """A data set read from a file: features, targets and their names.

    Attributes:
        X: Rows of floats.
        y: One target per row: str, int or float (see :func:`read_table`).
        feature_names: One name per feature column.
        target_name: The target column's name.
    """

    def __init__(self, X: list[list[float]], y: list, feature_names: list[str],
                 target_name: str) -> None:
        self.X, self.y, self.feature_names, self.target_name = X, y, feature_names, target_name

    def __repr__(self) -> str:
        return (f"Table({len(self.X)} rows, {len(self.feature_names)} features, target "
                f"{self.target_name!r})")


def _parse_float(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v


def _parse_targets(column: list[str]) -> list:
    """Target cells as ints when every cell is an integer, else floats, else strings."""
    try:
        return [int(v) for v in column]
    except ValueError:
        pass
    floats = [_parse_float(v) for v in column]
    if all(f is not None for f in floats):
        return floats
    return list(column)


def _column_index(target: str | int | None, header: list[str] | None, width: int,
                  where: str) -> int:
    if target is None:
        return width - 1
    if header is not None and target in header:
        return header.index(target)
    try:
        i = int(target)
    except (TypeError, ValueError):
        names = f"; its columns are {', '.join(header)}" if header else " (it has no header)"
        raise ValueError(f"{where}: no column named {target!r}{names}") from None
    if not -width <= i < width:
        raise ValueError(f"{where}: column index {i} is out of range for {width} columns")
    return i % width


def read_csv(path: str | os.PathLike, target: str | int | None = None,
             require_target: bool = True) -> Table:
    """Read a CSV file of numeric features and one target column (the csv module).

    The dialect (comma, semicolon, tab) is sniffed; the first row is a
    header when none of its cells is a number.

    Args:
        path: The file.
        target: The target column: a header name, or an index (negative from
            the end). Default: the last column.
        require_target: False reads a file of features only (``y`` empty)
            unless ``target`` names a column present in it.

    Returns:
        A :class:`Table`.

    Raises:
        ValueError: The file cannot be read, is empty, has rows of different
            lengths, or a feature cell is empty or not a number (the message
            gives the line and the column).
    """
    where = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except OSError as e:
        raise ValueError(f"{where}: cannot read the file: {e.strerror}") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [r for r in csv.reader(io.StringIO(text), dialect) if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{where}: the file holds no rows")
    header = None
    if all(_parse_float(c) is None for c in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise ValueError(f"{where}: the file has a header but no data rows")
    width = len(header) if header else len(rows[0])
    first = 2 if header else 1
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"{where}: line {i + first} has {len(r)} cells but "
                             f"{'the header' if header else 'line 1'} has {width}")
    names = header or [f"x{j}" for j in range(width)]
    if require_target or (target is not None and (header and target in header)):
        t = _column_index(target, header, width, where)
    else:
        t = None
    X: list[list[float]] = []
    for i, r in enumerate(rows):
        row = []
        for j, cell in enumerate(r):
            if j == t:
                continue
            v = _parse_float(cell)
            if v is None or not math.isfinite(v):
                what = "empty" if not cell.strip() else f"{cell.strip()!r}"
                raise ValueError(f"{where}: line {i + first}, column {names[j]!r} is {what}, not "
                                 "a finite number; features must be numeric (drop or encode "
                                 "that column, fill missing values)")
            row.append(v)
        X.append(row)
    y = _parse_targets([r[t].strip() for r in rows]) if t is not None else []
    features = [n for j, n in enumerate(names) if j != t]
    return Table(X, y, features, names[t] if t is not None else "")


def read_table(path: str | os.PathLike, target: str | int | None = None,
               require_target: bool = True) -> Table:
    """Read ``.csv`` (see :func:`read_csv`), ``.npy`` or ``.npz`` data.

    A ``.npy`` file holds one 2-D array whose ``target`` column (default the
    last) is the target. A ``.npz`` file holds arrays ``X`` and ``y`` (or the
    one named by ``target``).

    Raises:
        ValueError: An unknown extension, a missing array, a bad shape.
    """
    where = os.fspath(path)
    ext = os.path.splitext(where)[1].lower()
    if ext not in (".npy", ".npz"):
        return read_csv(path, target, require_target)
    try:
        import numpy as np
    except ImportError:
        raise ValueError(f"{where}: reading {ext} files needs numpy (pip install numpy)") \
            from None
    try:
        data = np.load(where, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{where}: cannot read the file: {e}") from None
    if ext == ".npz":
        key = "y" if target is None else str(target)
        if "X" not in data:
            raise ValueError(f"{where}: no array named 'X' (it has {', '.join(data.files)})")
        X = data["X"]
        if key not in data and require_target:
            raise ValueError(f"{where}: no target array named {key!r} (it has "
                             f"{', '.join(data.files)})")
        y = data[key].tolist() if key in data else []
        if X.ndim != 2:
            X = X.reshape(len(X), -1)
        return Table(X.astype(float).tolist(), y, [f"x{j}" for j in range(X.shape[1])], key)
    if data.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D array (rows of features and the target), "
                         f"got shape {data.shape}")
    width = data.shape[1]
    t = _column_index(target, None, width, where) if require_target or target is not None \
        else None
    keep = [j for j in range(width) if j != t]
    y = data[:, t].tolist() if t is not None else []
    if y and all(float(v).is_integer() for v in y):
        y = [int(v) for v in y]
    return Table(data[:, keep].astype(float).tolist(), y, [f"x{j}" for j in keep],
                 f"x{t}" if t is not None else "")


#: scikit-learn's bundled real data sets (no download) by name.
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")


def load_sklearn(name: str) -> Table:
    """One of scikit-learn's bundled data sets as a :class:`Table`.

    Classification sets give their class names as the labels (iris:
    ``"setosa"``...; digits: 0-9); diabetes is a regression set.

    Raises:
        ValueError: An unknown name.
        ImportError: scikit-learn is not installed (``pip install 'dagrad[datasets]'``).
    """
    if name not in SKLEARN_DATASETS:
        raise ValueError(f"load_sklearn: unknown data set {name!r}; expected one of "
                         f"{', '.join(SKLEARN_DATASETS)}")
    try:
        from sklearn import datasets as skd
    except ImportError:
        raise ImportError(f"the {name} data set comes with scikit-learn: pip install "
                          "'dagrad[datasets]'") from None
    bunch = getattr(skd, f"load_{name}")()
    X = bunch.data.astype(float).tolist()
    features = [str(n) for n in getattr(bunch, "feature_names", [])] or \
        [f"x{j}" for j in range(len(X[0]))]
    if name == "diabetes":
        return Table(X, bunch.target.astype(float).tolist(), features, "target")
    names = [str(n) for n in bunch.target_names]
    if name == "digits":
        y = bunch.target.tolist()
    else:
        y = [names[i] for i in bunch.target.tolist()]
    return Table(X, y, features, "target")


def peek_columns(path: str | os.PathLike) -> tuple[list[str] | None, int | None]:
    """A CSV file's header (None without one) and column count; ``(None, None)``
    for other formats or an unreadable file."""
    if os.path.splitext(os.fspath(path))[1].lower() in (".npy", ".npz"):
        return None, None
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read(65536)
    except OSError:
        return None, None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    for row in csv.reader(io.StringIO(text), dialect):
        if row and any(c.strip() for c in row):
            if all(_parse_float(c) is None for c in row):
                return [c.strip() for c in row], len(row)
            return None, len(row)
    return None, None
