"""ITR's words for the codes of an issue (type, severity, source) in the reader's language, for
mail and reports. The words themselves are in the catalogue (`itr.type.<code>`, `itr.severity.<code>`,
`itr.source.<code>` in engine/locale/*/LC_MESSAGES/mcr.po); every other ITR text is `engine.i18n.t("itr.…")`.
"""

from __future__ import annotations

from typing import Any, Optional

from engine.i18n import label

LABELLED = ("type", "severity", "source")


def labels(data: dict[str, Any], locale: Optional[str]) -> dict[str, str]:
    """Type, severity and source of an issue in the reader's words (for mail)."""
    return {kind: label(f"itr.{kind}", data.get(kind), locale) for kind in LABELLED}


def type_names(types: list[str], locale: Optional[str]) -> list[str]:
    return [label("itr.type", ty, locale) for ty in types]
