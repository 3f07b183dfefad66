"""A file-system storage for tests that records what is saved and can hold reads at a gate: it stands in for a
slow or remote object store (the storage backend is outside our code; the training code under test is not)."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django.core.files.storage import FileSystemStorage


class GatedStorage(FileSystemStorage):
    saved: ClassVar[list[str]] = []
    gate: ClassVar[threading.Event | None] = None  # while set to an unset Event, every open() waits for it
    reading: ClassVar[threading.Event] = threading.Event()  # set by the first open() that reached the gate

    @classmethod
    def reset(cls, *, gated: bool) -> None:
        cls.saved = []
        cls.gate = threading.Event() if gated else None
        cls.reading = threading.Event()

    def _open(self, name: str, mode: str = "rb") -> Any:
        gate = type(self).gate
        if gate is not None:
            type(self).reading.set()
            if not gate.wait(timeout=60):
                raise TimeoutError("the test never opened the gate")
        return super()._open(name, mode)

    def _save(self, name: str, content: Any) -> str:
        saved = super()._save(name, content)
        type(self).saved.append(saved)
        return saved
