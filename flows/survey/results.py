"""The survey firm's result file (第三方满意度调查结果): layout and check.

One row per score: customer, optionally the contact who gave it, the category (产品 / 服务 / 品牌),
the item (a product line, a service phase 售前/售中/售后, a brand aspect), the score 1–5 and a
comment. `check_results` collects every problem with file, row and column — a score outside 1–5,
an unknown customer, a customer whose list was never exported this year or whose results were
already published, a contact not in the customer's sample — and the caller writes nothing when
there is one. Pure apart from the lookups it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from engine.errors import Problem

from engine.i18n import label, t
from engine.masterdata.read import Contact, Customer, MasterData
from flows.survey.tables import Column, text

COLUMNS: tuple[Column, ...] = (
    Column("year", ("年度",), ("year",)),
    Column("customer_code", ("客户编码",), ("customer_code", "customer"), required=True),
    Column("customer_name", ("客户名称",), ("customer_name",)),
    Column("contact_code", ("联系人编码", "关键客户编码"), ("contact_code", "contact")),
    Column("category", ("类别", "维度"), ("category",), required=True),
    Column("item", ("项目", "评价项"), ("item",), required=True),
    Column("score", ("得分", "分数", "评分"), ("score",), required=True),
    Column("comment", ("意见", "评语", "备注"), ("comment", "note")),
)
COLUMN = {c.field: c for c in COLUMNS}

CATEGORY_WORDS = {"产品": "product", "product": "product", "服务": "service", "service": "service",
                  "品牌": "brand", "brand": "brand"}
PHASE_WORDS = {"售前": "pre_sale", "售中": "in_sale", "售后": "after_sale", "pre_sale": "pre_sale",
               "presale": "pre_sale", "pre-sale": "pre_sale", "in_sale": "in_sale", "insale": "in_sale",
               "in-sale": "in_sale", "after_sale": "after_sale", "aftersale": "after_sale", "after-sale": "after_sale"}


@dataclass(frozen=True)
class ResultRow:
    row: int
    customer_code: str
    contact_code: str | None
    category: str
    item: str
    score: int
    comment: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "customer_code": self.customer_code, "contact_code": self.contact_code,
                "category": self.category, "item": self.item, "score": self.score, "comment": self.comment}


@dataclass
class Checked:
    rows: list[ResultRow]
    problems: list[Problem]

    @property
    def customers(self) -> list[str]:
        return sorted({r.customer_code for r in self.rows})


def _cell(source: str, row: int, field: str, reason: str) -> Problem:
    return Problem(source, row, t("survey.cell", row=row, col=COLUMN[field].label, reason=reason))


def parse_score(value: Any) -> int | None:
    """1–5 as a whole number ("4", 4, 4.0); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if float(value).is_integer() and 1 <= int(value) <= 5:
            return int(value)
        return None
    raw = text(value)
    try:
        number = float(raw)
    except ValueError:
        return None
    return int(number) if number.is_integer() and 1 <= number <= 5 else None


