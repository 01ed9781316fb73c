"""Reliability (issue 17): every bad input is a one-line error that names the option or the file, no run is lost
or silently overwritten. Stopped runs resume exactly; a new run moves an earlier one aside; writes that fail keep
the old files; checkpoints, data files and devices that cannot be used are refused before any work."""
import base64
import errno
import json
import os
import signal
import struct
import subprocess
import sys

import pytest
import torch

import chat
import dpo
import evaluate
import grpo
import ppo
import pretrain
import reward_model
import sft
from checkpoint import CheckpointError, load_checkpoint, save_checkpoint, write_text_atomically
from config import parse_config, run
from model import GPT, GPTConfig, ScalarGPT, load_model


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy CPU two threads wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def one_line_exit(main, name="script.py"):
    """What run(main) prints when main fails: SystemExit's message, which must be a single line -> that line."""
    with pytest.raises(SystemExit) as e:
        run(main, name=name)
    message = str(e.value.code)
    assert "\n" not in message and message.startswith(f"{name}: "), message
    return message


PRETRAIN = ["--n_layer", "2", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--batch_size", "4",
            "--eval_iters", "1", "--log_interval", "1", "--sample_tokens", "4", "--warmup", "1"]


def pretrain_args(world, out, *extra):
    return ["--data_dir", str(world), "--out_dir", str(out)] + PRETRAIN + list(extra)


# ----------------------------------------------------------------------------------------------------------
# options: sizes, intervals and values outside their range are one line naming the option


@pytest.mark.parametrize("module,argv,message", [
    (sft, ["--batch_size", "0"], "--batch_size 0: must be a positive integer"),
    (sft, ["--grad_accum", "0"], "--grad_accum 0: must be a positive integer"),
    (sft, ["--max_new_tokens", "0"], "--max_new_tokens 0: must be a positive integer"),
    (sft, ["--eval_temperature", "-1"], "--eval_temperature -1.0: must be 0 or more"),
    (pretrain, ["--max_iters", "0"], "--max_iters 0: must be a positive integer"),
    (pretrain, ["--stop_at", "-3"], "--stop_at -3: must be 0 or more"),
    (pretrain, ["--eval_iters", "0"], "--eval_iters 0: must be a positive integer"),
    (pretrain, ["--block_size", "0"], "--block_size 0: must be a positive integer"),
    (pretrain, ["--dropout", "1"], "--dropout 1.0: must be less than 1"),
    (reward_model, ["--eval_interval", "-5"], "--eval_interval -5: must be a positive integer"),
    (ppo, ["--iters", "0"], "--iters 0: must be a positive integer"),
    (ppo, ["--minibatch_size", "0"], "--minibatch_size 0: must be a positive integer"),
    (ppo, ["--ppo_epochs", "0"], "--ppo_epochs 0: must be a positive integer"),
    (ppo, ["--temperature", "0"], "--temperature 0.0: must be more than 0"),
    (ppo, ["--gamma", "1.5"], "--gamma 1.5: must be between 0 and 1"),
    (ppo, ["--batch_size", "10", "--minibatch_size", "4"], "--batch_size 10 must be a multiple of --minibatch_size 4"),
    (dpo, ["--beta", "0"], "--beta 0.0: must be more than 0"),
    (grpo, ["--iters", "0"], "--iters 0: must be a positive integer"),
    (grpo, ["--group_size", "1"], "--group_size 1: must be 2 or more"),
    (grpo, ["--temperature", "0"], "--temperature 0.0: must be more than 0"),
    (grpo, ["--step_credit", "-1"], "--step_credit -1.0: must be"),
    (dpo, ["--loss_type", "hinge"], "--loss_type hinge: must be one of sigmoid, ipo"),
])
def test_a_value_out_of_range_is_refused_naming_the_option(module, argv, message, tmp_path):
    with pytest.raises(ValueError) as e:
        module.main(argv + ["--out_dir", str(tmp_path / "out")])
    assert str(e.value).startswith(message)
    assert not (tmp_path / "out").exists()  # refused before anything is written
    assert one_line_exit(lambda: module.main(argv), "x.py") == f"x.py: {e.value}"


def test_n_head_must_divide_n_embd_and_abbreviated_options_are_typos(tiny_world, tmp_path, capsys):
    with pytest.raises(ValueError, match="n_embd 32 is not a multiple of n_head 3"):
        pretrain.main(pretrain_args(tiny_world, tmp_path, "--n_head", "3"))
    with pytest.raises(SystemExit):
        parse_config(sft.Config, ["--max_it", "3"])  # not taken for --max_iters
    assert "unrecognized arguments: --max_it" in capsys.readouterr().err


