"""Golden files: the rendered output of the CLI for fixed inputs, byte for byte.

After an intended change, regenerate them with:

    DERIVE_REGENERATE=1 .venv/bin/python -m pytest tests/test_golden.py

and review the diff of tests/golden/ before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from derive.cli import main
from derive.network import builtin_names

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "count-lstm-pytorch-seed.txt": ["count", "lstm", "-f", "pytorch", "--input-size", "512",
                                    "--hidden-size", "256", "--bidirectional"],
    "count-lstmp-pytorch-2-layers.txt": ["count", "lstm", "-f", "pytorch", "--input-size", "80",
                                         "--hidden-size", "1024", "--proj-size", "256",
                                         "--num-layers", "2"],
    "count-gru-keras.json": ["count", "gru", "-f", "keras", "--input-size", "10",
                             "--hidden-size", "20", "--bidirectional", "--json"],
    "count-model-sak2014-lstmp.txt": ["count", "sak2014-lstmp", "--size", "n_c=2048",
                                      "--size", "n_r=512", "--size", "L=2"],
    "count-model-xlstm-baseline.json": ["count", "xlstm-lstm-baseline", "--size", "d=16",
                                        "--size", "L=2", "--size", "V=11", "--json"],
    "latex-model-shi2015-convlstm.tex": ["latex", "shi2015-convlstm"],
    "models.txt": ["models"],
    **{f"table-{name}.{ext}": ["table", name, "--format", fmt] for name in builtin_names()
       for ext, fmt in (("txt", "text"), ("md", "markdown"), ("tex", "latex"))},
    "shapes-lstm.txt": ["shapes", "lstm"],
    "shapes-gru-pytorch.txt": ["shapes", "gru", "-f", "pytorch"],
    "shapes-lstm-peephole.txt": ["shapes", "lstm-peephole"],
    "formula-lstmp-pytorch.txt": ["formula", "lstmp", "-f", "pytorch"],
    "flops-lstm-pytorch-all.txt": ["flops", "lstm", "-f", "pytorch", "--input-size", "10",
                                   "--hidden-size", "20", "-c", "all"],
    "flops-lstmp-pytorch-thop.txt": ["flops", "lstm", "-f", "pytorch", "--input-size", "80",
                                     "--hidden-size", "1024", "--proj-size", "256",
                                     "--num-layers", "2", "--seq-len", "100", "--batch", "16",
                                     "-c", "thop"],
    "memory-lstm-pytorch-seed.txt": ["memory", "lstm", "-f", "pytorch", "--input-size", "512",
                                     "--hidden-size", "256", "--bidirectional", "--seq-len",
                                     "100", "--batch", "32", "--dtype", "bf16"],
    "solve-lstm-pytorch.txt": ["solve", "lstm", "-f", "pytorch", "--budget", "1000000",
                               "--input-size", "512"],
    "match-lstm-pytorch.txt": ["match", "lstm", "-f", "pytorch", "--to", "gru,rnn",
                               "--input-size", "512", "--hidden-size", "256"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(CASES[name]) == 0
    out = capsys.readouterr().out
    path = GOLDEN / name
    if os.environ.get("DERIVE_REGENERATE"):
        path.write_text(out, encoding="utf-8")
    assert path.exists(), f"missing {path}; run DERIVE_REGENERATE=1 pytest tests/test_golden.py"
    assert out == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if the change is intended, run "
        "DERIVE_REGENERATE=1 .venv/bin/python -m pytest tests/test_golden.py and review the diff")
