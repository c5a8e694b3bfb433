"""The README's promises that its doctests cannot check: the picture and the commands."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_picture_is_committed_and_shows_the_neuron_after_backward():
    (src,) = re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", README)
    svg = (ROOT / src).read_text()
    texts = "".join(ET.fromstring(svg).itertext())
    # micrograd's neuron: o = tanh(n), n = 0.8814; do/dx1 = w1 (1 - o^2) = -1.5, do/dw1 = 1.0
    for number in ("0.7071", "0.8814", "-1.5", "6.881"):
        assert number in texts
    assert "make figures" in README


def test_the_readme_names_the_two_commands_and_the_makefile_has_them():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "figures"):
        assert re.search(rf"^{target}:", makefile, re.M)
        assert f"make {target}" in README


def test_the_core_line_count_in_the_readme_is_current():
    core = ["value.py", "ops.py", "backprop.py", "modes.py"]
    lines = sum(len((ROOT / "engine" / f).read_text().splitlines()) for f in core)
    claimed = int(re.search(r"is\s+([\d,]+)\s+lines of Python", README).group(1).replace(",", ""))
    assert claimed == lines, f"README says {claimed} lines, the core has {lines}: update it"
