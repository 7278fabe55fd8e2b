"""The icon of the pages: linked from them, and at /favicon.ico where browsers look first."""

from __future__ import annotations

import re

import pytest


@pytest.mark.django_db
def test_it_serves_the_favicon_where_browsers_look(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in response.content
    assert "max-age=86400" in response["Cache-Control"]


@pytest.mark.django_db
def test_it_links_the_icon_from_the_pages(client):
    page = client.get("/login/").content.decode()
    link = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert link and link[1].endswith("favicon.svg")
