"""Demo tests, level 3: the full app in a real headless Chromium, used as a person would.

Needs Debian's Chromium (``apt-get install -y chromium``) and Playwright; without Chromium the test fails with
that command, unless SYNTHKIT_SKIP_BROWSER=1. Screenshots go to ``test-artifacts/``: look at them.
"""
from __future__ import annotations


import numpy as np
import pytest
from conftest import wait_until_still

pytestmark = pytest.mark.browser

IMAGE_SRC_JS = "sel => document.querySelector(sel + ' img')?.getAttribute('src') ?? null"
# true once the output's <img> shows another picture than ``old``: arg=[selector, old src]
SRC_CHANGED_JS = ("([sel, old]) => { const s = document.querySelector(sel + ' img')?.getAttribute('src');"
                  " return s && s !== old; }")


@pytest.fixture(scope="module")
def app_url(launch_blocks):
    from demos import app
    from demos.common import launch_kwargs

    demo = app.build_demo()
    url = launch_blocks(demo, **launch_kwargs())  # the real theme and CSS, as `synthkit demo` serves it
    yield url
    demo.close()


def test_toyscapes_tab_renders_a_new_sample(app_url, browser_page, artifacts_dir, shown_png):
    from synthkit.data import toyscapes

    page, errors = browser_page.page, browser_page.errors
    page.goto(app_url)
    # Not "networkidle": the full app holds a session heartbeat open (the SMIS tab keeps per-session state).
    page.wait_for_selector("#toyscapes-image img", timeout=60_000)
    assert "synthkit" in page.title()

    tab = page.locator("button[role=tab]", has_text="Toyscapes")
    tab.click()
    image_sel, labels_sel = "#toyscapes-image", "#toyscapes-labels"
    page.wait_for_selector(f"{image_sel} img")
    old_image = page.evaluate(IMAGE_SRC_JS, image_sel)
    old_labels = page.evaluate(IMAGE_SRC_JS, labels_sel)
    assert old_image and old_labels
    np.testing.assert_array_equal(shown_png(page, old_image), toyscapes.render(0, 0, size=128).image)

    # a user types a seed, picks 256 px and presses Render
    page.locator("#toyscapes-seed input").fill("12345")
    page.locator("#toyscapes-size label", has_text="256").click()
    page.locator("#toyscapes-render").click()
    page.wait_for_function(SRC_CHANGED_JS, arg=[image_sel, old_image], timeout=30_000)
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
    np.testing.assert_array_equal(shown_png(page, new_image), expected.image)
    # the render came inline in the direct call's answer (demos.common.inline_images), not as a file to fetch
    assert new_image.startswith("data:image/png;base64,"), new_image[:80]
    # and the page kept no run history (demos.common.launch_kwargs: Gradio's own key prefix)
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('gradio:run-history:'))") == []
    legend = page.locator("#toyscapes-legend").inner_text()
    assert f"Scene: {expected.scene_name}" in legend and "256×256" in legend

    page.screenshot(path=str(artifacts_dir / "demo_toyscapes.png"), full_page=True)
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_editors_stay_quiet_during_other_tabs_events(app_url, browser_page):
    """Gradio 6.31 re-exports and uploads an ImageEditor at every status change of any later event once the editor
    has been an event's input (about 15 uploads per Render in another tab: seconds of waiting on a busy server,
    and files that pile up in Gradio's cache). demos.common.editor_event keeps the editors out of those: after
    regenerating an inpainting region (the editor read once) and picking an example (the editor written), a
    Toyscapes render sends no upload, and the inpainting itself uploads the editor's value once (<= 3 files), the
    first time only: a second Regenerate with the editor untouched uploads nothing."""
    from conftest import PageNetwork, wait_until_settled

    page, errors = browser_page.page, browser_page.errors
    net = PageNetwork(page)
    page.goto(app_url)
    page.wait_for_selector("#toyscapes-image img", timeout=60_000)
    page.locator("button[role=tab]", has_text="Inpainting").click()
    page.wait_for_selector("#pyramid-result img", timeout=30_000)
    wait_until_settled(page, net, "pyramid-editor")

    for round_ in range(2):
        before, old = net.uploads(), page.evaluate(IMAGE_SRC_JS, "#pyramid-result")
        page.locator("#pyramid-seed input").fill(str(11 + round_))
        page.locator("#pyramid-run").click()
        page.wait_for_function(SRC_CHANGED_JS, arg=["#pyramid-result", old], timeout=30_000)
        wait_until_settled(page, net, "pyramid-result")
        # the first copies the editor into its twin (3 files at most), the second has nothing new to copy
        most = 3 if round_ == 0 else 0
        made = net.uploads() - before
        assert made <= most, f"Regenerate {round_} uploaded {made} files: {net.log[-20:]}"
    page.locator("#pyramid-example input").click()
    page.locator("#pyramid-example [role=option]").nth(1).click()
    wait_until_settled(page, net, "pyramid-example")

    page.locator("button[role=tab]", has_text="Toyscapes").click()
    for seed in (4, 5, 6):
        before, old = net.uploads(), page.evaluate(IMAGE_SRC_JS, "#toyscapes-image")
        page.locator("#toyscapes-seed input").fill(str(seed))
        page.locator("#toyscapes-render").click()
        page.wait_for_function(SRC_CHANGED_JS, arg=["#toyscapes-image", old], timeout=30_000)
        wait_until_settled(page, net, "toyscapes-image")
        assert net.uploads() == before, f"a Toyscapes render made {net.uploads() - before} uploads: {net.log[-20:]}"
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
    wait_until_still(toast)  # the toast slides in: screenshot it at rest
    page.screenshot(path=str(artifacts_dir / "demo_toyscapes_error.png"), full_page=False)
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_every_tab_title_is_visible_on_a_laptop_screen(app_url, browser_page):
    """Gradio hides tabs that do not fit behind a "More tabs" menu; at 1280 px none may be hidden there."""
    from demos.app import TABS

    page = browser_page.page
    page.goto(app_url)
    page.wait_for_selector("#toyscapes-image img", timeout=60_000)
    visible = page.locator("[role=tablist] button[role=tab]").all_inner_texts()
    assert visible == [title for title, _ in TABS], f"tabs shown in the bar: {visible}"
    hidden = page.locator(".overflow-dropdown button").all_inner_texts()
    assert hidden == [], f"tabs hidden behind 'More tabs': {hidden}"


