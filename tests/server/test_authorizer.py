"""``@authorized``: an Authorizer that allows reading modelshelf but not writing is obeyed."""

from __future__ import annotations

import pytest
from jupyter_server.auth.authorizer import Authorizer

from conftest import extension_config


class ReadOnlyModelshelf(Authorizer):
    def is_authorized(self, handler, user, action, resource):
        return not (resource == "modelshelf" and action == "write")


async def test_an_authorizer_can_make_the_api_read_only(api, shelf, model_folder):
    shelf.save("churn", model_folder)
    status, page = await api("GET", "models")
    assert status == 200 and page["total"] == 1
    status, _ = await api("DELETE", "models", "churn", "versions", "1")
    assert status == 403
    status, _ = await api("POST", "models", body={"name": "x", "source": "."})
    assert status == 403
    assert shelf.show("churn:1")


def test_config_uses_this_authorizer(jp_serverapp):
    assert isinstance(jp_serverapp.authorizer, ReadOnlyModelshelf)


@pytest.fixture
def jp_server_config(store_root):
    return extension_config(str(store_root), authorizer_class=ReadOnlyModelshelf)
