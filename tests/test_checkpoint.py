"""Checkpoints: exact round trip, clean keys, atomic writes, loading that never runs pickled code, tokenizer checks."""
import os
import pickle

import pytest
import torch
import torch.nn.functional as F

from checkpoint import CheckpointError, checkpoint_file, load_checkpoint, save_checkpoint
from model import GPT, GPTConfig, ScalarGPT, load_model

CFG = GPTConfig(block_size=32, vocab_size=50, n_layer=1, n_head=2, n_embd=16)


def _trained_pair():
    torch.manual_seed(0)
    m = GPT(CFG)
    opt = m.configure_optimizer(0.1, 1e-3)
    loss = F.cross_entropy(m(torch.randint(0, 50, (2, 8))).view(-1, 50), torch.randint(0, 50, (16,)))
    loss.backward()
    opt.step()
    return m, opt


def test_round_trip_is_exact(tmp_path):
    m, opt = _trained_pair()
    save_checkpoint(tmp_path / "run", m, stage="pretrain", step=7, tokenizer="bpe-abc", optimizer=opt,
                    train_config={"lr": 1e-3}, extra={"val_loss": 1.5})
    ckpt = load_checkpoint(tmp_path / "run", expected_stage="pretrain")
    assert ckpt["step"] == 7 and ckpt["tokenizer"] == "bpe-abc" and ckpt["train_config"] == {"lr": 1e-3}
    assert ckpt["extra"] == {"val_loss": 1.5} and ckpt["config"] == CFG.__dict__
    m2, _ = load_model(tmp_path / "run")
    for (k, v), (k2, v2) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    opt2 = m2.configure_optimizer(0.1, 1e-3)
    opt2.load_state_dict(ckpt["optimizer"])
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)


def test_scalar_model_round_trip(tmp_path):
    torch.manual_seed(0)
    rm = ScalarGPT(CFG)
    save_checkpoint(tmp_path / "rm.pt", rm, stage="rm")
    rm2, ckpt = load_model(tmp_path / "rm.pt", expected_stage="rm")
    assert isinstance(rm2, ScalarGPT) and ckpt["model_type"] == "ScalarGPT"
    idx = torch.tensor([[1, 2, 3]])
    assert torch.equal(rm.eval()(idx), rm2(idx))


def test_compiled_model_saves_clean_keys(tmp_path):
    m, _ = _trained_pair()

    class Wrapper(torch.nn.Module):  # what torch.compile returns: the model under `_orig_mod`
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    save_checkpoint(tmp_path, Wrapper(m), stage="pretrain")
    keys = load_checkpoint(tmp_path)["model"].keys()
    assert not any("_orig_mod" in k or k.startswith("module.") for k in keys)


def test_missing_truncated_foreign_and_wrong_stage(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    m, _ = _trained_pair()
    f = save_checkpoint(tmp_path / "a", m, stage="sft")
    data = f.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="'sft' checkpoint, but this needs 'rm'"):
        load_checkpoint(tmp_path / "a", expected_stage="rm")
    assert load_checkpoint(tmp_path / "a", expected_stage=("pretrain", "sft"))["stage"] == "sft"


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": "tinyalign-checkpoint-v1", "model": _Evil()}, f)
    torch.save({"format": "tinyalign-checkpoint-v1", "payload": _Evil()}, tmp_path / "evil2.pt")
    for name in ("evil.pt", "evil2.pt"):
        with pytest.raises(CheckpointError, match="refused|unreadable"):
            load_checkpoint(tmp_path / name)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_a_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    m, _ = _trained_pair()
    save_checkpoint(tmp_path, m, stage="pretrain", step=1)
    before = checkpoint_file(tmp_path).read_bytes()

    def crash(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, m, stage="pretrain", step=2)
    monkeypatch.undo()
    assert checkpoint_file(tmp_path).read_bytes() == before
    assert load_checkpoint(tmp_path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left behind


def test_a_checkpoint_of_another_tokenizer_is_refused(tmp_path):
    m, _ = _trained_pair()
    save_checkpoint(tmp_path, m, stage="sft", tokenizer="bpe-aaaaaaaaaaaa")

    class Enc:
        name = "bpe-bbbbbbbbbbbb"

    with pytest.raises(CheckpointError, match="bpe-aaaaaaaaaaaa.*bpe-bbbbbbbbbbbb"):
        load_model(tmp_path, tokenizer=Enc())
    Enc.name = "bpe-aaaaaaaaaaaa"
    assert load_model(tmp_path, tokenizer=Enc())[1]["tokenizer"] == "bpe-aaaaaaaaaaaa"
