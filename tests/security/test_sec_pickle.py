"""torch.load of a crafted pickle (CVE-2025-5173, CVE-2025-23045 in peers): refused, never executed."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest
import torch

from training.ml import checkpoint


class _Exploit:
    """Unpickling this calls os.system(...) and would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"{sys.executable} -c \"open({str(self.marker)!r}, 'w').write('pwned')\"",))


def _write_raw_pickle(path: Path, payload: object) -> None:
    with path.open("wb") as fh:
        pickle.dump(payload, fh)


def _write_torch_file(path: Path, payload: object) -> None:
    torch.save(payload, path)


def _checkpoint_shaped(marker: Path) -> dict:
    """Looks like a real checkpoint; the exploit hides inside the config."""
    return {"format_version": 1, "model": {"w": torch.zeros(2)}, "epoch": 3, "history": [], "classes": ["a", "b"],
            "config": {"lr": 0.1, "hook": _Exploit(marker)}}  # fmt: skip


@pytest.mark.parametrize("writer", [_write_raw_pickle, _write_torch_file], ids=["raw-pickle", "torch-save"])
@pytest.mark.parametrize("shape", ["bare", "checkpoint-shaped"])
@pytest.mark.parametrize("loader", ["load_checkpoint", "load_state_dict_file"])
def test_crafted_pickle_is_refused_and_never_runs(tmp_path, writer, shape, loader):
    marker = tmp_path / "pwned.txt"
    payload = _Exploit(marker) if shape == "bare" else _checkpoint_shaped(marker)
    path = tmp_path / "last.pt"
    writer(path, payload)
    assert not marker.exists()
    load = getattr(checkpoint, loader)
    with pytest.raises(checkpoint.CheckpointError) as excinfo:
        load(path)
    assert "refusing to load" in str(excinfo.value) or "not" in str(excinfo.value)
    assert not marker.exists(), "the pickle ran code while loading"


def test_control_the_exploit_does_run_with_an_unsafe_load(tmp_path):
    """Proves the payload is live: plain pickle.load executes it (so the test above can fail)."""
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pkl"
    _write_raw_pickle(path, _Exploit(marker))
    with path.open("rb") as fh:
        pickle.load(fh)  # noqa: S301 - deliberately unsafe, in a temp dir, to prove the payload works
    assert marker.read_text() == "pwned"


def test_a_genuine_checkpoint_still_loads(tmp_path):
    state = {"format_version": checkpoint.FORMAT_VERSION, "model": {"w": torch.ones(2)}, "epoch": 1,
             "config": {"lr": 0.1}, "history": [], "classes": ["a", "b"]}  # fmt: skip
    checkpoint.save_checkpoint(state, tmp_path / "last.pt")
    loaded = checkpoint.load_checkpoint(tmp_path / "last.pt")
    assert loaded["epoch"] == 1 and torch.equal(loaded["model"]["w"], torch.ones(2))
