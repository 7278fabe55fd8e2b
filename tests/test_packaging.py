"""Installing Relance prints no deprecation: the licence is an SPDX expression (PEP 639),
built by a setuptools that reads it as such."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_it_declares_the_licence_as_an_spdx_expression():
    project = tomllib.loads(PYPROJECT.read_text())
    # A table ({text = ...}) makes setuptools 77 and later warn at every install.
    assert project["project"]["license"] == "AGPL-3.0-or-later"
    [setuptools] = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert minimum and int(minimum[1]) >= 77  # the first to read SPDX expressions