def test_scripts_with_their_own_argparse_check_their_values_too(tiny_world, tiny_ckpts, tmp_path):
    common = ["--data_dir", str(tiny_world), "--checkpoint", str(tiny_ckpts / "sft"), "--prompt", "Hi"]
    for extra, message in [(["--top_k", "-1"], "--top_k -1: must be 0 or more"),
                           (["--temperature", "-0.5"], "--temperature -0.5: must be 0 or more"),
                           (["--max_new_tokens", "0"], "--max_new_tokens 0: must be a positive integer")]:
        with pytest.raises(ValueError, match=message):
            chat.main(common + extra)
    with pytest.raises(ValueError, match="--max_new_tokens 0: must be a positive integer"):
        evaluate.main(["--data_dir", str(tiny_world), "--max_new_tokens", "0", "--out", str(tmp_path)])
    from data.tinyworld.__main__ import main as tinyworld_main
    with pytest.raises(ValueError, match="--n_sft 0: must be a positive integer"):
        tinyworld_main(["--out", str(tmp_path / "tw"), "--n_sft", "0"])
    with pytest.raises(ValueError, match="--vocab_size 100: must be 256 or more"):
        tinyworld_main(["--out", str(tmp_path / "tw"), "--vocab_size", "100"])
    assert not (tmp_path / "tw").exists()


def test_devices_this_machine_lacks_are_one_line_errors(monkeypatch):
    from device import get_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name in ("cuda", "cuda:7"):
        with pytest.raises(ValueError, match=f"--device {name}: CUDA is not available here"):
            get_device(name)
    with pytest.raises(ValueError, match="--device mps: Apple's MPS is not available here"):
        get_device("mps")
    with pytest.raises(ValueError, match="--device gpu: not a device; choose auto, cpu, cuda, cuda:N or mps"):
        get_device("gpu")
    assert get_device("auto") == "cpu" and get_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with two GPUs
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert get_device("cuda:1") == "cuda:1" and get_device("auto") == "cuda"
    with pytest.raises(ValueError, match="--device cuda:7: this machine has 2 CUDA device.s., cuda:0 to cuda:1"):
        get_device("cuda:7")


# ----------------------------------------------------------------------------------------------------------
# output folders: a new run keeps the earlier one; folders that cannot be written fail first, in one line


def test_a_new_run_moves_the_earlier_run_aside_and_resume_keeps_it(tiny_world, tmp_path, capsys):
    out = tmp_path / "out"
    pretrain.main(pretrain_args(tiny_world, out, "--max_iters", "2", "--eval_interval", "2"))
    first = {name: (out / name).read_bytes() for name in ("ckpt.pt", "log.jsonl", "metrics.json", "loss.png")}
    (out / "notes.txt").write_text("mine")  # not a file a run writes: it stays where it is
    capsys.readouterr()
    pretrain.main(pretrain_args(tiny_world, out, "--max_iters", "3", "--eval_interval", "3"))
    assert f"{out} held an earlier run: moved its files to {out / 'previous' / 'run-1'}" in capsys.readouterr().out
    assert {name: (out / "previous" / "run-1" / name).read_bytes() for name in first} == first
    assert load_checkpoint(out)["step"] == 3 and (out / "notes.txt").read_text() == "mine"
    pretrain.main(pretrain_args(tiny_world, out, "--max_iters", "2", "--eval_interval", "2"))  # the same command
    assert load_checkpoint(out / "previous" / "run-2")["step"] == 3 and load_checkpoint(out)["step"] == 2
    pretrain.main(pretrain_args(tiny_world, out, "--max_iters", "4", "--eval_interval", "2", "--stop_at", "2"))
    pretrain.main(["--out_dir", str(out), "--resume"])  # --resume goes on with the files where they are
    assert sorted(p.name for p in (out / "previous").iterdir()) == ["run-1", "run-2", "run-3"]
    assert load_checkpoint(out)["step"] == 4