def check_results(source: str, rows: Iterable[tuple[int, dict[str, Any]]], *, year: int,
                  customer: Callable[[str], Customer | None], sample_status: Callable[[str], str | None],
                  sample_contacts: Callable[[str], set[str]], contacts: dict[str, Contact]) -> Checked:
    problems: list[Problem] = []
    good: list[ResultRow] = []
    customer_verdict: dict[str, str | None] = {}  # code -> reason it is refused, once per customer
    for row, cells in rows:
        before = len(problems)
        if "year" in cells and text(cells["year"]) and text(cells["year"]) != str(year):
            problems.append(_cell(source, row, "year", t("survey.wrong_year", value=text(cells["year"]), year=year)))
        code = text(cells.get("customer_code"))
        if not code:
            problems.append(_cell(source, row, "customer_code", t("survey.required")))
        else:
            if code not in customer_verdict:
                if customer(code) is None:
                    customer_verdict[code] = t("survey.unknown_customer", customer=code)
                else:
                    status = sample_status(code)
                    if status is None or status == "accepted":
                        customer_verdict[code] = t("survey.not_exported", customer=code, year=year)
                    elif status == "published":
                        customer_verdict[code] = t("survey.already_published", customer=code, year=year)
                    else:
                        customer_verdict[code] = None
            if customer_verdict[code]:
                problems.append(_cell(source, row, "customer_code", customer_verdict[code]))  # type: ignore[arg-type]
        contact_code = text(cells.get("contact_code")) or None
        if contact_code and code and not customer_verdict.get(code):
            c = contacts.get(contact_code)
            if c is None:
                problems.append(_cell(source, row, "contact_code", t("survey.unknown_contact", contact=contact_code)))
            elif c.customer_code != code:
                problems.append(_cell(source, row, "contact_code", t("survey.contact_other_customer", contact=contact_code,
                                                                     actual=c.customer_code, customer=code)))
            elif contact_code not in sample_contacts(code):
                problems.append(_cell(source, row, "contact_code", t("survey.contact_not_in_sample", contact=contact_code,
                                                                     customer=code, year=year)))
        cat_text = text(cells.get("category"))
        category = CATEGORY_WORDS.get(cat_text.lower()) if cat_text else None
        if not cat_text:
            problems.append(_cell(source, row, "category", t("survey.required")))
        elif category is None:
            problems.append(_cell(source, row, "category", t("survey.bad_category", value=cat_text)))
        item = text(cells.get("item"))
        if not item:
            problems.append(_cell(source, row, "item", t("survey.required")))
        elif category == "service":
            phase = PHASE_WORDS.get(item.lower().replace(" ", ""))
            if phase is None:
                problems.append(_cell(source, row, "item", t("survey.bad_phase", value=item)))
            item = phase or item
        raw_score = cells.get("score")
        score = parse_score(raw_score)
        if text(raw_score) == "":
            problems.append(_cell(source, row, "score", t("survey.required")))
        elif score is None:
            problems.append(_cell(source, row, "score", t("survey.bad_score", value=text(raw_score))))
        if len(problems) == before and category and score is not None:
            good.append(ResultRow(row, code, contact_code, category, item, score, text(cells.get("comment")) or None))
    return Checked(good, problems)


def check_in(tx: Any, source: str, rows: list[tuple[int, dict[str, Any]]], *, year: int) -> Checked:
    """`check_results` with its lookups read through `tx` (a step's transaction or a read-only one)."""

    customers: dict[str, Customer | None] = {}

    def customer(code: str) -> Customer | None:
        if code not in customers:
            customers[code] = MasterData(tx).customer(code)
        return customers[code]

    def status(code: str) -> str | None:
        row = tx.one("SELECT status FROM survey_sample WHERE year = :y AND customer_code = :c", {"y": year, "c": code})
        return row[0] if row else None

    def sample_contacts(code: str) -> set[str]:
        return {r[0] for r in tx.all("SELECT e.contact_code FROM survey_sample_entry e JOIN survey_sample s "
                                     "ON s.id = e.sample_id WHERE s.year = :y AND s.customer_code = :c",
                                     {"y": year, "c": code})}

    names = [text(c.get("contact_code")) for _, c in rows]
    return check_results(source, rows, year=year, customer=customer, sample_status=status,
                         sample_contacts=sample_contacts, contacts=MasterData(tx).contacts([n for n in names if n]))


def inline_rows(items: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for i, item in enumerate(items, start=1):
        cells = dict(item)
        for short, full in (("customer", "customer_code"), ("contact", "contact_code")):
            if short in cells and full not in cells:
                cells[full] = cells.pop(short)
        out.append((i, cells))
    return out


def category_label(category: str, item: str, locale: str | None = None) -> str:
    """How an item is shown: the phase's name for service items, the item itself otherwise."""
    if category == "service":
        return label("survey.phase", item, locale)
    return item
