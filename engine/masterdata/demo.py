"""A realistic demo organisation and customer base, so a new user sees every flow working at once
(`mcr demo-data`, `mcr serve --demo`).

Deterministic: the same seed, customer count and calendar year give the same data, and running it
again changes nothing — the rows go through the importer's validation and upsert like any file,
so the demo can never hold data an import would refuse. Dates that must lie ahead (decision dates)
are placed in the clock's next year; birthdays are spread over the whole year, 29 February included.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any, Optional

from pydantic import BaseModel
from sqlmodel import Session

from engine.auth.principal import Principal
from engine.clock import Clock
from engine.masterdata import service
from engine.masterdata.importer import ImportResult, import_table, records_table
from engine.i18n import t
from engine.masterdata.models import ActivityType, Dimension
from engine.masterdata.settings import MasterDataRules, load_masterdata_rules
from engine.masterdata.tiers import TierRules, load_tier_rules

_DEMO = Principal.engine("demo")  # the demo generator writes as the engine, like an import script

_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
             "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
          "秀兰", "霞", "平", "刚", "桂英", "建华", "文", "华", "红", "志强", "海燕", "晓东", "婷", "鹏", "宇", "浩",
          "欣", "子涵", "雨桐", "思远", "嘉怡", "国栋", "立新", "春梅", "振华", "丹", "凯", "琳", "斌", "慧",
          "俊杰", "晓燕", "永刚", "建国", "德明", "玉兰", "海涛", "卫东", "晨", "一鸣", "佳琪", "博文")

# region code, name, offices: (code, city)
_REGIONS = (
    ("R-SC", "华南地区部", (("O-SZ", "深圳"), ("O-GZ", "广州"), ("O-FZ", "福州"))),
    ("R-EC", "华东地区部", (("O-SH", "上海"), ("O-HZ", "杭州"), ("O-NJ", "南京"))),
    ("R-NC", "华北地区部", (("O-BJ", "北京"), ("O-TJ", "天津"), ("O-JN", "济南"))),
)
# team suffix, industry, customer-name endings
_INDUSTRIES = (
    ("OP", "运营商", ("移动", "联通", "电信", "广电网络", "铁塔公司", "移动政企分公司", "联通云数据公司", "电信天翼云")),
    ("FI", "金融", ("农商银行", "城商银行", "证券公司", "人寿保险分公司", "工商银行分行", "建设银行分行", "清算中心",
                    "信用社联合社")),
    ("EG", "政企", ("地铁集团", "电网公司", "港务集团", "机场集团", "大数据局", "交通投资集团", "能源集团", "水务集团",
                    "高速公路公司", "人民医院", "教育城域网", "钢铁集团")),
)
_COMPETITORS = ("爱立信", "诺基亚", "中兴", "思科", "新华三")
_TITLES = (  # (title, level, decision roles)
    ("总经理", "senior", "decider;approver"), ("副总经理（分管技术）", "senior", "decider"),
    ("首席信息官", "senior", "influencer;decider"), ("财务总监", "senior", "approver;buyer"),
    ("采购部总经理", "middle", "buyer;gatekeeper"), ("网络部总经理", "middle", "initiator;influencer"),
    ("规划部主任", "middle", "initiator"), ("运维中心主任", "middle", "user"), ("信息中心副主任", "middle", "influencer"),
    ("项目经理", "base", "user"), ("网络工程师", "base", "user"), ("采购专员", "base", "gatekeeper"),
)
_EDUCATION = ("本科", "硕士", "博士", "MBA", "大专")
_HOBBIES = ("羽毛球", "高尔夫", "书法", "摄影", "钓鱼", "围棋", "马拉松", "茶道", "登山", "古典音乐")
_TABOOS = ("不饮酒", "不吃辣", "忌讳数字4", "不喜欢应酬到深夜", "不吃海鲜", "")
_FAMILY = ("已婚，一子在读大学", "已婚，女儿刚上小学", "已婚，两个孩子", "单身", "已婚，父母同住")
_PAIN_PERSONAL = ("工作压力大，睡眠不好", "孩子升学择校", "父母身体欠佳", "希望多陪伴家人")
_PAIN_CAREER = ("希望明年晋升分管副总", "网络故障率考核压力", "数字化转型项目需出成绩", "预算压缩，需降本增效")
_EVIDENCE = ("参加公司参观并认可我司方案", "主动介绍内部决策流程", "提前告知招标时间安排", "在评审会上为我司方案发言",
             "邀请我司参与规划研讨", "多次参加技术交流会", "在竞争对手交流中保持中立", "拒绝出席我司活动",
             "向我司反馈竞争对手报价信息", "推荐我司进入短名单")
_PHASES = ("线索", "机会点", "标前引导", "投标", "谈判")
_DIMENSIONS = tuple((d.value, f"{d.value}_evidence") for d in Dimension)
_EVENT_TITLES = ("年度采购大会", "预算编制", "年度供应商大会", "战略规划研讨", "网络大修期", "年中经营分析会")


class DemoResult(BaseModel):
    units: int
    employees: int
    customers: int
    contacts: int
    inserted: int
    updated: int
    unchanged: int

    def summary(self) -> str:
        return t("md.demo_done", units=self.units, employees=self.employees, customers=self.customers,
                 contacts=self.contacts, inserted=self.inserted)


class _Names:
    """Unique Chinese names from one random stream."""

    _POOL = len(set(_SURNAMES)) * len(set(_GIVEN))

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.suffix: dict[str, int] = {}  # next free number per name, once the pool is exhausted

    def __call__(self) -> str:
        # Until the pool of surname × given name runs out, draw until unused (few draws); after
        # that every draw would fail, so go straight to the HR-style number (王伟2, 王伟3 …).
        if len(self.used) < self._POOL:
            for _ in range(1000):
                name = self.rng.choice(_SURNAMES) + self.rng.choice(_GIVEN)
                if name not in self.used:
                    self.used.add(name)
                    return name
        name = self.rng.choice(_SURNAMES) + self.rng.choice(_GIVEN)
        suffix = self.suffix.get(name, 2)
        while f"{name}{suffix}" in self.used:
            suffix += 1
        self.suffix[name] = suffix + 1
        self.used.add(f"{name}{suffix}")
        return f"{name}{suffix}"


def generate_demo(session: Session, customers: int = 200, seed: int = 1, *, clock: Clock,
                  rules: MasterDataRules | None = None, tiers: TierRules | None = None) -> DemoResult:
    """Create (or confirm) the demo organisation and `customers` customers; commits."""
    rules = rules or load_masterdata_rules()
    tiers = tiers or load_tier_rules()
    rng = random.Random(seed)
    name = _Names(rng)
    year = clock.now().year
    results: list[ImportResult] = []

    def write(kind: str, records: list[dict[str, Any]]) -> None:
        # Each table goes through the importer as soon as it is drawn (typed records: validated like
        # a file, not written out as text and parsed back), so no more than a table is held at once.
        results.append(import_table(session, kind, records_table(f"demo:{kind}", kind, records), clock=clock,
                                    principal=_DEMO, rules=rules, tiers=tiers))

    # ---------------------------------------------------------------- organisation
    units: list[dict[str, Any]] = [{"kind": "hq", "code": "HQ", "name": "公司总部", "calendar": "CN",
                                    "timezone": "Asia/Shanghai"}]
    people: list[dict[str, Any]] = []
    counter = [0]

    def person(unit: str, supervisor: Optional[str], roles: str, locale: str = "zh-CN") -> str:
        counter[0] += 1
        emp_no = f"E{counter[0]:05d}"
        people.append({"kind": "employee", "code": emp_no, "name": name(), "unit_code": unit,
                       "supervisor_emp_no": supervisor, "email": f"{emp_no.lower()}@demo.example.com",
                       "locale": locale, "roles": roles})
        return emp_no

    ceo = person("HQ", None, "supervisor,sponsor")
    person("HQ", ceo, "sales_management")
    person("HQ", ceo, "sales_management", "en")
    person("HQ", ceo, "qa")
    person("HQ", ceo, "issue_handler")
    teams: list[dict[str, Any]] = []  # code, office, industry, head, managers
    region_heads: dict[str, str] = {}
    office_heads: dict[str, str] = {}
    for region_code, region_name, offices in _REGIONS:
        units.append({"kind": "region", "code": region_code, "name": region_name, "parent_code": "HQ"})
        president = person(region_code, ceo, "supervisor,sponsor")
        region_heads[region_code] = president
        person(region_code, president, "issue_handler")
        for office_code, city in offices:
            units.append({"kind": "office", "code": office_code, "name": f"{city}代表处", "parent_code": region_code,
                          "calendar": "CN", "timezone": "Asia/Shanghai"})
            head = person(office_code, president, "supervisor,sponsor")
            office_heads[office_code] = head
            person(office_code, head, "issue_handler")
            person(office_code, head, "customer_care")
            for suffix, industry, endings in _INDUSTRIES:
                team_code = f"T-{office_code[2:]}-{suffix}"
                units.append({"kind": "team", "code": team_code, "name": f"{city}{industry}系统部",
                              "parent_code": office_code})
                team_head = person(team_code, head, "supervisor,account_manager")
                managers = [person(team_code, team_head, "account_manager") for _ in range(3)]
                teams.append({"code": team_code, "office": office_code, "region": region_code, "city": city,
                              "industry": industry, "endings": endings, "head": team_head, "managers": managers})

    write("org", units + people)

    # ---------------------------------------------------------------- customers, in a tier pyramid
    n_s = max(1, round(customers * 0.03))
    n_a = max(1, round(customers * 0.10))
    n_b = round(customers * 0.30)
    tier_list = (["S"] * n_s + ["A"] * n_a + ["B"] * n_b + ["C"] * customers)[:customers]
    customer_rows: list[dict[str, Any]] = []
    next_branch: dict[str, int] = {}  # per name: how many customers bear it so far (the next branch number)
    for i, tier in enumerate(tier_list):
        team = teams[rng.randrange(len(teams))] if i >= len(teams) else teams[i % len(teams)]
        base = f"{team['city']}{rng.choice(team['endings'])}"
        k = next_branch.get(base, 1)
        next_branch[base] = k + 1
        # the first is the name itself, later ones its branches 2, 3 … (names never collide across bases:
        # a city + an ending never ends in a branch number)
        cname = base if k == 1 else f"{base}（第{k}分公司）"
        owner, backup = rng.sample(team["managers"], 2)
        revenue = {"S": (200, 800), "A": (50, 200), "B": (10, 50), "C": (1, 10)}[tier]
        n_comp = 2 if tier in ("S", "A", "B") else rng.randint(0, 1)
        events = sorted(rng.sample(range(1, 13), 3 if tier in ("S", "A") else 1))
        customer_rows.append({
            "code": f"C{i + 1:04d}", "name": cname, "industry": team["industry"], "tier": tier,
            "office_code": team["office"], "team_code": team["code"], "owner_emp_no": owner, "backup_emp_no": backup,
            "annual_revenue_usd": rng.randint(*revenue) * 1_000_000,
            "credit_grade": rng.choice("AAB" if tier in ("S", "A") else "ABCD"),
            "locked_competitors": "; ".join(rng.sample(_COMPETITORS, n_comp)),
            "key_events": "; ".join(f"{mo:02d}-{rng.randint(1, 28):02d} {rng.choice(_EVENT_TITLES)}" for mo in events),
            "_team": team,
        })

    write("customers", customer_rows)

    # ---------------------------------------------------------------- key contacts
    contact_rows: list[dict[str, Any]] = []
    per_tier = {"S": 8, "A": 5, "B": 3, "C": 1}
    for cust in customer_rows:
        team = cust["_team"]
        for j in range(per_tier[cust["tier"]]):
            title, level, roles = _TITLES[j % len(_TITLES)]
            born = date(rng.randint(1962, 1992), 1, 1) + timedelta(days=rng.randrange(365))
            if not contact_rows:
                born = date(1976, 2, 29)  # someone must be born on a leap day, to exercise that rule
            owner = cust["owner_emp_no"] if j % 2 == 0 else rng.choice(team["managers"])
            backup = cust["backup_emp_no"] if cust["backup_emp_no"] != owner else cust["owner_emp_no"]
            row = {
                "code": f"{cust['code']}-K{j + 1:02d}", "customer_code": cust["code"], "name": name(), "title": title,
                "level": level, "gender": rng.choice(("male", "male", "female")), "birthday": born,
                "education": rng.choice(_EDUCATION), "phone": f"138{rng.randrange(10**8):08d}",
                "hobbies": "、".join(rng.sample(_HOBBIES, 2)), "taboos": rng.choice(_TABOOS) or None,
                "career_history": f"{born.year + 24}年入职；{born.year + 35}年任{title}",
                "decision_roles": roles, "is_coach": rng.random() < 0.1,
                "has_veto": j == 0, "rising_star": level == "base" and rng.random() < 0.3,
                "owner_emp_no": owner, "backup_emp_no": backup,
            }
            if rules.store_sensitive:
                row.update(family=rng.choice(_FAMILY), pain_points_personal=rng.choice(_PAIN_PERSONAL),
                           pain_points_career=rng.choice(_PAIN_CAREER))
            contact_rows.append(row)
    write("contacts", contact_rows)

    # ---------------------------------------------------------------- sponsors, projects, assessments
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for c in contact_rows:
        by_customer.setdefault(c["customer_code"], []).append(c)
    sponsor_rows: list[dict[str, Any]] = []
    project_rows: list[dict[str, Any]] = []
    assessment_rows: list[dict[str, Any]] = []
    scale = rules.scores
    for cust in customer_rows:
        tier, team, contacts = cust["tier"], cust["_team"], by_customer[cust["code"]]
        if tier in ("S", "A"):
            sponsor = region_heads[team["region"]] if tier == "S" else office_heads[team["office"]]
            sponsor_rows.append({"sponsor_emp_no": sponsor, "contact_code": contacts[0]["code"],
                                 "cadence": "monthly" if tier == "S" else "bimonthly",
                                 "accepted": rng.random() < 0.9})
            if tier == "S":
                sponsor_rows.append({"sponsor_emp_no": ceo, "contact_code": contacts[1]["code"], "cadence": "bimonthly",
                                     "accepted": True})
        if tier in ("S", "A", "B"):
            levels = {"S": ("company", "region"), "A": ("region", "office"), "B": ("office",)}[tier]
            for p in range(1 if tier == "B" else 2):
                decision = date(year + 1, 1, 1) + timedelta(days=rng.randrange(60, 330))
                project_rows.append({
                    "code": f"P-{cust['code']}-{p + 1}", "name": f"{cust['name']}{rng.choice(('核心网扩容', '数据中心', '5G专网', '云化改造', '骨干网升级', '灾备中心'))}项目",
                    "customer_code": cust["code"], "level": levels[p % len(levels)], "phase": rng.choice(_PHASES),
                    "decision_date": decision, "team_code": team["code"], "closed": False})
            locked = [x.strip() for x in cust["locked_competitors"].split(";") if x.strip()]
            for contact in contacts:
                row: dict[str, Any] = {"contact_code": contact["code"], "year": year - 1,
                                       "assessor_emp_no": contact["owner_emp_no"]}
                for dim, evidence in _DIMENSIONS:
                    if dim == Dimension.competitor_stance.value and tier == "B":
                        continue  # not every dimension applies to every contact
                    row[dim] = rng.choice(scale)
                    row[evidence] = rng.choice(_EVIDENCE)
                row["support_us"] = rng.choice(scale)
                row["competitor_support"] = {c: rng.choice(scale) for c in locked}
                assessment_rows.append(row)

    write("sponsors", sponsor_rows)
    write("projects", project_rows)
    write("assessments", assessment_rows)
    del assessment_rows, sponsor_rows

    # ---------------------------------------------------------------- marketing activities for the big customers
    first_project: dict[str, dict[str, Any]] = {}
    for p in project_rows:
        first_project.setdefault(p["customer_code"], p)
    activity_rows: list[dict[str, Any]] = []
    for cust in customer_rows:
        if cust["tier"] not in ("S", "A"):
            continue
        project = first_project[cust["code"]]
        decision = project["decision_date"]
        kind = rng.choice(list(ActivityType)[:-1])
        contacts = by_customer[cust["code"]]
        activity_rows.append({
            "code": f"A-{cust['code']}-1", "type": kind.value, "title": f"{cust['name']}{_ACTIVITY_TITLE[kind]}",
            "customer_code": cust["code"], "project_code": project["code"],
            "activity_date": decision - timedelta(days=rng.randint(20, 50)),
            "budget": rng.randint(2, 40) * 10_000, "inviter_emp_no": cust["owner_emp_no"],
            "invitees": "; ".join(c["code"] for c in contacts[:rng.randint(1, 3)]), "status": "planned"})

    write("activities", activity_rows)
    session.commit()  # one transaction for the lot

    counts = service.master_data_counts(session)
    return DemoResult(units=counts["units"], employees=counts["employees"], customers=counts["customers"],
                      contacts=counts["contacts"], inserted=sum(r.inserted for r in results),
                      updated=sum(r.updated for r in results), unchanged=sum(r.unchanged for r in results))


_ACTIVITY_TITLE = {
    ActivityType.company_visit: "高层公司参观", ActivityType.exhibition_forum: "展会论坛邀请",
    ActivityType.showcase_visit: "样板点参观", ActivityType.topic_exchange: "专题交流会",
    ActivityType.executive_visit: "高层拜访", ActivityType.sponsor: "赞助人会面",
    ActivityType.summit: "高层峰会", ActivityType.trip_escort: "出差陪同", ActivityType.home_visit: "客户家访",
    ActivityType.banquet: "商务宴请", ActivityType.gifts: "节日礼尚往来", ActivityType.routine_visit: "日常拜访",
    ActivityType.other: "其他活动",
}
