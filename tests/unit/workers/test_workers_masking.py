from __future__ import annotations

from workers.masking import MASK, Masker


def test_masks_inside_nested_strings_and_keys() -> None:
    masker = Masker(["s3cr3t"])
    value = {"url": "https://u:s3cr3t@h", "list": ["a s3cr3t b", 3, None], "s3cr3t": True}
    assert masker.mask(value) == {
        "url": f"https://u:{MASK}@h",
        "list": [f"a {MASK} b", 3, None],
        MASK: True,
    }


def test_longest_secret_first() -> None:
    masker = Masker(["abc", "abcdef"])
    assert masker.mask_text("xabcdefx abc") == f"x{MASK}x {MASK}"


def test_short_and_empty_secrets_are_ignored() -> None:
    masker = Masker(["", "ab"])
    assert not masker.active
    assert masker.mask("ab cd") == "ab cd"


def test_three_characters_are_masked() -> None:
    assert Masker(["xyz"]).mask_text("axyzb") == f"a{MASK}b"


def test_multiline_secret_masked_whole_and_by_line() -> None:
    key = "-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----"
    masker = Masker([key])
    assert masker.mask_text(f"k={key}") == f"k={MASK}"
    assert masker.mask_text("line: AAAAsecretline") == f"line: {MASK}"


def test_regex_characters_are_literal() -> None:
    masker = Masker(["a.b*c"])
    assert masker.mask_text("a.b*c axbbc") == f"{MASK} axbbc"


def test_non_string_values_untouched() -> None:
    masker = Masker(["secret"])
    assert masker.mask((1, 2.5, b"secret")) == [1, 2.5, b"secret"]