def test_an_output_path_that_is_a_file_or_cannot_be_written_fails_before_training(tiny_world, tmp_path,
                                                                                  monkeypatch):
    from pathlib import Path
    (tmp_path / "taken").write_text("a file")
    argv = pretrain_args(tiny_world, tmp_path / "taken", "--max_iters", "1")
    message = one_line_exit(lambda: pretrain.main(argv), "pretrain.py")
    assert message == f"pretrain.py: {tmp_path / 'taken'}: is a file, not a folder (give another --out_dir)"

    def read_only(self, *a, **k):  # what a read-only folder or file system answers
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "touch", read_only)
    message = one_line_exit(lambda: pretrain.main(pretrain_args(tiny_world, tmp_path / "ro", "--max_iters", "1")))
    assert message == f"script.py: {tmp_path / 'ro'}: cannot write in this folder (Read-only file system)"
    assert not (tmp_path / "ro" / "log.jsonl").exists()


def _disk_full(obj, f, *args, **kwargs):
    f.write(b"the first bytes of a checkpoint")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_keeps_the_previous_checkpoint_and_is_one_line(tmp_path, monkeypatch):
    model = GPT(GPTConfig(block_size=8, vocab_size=16, n_layer=1, n_head=1, n_embd=8))
    save_checkpoint(tmp_path, model, stage="pretrain", step=1)
    before = (tmp_path / "ckpt.pt").read_bytes()
    monkeypatch.setattr(torch, "save", _disk_full)
    with pytest.raises(OSError) as e:
        save_checkpoint(tmp_path, model, stage="pretrain", step=2)
    assert e.value.filename == str(tmp_path / "ckpt.pt") and "No space left on device" in e.value.strerror
    assert (tmp_path / "ckpt.pt").read_bytes() == before and load_checkpoint(tmp_path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temporary file left behind
    message = one_line_exit(lambda: save_checkpoint(tmp_path, model, stage="pretrain", step=2), "sft.py")
    assert message == (f"sft.py: {tmp_path / 'ckpt.pt'}: could not write the checkpoint (No space left on device); "
                       f"the one that was there, if any, is unchanged")
    (tmp_path / "metrics.json").write_text('{"old": 1}')
    monkeypatch.setattr(type(tmp_path), "write_text", lambda self, text: _disk_full(None, open(self, "wb")))
    with pytest.raises(OSError):
        write_text_atomically(tmp_path / "metrics.json", '{"new": 2}')
    monkeypatch.undo()
    assert (tmp_path / "metrics.json").read_text() == '{"old": 1}'


def test_a_stage_whose_disk_fills_ends_in_one_line_naming_the_checkpoint(tiny_world, tiny_ckpts, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(torch, "save", _disk_full)
    argv = ["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "pretrain"), "--out_dir", str(tmp_path),
            "--max_iters", "1", "--batch_size", "2", "--n_eval_prompts", "0"]
    message = one_line_exit(lambda: sft.main(argv), "sft.py")
    assert message.startswith(f"sft.py: {tmp_path / 'ckpt.pt'}: could not write the checkpoint (No space left")


def test_temporary_files_of_killed_saves_are_removed_at_the_next_save(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its process id now names no process
    (tmp_path / f".ckpt.pt.tmp-{dead.pid}").write_bytes(b"half a checkpoint")
    alive = tmp_path / f".ckpt.pt.tmp-{os.getppid()}"  # a process that may still be writing
    alive.write_bytes(b"being written")
    save_checkpoint(tmp_path, GPT(GPTConfig(block_size=8, vocab_size=16, n_layer=1, n_head=1, n_embd=8)),
                    stage="sft")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.pt", alive.name])


# ----------------------------------------------------------------------------------------------------------
# interrupts: every stage saves, says so in one line and exits 130; --resume ends where the straight run ends


def _interrupt_at(monkeypatch, module, call, sig):
    """Send this process `sig` during the stage's `call`-th gradient clip, in the middle of a step, as Ctrl-C or
    kill would."""
    real, calls = module.clip_gradients, []

    def clip(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            signal.raise_signal(sig)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "clip_gradients", clip)


def _stop_resume_and_compare(module, script, argv, tmp_path, monkeypatch, capsys, call, sig, steps):
    """Run the stage straight through, then again stopped by `sig` during the call-th clip and resumed -> the
    interrupted run's checkpoint. Both end with the same weights, bit for bit."""
    module.main(argv + ["--out_dir", str(tmp_path / "straight")])
    stopped = tmp_path / "stopped"
    with monkeypatch.context() as m:
        _interrupt_at(m, module, call, sig)
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            module.main(argv + ["--out_dir", str(stopped)])
    assert e.value.code == 130
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("interrupted")]
    assert lines == [f"interrupted ({sig.name}) after step {steps}: saved {stopped / 'ckpt.pt'}; continue with "
                     f"`python {script} --resume --out_dir {stopped}`"]
    interrupted = load_checkpoint(stopped, unfinished_ok=True)
    assert interrupted["step"] == steps and interrupted["resume"] is not None
    module.main(["--out_dir", str(stopped), "--resume"])
    a, b = load_checkpoint(tmp_path / "straight")["model"], load_checkpoint(stopped)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(stopped)["resume"] is None  # finished: a later stage may build on it
    return interrupted


def test_sft_interrupted_saves_and_resumes_exactly_with_dropout(tiny_world, tiny_enc, tmp_path, monkeypatch,
                                                                capsys):
    torch.manual_seed(0)
    base = GPT(GPTConfig(vocab_size=tiny_enc.n_vocab, block_size=128, n_layer=2, n_head=2, n_embd=32, dropout=0.1))
    save_checkpoint(tmp_path / "base", base, stage="pretrain", tokenizer=tiny_enc.name)
    argv = ["--data_dir", str(tiny_world), "--init", str(tmp_path / "base"), "--max_iters", "5", "--batch_size",
            "4", "--eval_interval", "2", "--log_interval", "1", "--n_eval_prompts", "0"]
    interrupted = _stop_resume_and_compare(sft, "sft.py", argv, tmp_path, monkeypatch, capsys, call=2,
                                           sig=signal.SIGINT, steps=2)
    # a later stage does not build on half a run
    half = GPT(GPTConfig(**interrupted["config"]))
    half.load_state_dict(interrupted["model"])
    save_checkpoint(tmp_path / "half", half, stage="sft", step=2, tokenizer=tiny_enc.name,
                    resume=interrupted["resume"])
    with pytest.raises(CheckpointError, match="the 'sft' run there was stopped at step 2, before it finished"):
        reward_model.main(["--data_dir", str(tiny_world), "--init", str(tmp_path / "half"), "--out_dir",
                           str(tmp_path / "rm")])
    log = [json.loads(line) for line in open(tmp_path / "stopped" / "log.jsonl")]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5]  # each step once, across the two runs


def test_reward_model_interrupted_by_sigterm_saves_and_resumes_exactly(tiny_world, tiny_ckpts, tmp_path, monkeypatch,
                                                                        capsys):
    argv = ["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--max_iters", "4", "--batch_size",
            "4", "--eval_interval", "100", "--lr", "1e-2"]
    _stop_resume_and_compare(reward_model, "reward_model.py", argv, tmp_path, monkeypatch, capsys, call=3,
                             sig=signal.SIGTERM, steps=3)
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "stopped" / "metrics.json").read_text())
    assert resumed["accuracy"] == straight["accuracy"] and resumed["score_std"] == straight["score_std"]


