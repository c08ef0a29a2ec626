"""Uploads from the user's computer in a real browser: Debian's Chromium, driven by Playwright.

A real ``jupyter lab`` (the installed labextension and the server extension) over a temporary
store. The browser makes its files itself (random bytes, hashed in the page with
``crypto.subtle``) and drops them on the Models section as a user's drag and drop does (a
``DataTransfer`` carried by ``dragenter``/``dragover``/``drop`` events), drops a folder from
disk through Chromium's own drag and drop (the DevTools protocol's ``Input.dispatchDragEvent``
with its path: the page walks it with ``webkitGetAsEntry``, as it does a folder dragged from
the desktop), or picks an archive and a folder from disk in the file dialogs. Checked through
the Shelf: a 30 MB file dropped becomes a version whose bytes hash the same; a picked archive
is extracted; a dropped or picked folder's files keep their paths under it; a chunk the
network drops is sent again; a cancelled upload leaves no version and no staged byte; a page
closed mid-upload leaves nothing once the upload's idle timeout (3 s here) has passed. The
upload is slowed down (Chromium's network emulation) so that it is still running when the
test cancels it, closes the page or takes the screenshots of it in progress (light and dark
theme).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_helpers import START_TIMEOUT, TOKEN, running_lab

from modelshelf import Shelf

pytestmark = pytest.mark.timeout(240)

SIZE = 30 * 2**20
IDLE_TIMEOUT = 3  # seconds without a chunk before the server drops an upload
UI_TIMEOUT_MS = 30_000
# Slow enough that a 30 MB upload takes about 10 s, so that it is caught in progress.
THROTTLED = 3 * 2**20

# Builds `size` random bytes in the page, hashes them, and drops them as one file on the
# element `selector`; answers the sha256 the page computed.
DROP_JS = """
async ({selector, name, size}) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65536, size)));
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, {type: 'application/octet-stream'}));
  const target = document.querySelector(selector);
  for (const type of ['dragenter', 'dragover', 'drop']) {
    target.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true,
                                              cancelable: true}));
  }
  return Array.from(digest, b => b.toString(16).padStart(2, '0')).join('');
}
"""


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Iterator[tuple[str, Path, Path]]:
    """A running ``jupyter lab`` over an empty store; yields (base URL, store, staging root)."""
    store, state, root = tmp_path / "store", tmp_path / "state", tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("MODELSHELF_STATE_DIR", str(state))
    monkeypatch.setenv("MODELSHELF_ROOT", str(store))
    with Shelf(str(store)) as shelf:  # the same staging root the server computes
        staging = Path(shelf.state_dir) / "uploads"
    args = (
        f"--UploadManager.idle_timeout={IDLE_TIMEOUT}",
        f"--UploadManager.chunk_size={2**20}",
        "--LabApp.expose_app_in_browser=True",  # to switch the theme from the test
    )
    with running_lab(tmp_path, store, root, *args) as base:
        yield base, store, staging


def _staged_bytes(staging: Path) -> int:
    return sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())


def _wait(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _models(store: Path) -> list[str]:
    with Shelf(str(store)) as shelf:
        return [m.name for m in shelf.list()]


def _throttle(context, page, upload_bytes_per_s: int) -> None:
    """Chromium's own network emulation (DevTools protocol): the upload really goes slower."""
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": upload_bytes_per_s})  # fmt: skip


def _open_lab(context):
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    return page


