"""REST over the store, against a real Jupyter server with the extension loaded."""

from __future__ import annotations

import json
import threading

import pytest

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def churn(shelf, model_folder):
    """Two versions of 'churn' (the second with other params and one changed file)."""
    first = shelf.save("churn", model_folder, params={"C": 1.0}, metrics={"auc": 0.8},
                       tags=["tabular"])  # fmt: skip
    (model_folder / "weights.bin").write_bytes(b"new weights")
    second = shelf.save("churn", model_folder, params={"C": 2.0}, metrics={"auc": 0.9},
                        tags=["tabular", "prod"], parent=first.ref)  # fmt: skip
    return first, second


async def test_list_searches_by_name_and_tag_and_pages(api, shelf, churn, model_folder):
    for name in ("alpha", "beta", "Gamma-churn"):
        shelf.save(name, model_folder)
    status, page = await api("GET", "models")
    assert status == 200
    assert [m["name"] for m in page["models"]] == ["alpha", "beta", "churn", "Gamma-churn"]
    churn_row = page["models"][2]
    assert churn_row["latest"] == 2 and churn_row["versions"] == 2
    assert churn_row["tags"] == ["tabular", "prod"]
    _, found = await api("GET", "models", params={"q": "CHURN"})
    assert [m["name"] for m in found["models"]] == ["churn", "Gamma-churn"]
    _, tagged = await api("GET", "models", params={"tag": "prod"})
    assert [m["name"] for m in tagged["models"]] == ["churn"] and tagged["total"] == 1
    _, second_page = await api("GET", "models", params={"offset": "1", "limit": "2"})
    assert [m["name"] for m in second_page["models"]] == ["beta", "churn"]
    assert second_page["total"] == 4
    status, error = await api("GET", "models", params={"limit": "0"})
    assert status == 400 and "limit" in error["message"]


async def test_versions_and_one_version_with_lineage(api, churn):
    status, listing = await api("GET", "models", "churn")
    assert status == 200
    assert [v["version"] for v in listing["versions"]] == [1, 2]
    assert listing["versions"][1]["params"] == {"C": 2.0}
    status, manifest = await api("GET", "models", "churn", "versions", "2")
    assert status == 200
    assert manifest["parent"] == "churn:1"
    assert manifest["metrics"] == {"auc": 0.9}
    assert sorted(f["path"] for f in manifest["files"]) == ["sub/config.json", "weights.bin"]
    assert manifest["evaluations"] == []


async def test_a_version_answers_with_its_evaluation_records(api, shelf, churn):
    scored = shelf.evaluate("churn:1", 0.81, data="s3://b/eval", data_hash="cd" * 32, job="j7")
    status, manifest = await api("GET", "models", "churn", "versions", "1")
    assert status == 200
    assert manifest["evaluations"] == [
        {"score": 0.81, "data": "s3://b/eval", "data_hash": "cd" * 32,
         "created": scored.created, "job": "j7", "pipeline": "evaluate"}
    ]  # fmt: skip
    _, other = await api("GET", "models", "churn", "versions", "2")
    assert other["evaluations"] == []
    # The versions listing carries them too (one listing of the model's records), so the
    # model page draws every version's scores without a request per version.
    shelf.evaluate("churn:1", 0.85, pipeline="full")
    _, listing = await api("GET", "models", "churn")
    first, second = listing["versions"]
    assert [e["score"] for e in first["evaluations"]] == [0.81, 0.85]
    assert second["evaluations"] == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (("models", "nope"), 404),
        (("models", "churn", "versions", "7"), 404),
        (("models", "churn", "versions", "0"), 400),
        (("models", "churn", "versions", "two"), 400),
        (("models", "churn", "versions", "1", "files", "missing.txt"), 404),
        (("jobs", "20990101-000000-abcdef"), 404),
        (("deployments", "nothing-here"), 404),
        (("tasks", "0123456789abcdef"), 404),
    ],
)
async def test_unknown_things_are_404_and_malformed_ones_400(api, churn, path, status):
    code, error = await api("GET", *path)
    assert code == status
    assert error["message"]


async def test_download_one_file(api, churn, model_folder):
    status, content = await api("GET", "models", "churn", "versions", "1", "files", "sub",
                                "config.json")  # fmt: skip
    assert status == 200 and content == b'{"layers": 2}'
    status, content = await api("GET", "models", "churn", "versions", "2", "files", "weights.bin")
    assert status == 200 and content == b"new weights"


