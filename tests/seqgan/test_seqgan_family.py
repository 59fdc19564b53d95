"""The seqgan family on the engine: exact resume inside each stage, the delayed rollout policy in
training, token data and its errors, vocabulary checks against a checkpoint, `fastgan generate`."""
import numpy as np
import pytest
import torch

from fastgan import checkpoint as ckpt
from fastgan.cli import main
from fastgan.data.tokens import EOS, PAD, Vocab, load_tokens
from fastgan.models.seqgan import SeqGAN
from fastgan.train import Trainer

QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False}
TINY = {"model.emb": 4, "model.hidden": 5, "model.d_emb": 4, "model.d_filters": [[1, 3], [2, 4], [3, 2]],
        "model.mle_steps": 3, "model.d_pre_steps": 3, "model.adv_steps": 3, "model.d_steps": 2,
        "model.rollouts": 2, "model.batch": 4, "run.snap_kimg": 0, "run.ckpt_kimg": 0}


@pytest.fixture
def ids_file(tmp_path):
    path = tmp_path / "ids.npy"
    np.save(path, np.random.default_rng(0).integers(0, 7, size=(13, 5)))
    return str(path)


def tensors_of(trainer):
    out = {}
    state = ckpt.pack({k: v for k, v in trainer.state_dict().items() if k != "run"}, out)
    return state, out


def assert_same(a, b):
    (sa, ta), (sb, tb) = tensors_of(a), tensors_of(b)
    assert sa == sb
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


def test_resume_in_the_middle_of_every_stage_is_exact(tmp_path, ids_file):
    ov = {**QUIET, **TINY, "model.vocab_size": 7}
    straight = Trainer("seqgan", ids_file, overrides={**ov, "run.out": str(tmp_path / "a")})
    straight.fit()
    assert straight.step == 9
    out = str(tmp_path / "b")
    t = Trainer("seqgan", ids_file, overrides={**ov, "run.out": out, "run.max_steps": 1})
    t.fit()
    for stop, stage in ((4, "pretrain-D"), (7, "adversarial"), (9, None)):
        # steps 1 (pretrain-G), 4 (pretrain-D) and 7 (adversarial) are inside their stages
        assert t.stage.name == ("pretrain-G" if t.step == 1 else t.stage.name)
        t = Trainer(resume=out, overrides={"run.max_steps": stop - t.step, **QUIET})
        t.fit()
        assert t.step == stop
        if stage:
            assert t.stage.name == stage and t.step > t.stage_starts[-1][0]
    assert_same(t, straight)
    assert t.family.state["rollout_synced"]


def test_rollout_policy_starts_at_pretrained_g_and_moves_at_rate(tmp_path, ids_file):
    ov = {**QUIET, **TINY, "model.vocab_size": 7, "run.out": str(tmp_path / "r"), "model.rollout_rate": 0.8}
    t = Trainer("seqgan", ids_file, overrides=ov)
    while t.stage.name != "adversarial":
        t.train_step()
    g0 = {k: v.clone() for k, v in t.nets["G"].state_dict().items()}
    t.train_step()
    g1 = t.nets["G"].state_dict()
    assert any(not torch.equal(g0[k], g1[k]) for k in g0)
    for k, v in t.nets["R"].state_dict().items():
        want = g1[k] if k.startswith("embed.") else 0.8 * g0[k] + 0.2 * g1[k]
        torch.testing.assert_close(v, want, rtol=1e-6, atol=1e-7)


def test_mle_baseline_has_no_adversarial_stage(ids_file, tmp_path):
    tiny = {k: v for k, v in TINY.items() if k != "model.d_pre_steps"}
    t = Trainer("seqgan-mle", ids_file, overrides={**QUIET, **tiny, "model.vocab_size": 7,
                                                   "run.out": str(tmp_path / "m")})
    assert [(s.name, s.steps, [p.loss for p in s.phases]) for s in t.stages] == [
        ("pretrain-G", 3, ["mle_loss"]), ("pretrain-D", 0, ["d_loss"]), ("mle", 3, ["mle_loss"])]
    with pytest.raises(ValueError, match="mode"):
        Trainer("seqgan", ids_file, overrides={**QUIET, "model.mode": "gan", "run.out": str(tmp_path / "x")})


# -- token data --------------------------------------------------------------------------------------
def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_text_file_char_and_word_levels(tmp_path):
    path = write(tmp_path, "a.txt", "ab ba\n\nbbb\n")
    ds = load_tokens(path)
    v = ds.vocab
    assert v.tokens[:2] == ["<pad>", "<eos>"] and set(v.tokens[2:]) == {"a", "b", " "}
    assert ds.shape == (6,)                                   # longest line (5) + <eos>
    a, b, sp = v.index["a"], v.index["b"], v.index[" "]
    assert ds.ids.tolist() == [[a, b, sp, b, a, EOS], [b, b, b, EOS, PAD, PAD]]
    assert [v.decode(r) for r in ds.ids.tolist()] == ["ab ba", "bbb"]
    w = load_tokens(path, level="word")
    assert w.vocab.tokens == ["<pad>", "<eos>", "ab", "ba", "bbb"] and w.shape == (3,)
    assert w.vocab.decode(w.ids[0].tolist()) == "ab ba"


