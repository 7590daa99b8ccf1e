"""The deployment files agree with socd.secrets: the unit's LoadCredential= examples and
deploy/README.md name every credential socd reads, and the Prometheus scrape example
(HTTPS and basic auth) is a configuration promtool accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from socd.secrets import SECRETS

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "socd.service"
GUIDE = ROOT / "deploy" / "README.md"


def test_the_unit_offers_every_credential_in_one_commented_block() -> None:
    lines = UNIT.read_text().splitlines()
    found = [(number, line) for number, line in enumerate(lines)
             if "LoadCredential=" in line and not line.lstrip().startswith("# ")]
    names = {re.sub(r"^#?LoadCredential=([^:]+):.*$", r"\1", line) for _, line in found}
    assert names == set(SECRETS.values())
    numbers = [number for number, _ in found]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # one block
    assert all(line.startswith("#LoadCredential=") for _, line in found)  # examples only


def test_the_guide_names_every_credential_and_file_key() -> None:
    text = GUIDE.read_text()
    for (section, key), credential in SECRETS.items():
        assert f"`{credential}`" in text
        assert f"`{section}.{key}_file`" in text


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed (scripts/test-tools.sh installs it)")
def test_the_scrape_example_is_a_valid_prometheus_configuration(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    scrape = [block for block in blocks if "scrape_configs:" in block]
    assert len(scrape) == 1 and "tls_config:" in scrape[0] and "basic_auth:" in scrape[0]
    path = tmp_path / "prometheus.yml"
    path.write_text(scrape[0])
    result = subprocess.run(["promtool", "check", "config", "--syntax-only", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
