"""The code examples in the docs run as written."""

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def test_subclass_example_trains_samples_and_saves(tmp_path):
    example = python_blocks(DOCS / "families.md")[-1]
    script = tmp_path / "tiny_gan.py"
    script.write_text(example)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "tiny_gan_samples.png").stat().st_size > 0
    assert {p.name for p in (tmp_path / "tiny_gan").iterdir()} == {"model.safetensors", "config.json"}
