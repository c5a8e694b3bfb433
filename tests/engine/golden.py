"""Golden examples shared by the engine's tests."""


def micrograd_example(a, b):
    """micrograd's README expression of ``a`` and ``b``: 24.7041 at (-4, 2), with
    d/da = 138.8338 and d/db = 645.5773."""
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g
