"""KServe V1 on real deployments: real server processes on 127.0.0.1, real HTTP."""

from __future__ import annotations

import httpx
import pytest
from deploy_helpers import rounded

from modelshelf.core.deploy.http import ServingSettings
from modelshelf.core.deploy.realtime import create_realtime_app
from support import wait_for

# A ModelAdapter with an explainer of its own: weights that say why it answered.
EXPLAINED = """\
class ModelAdapter:
    def load(self, model_dir):
        self.weight = 2

    def predict(self, rows):
        return [self.weight * sum(row) for row in rows]

    def explain(self, rows):
        if not rows:
            raise ValueError("nothing to explain")
        return {"explanations": [{"weights": [self.weight] * len(row)} for row in rows]}
"""

# load() waits for a file the test writes: the model is "loading" for as long as a test wants.
GATED = """\
import os
import time

def load(model_dir):
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(model_dir, "gate")) and time.monotonic() < deadline:
        time.sleep(0.02)
    return None

def predict(model, rows):
    return rows
"""


@pytest.fixture
def shelf(store, models, tmp_path):
    """conftest's store, plus a model with dots and dashes in its name (the path segment
    before ":predict") and one with an explainer."""
    store.save("churn-v1.2", models.linear)
    store.save("explained", model_folder(tmp_path / "explained", EXPLAINED))
    return store


def model_folder(folder, serve_py):
    folder.mkdir(parents=True)
    (folder / "serve.py").write_text(serve_py)
    return folder


def test_v1_on_a_real_time_deployment(manager):
    deployment = manager.deploy("churn-v1.2", name="churn")
    assert deployment.status == "ready", deployment.logs()
    with httpx.Client(base_url=deployment.url) as client:
        assert client.get("/v1/models").json() == {"models": ["churn-v1.2"]}
        ready = client.get("/v1/models/churn-v1.2")
        assert ready.status_code == 200
        assert ready.json() == {"name": "churn-v1.2", "ready": True}
        missing = client.get("/v1/models/churn")  # the deployment's name is not the model's
        assert missing.status_code == 404
        assert missing.json() == {"error": "Model with name churn does not exist."}

        answer = client.post("/v1/models/churn-v1.2:predict", json={"instances": [[3.0], [4.0]]})
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert rounded(answer.json()["predictions"]) == [7.0, 9.0]
        inputs = client.post("/v1/models/churn-v1.2:predict", json={"inputs": [[0.5]]})
        assert rounded(inputs.json()["predictions"]) == [2.0]
        for bad in (b"{oops", b"[[3.0]]", b'{"rows": [[3.0]]}', b'{"instances": 3.0}'):
            refused = client.post("/v1/models/churn-v1.2:predict", content=bad)
            assert refused.status_code == 400, bad
            assert refused.json()["error"]
        assert client.post("/v1/models/other:predict", json={"instances": [[1.0]]}).json() == {
            "error": "Model with name other does not exist."
        }

        explain = client.post("/v1/models/churn-v1.2:explain", json={"instances": [[1.0]]})
        assert explain.status_code == 501
        assert explain.json() == {
            "error": "model churn-v1.2 has no explainer: give its serve.py ModelAdapter an "
            "explain(data) method"
        }
        assert client.post("/v1/models/other:explain", json={"instances": []}).status_code == 404
        # The SageMaker and V2 routes of the same app are unchanged.
        assert rounded(client.post("/invocations", json=[[1.0]]).json()) == [3.0]
        assert client.get("/v2/models/churn-v1.2/ready").status_code == 200


def test_a_model_with_an_explainer_explains(manager):
    deployment = manager.deploy("explained")
    assert deployment.status == "ready", deployment.logs()
    with httpx.Client(base_url=deployment.url) as client:
        rows = {"instances": [[1, 2, 3], [4]]}
        assert client.post("/v1/models/explained:predict", json=rows).json() == {
            "predictions": [12, 8]
        }
        explained = client.post("/v1/models/explained:explain", json=rows)
        assert explained.status_code == 200
        assert explained.json() == {"explanations": [{"weights": [2, 2, 2]}, {"weights": [2]}]}
        assert client.post("/v1/models/explained:explain", content=b"[1]").status_code == 400
        failed = client.post("/v1/models/explained:explain", json={"instances": []})
        assert failed.status_code == 500
        assert failed.json()["error"] == "explained: explain failed: ValueError: nothing to explain"
        assert "serve.py" in failed.json()["traceback"]


