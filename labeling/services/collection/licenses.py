"""Licences of collected images, normalised to short codes, and which ones a project keeps.

Each source names licences its own way (Openverse `by-sa` + version, Commons `CC BY-SA 4.0`, Flickr's numeric
ids); they all map to: cc0, pdm (public domain mark / no known copyright restrictions), by, by-sa, by-nd, by-nc,
by-nc-sa, by-nc-nd, or "" (unknown, all rights reserved: never kept). A project lists the codes it allows
(`Project.allowed_licenses`); empty means DEFAULT_ALLOWED, the licences that allow redistribution of a dataset
with attribution.
"""

from __future__ import annotations

import re

CODES = ("cc0", "pdm", "by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd")
DEFAULT_ALLOWED = ("cc0", "pdm", "by", "by-sa")
# https://www.flickr.com/services/api/flickr.photos.licenses.getInfo.html
FLICKR = {"1": "by-nc-sa", "2": "by-nc", "3": "by-nc-nd", "4": "by", "5": "by-sa", "6": "by-nd", "7": "pdm",
          "8": "pdm", "9": "cc0", "10": "pdm"}  # fmt: skip


def license_normalise(raw: str) -> str:
    """'CC BY-SA 4.0', 'cc-by-sa-4.0', 'by-sa', 'Public domain', 'CC0' -> a code of CODES, or ''."""
    text = re.sub(r"[\s_]+", "-", (raw or "").strip().lower())
    if not text:
        return ""
    if "cc0" in text or text in {"cc-zero", "zero"}:
        return "cc0"
    if text in {"pdm", "public-domain", "pd", "public-domain-mark"} or text.startswith("pd-") or "publicdomain" in text:
        return "pdm"
    text = re.sub(r"^cc-", "", text)
    text = re.sub(r"-?\d+(\.\d+)?$", "", text)  # the version
    text = re.sub(r"-(unported|generic|international)$", "", text)
    return text if text in CODES else ""


def license_allowed(code: str, allowed: list[str] | tuple[str, ...]) -> bool:
    return bool(code) and code in (allowed or DEFAULT_ALLOWED)