def test_an_interrupt_in_the_final_evaluation_keeps_the_training_and_resume_finishes_it(tiny_world, tiny_ckpts,
                                                                                          tmp_path, monkeypatch):
    argv = ["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir", str(tmp_path),
            "--max_iters", "3", "--batch_size", "4", "--lr", "1e-2"]
    with monkeypatch.context() as m:
        def ctrl_c(*args, **kwargs):
            raise KeyboardInterrupt
        m.setattr(reward_model, "final_report", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            reward_model.main(argv)
    trained = load_checkpoint(tmp_path, unfinished_ok=True)
    assert trained["step"] == 3 and trained["resume"] is not None and not (tmp_path / "metrics.json").exists()
    reward_model.main(["--out_dir", str(tmp_path), "--resume"])  # no step left: it evaluates and saves
    done = load_checkpoint(tmp_path, expected_stage="rm")
    assert done["resume"] is None and "accuracy" in json.loads((tmp_path / "metrics.json").read_text())
    assert all(torch.equal(done["model"][k], trained["model"][k]) for k in done["model"])


def test_ppo_interrupted_saves_and_resumes_exactly(tiny_world, tiny_ckpts, tmp_path, monkeypatch, capsys):
    argv = ["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--reward_model",
            str(tiny_ckpts / "rm"), "--iters", "3", "--batch_size", "4", "--minibatch_size", "2", "--ppo_epochs",
            "1", "--max_new_tokens", "6", "--n_eval_prompts", "0", "--lr", "1e-3", "--target_kl", "1"]
    interrupted = _stop_resume_and_compare(ppo, "ppo.py", argv, tmp_path, monkeypatch, capsys, call=1,
                                           sig=signal.SIGINT, steps=1)
    assert set(interrupted["resume"]) >= {"value_model", "value_opt", "gen", "order_gen", "kl_coef"}
    straight = [json.loads(line) for line in open(tmp_path / "straight" / "log.jsonl")]
    resumed = [json.loads(line) for line in open(tmp_path / "stopped" / "log.jsonl")]
    assert [r["kl_coef"] for r in resumed] == [r["kl_coef"] for r in straight]  # the adaptive KL controller too
    assert [r["rm_score"] for r in resumed] == [r["rm_score"] for r in straight]  # the same rollouts


def test_grpo_interrupted_saves_and_resumes_exactly(tiny_world, tiny_ckpts, tmp_path, monkeypatch, capsys):
    argv = ["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--iters", "3", "--prompts_per_iter",
            "2", "--group_size", "2", "--minibatch_size", "2", "--max_new_tokens", "6", "--n_samples", "1",
            "--n_test_problems", "2", "--n_eval_prompts", "0", "--lr", "1e-3"]
    interrupted = _stop_resume_and_compare(grpo, "grpo.py", argv, tmp_path, monkeypatch, capsys, call=3,
                                           sig=signal.SIGTERM, steps=2)
    assert set(interrupted["resume"]) >= {"gen", "order_gen"}
    straight = [json.loads(line) for line in open(tmp_path / "straight" / "log.jsonl")]
    resumed = [json.loads(line) for line in open(tmp_path / "stopped" / "log.jsonl")]
    assert [r["step"] for r in resumed] == [1, 2, 3]
    assert [r["reward"] for r in resumed] == [r["reward"] for r in straight]  # the same rollouts


def test_dpo_interrupted_mid_round_resumes_exactly_on_that_rounds_pairs(tiny_world, tiny_ckpts, tmp_path,
                                                                        monkeypatch, capsys):
    argv = ["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--n_sampled_pairs", "12", "--rounds",
            "2", "--max_iters", "4", "--batch_size", "4", "--lr", "1e-2", "--n_eval_prompts", "0",
            "--max_new_tokens", "6"]
    interrupted = _stop_resume_and_compare(dpo, "dpo.py", argv, tmp_path, monkeypatch, capsys, call=1,
                                           sig=signal.SIGINT, steps=1)
    assert interrupted["resume"]["pairs"] and interrupted["resume"]["n_labels"] == len(interrupted["resume"]["pairs"])
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert json.loads((tmp_path / "stopped" / "metrics.json").read_text())["labels"] == straight["labels"]


def test_resume_refuses_changed_options_and_leaves_a_finished_run_alone(tiny_world, tiny_ckpts, tmp_path, capsys):
    pretrain.main(pretrain_args(tiny_world, tmp_path / "pre", "--max_iters", "2", "--eval_interval", "2"))
    files = {p.name: p.read_bytes() for p in (tmp_path / "pre").iterdir()}
    with pytest.raises(ValueError, match=r"--lr 0.1, --max_iters 9: --resume continues the saved run with its own "
                                         r"options \(--lr 0.003, --max_iters 2\)"):
        pretrain.main(["--out_dir", str(tmp_path / "pre"), "--resume", "--max_iters", "9", "--lr", "0.1"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        pretrain.main(["--out_dir", str(tmp_path / "pre"), "--resume"])
    assert e.value.code == 0 and "the run is at step 2, its last (--max_iters 2): nothing to resume" in \
        capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (tmp_path / "pre").iterdir()} == files  # metrics.json untouched
    sft.main(["--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "pretrain"), "--out_dir",
              str(tmp_path / "sft"), "--max_iters", "1", "--batch_size", "2", "--n_eval_prompts", "0"])
    with pytest.raises(SystemExit) as e:
        sft.main(["--out_dir", str(tmp_path / "sft"), "--resume"])
    assert e.value.code == 0


# ----------------------------------------------------------------------------------------------------------
# checkpoints that cannot be used: one CheckpointError naming the file


def _tiny_gpt(vocab_size=16):
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=8, vocab_size=vocab_size, n_layer=1, n_head=1, n_embd=8))


