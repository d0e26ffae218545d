"""The PBC's visit commitment cell: the forms people write, the refusal of anything else, the export
that reads back the same, and the cadence it gives a contact."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from engine.masterdata.exporter import format_cell
from engine.masterdata.importer import BadValue, parse_visit_pbc
from engine.masterdata.layouts import CONTACTS
from flows.planning.care import contact_cadence
from flows.planning.rules import CareRules

COL = next(c for c in CONTACTS if c.field == "visit_pbc")


@pytest.mark.parametrize("text, visits, days", [
    ("每周拜访3次", 3, 7), ("每周至少拜访 5 次", 5, 7), ("一周三次", 3, 7), ("每两周1次", 1, 14), ("每月拜访2次", 2, 30),
    ("3次/周", 3, 7), ("3/week", 3, 7), ("visit 3 times a week", 3, 7), ("twice a month", 2, 30),
    ("Visit once every 2 weeks", 1, 14),
])
def test_the_usual_ways_of_writing_a_visit_commitment_are_read(text: str, visits: int, days: int) -> None:
    assert json.loads(parse_visit_pbc(text)) == {"visits": visits, "days": days}


@pytest.mark.parametrize("text", ["经常拜访", "visit often", "每周拜访0次", "每周拜访30次", "3 times"])
def test_a_commitment_that_cannot_be_read_is_refused_with_the_text_named(text: str) -> None:
    with pytest.raises(BadValue, match=text.split()[0]):
        parse_visit_pbc(text)


@pytest.mark.parametrize("stored", ['{"visits": 3, "days": 7}', '{"visits": 1, "days": 14}', '{"visits": 2, "days": 30}',
                                    '{"visits": 1, "days": 10}'])
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_export_reads_back_as_the_same_commitment(stored: str, locale: str) -> None:
    assert parse_visit_pbc(format_cell(COL, stored, locale)) == stored


def test_the_pbc_sets_the_cadence_when_it_asks_for_more_than_the_tier() -> None:
    care, tiers = CareRules(), {"S": 7, "A": 14, "B": 30, "C": None}
    card = SimpleNamespace(visit_pbc='{"visits": 3, "days": 7}')
    assert contact_cadence(card, "C", care, tiers) == 3      # no tier cadence: the PBC's (ceil 7/3)
    assert contact_cadence(card, "B", care, tiers) == 3      # stricter than 30
    lax = SimpleNamespace(visit_pbc='{"visits": 1, "days": 30}')
    assert contact_cadence(lax, "S", care, tiers) == 7       # the tier asks for more
    assert contact_cadence(SimpleNamespace(visit_pbc=None), "C", care, tiers) is None