def _show_models(page, lab: str):
    page.goto(f"{lab}/lab?token={TOKEN}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=START_TIMEOUT * 1000)
    section = page.locator("#modelshelf-models-section")
    if not section.is_visible():  # a reload restores the sidebar as it was left
        page.click('.jp-SideBar [data-id="modelshelf-sidebar"]')
    section.wait_for()


def _drop(page, name: str, model: str, on: str = "#modelshelf-models-section",
          offered: str | None = None, size: int = SIZE) -> str:  # fmt: skip
    """Drop a fresh file on the element ``on`` and confirm the upload dialog as ``model``.

    The dialog offers the name ``offered``: by default the file's name without extension.
    """
    digest = page.evaluate(DROP_JS, {"selector": on, "name": name, "size": size})
    form = page.locator('.jp-Dialog [data-testid="modelshelf-upload-form"]')
    name_box = form.locator('[data-testid="modelshelf-upload-name"]')
    assert name_box.input_value() == (offered or name.rsplit(".", 1)[0])
    name_box.fill(model)
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Upload").click()
    return digest


def _uploading(page, name: str):
    """The progress notification of the upload of ``name`` (an earlier one may still be
    sliding out)."""
    return page.locator(".Toastify__toast", has_text=f"Uploading {name}")


def _pick_an_archive(page, tmp_path: Path, store: Path, staging: Path) -> None:
    """The "Models" menu's file dialog, given a .tar.gz from disk: its files are the version."""
    archive = tmp_path / "packed.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for member, data in (("model.pkl", b"pickled"), ("code/serve.py", b"def load(d): ...")):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    page.locator(".lm-MenuBar-itemLabel", has_text="Models").click()
    with page.expect_file_chooser() as chooser:
        page.locator(".lm-Menu-itemLabel", has_text="Upload files or an archive").click()
    chooser.value.set_files(str(archive))
    form = page.locator('.jp-Dialog [data-testid="modelshelf-upload-form"]')
    assert "extracted" in form.inner_text()
    form.locator('[data-testid="modelshelf-upload-name"]').fill("picked")
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Upload").click()
    page.locator('#modelshelf-sidebar [data-model="picked"]').wait_for()
    with Shelf(str(store)) as shelf:
        assert sorted(f.path for f in shelf.show("picked:1").files) == ["code/serve.py",
                                                                         "model.pkl"]  # fmt: skip
    _wait(lambda: _staged_bytes(staging) == 0 and not any(staging.iterdir()), "staging emptied")


# Files dragged over the section (not dropped): it shows itself as a drop target.
DRAG_OVER_JS = """
(selector) => {
  const data = new DataTransfer();
  data.items.add(new File(['x'], 'weights.bin'));
  document.querySelector(selector).dispatchEvent(
    new DragEvent('dragenter', {dataTransfer: data, bubbles: true, cancelable: true}));
}
"""


def _pick_a_folder(page, tmp_path: Path, store: Path) -> None:
    """The folder dialog: the files keep their paths under the folder, named after it."""
    folder = tmp_path / "my-folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    (folder / "sub" / "config.json").write_text('{"layers": 2}')
    page.locator(".lm-MenuBar-itemLabel", has_text="Models").click()
    with page.expect_file_chooser() as chooser:
        page.locator(".lm-Menu-itemLabel", has_text="Upload a folder").click()
    chooser.value.set_files(str(folder))
    form = page.locator('.jp-Dialog [data-testid="modelshelf-upload-form"]')
    assert form.locator('[data-testid="modelshelf-upload-name"]').input_value() == "my-folder"
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Upload").click()
    page.locator('#modelshelf-sidebar [data-model="my-folder"]').wait_for()
    with Shelf(str(store)) as shelf:
        files = {f.path: f.size for f in shelf.show("my-folder:1").files}
    assert files == {"weights.bin": 1000, "sub/config.json": 13}


def _drop_a_folder(context, page, tmp_path: Path, store: Path) -> None:
    """A folder from disk dropped on the Models section, as from the desktop: walked in the
    page (with more files in one sub-folder than Chromium's readEntries gives at once), its
    files keep their paths under it, and the dialog offers its name."""
    folder = tmp_path / "dropped-folder"
    (folder / "shards").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 2}')
    shards = {f"shards/{i:03d}.bin": bytes([i]) * (i + 1) for i in range(130)}
    for relpath, data in shards.items():
        (folder / relpath).write_bytes(data)
    box = page.locator("#modelshelf-models-section").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = context.new_cdp_session(page)
    dragged = {"items": [], "files": [str(folder)], "dragOperationsMask": 1}  # 1: copy
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": dragged})
    cdp.detach()
    form = page.locator('.jp-Dialog [data-testid="modelshelf-upload-form"]')
    assert form.locator('[data-testid="modelshelf-upload-name"]').input_value() == "dropped-folder"
    assert "Upload 131 files" in form.inner_text()
    page.locator(".jp-Dialog .jp-mod-accept", has_text="Upload").click()
    page.locator('#modelshelf-sidebar [data-model="dropped-folder"]').wait_for()
    with Shelf(str(store)) as shelf:
        files = {f.path: f.size for f in shelf.show("dropped-folder:1").files}
        with shelf.open("dropped-folder:1", "shards/129.bin") as stored:
            assert stored.read() == shards["shards/129.bin"]
    assert files == {"config.json": 13, **{p: len(d) for p, d in shards.items()}}


def _resume_after_a_lost_chunk(page, store: Path) -> None:
    """A chunk the network drops is sent again, from where the server says it is."""
    lost: list[str] = []

    def lose_the_first(route) -> None:
        if not lost and route.request.method == "PUT":
            lost.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    chunks = "**/modelshelf/api/uploads/*/files/*"
    page.route(chunks, lose_the_first)
    digest = _drop(page, "resumed.bin", "resumed", size=3 * 2**20 + 5)
    page.locator('#modelshelf-sidebar [data-model="resumed"]').wait_for()
    page.unroute(chunks)
    assert len(lost) == 1 and "offset=0" in lost[0], lost
    with Shelf(str(store)) as shelf:
        (entry,) = shelf.show("resumed:1").files
        assert entry.size == 3 * 2**20 + 5
        assert _stored_sha256(shelf, "resumed:1", "resumed.bin") == digest