def test_random_bytes_are_unreadable_not_pickled_code(tmp_path):
    (tmp_path / "noise.pt").write_bytes(os.urandom(3000))
    (tmp_path / "zipnoise.pt").write_bytes(b"PK\x03\x04" + os.urandom(3000))
    for name in ("noise.pt", "zipnoise.pt"):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(tmp_path / name)
        assert str(e.value).startswith(f"{tmp_path / name}: unreadable") and "code" not in str(e.value)


def test_a_checkpoint_with_the_right_tag_but_other_contents_is_refused_naming_the_file(tmp_path):
    good = save_checkpoint(tmp_path / "good", _tiny_gpt(), stage="sft")
    ckpt = torch.load(good, weights_only=True)
    cases = {
        "shape": {**ckpt, "model": {**ckpt["model"], "transformer.wpe.weight": torch.zeros(3, 3)}},
        "missing_weight": {**ckpt, "model": {k: v for k, v in ckpt["model"].items() if "ln_f" not in k}},
        "config_key": {**ckpt, "config": {**ckpt["config"], "n_experts": 8}},
        "config_value": {**ckpt, "config": {**ckpt["config"], "n_head": 3}},
        "no_model": {k: v for k, v in ckpt.items() if k != "model"},
    }
    expected = {"shape": "wpe.weight", "missing_weight": "ln_f", "config_key": "n_experts",
                "config_value": "not a multiple of n_head 3", "no_model": "an incomplete checkpoint .no 'model'"}
    for name, payload in cases.items():
        torch.save(payload, tmp_path / f"{name}.pt")
        with pytest.raises(CheckpointError, match=f"{name}.pt.*{expected[name]}"):
            load_model(tmp_path / f"{name}.pt")