def _embed_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "embed" and t.is_alive()]


def _open_embed_tab(page, app_url: str) -> None:
    page.goto(app_url)
    page.wait_for_selector("#toyscapes-image img", timeout=60_000)
    page.locator("button[role=tab]", has_text="Embed & edit").click()
    page.wait_for_selector("#embed-run", state="visible")


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab")  # Gradio's Number commits on blur


def test_embed_tab_streams_then_shows_the_reconstruction(app_url, browser_page, artifacts_dir, shown_png):
    page, errors = browser_page.page, browser_page.errors
    _open_embed_tab(page, app_url)
    _set_number(page, "W+ steps", 30)
    _set_number(page, "noise steps", 20)
    page.locator("#embed-run").click()
    status = page.locator("#embed-status")
    page.wait_for_function("() => document.querySelector('#embed-status')?.innerText.includes('Done')",
                           timeout=120_000)
    text = status.inner_text()
    assert "PSNR" in text and "dB" in text, text
    src = page.evaluate(IMAGE_SRC_JS, "#embed-result")
    assert src, "no result image shown"
    shown = shown_png(page, src)
    assert shown.shape[0] >= 128 and shown.std() > 5, "the result is blank"
    page.screenshot(path=str(artifacts_dir / "demo_embed.png"), full_page=True)
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_embed_stop_button_stops_the_server_side_embedding(app_url, browser_page, artifacts_dir):
    page, errors = browser_page.page, browser_page.errors
    _open_embed_tab(page, app_url)
    assert _embed_threads() == [], "an embedding from an earlier test is still running"
    _set_number(page, "W+ steps", 5000)
    _set_number(page, "noise steps", 0)
    page.locator("#embed-run").click()
    page.wait_for_function("() => document.querySelector('#embed-status')?.innerText.includes('Embedding')",
                           timeout=60_000)
    assert len(_embed_threads()) == 1, "the embedding runs in the server's 'embed' worker thread"
    page.locator("#embed-stop").click()
    deadline = page.evaluate("() => Date.now()") + 20_000
    while _embed_threads() and page.evaluate("() => Date.now()") < deadline:
        page.wait_for_timeout(100)
    assert _embed_threads() == [], "Stop in the page did not stop the embedding on the server"
    # the app is usable again: a short run after the stop completes
    _set_number(page, "W+ steps", 10)
    page.locator("#embed-run").click()
    page.wait_for_function("() => document.querySelector('#embed-status')?.innerText.includes('Done')",
                           timeout=120_000)
    page.screenshot(path=str(artifacts_dir / "demo_embed_after_stop.png"), full_page=True)
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_an_editor_whose_copy_gets_no_answer_ends_in_our_message_and_the_next_click_works(launch_blocks, browser_page,
                                                                                          monkeypatch):
    """demos.common.editor_event: when the page cannot copy an edited editor into its twin (its uploads hang: a
    dead connection), the event does not run on a stale twin and the page says why, after
    EDITOR_COPY_TIMEOUT_MS; once uploads go through again, the next click copies and runs."""
    import gradio as gr

    from demos import common

    monkeypatch.setattr(common, "EDITOR_COPY_TIMEOUT_MS", 2_000)
    runs = []

    @common.user_errors
    def count(editor, n):
        runs.append(editor is not None and editor.get("background") is not None)
        return np.full((8, 8, 3), len(runs) * 20, np.uint8)

    background = np.zeros((64, 64, 3), np.uint8)
    with common.AppBlocks() as demo:
        editor = gr.ImageEditor({"background": background, "layers": [], "composite": background}, type="numpy",
                                elem_id="stalled-editor")
        number = gr.Number(1, elem_id="stalled-n")
        go = gr.Button("Go", elem_id="stalled-go")
        out = gr.Image(format="png", elem_id="stalled-out")
        common.editor_event(go.click, count, [editor, number], [out], api_name="count")
    url = launch_blocks(demo, **common.launch_kwargs())
    page = browser_page.page
    page.goto(url)
    page.wait_for_load_state("networkidle")
    hung = []
    page.route("**/gradio_api/upload*", lambda route: hung.append(route))  # never answered
    page.locator("#stalled-go").click()
    toast = page.locator(".toast-body", has_text="could not send your picture")
    toast.first.wait_for(state="visible", timeout=20_000)
    assert "within 2 s" in toast.first.inner_text() and hung and runs == []
    page.unroute("**/gradio_api/upload*")
    page.locator("#stalled-n input").fill("2")
    page.locator("#stalled-go").click()
    page.wait_for_selector("#stalled-out img", timeout=20_000)
    assert runs == [True]
    assert browser_page.errors == [], browser_page.errors
    demo.close()