def _stored_sha256(shelf: Shelf, ref: str, path: str) -> str:
    """The sha256 of a stored file's bytes, whatever digest the store keys its blobs by."""
    hasher = hashlib.sha256()
    with shelf.open(ref, path) as fh:
        while chunk := fh.read(2**20):
            hasher.update(chunk)
    return hasher.hexdigest()


def _drop_30_mb(page, store: Path, staging: Path, shots: Path) -> None:
    """A 30 MB file dropped on the Models section becomes a version with the same bytes."""
    page.evaluate(DRAG_OVER_JS, "#modelshelf-models-section")
    page.locator("#modelshelf-models-section.jp-modelshelf-mod-dropTarget").wait_for()
    page.screenshot(path=str(shots / "upload-0-drop-target.png"))
    digest = _drop(page, "weights.bin", "dropped")
    # The drop ended the drag: the section is no longer marked as a target.
    assert page.locator("#modelshelf-models-section.jp-modelshelf-mod-dropTarget").count() == 0
    toast = _uploading(page, "weights.bin")
    toast.wait_for()
    _wait(lambda: _staged_bytes(staging) > 0, "the first chunk on the server")
    page.screenshot(path=str(shots / "upload-1-in-progress-light.png"))
    page.locator('#modelshelf-sidebar [data-model="dropped"]').wait_for(timeout=120_000)
    with Shelf(str(store)) as shelf:
        (entry,) = shelf.show("dropped:1").files
        assert (entry.path, entry.size) == ("weights.bin", SIZE)
        # The stored bytes are the browser's (it hashed them with SHA-256, as browsers can).
        assert _stored_sha256(shelf, "dropped:1", "weights.bin") == digest
    _wait(lambda: not any(staging.iterdir()), "staging emptied after the commit")


def _cancel(page, store: Path, staging: Path, shots: Path) -> None:
    """Cancel in the progress notification: no version, no staged byte."""
    page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    page.locator("body[data-jp-theme-name='JupyterLab Dark']").wait_for(state="attached")
    # Dropped on a model's row, the dialog offers that model (a new version of it).
    _drop(page, "cancelled.bin", "cancelled", on='[data-model="dropped"]', offered="dropped")
    toast = _uploading(page, "cancelled.bin")
    toast.wait_for()
    _wait(lambda: _staged_bytes(staging) > 0, "the first chunk on the server")
    page.screenshot(path=str(shots / "upload-2-in-progress-dark.png"))
    # Cancel deletes the upload on the server at once (not by expiry, IDLE_TIMEOUT later).
    with page.expect_response(lambda r: r.request.method == "DELETE" and "/uploads/" in r.url) \
            as deleted:  # fmt: skip
        toast.locator(".jp-toast-button", has_text="Cancel").click()
    assert deleted.value.status == 200, deleted.value.text()
    assert not any(staging.iterdir()), list(staging.rglob("*"))
    page.locator(".Toastify__toast", has_text="nothing was kept").wait_for()
    assert "cancelled" not in _models(store)
    page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )


def _close_mid_upload(context, lab: str, store: Path, staging: Path) -> None:
    """A page closed mid-upload: after the idle timeout, no version and no staged byte."""
    page = _open_lab(context)
    _throttle(context, page, THROTTLED)
    _show_models(page, lab)
    _drop(page, "abandoned.bin", "abandoned")
    _uploading(page, "abandoned.bin").wait_for()
    _wait(lambda: _staged_bytes(staging) > 0, "the first chunk on the server")
    page.close()
    assert any(staging.iterdir()), "the upload should still be staged right after the close"
    _wait(lambda: not any(staging.iterdir()), "the abandoned upload to expire",
          timeout=IDLE_TIMEOUT * 5)  # fmt: skip
    assert "abandoned" not in _models(store)


def test_uploads_from_this_computer(lab, browser, shots, tmp_path):
    base, store, staging = lab
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = _open_lab(context)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _show_models(page, base)

    _pick_an_archive(page, tmp_path, store, staging)
    _pick_a_folder(page, tmp_path, store)
    _drop_a_folder(context, page, tmp_path, store)
    _resume_after_a_lost_chunk(page, store)
    _throttle(context, page, THROTTLED)
    _drop_30_mb(page, store, staging, shots)
    _cancel(page, store, staging, shots)
    assert not [e for e in errors if "modelshelf" in e.lower()], errors
    page.close()
    _close_mid_upload(context, base, store, staging)
    assert sorted(_models(store)) == ["dropped", "dropped-folder", "my-folder", "picked",
                                      "resumed"]  # fmt: skip
    context.close()
