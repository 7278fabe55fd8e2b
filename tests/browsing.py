"""What browser tests share: signing in, and screenshots kept as artifacts."""

from __future__ import annotations

import os
import re

from conftest import SCREENSHOTS
from factories import PASSWORD

FR = {"email": "E-mail", "password": "Mot de passe", "submit": "Se connecter"}


def sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Through the sign-in page, as a person does; lands on Today."""
    page.goto(f"{base_url}/login/")
    page.get_by_label(FR["email"]).fill(email)
    page.get_by_label(FR["password"]).fill(password)
    page.get_by_role("button", name=FR["submit"]).click()
    page.wait_for_url(re.compile(re.escape(base_url) + r"/(\?.*)?$"))


def shoot(page, name: str) -> str:
    """A full-page screenshot under the artifacts directory, named by page and width."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = os.path.join(SCREENSHOTS, f"{name}-{width}.png")
    page.screenshot(path=path, full_page=True)
    return path
