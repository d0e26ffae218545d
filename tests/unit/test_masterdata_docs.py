"""docs/master-data.md stays true: it names every header the importer accepts, in both languages,
every rules key, and every "12+1" activity type."""

from __future__ import annotations

from engine.masterdata.layouts import LAYOUTS
from engine.masterdata.models import ACTIVITY_TYPE_ZH, ActivityType
from engine.masterdata.settings import MasterDataRules
from engine.masterdata.tiers import TierPolicy
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "master-data.md").read_text(encoding="utf-8")


def test_doc_lists_every_import_header_in_chinese_and_english() -> None:
    missing = [f"{kind}: {name}" for kind, layout in LAYOUTS.items() for column in layout
               for name in (*column.zh, *(f"`{e}`" for e in column.en)) if name not in DOC]
    assert missing == []


def test_doc_explains_every_rules_key() -> None:
    keys = [*MasterDataRules.model_fields, *TierPolicy.model_fields]
    assert [k for k in keys if f"`{k}`" not in DOC and k not in ("zh", "en", "aliases")] == []


def test_doc_lists_the_activity_scenarios() -> None:
    assert [t.value for t in ActivityType if f"`{t.value}`" not in DOC or ACTIVITY_TYPE_ZH[t] not in DOC] == []
