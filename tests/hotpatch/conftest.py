import pytest

from hotpatch_util import Workspace


@pytest.fixture(scope="session")
def ws(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("hotpatch"))


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"
