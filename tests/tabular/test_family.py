"""The CTGAN family on the training engine: dict batches, its own loader, snapshots, checkpoints."""
import json
import os

import numpy as np
import pytest
import torch

from fastgan import cli
from fastgan.data.mixed_table import MixedTable, read_table_csv
from fastgan.data.table_stats import total_variation
from fastgan.data.tabular_set import EncodedTable
from fastgan.models import ctgan_family, get, load_generator
from fastgan.train.engine import Trainer

RUN = {"batch": 100, "snap_kimg": 0, "ckpt_kimg": 0, "fid": True, "progress": False, "tensorboard": False,
       "threads": 1, "model.eval_rows": 200}


def _csv(path, n=120, seed=0, header=("x", "kind", "y")):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.2, "rare", "common")
    x = np.where(y == "rare", rng.normal(3, 0.5, n), rng.normal(0, 1, n))
    kind = rng.choice(["a", "b", "c"], n)
    t = MixedTable(dict(zip(header, (x, kind, y))), header[1:])
    return t.to_csv(str(path))


def test_registered_with_presets():
    assert get("ctgan") is ctgan_family.CTGAN
    assert ctgan_family.CTGAN.preset("smoke")["kimg"] > 0


def test_trains_through_the_engine_and_generates_from_its_checkpoint(tmp_path):
    data = _csv(tmp_path / "t.csv")
    out = str(tmp_path / "run")
    tr = Trainer("ctgan", data, overrides={**RUN, "kimg": 0.3, "out": out})
    assert isinstance(tr.dataset, EncodedTable) and tr.family.sampler.columns == ("kind", "y")
    res = tr.fit()
    assert res["step"] == 3 and res["status"] == "done"
    assert {"ks_mean", "tv_mean", "cond_honoured"} <= set(res["metrics"])
    snaps = res["snapshots"]
    assert open(snaps["samples"]).readline().strip() == "x,kind,y"
    assert open(snaps["columns"]).readline().strip() == "column,statistic,value"
    fam, G = load_generator(out)
    rows = fam.synthesizer(G).sample(30, {"y": "rare"}, seed=2)
    assert rows.names == ("x", "kind", "y") and len(rows) == 30
    with pytest.raises(ValueError, match="no category 'never'"):
        fam.synthesizer(G).sample(3, {"y": "never"})
    # the command line: conditional rows to CSV, then the table metrics of them
    rows_csv = str(tmp_path / "rows.csv")
    assert cli.main(["generate", "--ckpt", out, "--n", "25", "--condition", "y=rare", "--out", rows_csv]) == 0
    got = read_table_csv(rows_csv, discrete=["kind", "y"])
    assert len(got) == 25 and (got["y"] == "rare").all()
    assert cli.main(["generate", "--ckpt", out, "--n", "5", "--condition", "y=never", "--out", rows_csv]) != 0
    js = str(tmp_path / "m.json")
    assert cli.main(["metrics", "--table", "--real", data, "--fake", rows_csv, "--train", data,
                     "--json", js]) == 0
    m = json.load(open(js))["metrics"]
    assert m["columns"]["y"] == pytest.approx(total_variation(got["y"], read_table_csv(data)["y"]))
    assert {"ks_mean", "detection_auc", "dcr_synthetic_median"} <= set(m)
    # the same run resumed continues where it stopped; another header is refused
    Trainer("ctgan", data, overrides={**RUN, "kimg": 0.4, "out": out}, resume=out).fit()
    other = _csv(tmp_path / "o.csv", header=("x", "kind", "label"))
    with pytest.raises(ValueError, match=r"columns \['x', 'kind', 'label'\].*differ from the checkpoint"):
        Trainer("ctgan", other, overrides={**RUN, "kimg": 0.5, "out": out}, resume=out)
    fewer = tmp_path / "few.csv"
    fewer.write_text("x,kind,y\n" + "".join(f"{i * 0.37:.3f},a,common\n{-i:.1f},b,rare\n" for i in range(30)))
    with pytest.raises(ValueError, match="categories or continuous modes differ"):
        Trainer("ctgan", str(fewer), overrides={**RUN, "kimg": 0.5, "out": out}, resume=out)


@pytest.mark.slow
def test_resume_is_exact(tmp_path):
    data = _csv(tmp_path / "t.csv", seed=3)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    full = Trainer("ctgan", data, overrides={**RUN, "kimg": 0.4, "out": a, "fid": False})
    full.fit()
    half = Trainer("ctgan", data, overrides={**RUN, "kimg": 0.2, "out": b, "fid": False})
    half.fit()
    rest = Trainer("ctgan", data, overrides={**RUN, "kimg": 0.4, "fid": False}, resume=b)
    rest.fit()
    for k, v in full.nets["G"].state_dict().items():
        torch.testing.assert_close(rest.nets["G"].state_dict()[k], v, rtol=0, atol=0)


@pytest.mark.parametrize("data, match", [("mnist", "ctgan trains on a table"), ("iris", "ctgan trains on a table")])
def test_rejects_non_tables(tmp_path, data, match):
    with pytest.raises(ValueError, match=match):
        Trainer("ctgan", data, overrides={**RUN, "out": str(tmp_path)})


def test_bad_batch_and_columns(tmp_path):
    data = _csv(tmp_path / "t.csv")
    with pytest.raises(ValueError, match="multiple of pac"):
        Trainer("ctgan", data, overrides={**RUN, "batch": 105, "out": str(tmp_path / "r1")})
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        Trainer("ctgan", data, overrides={**RUN, "model.discrete": ["nope"], "out": str(tmp_path / "r2")})
    const = tmp_path / "c.csv"
    const.write_text("x,k\n1.0,a\n2.0,a\n3.5,a\n")
    with pytest.raises(ValueError, match="'k' is constant"):
        Trainer("ctgan", str(const), overrides={**RUN, "out": str(tmp_path / "r3")})
    assert not os.path.exists(tmp_path / "r3" / "checkpoints")