TRAVERSALS = [
    "../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "sub/..%2f..%2f..%2fetc%2fpasswd",
    "%2Fetc%2Fpasswd",
    "..%5c..%5cetc%5cpasswd",
    "sub/config.json%00.txt",
    "sub/./config.json",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_file_paths_cannot_leave_the_model(raw_fetch, churn, path):
    status, body = await raw_fetch(f"models/churn/versions/1/files/{path}")
    assert status in (400, 404), body
    assert b"root:" not in body


@pytest.mark.parametrize(
    "name", ["..", "..%2F..%2Fetc", "%2e%2e", "%252e%252e", "a%2Fb", "%00", "-leading-dash"]
)
async def test_model_names_in_paths_are_checked(raw_fetch, churn, name):
    status, _ = await raw_fetch(f"models/{name}")
    assert status in (400, 404)


async def test_save_from_a_server_folder_is_a_task_with_progress(api, jp_root_dir, wait_for):
    folder = jp_root_dir / "outputs" / "run1"
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(b"x" * 4096)
    status, task = await api("POST", "models", body={
        "name": "from-root", "source": "outputs/run1", "params": {"k": 3},
        "tags": ["ui"], "message": "saved from JupyterLab"})  # fmt: skip
    assert status == 202 and task["kind"] == "save" and task["status"] == "running"
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "succeeded", task
    assert task["result"]["name"] == "from-root" and task["result"]["version"] == 1
    assert task["progress"]["total_bytes"] == 4096
    _, manifest = await api("GET", "models", "from-root", "versions", "1")
    assert manifest["params"] == {"k": 3} and manifest["message"] == "saved from JupyterLab"
    _, tasks = await api("GET", "tasks")
    assert tasks["tasks"][0]["id"] == task["id"]


async def test_save_from_an_allowed_absolute_root(api, shelf, model_folder, wait_for,
                                                  jp_serverapp):  # fmt: skip
    jp_serverapp.web_app.settings["modelshelf"].source_roots = [str(model_folder)]
    _, task = await api("POST", "models", body={"name": "abs", "source": str(model_folder)})
    task = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert task["status"] == "succeeded", task
    assert shelf.show("abs:1").file_count == 2


@pytest.mark.parametrize(
    "source",
    ["/etc", "../outside", "file:///etc", "simplecache::file:///etc", "memory://x",
     "outputs/../../outside", "C:\\Windows"],
)  # fmt: skip
async def test_save_refuses_sources_outside_the_allowed_roots(api, source, shelf):
    status, error = await api("POST", "models", body={"name": "evil", "source": source})
    assert status == 400, error
    assert shelf.list() == []


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (json.dumps({"source": "x"}).encode(), "name"),
        (json.dumps({"name": "x", "source": "y", "colour": "red"}).encode(), "colour"),
        (json.dumps({"name": "x", "source": "y", "tags": "a,b"}).encode(), "tags"),
        (b"", "not valid JSON"),
    ],
)
async def test_bad_bodies_are_400_with_the_reason(api, raw, fragment):
    status, error = await api("POST", "models", raw=raw)
    assert status == 400
    assert fragment in error["message"]


async def test_bad_model_name_is_400(api, jp_root_dir):
    status, error = await api("POST", "models", body={"name": "../x", "source": "."})
    assert status == 400 and "name" in error["message"]


async def test_aliases_set_list_move_and_remove(api, churn):
    status, move = await api("PUT", "models", "churn", "aliases", "production",
                             body={"version": 1})  # fmt: skip
    assert status == 200 and move["version"] == 1
    _, aliases = await api("GET", "models", "churn", "aliases")
    assert aliases["aliases"] == {"production": 1}
    await api("PUT", "models", "churn", "aliases", "production", body={"version": 2})
    _, listing = await api("GET", "models", "churn")
    assert listing["versions"][1]["aliases"] == ["production"]
    status, move = await api("DELETE", "models", "churn", "aliases", "production")
    assert status == 200 and move["version"] is None
    status, _ = await api("PUT", "models", "churn", "aliases", "production", body={"version": 9})
    assert status == 404
    status, _ = await api("PUT", "models", "churn", "aliases", "bad alias", body={"version": 1})
    assert status == 400


async def test_diff_two_versions(api, churn):
    status, diff = await api("GET", "diff", params={"a": "churn:1", "b": "churn:2"})
    assert status == 200
    assert diff["changed"] == ["weights.bin"] and diff["params"]["C"] == {"a": 1.0, "b": 2.0}
    status, error = await api("GET", "diff", params={"a": "churn:1"})
    assert status == 400 and "?a=" in error["message"]


async def test_delete_is_refused_with_the_holders_while_leased(api, shelf, churn):
    lease = shelf.lease("churn:1", owner="deployment churn-prod")
    status, error = await api("DELETE", "models", "churn", "versions", "1")
    assert status == 409
    assert error["holders"] == ["deployment churn-prod"]
    assert "in use" in error["message"]
    shelf.leases.release(lease)
    status, deleted = await api("DELETE", "models", "churn", "versions", "1")
    assert status == 200 and deleted["version"] == 1
    status, _ = await api("GET", "models", "churn", "versions", "1")
    assert status == 404


async def test_a_slow_save_never_blocks_the_server(api, shelf, jp_root_dir, wait_for, monkeypatch):
    (jp_root_dir / "big").mkdir()
    (jp_root_dir / "big" / "weights.bin").write_bytes(b"w" * 1000)
    release, real_save = threading.Event(), shelf.save

    def slow_save(*args, **kwargs):
        assert release.wait(60), "the test never released the save"
        return real_save(*args, **kwargs)

    monkeypatch.setattr(shelf, "save", slow_save)
    status, task = await api("POST", "models", body={"name": "big", "source": "big"})
    assert status == 202
    # While the save is stuck in its thread, the server answers other requests.
    status, page = await api("GET", "models")
    assert status == 200 and page["total"] == 0
    _, still = await api("GET", "tasks", task["id"])
    assert still["status"] == "running"
    release.set()
    done = await wait_for(("tasks", task["id"]), lambda t: t["status"] != "running")
    assert done["status"] == "succeeded"