def test_vocab_file_round_trip_with_odd_tokens(tmp_path):
    v = Vocab(["<pad>", "<eos>", " ", "\t", "\\", "'", '"', "é", "中", "#level"], "char")
    back = Vocab.load(v.save(str(tmp_path / "v.txt")))
    assert back == v


def test_too_long_sequences_error_or_truncate(tmp_path):
    path = write(tmp_path, "a.txt", "abcdef\nab\n")
    with pytest.raises(ValueError, match="longer than max_len=4.*--truncate"):
        load_tokens(path, max_len=4)
    ds = load_tokens(path, max_len=4, truncate=True)
    assert ds.truncated == 1
    assert ds.vocab.decode(ds.ids[0].tolist()) == "abc" and ds.ids[0, -1].item() == EOS
    ids = write(tmp_path, "i.csv", "1,2,3,4\n0,1,2,3\n")
    with pytest.raises(ValueError, match="max_len=3.*--truncate"):
        load_tokens(ids, max_len=3)
    assert load_tokens(ids, max_len=3, truncate=True).ids.tolist() == [[1, 2, 3], [0, 1, 2]]


def test_bad_data_errors(tmp_path):
    for name, text in (("e.txt", ""), ("blank.txt", "\n\n  \n"), ("e.csv", "")):
        with pytest.raises(ValueError, match="no sequences"):
            load_tokens(write(tmp_path, name, text))
    vocab = Vocab.build(["abc"]).save(str(tmp_path / "v.txt"))
    with pytest.raises(ValueError, match=r"line 2: token 'z' is not in the vocabulary"):
        load_tokens(write(tmp_path, "o.txt", "abc\nabz\n"), vocab_file=vocab)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        load_tokens(write(tmp_path, "o.csv", "1,2\n3,9\n"), vocab_size=5)
    with pytest.raises(ValueError, match="integer"):
        load_tokens(write(tmp_path, "f.csv", "1,2.5\n"))
    with pytest.raises(ValueError, match="not a file"):
        load_tokens(str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="vocab_file"):
        load_tokens(write(tmp_path, "x.txt", "ab\n"), vocab_file=str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="give a text file"):
        load_tokens(write(tmp_path, "x.json", "[]"))


def test_vocab_mismatch_with_checkpoint_and_generate(tmp_path, capsys):
    data = write(tmp_path, "a.txt", "hello world\nhold the door\nworld\n")
    out = str(tmp_path / "run")
    Trainer("seqgan", data, overrides={**QUIET, **TINY, "run.out": out}).fit()
    other = write(tmp_path, "b.txt", "xyz\n")
    with pytest.raises(ValueError, match="vocabulary .* differs from the checkpoint"):
        Trainer(resume=out, data=other, overrides={**QUIET, "run.max_steps": 1})
    capsys.readouterr()
    assert main(["generate", "--ckpt", out, "--n", "5"]) == 0
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert len(lines) == 5
    assert set("".join(lines)) <= set("hello world the door")
    assert main(["generate", "--ckpt", out, "--seeds", "3,1"]) == 0
    again = capsys.readouterr().out.rstrip("\n").split("\n")
    assert again == [lines[3], lines[1]]                      # a seed names one sample
    text = tmp_path / "s.txt"
    assert main(["generate", "--ckpt", out, "--n", "3", "--out", str(text)]) == 0
    assert text.read_text().split("\n")[:3] == lines[:3]


def test_generate_temperature(tmp_path, capsys):
    """``fastgan generate --temperature``: 1 is the default; near 0 every seed gives the greedy sequence,
    decoded here step by step from G's own logits; a high one spreads the samples; <= 0 is an error."""
    from fastgan import models
    data = write(tmp_path, "a.txt", "hello world\nhold a door\nworld hello\nolder hello\n")   # no padding
    out = str(tmp_path / "run")
    Trainer("seqgan", data, overrides={**QUIET, **TINY, "model.mle_steps": 150, "model.hidden": 16,
                                       "run.out": out}).fit()
    capsys.readouterr()

    def lines(*extra):
        assert main(["generate", "--ckpt", out, "--n", "24", *extra]) == 0
        return capsys.readouterr().out.split("\n")[:-1]
    plain = lines()
    assert lines("--temperature", "1") == plain
    family, G = models.load_generator(out)
    with torch.no_grad():   # greedy decoding by hand
        state, logits = G.begin(1)
        ids = []
        for _ in range(family.length):
            tok = logits.argmax(-1)
            ids.append(tok)
            h, state = G.advance(tok, state)
            logits = G.out(h)
    greedy = family.decode(torch.stack(ids, 1))[0]
    assert len(greedy) > 3
    assert lines("--temperature", "0.001") == [greedy] * 24
    assert len(set(lines("--temperature", "5"))) > len(set(plain)) / 2 > 1
    for bad in ("0", "-1"):
        assert main(["generate", "--ckpt", out, "--temperature", bad]) == 2
        assert "--temperature must be > 0" in capsys.readouterr().err


