"""Customers and key contacts: the lists and cards this person may see (上级可以看下级，同级之间不能互相看).

The master-data service decides visibility and writes the audit row for every card read and every
refused one; a peer's record by URL raises NotVisible, which the app turns into the 403 page.
"""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.web.deps import PagePrincipal, Runtime
from engine.web.pages.common import page

router = APIRouter()


def _matches(q: str, *texts: Optional[str]) -> bool:
    needle = q.casefold()
    return any(needle in (t or "").casefold() for t in texts)


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, rt: Runtime, principal: PagePrincipal, q: str = "") -> Response:
    from engine.masterdata.service import visible_customers

    with rt.db.session() as s:
        rows = visible_customers(s, principal=principal)
    q = q.strip()
    if q:
        rows = [c for c in rows if _matches(q, c.code, c.name, c.industry)]
    return page(request, "customers.html", {"customers": rows, "q": q}, principal=principal)


@router.get("/customers/{code}", response_class=HTMLResponse)
def customer_page(request: Request, code: str, rt: Runtime, principal: PagePrincipal) -> Response:
    from engine.masterdata.service import get_customer_for, visible_contacts
    from flows.itr.service import list_issues

    with rt.db.session() as s:
        customer = get_customer_for(s, code, principal=principal, clock=rt.clock)
        contacts = visible_contacts(s, principal=principal, customer_code=code)
    issues = list_issues(rt, principal=principal, customer=code, limit=50)
    return page(request, "customer.html", {"customer": customer, "contacts": contacts, "issues": issues},
                principal=principal)


@router.get("/contacts/{code}", response_class=HTMLResponse)
def contact_page(request: Request, code: str, rt: Runtime, principal: PagePrincipal) -> Response:
    from engine.masterdata.service import get_contact_card

    with rt.db.session() as s:
        card = get_contact_card(s, code, principal=principal, clock=rt.clock)
    return page(request, "contact.html", {"card": card}, principal=principal)
