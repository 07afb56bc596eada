"""A real browser (Debian's headless Chromium, driven by Playwright) uploads an
image the way the web app does: cross-origin API calls, a direct PUT to S3,
completion, and <img> elements showing both signed URLs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import token_for
from tests.imagefactory import image_bytes

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).parent
pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_a_browser_on_another_origin_uploads_and_displays_an_image(
    local_server, page_site, jwt_secret, tmp_path
):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "make test installs Debian's chromium; run it through make"
    origin, root = page_site
    shutil.copy(HERE / "upload_page.html", root / "upload.html")
    (root / "sample.jpg").write_bytes(image_bytes("image/jpeg", (1280, 720)))
    token = token_for("browser-user", jwt_secret)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.goto(f"{origin}/upload.html?api={local_server}&token={token}")
            page.wait_for_function("window.__result !== undefined", timeout=60_000)
            result = page.evaluate("window.__result")
            page.screenshot(path=str(tmp_path / "upload.png"))
            print(f"screenshot: {tmp_path / 'upload.png'}")
        finally:
            browser.close()
    assert result["ok"], result["error"]
    assert result["refWidth"] == 1280
    assert result["thumbWidth"] == 512
    assert result["tag"] == "CHAR_01"
