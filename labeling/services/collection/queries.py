"""The queries of a category, as ImageNet built them (Deng et al. 2009, section 3.1): the synset's words, each
with the parent's head word appended ("husky dog"), and the category's names in the project's other languages.

Words come from the category (name, synonyms, names per language, parent category) and, for a category with a
wnid, from WordNet 3.0 (its synonyms and its hypernym's first word). Duplicates (case-insensitive) are dropped;
the order is stable: name, synonyms, parent-qualified, then each language in the project's order.
"""

from __future__ import annotations

from dataclasses import dataclass

from labeling.services.collection.wordnet import wordnet_terms

MAX_QUERIES = 24


@dataclass(frozen=True)
class QuerySpec:
    text: str
    language: str
    kind: str  # name | synonym | parent | translation


def _head(phrase: str) -> str:
    """The head word of an English noun phrase: its last word ("domestic animal" -> "animal")."""
    words = phrase.split()
    return words[-1] if words else ""


def category_queries(
    *, name: str, synonyms: list[str], wnid: str, parent_name: str, names: dict[str, list[str] | str],
    languages: list[str],
) -> list[QuerySpec]:  # fmt: skip
    terms = wordnet_terms(wnid) if wnid else None
    words: list[str] = [name, *synonyms, *(terms.lemmas if terms else [])]
    parents = [p for p in ([parent_name] if parent_name else []) + (terms.parents if terms else []) if p]
    out: list[QuerySpec] = []
    seen: set[str] = set()

    def add(text: str, language: str, kind: str) -> None:
        text = " ".join(text.split())[:300]
        if text and text.casefold() not in seen and len(out) < MAX_QUERIES:
            seen.add(text.casefold())
            out.append(QuerySpec(text, language, kind))

    for i, word in enumerate(words):
        add(word, "en", "name" if i == 0 else "synonym")
    heads = list(dict.fromkeys(_head(p) for p in parents))
    for word in list(dict.fromkeys(w for w in words if w)):
        for head in heads[:1]:
            if head.casefold() not in word.casefold().split():
                add(f"{word} {head}", "en", "parent")
    for language in languages:
        value = names.get(language) or []
        for text in [value] if isinstance(value, str) else value:
            add(str(text), language, "translation")
    return out
