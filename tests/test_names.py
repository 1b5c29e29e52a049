"""The identity rule: nome.cognome from the names as typed."""

import pytest

from exteri_mail.errors import InvalidInput
from exteri_mail.names import local_part


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Niccolò", "Frescobaldi", "niccolo.frescobaldi"),
        ("Maria Grazia", "De Luca", "mariagrazia.deluca"),
        ("Anna", "D'Angelo", "anna.dangelo"),
        ("Anna", "D\u2019Angelo", "anna.dangelo"),
        ("Nicolò", "D'Amico", "nicolo.damico"),  # K12
        ("  Mario ", " Rossi  ", "mario.rossi"),
        ("Anna", "Neri", "anna.neri"),
        ("ANNA", "NERI", "anna.neri"),
        ("Gianluca", "Rossi-Bianchi", "gianluca.rossibianchi"),
        ("Jürgen", "Weiß", "jurgen.weiss"),
        ("Łucja", "Wałęsa", "lucja.walesa"),
        ("Zoë", "Ørsted", "zoe.orsted"),
        ("Ana", "Nuñez", "ana.nunez"),
        ("Niccolo\u0300", "Frescobaldi", "niccolo.frescobaldi"),  # decomposed ò
        ("Ｍａｒｉｏ", "Ｒｏｓｓｉ", "mario.rossi"),  # full-width Latin
        ("Ольга", "Петрова", "ol'ga.petrova".replace("'", "")),
    ],
)
def test_local_part_is_derived_from_names(first, last, expected):
    assert local_part(first, last) == expected


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("", "Rossi", "first name is empty"),
        ("Mario", "   ", "last name is empty"),
        ("Mario2", "Rossi", "first name contains '2'"),
        ("Mario", "Rossi.", "last name contains '.'"),
        ("Mario", "Ros@si", "last name contains '@'"),
        ("Mario", "Rossi\r\nBcc: x@evil.test", "last name contains U+000D"),
        ("Mario", "Rossi\nX", "last name contains U+000A"),
        ("Mario", "Rossi'; DROP TABLE accounts;--", "last name contains ';'"),
        ("Mario\u0000", "Rossi", "first name contains U+0000"),
        ("Mario", "Rossi 😀", "last name contains '😀'"),
        ("Mario_", "Rossi", "first name contains '_'"),
        ("A" * 200, "Rossi", "the limit is 64"),
        ("Mario", "R" * 60, "the limit is 64"),
        ("'-", "Rossi", "must begin and end with a letter"),
        ("-Carla", "Rossi", "must begin and end with a letter"),
        ("Giulia", "V\u0435rdi", "mixes scripts (CYRILLIC, LATIN)"),
        ("Mario", "Rossi\u200b", "U+200B ZERO WIDTH SPACE"),
    ],
)
def test_bad_names_are_refused_naming_the_problem(first, last, message):
    with pytest.raises(InvalidInput) as err:
        local_part(first, last)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
