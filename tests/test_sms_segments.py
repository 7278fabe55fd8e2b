"""Counting and capping text-message segments: GSM-7 against UCS-2, pure functions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.channels.sms import segments
from relance.channels.sms.segments import GSM7, UCS2, count, fit, split, to_gsm

BASIC = sorted(segments.GSM_BASIC)
EXTENDED = sorted(segments.GSM_EXTENSION)
gsm_basic_text = st.text(alphabet=BASIC, max_size=700)
gsm_text = st.text(alphabet=BASIC + EXTENDED, max_size=700)
any_text = st.text(max_size=500)
french = st.text(alphabet=BASIC + list("êâîôûçœÊÂÎÔÛŒ’«»–…\u202f\u00a0"), max_size=600)


def test_it_counts_pure_gsm_text_in_160_then_153():
    assert count("a" * 160) == segments.Count(GSM7, 160, 1)
    assert count("a" * 161) == segments.Count(GSM7, 161, 2)
    assert count("a" * 306).segments == 2
    assert count("a" * 307).segments == 3
    assert count("").segments == 0


def test_it_counts_extension_characters_as_two_septets():
    assert count("€" * 80) == segments.Count(GSM7, 160, 1)
    assert count("€" * 80 + "a").segments == 2
    # 152 septets, then a two-septet character: it does not fit the first segment's last septet.
    parts = split("a" * 152 + "€" + "b" * 10)
    assert parts[0] == "a" * 152 and parts[1].startswith("€")


def test_it_counts_accented_french_by_what_gsm_7_holds():
    # é, è, à, ù, É and Ç are in the GSM-7 alphabet...
    assert count("Déjà réglé, très bien ; où ? Ça a été vu. É, è, ù, ì, ò").encoding == GSM7
    assert count("Déjà réglé ? Très bien, où en êtes-vous ?").encoding == UCS2  # ê
    assert count("Merci, déjà réglé, à bientôt").encoding == UCS2  # ô
    assert count("Merci, déjà réglé, à bientot").encoding == GSM7
    assert count("Reçu").encoding == UCS2 and count("REÇU").encoding == GSM7  # ç but Ç
    assert count("l’échéance").encoding == UCS2  # the typographic apostrophe
    # UCS-2: 70 alone, 67 a segment.
    assert count("ê" * 70) == segments.Count(UCS2, 70, 1)
    assert count("ê" * 71).segments == 2
    assert count("ê" * 134).segments == 2
    assert count("ê" * 135).segments == 3


def test_it_never_cuts_a_surrogate_pair():
    text = "a" * 66 + "😀" + "b" * 10
    parts = split(text)
    assert parts[0] == "a" * 66 and parts[1].startswith("😀")
    assert count("😀" * 35) == segments.Count(UCS2, 70, 1)


@given(gsm_basic_text)
def test_it_counts_any_basic_gsm_text_by_its_length(text):
    expected = 0 if not text else 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert count(text) == segments.Count(GSM7, len(text), expected)


@given(any_text)
def test_it_splits_any_text_into_segments_that_join_back_and_fit(text):
    parts = split(text)
    assert "".join(parts) == text
    counted = count(text)
    assert counted.segments == len(parts)
    limit = segments.SINGLE if len(parts) == 1 else segments.PER_SEGMENT
    for part in parts:
        units = sum(
            (2 if c in segments.GSM_EXTENSION else 1)
            if counted.encoding == GSM7
            else (2 if ord(c) > 0xFFFF else 1)
            for c in part
        )
        assert units <= limit[counted.encoding]
    assert counted.encoding == (GSM7 if all(c in BASIC or c in EXTENDED for c in text) else UCS2)


@given(any_text, st.characters())
def test_it_never_counts_fewer_segments_for_a_longer_text(text, char):
    assert count(text + char).segments >= count(text).segments


@given(french, st.integers(min_value=1, max_value=4))
def test_it_fits_any_text_within_the_cap(text, cap):
    fitted = fit(text, cap)
    assert count(fitted).segments <= cap
    if count(text).segments <= cap:
        assert fitted == text  # what fits is sent as written, accents and all


@given(french)
def test_it_writes_french_in_gsm_7_when_over_the_cap(text):
    assert count(to_gsm(text)).encoding == GSM7
    fitted = fit(text, 1)
    if count(text).segments > 1:
        assert count(fitted).encoding == GSM7


def test_it_prefers_nearest_letters_to_shortening():
    text = (
        "Acme : l’échéance de 1\u202f234,50\u00a0€ prévue le 1er décembre n’a pas été reçue. " * 3
    )
    assert count(text) == segments.Count(UCS2, len(text), 4)
    fitted = fit(text, 3)
    assert fitted == text.replace("’", "'").replace("\u202f", " ").replace("\u00a0", " ").replace(
        "ç", "c"
    )
    assert count(fitted).encoding == GSM7 and count(fitted).segments == 2


def test_it_shortens_at_a_word_when_nearest_letters_are_not_enough():
    text = "Merci de régler la facture numéro " * 20
    fitted = fit(text, 1)
    assert fitted.endswith("...") and len(fitted) <= 160
    assert text.startswith(fitted[:-3]) and fitted[-4] != " "
    assert fitted[:-3].split()[-1] in text.split()  # a whole word, not a cut one


def test_it_refuses_a_cap_below_one():
    with pytest.raises(ValueError):
        fit("a", 0)