def test_family_refuses_other_data(tmp_path):
    from fastgan.family import DataInfo
    with pytest.raises(ValueError, match="token sequences"):
        SeqGAN(SeqGAN.Recipe(), DataInfo((1, 28, 28)))
    with pytest.raises(ValueError, match="token ids"):
        Trainer("seqgan", "digits", overrides={**QUIET, "run.out": str(tmp_path / "d")})


def spy_g_lr(trainer, seen):
    """Record (stage, G's lr) at each G step of ``trainer``, as the optimiser steps."""
    orig = trainer._optimise

    def optimise(name, loss):
        if name == "G":
            seen.append((trainer.stage.name, trainer.opts["G"].param_groups[0]["lr"]))
        return orig(name, loss)
    trainer._optimise = optimise


@pytest.mark.parametrize("mode", ["seqgan", "mle"])
def test_lr_g_adv_applies_after_pretraining_and_on_resume(tmp_path, ids_file, mode):
    """G's Adam lr is lr_g in pre-training and lr_g_adv in the third stage; a run resumed inside
    the third stage with another lr_g_adv takes that one from its first step."""
    ov = {**QUIET, **TINY, "model.vocab_size": 7, "model.mode": mode, "model.lr_g_adv": 0.002}
    out = str(tmp_path / "a")
    t = Trainer("seqgan", ids_file, overrides={**ov, "run.out": out, "run.max_steps": 7})
    seen = []
    spy_g_lr(t, seen)
    t.fit()
    assert [lr for s, lr in seen if s == "pretrain-G"] == [0.01] * 3
    assert {lr for s, lr in seen if s not in ("pretrain-G", "pretrain-D")} == {0.002}
    t = Trainer(resume=out, overrides={**QUIET, "model.lr_g_adv": 0.0005})
    seen.clear()
    spy_g_lr(t, seen)
    t.fit()
    assert seen and {lr for _, lr in seen} == {0.0005}


def test_reward_baseline_option(tmp_path, ids_file):
    ov = {**QUIET, **TINY, "model.vocab_size": 7, "model.reward_baseline": "mean", "run.out": str(tmp_path / "b")}
    t = Trainer("seqgan", ids_file, overrides=ov)
    t.fit()
    assert t.finished
    with pytest.raises(ValueError, match="reward_baseline"):
        Trainer("seqgan", ids_file, overrides={**ov, "model.reward_baseline": "median"})
    with pytest.raises(ValueError, match="reward must be"):
        Trainer("seqgan", ids_file, overrides={**ov, "model.reward": "log", "run.out": str(tmp_path / "c")})


@pytest.mark.parametrize("reward", ["prob", "logit"])
def test_reward_option_reaches_the_rollouts(tmp_path, ids_file, monkeypatch, reward):
    """The G step's rewards at the full length are D's probability or D's logit of G's sequences."""
    from fastgan.models import seqgan_networks as sn
    seen, inner = [], sn.rollout_rewards

    def spy(R, D, x, n, uniforms, kind="prob"):
        q = inner(R, D, x, n, uniforms, kind)
        with torch.no_grad():
            logit = D(x).double()
        seen.append((kind, q[:, -1].double(), logit))
        return q
    monkeypatch.setattr(sn, "rollout_rewards", spy)
    ov = {**QUIET, **TINY, "model.vocab_size": 7, "model.reward": reward, "run.out": str(tmp_path / "r")}
    Trainer("seqgan", ids_file, overrides=ov).fit()
    assert len(seen) == TINY["model.adv_steps"]
    for kind, last, logit in seen:
        assert kind == reward
        want = torch.sigmoid(logit) if reward == "prob" else logit
        torch.testing.assert_close(last, want, rtol=1e-5, atol=1e-6)


def test_steady_preset_lowers_adversarial_lr_and_centres_rewards(tmp_path, ids_file, monkeypatch):
    """``--preset steady``: G steps at lr 1e-3 after pre-training (0.01 before) on rewards whose batch
    mean per timestep is subtracted (the G step's rewards sum to zero over the batch)."""
    from fastgan.models import seqgan_networks as sn
    seen, inner = [], sn.reinforce_loss

    def spy(log_probs, rewards):
        seen.append(rewards.detach().clone())
        return inner(log_probs, rewards)
    monkeypatch.setattr(sn, "reinforce_loss", spy)
    t = Trainer("seqgan", ids_file, preset="steady",
                overrides={**QUIET, **TINY, "model.vocab_size": 7, "run.out": str(tmp_path / "s")})
    lrs = []
    spy_g_lr(t, lrs)
    t.fit()
    assert [lr for s, lr in lrs if s == "pretrain-G"] == [0.01] * 3
    assert [lr for s, lr in lrs if s == "adversarial"] == [1e-3] * 3
    assert len(seen) == 3
    for r in seen:
        assert r.std() > 0 and r.sum(0).abs().max() < 1e-5