def test_a_checkpoint_without_a_tokenizer_must_have_its_vocabulary_size(tmp_path, tiny_enc):
    save_checkpoint(tmp_path / "big", _tiny_gpt(tiny_enc.n_vocab + 10), stage="sft")  # records no tokenizer
    with pytest.raises(CheckpointError, match=f"vocabulary of {tiny_enc.n_vocab + 10} tokens is not the "
                                              f"{tiny_enc.n_vocab}"):
        load_model(tmp_path / "big", tokenizer=tiny_enc)
    save_checkpoint(tmp_path / "fits", _tiny_gpt(tiny_enc.n_vocab), stage="sft")
    assert load_model(tmp_path / "fits", tokenizer=tiny_enc)[1]["tokenizer"] is None


def _gpt2_dir(path, tensors, config=None):
    """A Hugging Face GPT-2 directory written by hand: config.json and model.safetensors (header + raw bytes)."""
    path.mkdir()
    config = config or {"n_positions": 8, "vocab_size": 16, "n_layer": 1, "n_head": 1, "n_embd": 8}
    (path / "config.json").write_text(json.dumps(config))
    header, data = {}, b""
    for name, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    head = json.dumps(header).encode()
    (path / "model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + data)
    return path


def _hf_weights(model):
    """model.py's GPT as Hugging Face names and lays out its weights (Conv1D weights transposed)."""
    from checkpoint import CONV1D_WEIGHTS
    return {k[len("transformer."):]: (v.t() if k.endswith(CONV1D_WEIGHTS) else v).detach()
            for k, v in model.state_dict().items() if k != "lm_head.weight"}


def test_malformed_gpt2_weights_are_refused_naming_the_file(tmp_path):
    weights = _hf_weights(_tiny_gpt())
    assert GPT.from_pretrained(_gpt2_dir(tmp_path / "good", weights)).config.n_embd == 8  # the layout is right
    bad = _gpt2_dir(tmp_path / "noise", weights)
    (bad / "model.safetensors").write_bytes(os.urandom(500))
    with pytest.raises(CheckpointError, match="noise/model.safetensors: not a readable safetensors file"):
        GPT.from_pretrained(bad)
    (bad / "model.safetensors").write_bytes(b"\xff" * 8 + bytes(492))  # a header size past what an index can hold
    with pytest.raises(CheckpointError, match="noise/model.safetensors: .*header size .* exceeds the file's 500"):
        GPT.from_pretrained(bad)
    cut = _gpt2_dir(tmp_path / "cut", weights)
    (cut / "model.safetensors").write_bytes((cut / "model.safetensors").read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="cut/model.safetensors: .*lie outside the file"):
        GPT.from_pretrained(cut)
    shape = _gpt2_dir(tmp_path / "shape", {**weights, "wpe.weight": torch.zeros(4, 8)})
    with pytest.raises(CheckpointError, match=r"shape: weight transformer.wpe.weight has shape \(4, 8\)"):
        GPT.from_pretrained(shape)
    missing = _gpt2_dir(tmp_path / "missing", {k: v for k, v in weights.items() if k != "ln_f.bias"})
    with pytest.raises(CheckpointError, match="missing: the checkpoint has no weight transformer.ln_f.bias"):
        GPT.from_pretrained(missing)
    config = _gpt2_dir(tmp_path / "config", weights)
    (config / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config/config.json: not a GPT-2 config"):
        GPT.from_pretrained(config)
    pickled = _gpt2_dir(tmp_path / "bin", weights)
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(os.urandom(500))
    with pytest.raises(CheckpointError, match="bin/pytorch_model.bin: unreadable"):
        GPT.from_pretrained(pickled)


def test_evaluate_and_chat_refuse_another_tokenizer_and_reward_models(tiny_world, tiny_enc, tiny_ckpts, tmp_path):
    other = _tiny_gpt(tiny_enc.n_vocab + 100)  # a larger vocabulary: every id of this tokenizer would be valid
    save_checkpoint(tmp_path / "gpt2_sft", other, stage="sft", tokenizer="gpt2")
    common = ["--data_dir", str(tiny_world), "--out", str(tmp_path / "eval"), "--n_prompts", "2"]
    with pytest.raises(CheckpointError, match=f"gpt2_sft/ckpt.pt was trained with tokenizer 'gpt2', but this run "
                                              f"uses '{tiny_enc.name}'"):
        evaluate.main(common + ["--reference", str(tmp_path / "gpt2_sft"), "--checkpoints", str(tiny_ckpts / "sft")])
    for args in (["--reference", str(tiny_ckpts / "sft"), "--checkpoints", str(tiny_ckpts / "rm")],
                 ["--reference", str(tiny_ckpts / "rm"), "--checkpoints", str(tiny_ckpts / "sft")]):
        with pytest.raises(CheckpointError, match="rm/ckpt.pt: holds a reward model .ScalarGPT."):
            evaluate.main(common + args)
    assert not (tmp_path / "eval").exists()  # refused before any work
    with pytest.raises(CheckpointError, match="rm/ckpt.pt: holds a reward model"):
        chat.main(["--data_dir", str(tiny_world), "--compare", str(tiny_ckpts / "sft"), str(tiny_ckpts / "rm"),
                   "--prompt", "Hi"])


def test_chat_says_when_a_prompt_is_too_long_and_refuses_an_empty_one(tiny_world, tiny_ckpts, capsys):
    long = "Tell me a story about Mia and her cat at the lake. " * 20  # far more than 128 tokens
    chat.main(["--data_dir", str(tiny_world), "--compare", str(tiny_ckpts / "sft"), str(tiny_ckpts / "pretrain"),
               "--prompt", long, "--max_new_tokens", "4"])
    out = capsys.readouterr().out
    assert "None" not in out
    for name in ("sft", "pretrain"):
        assert f"[{tiny_ckpts / name}] (the prompt is longer than the model's context of 128 tokens" in out
    with pytest.raises(ValueError, match="--prompt is empty"):
        chat.main(["--data_dir", str(tiny_world), "--compare", str(tiny_ckpts / "sft"), "--prompt", "  "])


# ----------------------------------------------------------------------------------------------------------
# data: bad input files are one line naming them; what cannot be used is dropped and counted


def test_prepare_refuses_bad_inputs_in_one_line_naming_them(tmp_path):
    from data.prepare import main as prepare
    files = {"empty.txt": b"", "blank.txt": b"  \n\n \t\n", "latin1.txt": "caf\xe9 au lait\n".encode("latin-1")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    expected = {"empty.txt": "no text in it", "blank.txt": "no text in it", "latin1.txt": "not UTF-8 text .byte 0xe9"}
    for name, message in expected.items():
        with pytest.raises(ValueError, match=f"--input {tmp_path / name}: {message}"):
            prepare(["--input", str(tmp_path / name), "--out", str(tmp_path / "out")])
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="is a folder, not a file"):
        prepare(["--input", str(tmp_path / "folder"), "--out", str(tmp_path / "out")])
    (tmp_path / "text.txt").write_text("Some words here.\n\nAnd some more words there.\n")
    with pytest.raises(ValueError, match="--val_frac 1.5: must be less than 1"):
        prepare(["--input", str(tmp_path / "text.txt"), "--out", str(tmp_path / "out"), "--val-frac", "1.5"])
    (tmp_path / "few.bpe").write_text("".join(f"{base64.b64encode(bytes([b])).decode()} {i}\n"
                                              for i, b in enumerate(b"abc")))
    with pytest.raises(ValueError, match="few.bpe: not a byte-level BPE: no token for 253 of the 256 byte values"):
        prepare(["--input", str(tmp_path / "text.txt"), "--out", str(tmp_path / "out"), "--tokenizer",
                 str(tmp_path / "few.bpe")])
    message = one_line_exit(lambda: prepare(["--input", str(tmp_path / "latin1.txt"), "--out", str(tmp_path)]),
                            "data.prepare")
    assert "not UTF-8 text" in message


def test_prepare_never_overwrites_prepared_data_without_overwrite(tmp_path):
    from data.prepare import main as prepare
    (tmp_path / "a.txt").write_text("\n\n".join(f"Document {i} has a few words." for i in range(20)))
    (tmp_path / "b.txt").write_text("\n\n".join(f"Another text, number {i}, longer than the first." for i in range(30)))
    out = tmp_path / "data"
    first = prepare(["--input", str(tmp_path / "a.txt"), "--out", str(out), "--tokenizer", "bpe:260"])
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError, match=f"--out {out}: already holds prepared data .meta.json, train.bin, val.bin.; "
                                         f"add --overwrite to replace it"):
        prepare(["--input", str(tmp_path / "b.txt"), "--out", str(out), "--tokenizer", "bpe:260"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == kept
    second = prepare(["--input", str(tmp_path / "b.txt"), "--out", str(out), "--tokenizer", "bpe:260", "--overwrite"])
    assert second["documents"] == 30 != first["documents"]


def test_ppo_drops_and_counts_prompts_that_fill_the_context(tiny_world, tiny_ckpts, tmp_path, capsys):
    long = "Tell me a story about Mia and her cat at the lake. " * 20  # more than the 128 tokens of the context
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in [long, "What is 2 plus 3?", long, "Hi!"]))
    ppo.main(["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--reward_model",
              str(tiny_ckpts / "rm"), "--out_dir", str(tmp_path / "out"), "--prompts", str(prompts), "--iters", "2",
              "--batch_size", "4", "--minibatch_size", "4", "--ppo_epochs", "1", "--max_new_tokens", "4",
              "--n_eval_prompts", "0"])
    assert (f"note: {prompts}: 2 of 4 prompts fill the model's context of 128 tokens, leaving no room for a "
            f"reply: dropped") in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "out", expected_stage="ppo")["step"] == 2
    prompts.write_text(json.dumps({"prompt": long}) + "\n")
    with pytest.raises(ValueError, match="no prompt leaves room for a reply in the model's context of 128 tokens"):
        ppo.main(["--data_dir", str(tiny_world), "--policy", str(tiny_ckpts / "sft"), "--reward_model",
                  str(tiny_ckpts / "rm"), "--out_dir", str(tmp_path / "out2"), "--prompts", str(prompts)])


