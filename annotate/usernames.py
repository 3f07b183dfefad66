"""What a new username may look like: no look-alikes of other names, no reserved prefixes.

Django's validator allows any Unicode letter, so "аdmin" with a Cyrillic "а", "ＡＤＭＩＮ" in full-width letters
or "imported-coco" (the account imported votes are filed under) could all be signed up. The rule here, after
Unicode's UTS #39 ("restriction levels", "whole-script confusables"), kept simple and sane for people who write
Chinese, Japanese or Korean:

1. the name is already in NFKC form (no full-width, ligature or other compatibility characters);
2. its letters come from one script, or from Latin together with Han, Hiragana, Katakana, Bopomofo or Hangul
   ("小明abc" is fine; Latin mixed with Cyrillic or Greek is not);
3. a name written wholly in Cyrillic or Greek letters that all look like Latin ones ("аdmіn", "ВОТ") is refused;
4. the skeleton (confusables mapped to Latin, case folded) must not start with a reserved prefix (`imported-`);
5. the name must not look like an existing one: its `look_alike_key` (the skeleton, with the Latin look-alikes
   `I`/`1`/`|` → `l`, `0` → `o`, `ɑ` → `a` ... mapped too) differs from every other user's ("paypa1", "AIice",
   "ɑlice" are refused while "paypal" and "alice" exist). Checked against the users whose names have the same
   length (the keys map one character to one), so sign-up reads one column of a filtered set, not every user.
"""

from __future__ import annotations

import unicodedata

RESERVED_PREFIXES = ("imported-",)
CJK_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "BOPOMOFO", "HANGUL", "IDEOGRAPHIC"})
# Cyrillic and Greek letters that render like a Latin letter (a subset of Unicode's confusables.txt).
CONFUSABLES = dict(
    zip(
        "аеорсухіјѕԁһӏԛԝвкмнтАВЕЅІЈКМНОРСТХУԌԚԜαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
        "aeopcyxijsdhlqwbkmhtABESIJKMHOPCTXYGQWaBeikvoptuxABEZHIKMNOPTYX",
        strict=True,
    )
)


# Characters that look like another Latin letter or digit in common sans-serif fonts (UTS #39 confusables).
LATIN_LOOK_ALIKES = dict(zip("I1|ǀ0ɑıȷɡ", "lllloaijg", strict=True))


def _script(char: str) -> str | None:
    """The script of a letter from its Unicode name's first word (LATIN, CYRILLIC, CJK ...); None otherwise."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def skeleton(name: str) -> str:
    """NFKC, look-alikes mapped to Latin, case folded: two names with one skeleton look the same."""
    return "".join(CONFUSABLES.get(c, c) for c in unicodedata.normalize("NFKC", name)).casefold()


def look_alike_key(name: str) -> str:
    """What a name looks like: the skeleton with Latin look-alikes mapped too (`AIice` and `alice` share one)."""
    mapped = (CONFUSABLES.get(c, c) for c in unicodedata.normalize("NFKC", name))
    return "".join(LATIN_LOOK_ALIKES.get(c, c) for c in mapped).casefold()


def look_alike_taken(name: str) -> str | None:
    """An existing username that looks like `name` (itself excluded; Django's form refuses exact, case-blind
    repeats), or None."""
    from django.contrib.auth import get_user_model
    from django.db.models.functions import Length

    user_model = get_user_model()
    field = user_model.USERNAME_FIELD
    key = look_alike_key(name)
    same_length = (
        user_model.objects.annotate(_chars=Length(field))
        .filter(_chars=len(name))
        .exclude(**{field: name})
        .values_list(field, flat=True)
    )
    return next((other for other in same_length.iterator() if look_alike_key(other) == key), None)


def username_problem(name: str) -> str | None:
    """Why `name` cannot be a new username (English; the form translates by code), or None when it can."""
    if unicodedata.normalize("NFKC", name) != name:
        return "nfkc"
    scripts = {s for s in map(_script, name) if s}
    non_cjk = scripts - CJK_SCRIPTS
    if len(non_cjk) > 1 or (non_cjk and scripts & CJK_SCRIPTS and non_cjk != {"LATIN"}):
        return "mixed_scripts"
    letters = [c for c in name if c.isalpha()]
    if non_cjk <= {"CYRILLIC", "GREEK"} and non_cjk and all(c in CONFUSABLES for c in letters):
        return "looks_latin"
    if skeleton(name).startswith(RESERVED_PREFIXES):
        return "reserved"
    return None
