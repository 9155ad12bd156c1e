"""The demo served on 127.0.0.1 and driven like a user: headless system Chromium through Selenium, and
``gradio_client`` against the same app.

The browser test uploads an example mesh, types a prompt, sets 2 sampler steps, presses Animate and
checks the result: the viewer (Gradio's Model3D, Babylon.js) shows the GLB and plays its morph-target
animation (screenshots of its canvas change from frame to frame; a static GLB's do not), the viewer's
link and the Download GLB button both serve a valid GLB, and an upload over the vertex limit is a
message in the page after which the app still works. Its screenshot is a test artefact
(``tmp_path/demo.png``); with ``MESHFLOW_DEMO_SCREENSHOT=PATH`` it is also copied to PATH (CI keeps it).
"""
import io
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pygltflib
import pytest

from meshflow.demo import Demo, DemoConfig, handlers
from tests.demo.conftest import free_port

gr = pytest.importorskip("gradio", reason="the demo extra is not installed (pip install meshflow[demo])")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FISH = handlers.EXAMPLE_DIR / "fish.glb"  # 782 vertices: under the served app's limit
QUADRUPED = handlers.EXAMPLE_DIR / "quadruped.glb"  # 1006 vertices: over it
MAX_VERTICES = 1000
# Gradio's queue calls pandas in ways pandas 3 deprecates: nothing this project can change.
pytestmark = [pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    """``(url, demo)``: the app on a free port of 127.0.0.1 over the tiny model, closed after the module."""
    ui = pytest.importorskip("meshflow.demo.ui")
    folder = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GRADIO_TEMP_DIR", raising=False)  # build_app sets it for the app: put it back afterwards
        config = DemoConfig(model=str(tiny_model_dir), device="cpu", port=free_port(), temp_dir=str(folder),
                            max_vertices=MAX_VERTICES)
        demo = Demo(config)
        # Gradio read $GRADIO_TEMP_DIR when this process imported it, before any app: in a fresh process
        # load_ui(demo) points it at demo.root; here the server's own files are sent there by hand.
        mp.setattr("gradio.routes.DEFAULT_TEMP_DIR", str(demo.root), raising=False)
        app, demo, url = ui.launch(demo=demo, block=False)
        try:
            yield url, demo
        finally:
            app.close()
            demo.close()
    assert os.listdir(folder) == []  # the app's folder, uploads and Gradio's cache included, is gone


def check_glb(data: bytes) -> pygltflib.GLTF2:
    """``data`` parsed as a GLB with one animation and a morph target per frame on every primitive."""
    assert data[:4] == b"glTF", data[:16]
    gltf = pygltflib.GLTF2.load_from_bytes(data)
    assert len(gltf.animations) == 1 and gltf.meshes
    assert all(len(p.targets) >= 2 for m in gltf.meshes for p in m.primitives)
    return gltf


def test_gradio_client_round_trip(served, tmp_path, monkeypatch):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, demo = served
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the client leaves an empty folder per download
    client = Client(url, download_files=str(tmp_path), verbose=False)
    glb, gif, summary, glb_file, npz_file = client.predict(
        handle_file(str(FISH)), "plant", "the fish swims", 5, 2, 3.0, None, True, 1, api_name="/animate")
    check_glb(Path(glb).read_bytes())
    assert Path(glb).read_bytes() == Path(glb_file).read_bytes()
    assert np.load(npz_file)["vertices"].shape == (8, 782, 3)  # the upload (fish) won over the example (plant)
    assert Path(gif).read_bytes()[:3] == b"GIF"
    assert "'the fish swims'" in summary and "2 steps" in summary and "seed 5" in summary
    with pytest.raises(AppError, match=r"Value 1 is less than minimum value 2"):  # Gradio's own slider check
        client.predict(None, "fish", "x", 0, 1, 3.0, None, True, 1, api_name="/animate")
    with pytest.raises(AppError, match=r"quadruped.glb: Expected a mesh of at most 1000 vertices \(got 1006"):
        client.predict(None, "quadruped", "x", 0, 2, 3.0, None, True, 1, api_name="/animate")
    _, _, summary, _, _ = client.predict(None, "fish", "", 0, 2, 3.0, 4, False, 1, api_name="/animate")
    assert "(empty: unconditional)" in summary  # the app kept running


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Chromium and its driver on PATH (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install meshflow[demo])")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):  # WebGL in software
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    # Chromium's own temporary files (it leaves a folder per run), in a short path: its sockets live there
    scratch = tempfile.mkdtemp(prefix="mf-chromium-")
    service = Service(CHROMEDRIVER, env={**os.environ, "TMPDIR": scratch})
    try:
        driver = webdriver.Chrome(service=service, options=options)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def wait_for(condition, timeout: float = 120.0, what: str = "the page"):
    """``condition()``'s first truthy value, polled every 0.2 s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def uploaded(driver, name: str) -> bool:
    """Whether the mesh input holds the uploaded file ``name`` (it links to the server's copy)."""
    from selenium.webdriver.common.by import By

    links = driver.find_elements(By.CSS_SELECTOR, "#mesh-upload a[data-testid='download-link']")
    return any((a.get_attribute("href") or "").endswith("/" + name) for a in links)


def canvas_frames(canvas, count: int = 8, interval: float = 0.15):
    from PIL import Image

    frames = []
    for _ in range(count):
        frames.append(np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("L"), dtype=np.int16))
        time.sleep(interval)
    return frames


def test_browser_animates_an_uploaded_example(served, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, demo = served
    d = browser
    d.get(url)
    upload = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#mesh-upload input[type=file]"), what="the upload")

    # An upload over the vertex limit: a message in the page, no result.
    upload[0].send_keys(str(QUADRUPED))
    wait_for(lambda: uploaded(d, "quadruped.glb"), what="the upload to finish")
    d.find_element(By.ID, "animate").click()
    wait_for(lambda: "at most 1000 vertices (got 1006" in d.find_element(By.TAG_NAME, "body").text,
             what="the vertex-limit message")
    assert "tokens" not in d.find_element(By.ID, "summary").text

    # The example mesh under the limit, a prompt, 2 sampler steps.
    d.find_element(By.CSS_SELECTOR, "#mesh-upload button[aria-label='Clear']").click()
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#mesh-upload input[type=file]"))[0].send_keys(str(FISH))
    wait_for(lambda: uploaded(d, "fish.glb"), what="the second upload")
    d.find_element(By.CSS_SELECTOR, "#prompt textarea").send_keys("the fish swims forward")
    steps = d.find_element(By.CSS_SELECTOR, "#steps input[type=number]")
    steps.send_keys(Keys.CONTROL, "a")
    steps.send_keys("2", Keys.TAB)
    d.find_element(By.ID, "animate").click()
    summary = wait_for(lambda: (lambda t: "tokens" in t and t)(d.find_element(By.ID, "summary").text),
                       what="the result")
    assert "fish.glb (782 vertices" in summary and "2 steps" in summary and "the fish swims forward" in summary

    # The viewer shows the GLB, and its link serves it.
    link = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#viewer a[data-testid='model3d-download-link']"),
                    what="the viewer's GLB")[0].get_attribute("href")
    assert link.endswith("/fish.glb")
    served_glb = urllib.request.urlopen(link, timeout=30).read()
    check_glb(served_glb)

    # It plays: once the mesh is drawn, the canvas changes from one screenshot to the next.
    canvas = d.find_element(By.CSS_SELECTOR, "#viewer canvas")
    wait_for(lambda: (canvas_frames(canvas, 1)[0] < 200).mean() > 0.005, what="the mesh in the viewer")
    time.sleep(1.0)
    frames = canvas_frames(canvas)
    changes = [float(np.abs(b - a).mean()) for a, b in zip(frames, frames[1:])]
    assert sum(c > 0.05 for c in changes) >= 3, f"the viewer does not animate: {changes}"
    print("canvas changes", changes)

    # The Download GLB button downloads the same file.
    d.find_element(By.ID, "download-glb").click()
    downloads = tmp_path / "downloads"
    got = wait_for(lambda: [p for p in downloads.glob("*.glb")] if downloads.exists() and not list(
        downloads.glob("*.crdownload")) else None, what="the GLB download")
    assert got[0].name == "fish.glb" and got[0].read_bytes() == served_glb

    d.execute_script("window.scrollTo(0, 0)")
    d.set_window_size(1400, min(2400, d.execute_script("return document.body.scrollHeight") + 140))
    time.sleep(0.5)
    d.save_screenshot(str(tmp_path / "demo.png"))
    if os.environ.get("MESHFLOW_DEMO_SCREENSHOT"):
        shutil.copyfile(tmp_path / "demo.png", os.environ["MESHFLOW_DEMO_SCREENSHOT"])
    assert (tmp_path / "demo.png").stat().st_size > 10_000
