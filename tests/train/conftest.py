import pytest
from train_helpers import QUIET


@pytest.fixture
def quiet():
    return dict(QUIET)
