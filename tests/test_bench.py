"""bench.py runs end to end on a tiny setting, and says what it skips."""
import importlib.util

import bench


def test_bench_runs_and_skips_nanogpt_without_its_file(tmp_path, capsys):
    results = bench.main(["--nanogpt", str(tmp_path / "missing.py"), "--steps", "1", "--repeats", "1",
                          "--new_tokens", "4", "--threads", "1"])
    out = capsys.readouterr().out
    assert "skipped: no nanoGPT model.py" in out and "train_vs_nanogpt" not in results
    assert f"the cache is {results['kv_cache_speedup']:.1f}x faster" in out  # what it prints is what it returns
    if importlib.util.find_spec("transformers"):  # a dev requirement: the comparison with Hugging Face
        assert f"model.GPT.generate is {results['generate_vs_hf']:.2f}x Hugging Face's speed" in out
    else:
        assert "skipped: transformers is not installed" in out and "generate_vs_hf" not in results


def test_bench_against_a_stand_in_for_nanogpt(tmp_path, capsys):
    """A file with nanoGPT's interface (GPT(config), forward(idx, targets) -> (logits, loss),
    configure_optimizers), here built on model.GPT itself, so the comparison runs without nanoGPT."""
    (tmp_path / "model.py").write_text('''
import torch
import torch.nn.functional as F
import model as ours
GPTConfig = ours.GPTConfig

class GPT(ours.GPT):
    def __init__(self, config):
        super().__init__(config)
        for block in self.transformer.h:
            block.mlp.gelu = torch.nn.GELU()
    def forward(self, idx, targets):
        logits = super().forward(idx)
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        return self.configure_optimizer(weight_decay, learning_rate, betas, device_type)
''')
    results = bench.main(["--nanogpt", str(tmp_path / "model.py"), "--steps", "2", "--repeats", "1",
                          "--new_tokens", "4", "--threads", "1", "--clock", "cpu"])
    out = capsys.readouterr().out
    for key in ("train_vs_nanogpt", "train_vs_nanogpt_tanh_gelu"):  # both comparisons ran and were reported
        assert f"model.GPT is {results[key]:.2f}x nanoGPT's speed" in out
