"""Full-text search of the case library (案例库 / 问题处理指导书) that works for Chinese text on SQLite
and PostgreSQL alike, with no extension and no external service.

Chinese has no spaces, so words cannot be split on blanks: every run of CJK characters is indexed
as overlapping character bigrams ("光模块" → 光模, 模块) plus single characters, Latin words and
numbers as lower-cased words. The tokens of each entry are rows of `itr_case_token`
(case, token, weight — title tokens weigh more). A query is tokenised the same way (bigrams for
runs of two or more characters); entries are ranked by the tokens they share with it, each
weighted by its rarity (idf), so "光模块告警" finds "更换光模块后告警消失" before an entry that only
shares "告警". All SQL takes an `engine.db.Tx`, so a flow step can add a case in its own
transaction.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import insert, update

from flows.itr.models import CaseEntry

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")
_WORD = re.compile(r"[a-z0-9]+")
TITLE_BOOST = 3


def _normalise(text: str) -> str:
    # NFKC folds full-width letters and digits (ＯＮＵ, ２) to ASCII, so both spellings match.
    return unicodedata.normalize("NFKC", text or "").lower()


def tokenize(text: str, *, for_query: bool = False) -> Counter[str]:
    """Tokens with their counts: CJK bigrams (+ single characters in documents), Latin words, numbers."""
    norm = _normalise(text)
    out: Counter[str] = Counter()
    for run in _CJK.findall(norm):
        if len(run) == 1 or not for_query:
            out.update(run)  # single characters: a one-character query still finds something
        out.update(run[i:i + 2] for i in range(len(run) - 1))
    for word in _WORD.findall(_CJK.sub(" ", norm)):
        if len(word) >= 2 or word.isdigit():
            out[word] += 1
    return out


def document_tokens(title: str, body: str, tags: Optional[str] = None) -> Counter[str]:
    weights: Counter[str] = Counter()
    for tok, n in tokenize(title).items():
        weights[tok] += n * TITLE_BOOST
    for tok, n in tokenize(f"{body}\n{tags or ''}").items():
        weights[tok] += n
    return weights


@dataclass(frozen=True)
class Hit:
    id: int
    code: str
    kind: str
    title: str
    score: float
    matched: int  # how many of the query's tokens the entry has
    snippet: str


def index_entry(tx: Any, case_id: int, title: str, body: str, tags: Optional[str] = None) -> int:
    """(Re)build the tokens of one entry; returns how many distinct tokens it has."""
    tx.execute("DELETE FROM itr_case_token WHERE case_id = :c", {"c": case_id})
    rows = [{"c": case_id, "t": tok, "w": w} for tok, w in sorted(document_tokens(title, body, tags).items())]
    tx.many("INSERT INTO itr_case_token (case_id, token, weight) VALUES (:c, :t, :w)", rows)
    return len(rows)


def upsert_entry(tx: Any, *, code: str, kind: str, title: str, body: str, issue_type: Optional[str],
                 tags: Optional[str], source_issue_id: Optional[int], now_us: int, actor: str) -> int:
    """Add an entry or replace the one with the same code; its search tokens are rebuilt."""
    values = {"kind": kind, "title": title, "body": body, "issue_type": issue_type, "tags": tags,
              "source_issue_id": source_issue_id}
    row = tx.one("SELECT id FROM itr_case WHERE code = :c", {"c": code})
    if row is None:
        cur = tx.run(insert(CaseEntry.__table__).values(code=code, created_us=now_us, created_by=actor, **values)
                     .returning(CaseEntry.__table__.c.id))
        case_id = int(cur.fetchone()[0])
    else:
        case_id = int(row[0])
        tx.run(update(CaseEntry.__table__).where(CaseEntry.__table__.c.id == case_id).values(**values))
    index_entry(tx, case_id, title, body, tags)
    return case_id


def _snippet(body: str, tokens: list[str], width: int = 40) -> str:
    norm = _normalise(body)
    positions = [p for p in (norm.find(t) for t in tokens) if p >= 0]
    at = min(positions) if positions else 0
    start = max(0, at - width // 2)
    text = body[start:start + width].replace("\n", " ")
    return ("…" if start > 0 else "") + text + ("…" if start + width < len(body) else "")


def search(tx: Any, query: str, *, limit: int = 10, kind: Optional[str] = None) -> list[Hit]:
    """Entries ranked by shared tokens weighted by rarity (idf); empty when nothing matches."""
    q = tokenize(query, for_query=True)
    if not q or limit <= 0:
        return []
    toks = sorted(q)
    params = {f"t{i}": t for i, t in enumerate(toks)}
    marks = ", ".join(f":t{i}" for i in range(len(toks)))
    total = int(tx.one("SELECT COUNT(*) FROM itr_case")[0] or 0)
    df = {t: int(n) for t, n in tx.all(
        f"SELECT token, COUNT(*) FROM itr_case_token WHERE token IN ({marks}) GROUP BY token", params)}
    scores: dict[int, float] = {}
    matched: Counter[int] = Counter()
    for case_id, tok, weight in tx.all(
            f"SELECT case_id, token, weight FROM itr_case_token WHERE token IN ({marks})", params):
        idf = math.log(1 + total / df[tok])
        scores[case_id] = scores.get(case_id, 0.0) + idf * (1 + math.log(weight)) * q[tok]
        matched[case_id] += 1
    if not scores:
        return []
    ids = sorted(scores)
    id_params = {f"i{n}": i for n, i in enumerate(ids)}
    id_marks = ", ".join(f":i{n}" for n in range(len(ids)))
    entries = {r[0]: r for r in tx.all(
        f"SELECT id, code, kind, title, body FROM itr_case WHERE id IN ({id_marks})", id_params)}
    hits = [Hit(i, entries[i][1], entries[i][2], entries[i][3], round(scores[i], 4), matched[i],
                _snippet(entries[i][4], toks)) for i in ids if i in entries and (kind is None or entries[i][2] == kind)]
    # Best first: more distinct shared tokens, then the idf score, then the older entry.
    hits.sort(key=lambda h: (-h.matched, -h.score, h.id))
    return hits[:limit]
