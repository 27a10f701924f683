"""Demo tests, level 3: the full app in a real headless Chromium, used as a person would.

Needs Debian's Chromium (``apt-get install -y chromium``) and Playwright; without Chromium the test fails with
that command, unless SYNTHKIT_SKIP_BROWSER=1. Screenshots go to ``test-artifacts/``: look at them.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

IMAGE_SRC_JS = "sel => document.querySelector(sel + ' img')?.getAttribute('src') ?? null"


@pytest.fixture(scope="module")
def app_url(launch_blocks):
    from demos import app
    from demos.common import launch_kwargs

    demo = app.build_demo()
    url = launch_blocks(demo, **launch_kwargs())  # the real theme and CSS, as `synthkit demo` serves it
    yield url
    demo.close()


def _fetch_png(page, src: str) -> np.ndarray:
    response = page.request.get(src)
    assert response.ok, f"GET {src} -> {response.status}"
    with Image.open(io.BytesIO(response.body())) as img:
        return np.asarray(img.convert("RGB"))


def test_toyscapes_tab_renders_a_new_sample(app_url, browser_page, artifacts_dir):
    from synthkit.data import toyscapes

    page, errors = browser_page.page, browser_page.errors
    page.goto(app_url)
    # Not "networkidle": the full app holds a session heartbeat open (the SMIS tab keeps per-session state).
    page.wait_for_selector("#toyscapes-image img", timeout=60_000)
    assert "synthkit" in page.title()

    tab = page.locator("button[role=tab]", has_text="Toyscapes explorer")
    tab.click()
    image_sel, labels_sel = "#toyscapes-image", "#toyscapes-labels"
    page.wait_for_selector(f"{image_sel} img")
    old_image = page.evaluate(IMAGE_SRC_JS, image_sel)
    old_labels = page.evaluate(IMAGE_SRC_JS, labels_sel)
    assert old_image and old_labels
    np.testing.assert_array_equal(_fetch_png(page, old_image), toyscapes.render(0, 0, size=128).image)

    # a user types a seed, picks 256 px and presses Render
    page.locator("#toyscapes-seed input").fill("12345")
    page.locator("#toyscapes-size label", has_text="256").click()
    page.locator("#toyscapes-render").click()
    page.wait_for_function(
        "([sel, old]) => { const s = document.querySelector(sel + ' img')?.getAttribute('src');"
        " return s && s !== old; }",
        arg=[image_sel, old_image],
        timeout=30_000,
    )
    # the size change also triggers a render; wait until the shown image is the 256 px seed-12345 one
    expected = toyscapes.render(12345, 0, size=256)
    page.wait_for_function(
        "([sel]) => { const i = document.querySelector(sel + ' img'); return i && i.naturalWidth === 256; }",
        arg=[image_sel],
        timeout=30_000,
    )
    new_image = page.evaluate(IMAGE_SRC_JS, image_sel)
    assert new_image != old_image
    assert page.evaluate(IMAGE_SRC_JS, labels_sel) != old_labels
    np.testing.assert_array_equal(_fetch_png(page, new_image), expected.image)
    legend = page.locator("#toyscapes-legend").inner_text()
    assert f"Scene: {expected.scene_name}" in legend and "256×256" in legend

    page.screenshot(path=str(artifacts_dir / "demo_toyscapes.png"), full_page=True)
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_bad_seed_shows_our_message_not_a_bare_error(app_url, browser_page, artifacts_dir):
    page, errors = browser_page.page, browser_page.errors
    page.goto(app_url)
    page.wait_for_selector("#toyscapes-image img", timeout=60_000)
    page.locator("#toyscapes-seed input").fill("-5")
    page.locator("#toyscapes-render").click()
    toast = page.locator("[data-testid=toast-text]").first
    toast.wait_for(state="visible", timeout=20_000)
    assert toast.inner_text().startswith("Seed must be a whole number between 0 and"), toast.inner_text()
    assert "got -5" in toast.inner_text()
    page.wait_for_timeout(500)  # the toast slides in; let it settle for the screenshot
    page.screenshot(path=str(artifacts_dir / "demo_toyscapes_error.png"), full_page=False)
    assert errors == [], f"JavaScript errors on the page: {errors}"