def test_pairs_with_the_same_reply_twice_are_dropped_and_counted(tiny_enc, tmp_path, capsys):
    from data.datasets import render_preferences
    rows = [{"prompt": "Say hi.", "chosen": "Hi there!", "rejected": "Go away."},
            {"prompt": "Say hi.", "chosen": "Hello.", "rejected": "Hello."},
            {"prompt": "Name a pet.", "chosen": "A cat.", "rejected": "A cat."}]
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs, too_long = render_preferences(tiny_enc, path, 128)
    assert [p["chosen"] for p in pairs] == ["Hi there!"] and too_long == 0
    assert (f"note: {path}: 2 of 3 pairs have the same chosen and rejected reply (no preference to learn): "
            f"dropped") in capsys.readouterr().out


def test_conversations_that_do_not_alternate_are_noted_with_their_line(tmp_path, capsys):
    from data.formats import load_conversations
    u, a = {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}
    convs = [[u, a], [u, a, u, a], [a, u, a], [u, u, a]]
    path = tmp_path / "convs.jsonl"
    path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in convs))
    assert len(load_conversations(path)) == 4  # kept as written
    assert (f"note: {path}: 2 of 4 conversations do not alternate user and assistant turns from a first user turn "
            f"(the first at line 3); kept as written") in capsys.readouterr().out
