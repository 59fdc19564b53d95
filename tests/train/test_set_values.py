"""``--set key=value``: values parse as a user expects (numbers in any notation, bools, None, lists), and a
bad value is refused naming its key."""
import dataclasses

import pytest

from fastgan.family.config import apply_overrides, load_yaml, parse_set, parse_value
from fastgan.train.config import RunConfig


@pytest.mark.parametrize("raw, expected", [
    ("4e-4", 4e-4), ("1E3", 1000.0), ("-2.5e-3", -2.5e-3), ("+7e1", 70.0), ("1.0e3", 1000.0), (".5", 0.5),
    ("3", 3), ("-12", -12), ("1_000", 1000), ("0.25", 0.25),
    ("true", True), ("false", False), ("None", None), ("null", None), ("~", None),
    ("[0.0, 0.99]", [0.0, 0.99]), ("[4e-4, 1e-3]", [4e-4, 1e-3]), ("[]", []),
    ("adam", "adam"), ("none", "none"), ("runs/x-1e3", "runs/x-1e3"), ("1e3x", "1e3x"),
])
def test_parse_value(raw, expected):
    got = parse_value(raw)
    assert got == expected and type(got) is type(expected)


def test_parse_set_keys_and_values():
    assert parse_set(["lr_g=4e-4", " batch = 16", "betas=[0.5,0.999]", "model.digits=[1, 2]"]) == {
        "lr_g": 4e-4, "batch": 16, "betas": [0.5, 0.999], "model.digits": [1, 2]}


@pytest.mark.parametrize("item", ["lr_g", "=3", ""])
def test_parse_set_needs_key_and_value(item):
    with pytest.raises(ValueError, match="key=value"):
        parse_set([item])


def test_parse_set_bad_yaml_names_key():
    with pytest.raises(ValueError, match="betas"):
        parse_set(["betas=[0.5, 0.9"])


@dataclasses.dataclass
class _Recipe:
    lr_g: float = 2e-4
    batch: int = 32
    betas: tuple[float, float] = (0.5, 0.999)
    cap: float | None = None
    name: str = "x"


def test_set_reaches_typed_fields():
    rec, run = apply_overrides(_Recipe(), RunConfig(), parse_set(
        ["lr_g=4e-4", "batch=16", "betas=[0.0, 0.99]", "cap=None", "fid_kimg=1e1", "progress=false"]))
    assert rec.lr_g == 4e-4 and isinstance(rec.lr_g, float)
    assert rec.batch == 16 and rec.betas == (0.0, 0.99) and rec.cap is None
    assert run.fid_kimg == 10.0 and run.progress is False


@pytest.mark.parametrize("item, key", [("lr_g=fast", "lr_g"), ("batch=2.5", "batch"), ("betas=[0.5]", "betas"),
                                       ("progress=maybe", "progress")])
def test_bad_value_names_key(item, key):
    with pytest.raises((TypeError, ValueError), match=key):
        apply_overrides(_Recipe(), RunConfig(), parse_set([item]))


def test_yaml_config_numbers(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  lr_g: 4e-4\n  betas: [0, 9.9e-1]\nrun:\n  fid_kimg: 1e1\n")
    assert load_yaml(str(p)) == {"model.lr_g": 4e-4, "model.betas": [0, 0.99], "run.fid_kimg": 10.0}
