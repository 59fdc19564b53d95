import pytest

# quiet, single-threaded runs (the machine is shared); no FID, no TensorBoard, no periodic files
QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False,
         "snap_kimg": 0.0, "ckpt_kimg": 0.0, "overwrite": True}


@pytest.fixture
def quiet(tmp_path):
    return {**QUIET, "out": str(tmp_path / "run")}
