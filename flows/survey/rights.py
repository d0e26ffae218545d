"""Who may do and see what in the surveys — one place, asked by the flows' actions (inside the step) and by
flows/survey/service.py and flows/survey/quality.py (every read and action of the CLI, the replay and the
pages). Pages only hide what these would refuse.

* callbacks: the person who owes it, the supervisors above them, sales management, customer care;
* a customer's survey records (callbacks, draws, sample lists, quality, improvement items): its account
  manager or backup and the people above them (上级可以看下级，同级之间不能互相看), and the company-wide
  roles below;
* the annual survey itself (export for the firm, import of results, closing the year) and the whole
  report: sales management (and the company-wide roles; supervisors read the report too).
"""

from __future__ import annotations

from typing import Any, Optional

from engine.auth import Principal
from engine.errors import NotPermitted, NotVisible

# The data key naming who owes the callback, per flow.
CALLER_KEY = {"project_callback": "owner", "activity_callback": "inviter"}
COMPANY_WIDE = ("sales_management", "qa", "customer_care")


def calls_back(who: Principal, flow: str, data: dict[str, Any]) -> bool:
    """The person who owes the callback, the supervisors above them, sales management, customer care."""
    named = data.get(CALLER_KEY.get(flow, ""))
    return who.is_engine or who.covers(named) or who.is_sales_management or who.has_role("customer_care")


def sees_all(who: Principal) -> bool:
    return who.is_engine or who.is_operator or any(who.has_role(r) for r in COMPANY_WIDE)


def acts_for(who: Principal, owner: Optional[str], backup: Optional[str] = None) -> bool:
    """A customer's records: its account manager or backup (B角), the people above them, company-wide roles."""
    return sees_all(who) or who.covers(owner) or who.covers(backup)


def people(who: Principal) -> Optional[list[str]]:
    """The account managers whose customers `who` sees; None for everyone."""
    return None if sees_all(who) else sorted({who.emp_no, *who.below})


def manages_survey(who: Principal) -> bool:
    return who.is_engine or who.is_operator or who.is_sales_management


def require_manager(who: Principal, what: str, locale_key: str = "survey.web.not_manager") -> None:
    from engine.i18n import t

    if not manages_survey(who):
        raise NotPermitted(t(locale_key, locale=who.locale, actor=who.actor, what=what))


def require_sees(who: Principal, owner: Optional[str], backup: Optional[str], what: str) -> None:
    from engine.i18n import t

    if not acts_for(who, owner, backup):
        raise NotVisible(t("survey.web.not_visible", locale=who.locale, actor=who.actor, what=what))


def reads_report(who: Principal) -> bool:
    return sees_all(who) or who.has_role("supervisor")


def owner_filter(who: Principal, column: str = "customer_code") -> tuple[str, dict[str, Any]]:
    """An SQL condition keeping the rows of customers `who` sees (`column` names the customer code)."""
    emps = people(who)
    if emps is None:
        return "1 = 1", {}
    names = {f"_vis{i}": e for i, e in enumerate(emps)}
    marks = ", ".join(f":{k}" for k in names)
    return (f"{column} IN (SELECT code FROM customer WHERE owner_emp_no IN ({marks}) "
            f"OR backup_emp_no IN ({marks}))", names)

