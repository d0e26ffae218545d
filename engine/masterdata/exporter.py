"""Export of customers and key contacts to CSV or XLSX, in the import layout, so an exported file
re-imports to exactly the same data (`export → import` changes nothing).

Headers are Chinese by default and English with MCR_LOCALE=en (the importer reads both). CSV is
written as UTF-8 with a BOM, which Excel opens correctly; a text cell that a spreadsheet would run
as a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading apostrophe (engine/csvsafe.py), which
the importer removes again. XLSX writes such values as text cells. With a viewer (`--as EMP_NO`) only what
that employee may see is written, and the sensitive columns are left out entirely unless they may
see them on every exported contact — an absent column leaves data untouched on re-import, while an
empty cell would erase it. Every exported personal card is an audited read.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Optional

from sqlmodel import Session, col, select

from engine.auth.principal import Principal
from engine.clock import Clock
from engine.csvsafe import FORMULA_STARTS, neutralise
from engine.errors import MCRError
from engine.i18n import locale, t
from engine.masterdata import audit
from engine.masterdata.layouts import CONTACTS, CUSTOMERS, Col
from engine.masterdata.models import Contact, Customer
from engine.masterdata.settings import MasterDataRules, load_masterdata_rules
from engine.masterdata.visibility import can_see_contact, can_see_customer, can_see_sensitive
from engine.paths import output_file

_DECISION_ZH = {"initiator": "发起者", "user": "使用者", "influencer": "影响者", "decider": "决定者",
                "approver": "批准者", "buyer": "购买者", "gatekeeper": "控制者"}
_GENDER_ZH = {"male": "男", "female": "女"}
_LEVEL_ZH = {"senior": "高层", "middle": "中层", "base": "基层"}


def format_cell(column: Col, value: Any, loc: str) -> Any:
    """A stored value as the importer's parser of that column reads it back."""
    zh = loc != "en"
    sep = "；" if zh else "; "
    if value is None:
        return None
    if column.parser == "bool":
        return ("是" if value else "否") if zh else ("yes" if value else "no")
    if column.parser == "competitors":
        return sep.join(json.loads(value)) or None
    if column.parser == "key_events":
        events = json.loads(value)
        return sep.join(f"{e['month']:02d}-{e['day']:02d} {e['title']}" if e.get("day") else
                        f"{e['month']:02d} {e['title']}" for e in events) or None
    if column.parser == "visit_pbc":
        pbc = json.loads(value)
        n, days = pbc["visits"], pbc["days"]
        if zh:
            unit = {7: "周", 30: "月", 1: "天"}.get(days) or (f"{days // 7}周" if days % 7 == 0 else f"{days}天")
            return f"每{unit}拜访{n}次"
        unit = {7: "a week", 30: "a month", 1: "a day"}.get(days) or \
            (f"every {days // 7} weeks" if days % 7 == 0 else f"every {days} days")
        return f"visit {n} times {unit}"
    if column.parser == "competitor_support":
        return sep.join(f"{k}:{v}" for k, v in json.loads(value).items()) or None
    if column.parser == "decision_roles":
        roles = [r for r in value.split(",") if r]
        return (sep.join(_DECISION_ZH[r] for r in roles) if zh else sep.join(roles)) or None
    if column.parser == "gender":
        return _GENDER_ZH.get(value, value) if zh else value
    if column.parser == "contact_level":
        return _LEVEL_ZH.get(value, value) if zh else value
    if value == "":
        return None
    return value


def _write(path: Path, headers: list[str], rows: list[list[Any]]) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise MCRError(t("md.file_type", suffix=path.suffix or path.name))
    path = output_file(path)
    if suffix == ".xlsx":
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(headers)
        for row in rows:
            cells: list[Any] = []
            for value in row:
                if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                    # text, not a formula: "=…" typed in a CRM field must come back as typed
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.data_type = "s"
                    value = cell
                cells.append(value)
            sheet.append(cells)
        book.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        for row in rows:
            # Formula-looking text gets a leading apostrophe (engine/csvsafe.py, OWASP).
            writer.writerow(["" if v is None else (v.isoformat() if isinstance(v, date) else neutralise(v))
                             for v in row])


def _table(columns: Iterable[Col], records: list[Any], loc: str) -> tuple[list[str], list[list[Any]]]:
    cols = list(columns)
    return [c.header(loc) for c in cols], [[format_cell(c, getattr(r, c.field), loc) for c in cols] for r in records]


def export_customers(session: Session, path: Path | str, *, principal: Principal) -> int:
    """Write the customers `principal` may see to .csv/.xlsx; returns the number of rows.

    The operator (no `--as`) and the engine are nobody in the supervisor tree: they export every
    customer (no personal data is on a customer row).
    """
    path = Path(path)
    records = list(session.exec(select(Customer).order_by(col(Customer.code))))
    if not _is_system(principal):
        contacts: dict[str, list[Contact]] = {}
        for c in session.exec(select(Contact)):
            contacts.setdefault(c.customer_code, []).append(c)
        records = [c for c in records if can_see_customer(principal, c, contacts.get(c.code))]
    headers, rows = _table(CUSTOMERS, records, locale())
    _write(path, headers, rows)
    return len(rows)


def _is_system(principal: Principal) -> bool:
    return principal.is_operator or principal.is_engine


def export_contacts(session: Session, path: Path | str, *, principal: Principal, clock: Clock,
                    rules: MasterDataRules | None = None) -> int:
    """Write the key contacts `principal` may see to .csv/.xlsx; each card read is audited.

    Sensitive columns (family, pain points) are written only when `principal` may see them on every
    exported card — never for the operator without `--as` nor for the engine (all contacts, no
    sensitive columns).
    """
    rules = rules or load_masterdata_rules()
    path = Path(path)
    records = list(session.exec(select(Contact).order_by(col(Contact.code))))
    if _is_system(principal):
        with_sensitive = False
    else:
        records = [c for c in records if can_see_contact(principal, c)]
        with_sensitive = rules.store_sensitive and all(
            can_see_sensitive(principal, c, store_sensitive=rules.store_sensitive) for c in records)
    columns = [c for c in CONTACTS if with_sensitive or not c.sensitive]
    headers, rows = _table(columns, records, locale())
    for contact in records:
        audit.record(session, clock, actor=principal.actor, action="export_card", entity="contact", key=contact.code,
                     sensitive=with_sensitive, file=str(path))
    _write(path, headers, rows)
    session.commit()
    return len(rows)
