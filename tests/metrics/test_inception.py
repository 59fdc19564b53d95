"""Our FID InceptionV3 against pytorch-fid's module with the same random weights (no download)."""
import hashlib

import pytest
import torch

from fastgan.metrics import inception as inc

pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception")


def random_state(seed=0):
    torch.manual_seed(seed)
    model = inc.FIDInceptionV3()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial BN so that eval-mode BN matters
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.8, 1.2)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def build_theirs(state, resize_input):
    mp = pytest.MonkeyPatch()
    # pytorch-fid fetches its weights with load_state_dict_from_url: hand it ours instead
    mp.setattr(pytorch_fid_inception, "load_state_dict_from_url", lambda *a, **k: state)
    try:
        return pytorch_fid_inception.InceptionV3([3], resize_input=resize_input, normalize_input=True,
                                                 use_fid_inception=True).eval()
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def ours():
    return random_state()


def check_same(ours, theirs, images01, preprocessed):
    with torch.no_grad():
        ref = theirs(images01)[0].flatten(1)
        x = images01 * 2 - 1  # our input convention is [-1, 1]
        pool3, logits = ours(x, preprocessed=preprocessed)
    assert pool3.shape == (images01.shape[0], 2048) and logits.shape == (images01.shape[0], 1008)
    scale = ref.abs().max()
    assert scale > 0
    torch.testing.assert_close(pool3, ref, rtol=1e-4, atol=1e-5 * float(scale))
    # the logits are the 1008-way fc of pool3 (independently: a plain affine map with the weights)
    w, b = ours.fc.weight, ours.fc.bias
    torch.testing.assert_close(logits, ref @ w.T + b, rtol=1e-4, atol=1e-4)


def test_same_features_as_pytorch_fid_block_for_block(ours):
    """Every block at the smallest input Inception v3 accepts (75x75), no resize."""
    theirs = build_theirs(ours.state_dict(), resize_input=False)
    g = torch.Generator().manual_seed(1)
    check_same(ours, theirs, torch.rand(2, 3, 75, 75, generator=g), preprocessed=True)


def test_same_features_as_pytorch_fid_end_to_end(ours):
    """Including the bilinear resize of an odd-sized image to 299x299."""
    theirs = build_theirs(ours.state_dict(), resize_input=True)
    g = torch.Generator().manual_seed(1)
    check_same(ours, theirs, torch.rand(1, 3, 45, 37, generator=g), preprocessed=False)


def test_preprocess_uint8_gray_and_float_agree():
    g = torch.Generator().manual_seed(2)
    u8 = torch.randint(0, 256, (2, 1, 28, 30), generator=g, dtype=torch.uint8)
    as_float = u8.float() / 127.5 - 1.0
    a = inc.preprocess(u8)
    b = inc.preprocess(as_float.expand(-1, 3, -1, -1))
    assert a.shape == (2, 3, 299, 299)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # independent reference for the resize: PyTorch's bilinear on [0, 1] images, then 2x - 1
    ref = torch.nn.functional.interpolate(u8.float().expand(-1, 3, -1, -1) / 255, size=(299, 299),
                                          mode="bilinear", align_corners=False) * 2 - 1
    torch.testing.assert_close(a, ref, rtol=0, atol=1e-6)
    assert float(a.min()) >= -1 - 1e-6 and float(a.max()) <= 1 + 1e-6
    with pytest.raises(ValueError, match="images must be"):
        inc.preprocess(torch.zeros(2, 2, 8, 8))


def test_weights_lookup_hash_check_and_helpful_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTGAN_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError) as e:
        inc.find_inception_weights(download=False)
    msg = str(e.value)
    assert inc.WEIGHTS_FILE in msg and "FASTGAN_INCEPTION_WEIGHTS" in msg and str(tmp_path / "cache") in msg
    bad = tmp_path / "bad.pth"
    torch.save(random_state(3).state_dict(), bad)  # a loadable file, but not the published one
    monkeypatch.setenv("FASTGAN_INCEPTION_WEIGHTS", str(bad))
    actual = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=f"expected {inc.WEIGHTS_SHA256} .* got {actual}"):
        inc.load_inception(download=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inc.find_inception_weights(str(tmp_path / "missing.pth"), download=False)


def test_a_file_matching_only_a_hash_prefix_is_rejected(tmp_path, monkeypatch):
    """The full sha256 is compared: a digest that shares the first 8 (or 63) hex digits is an error."""
    f = tmp_path / inc.WEIGHTS_FILE
    torch.save(random_state(5).state_dict(), f)
    actual = hashlib.sha256(f.read_bytes()).hexdigest()
    for keep in (8, 63):
        expected = actual[:keep] + "".join("0" if c != "0" else "1" for c in actual[keep:])
        monkeypatch.setattr(inc, "WEIGHTS_SHA256", expected)
        with pytest.raises(ValueError) as e:
            inc.load_inception(str(f), download=False)
        assert f"expected {expected}" in str(e.value) and f"got {actual}" in str(e.value)


def test_right_hash_is_accepted(tmp_path, monkeypatch):
    f = tmp_path / inc.WEIGHTS_FILE
    torch.save(random_state(4).state_dict(), f)
    monkeypatch.setattr(inc, "WEIGHTS_SHA256", hashlib.sha256(f.read_bytes()).hexdigest())
    model, digest = inc.load_inception(str(f), download=False)
    assert digest == inc.WEIGHTS_SHA256 and not model.training