def test_v1_on_a_multi_model_deployment(manager):
    deployment = manager.deploy([], mode="multi", name="mme")
    assert deployment.status == "ready", deployment.logs()
    rows = {"instances": [[3.0]]}
    with httpx.Client(base_url=deployment.url) as client:
        assert client.get("/v1/models").json() == {"models": []}
        added = client.post("/models", json={"model_name": "churn.v2-a", "url": "churn-v1.2:1"})
        assert added.status_code == 200
        assert client.get("/v1/models").json() == {"models": ["churn.v2-a"]}
        assert client.get("/v1/models/churn.v2-a").json() == {"name": "churn.v2-a", "ready": True}
        answer = client.post("/v1/models/churn.v2-a:predict", json=rows)
        assert rounded(answer.json()["predictions"]) == [7.0]

        # A store ref is loaded on its first predict, colon and all, as V2's infer does.
        by_ref = client.post("/v1/models/explained:1:predict", json={"inputs": [[1, 1]]})
        assert by_ref.json() == {"predictions": [4]}
        assert client.get("/v1/models").json() == {"models": ["churn.v2-a", "explained:1"]}
        explained = client.post("/v1/models/explained:1:explain", json={"inputs": [[1]]})
        assert explained.json() == {"explanations": [{"weights": [2]}]}
        assert client.post("/v1/models/churn.v2-a:explain", json=rows).status_code == 501

        assert client.post("/v1/models/nope:1:predict", json=rows).status_code == 404
        assert client.post("/v1/models/bad ref!:predict", json=rows).status_code == 400
        missing = client.get("/v1/models/nope:1")
        assert missing.status_code == 404
        assert missing.json() == {"error": "Model with name nope:1 does not exist."}

        # Unloaded, it is still registered: not ready until its next request loads it.
        assert client.post("/v2/repository/models/churn.v2-a/unload").status_code == 200
        unloaded = client.get("/v1/models/churn.v2-a")
        assert unloaded.status_code == 503
        assert unloaded.json() == {
            "error": "Model with name churn.v2-a is not ready. "
            "It is loaded again on its next request."
        }
        again = client.post("/v1/models/churn.v2-a:predict", json=rows)
        assert rounded(again.json()["predictions"]) == [7.0]
        assert client.get("/v1/models/churn.v2-a").status_code == 200


def test_a_loading_model_is_not_ready_and_a_broken_one_says_why(serve, models, tmp_path):
    gated = model_folder(tmp_path / "gated", GATED)
    url = serve(create_realtime_app(str(gated), "gated", ServingSettings()))
    with httpx.Client(base_url=url) as client:
        loading = client.get("/v1/models/gated")
        assert loading.status_code == 503
        assert loading.json() == {
            "error": "Model with name gated is not ready. It is still loading."
        }
        assert client.post("/v1/models/gated:predict", json={"instances": [1]}).status_code == 503
        (gated / "gate").write_text("open")
        wait_for(lambda: client.get("/v1/models/gated").status_code == 200)
        assert client.post("/v1/models/gated:predict", json={"instances": [1]}).json() == {
            "predictions": [1]
        }

    url = serve(create_realtime_app(str(models.load_fails), "broken", ServingSettings()))
    with httpx.Client(base_url=url) as client:

        def load_failed():
            answer = client.get("/v1/models/broken")
            return answer if "failed" in answer.text else None

        failed = wait_for(load_failed)
        assert failed.status_code == 503
        assert failed.json() == {
            "error": "Model with name broken is not ready. It failed to load: "
            "broken: load failed: RuntimeError: weights are missing"
        }
        predict = client.post("/v1/models/broken:predict", json={"instances": [1]})
        assert predict.status_code == 500 and "weights are missing" in predict.json()["traceback"]
