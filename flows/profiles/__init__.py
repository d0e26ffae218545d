"""Customer and vendor profiles (客户企业档案 CP / 供应商档案 VP, SPEC §8b) and the customer watch
(跟踪与监控客户策略, SPEC §8a) with its management retrospective (管理回溯).

Modules:
* `customer_profile.yaml`, `vendor_profile.yaml`, `retrospective.yaml` — the flows; `actions.py` their
  actions and launchers; `templates/` their mails;
* `rules`    — rules/profiles.yaml (tiers, launch day, deadline, reminders, the VP's weighted criteria
  that must sum to 100, the watch period and thresholds, the retrospective's due time);
* `sections` — the CP/VP content: sections, pre-fill, checks, the weighted comparison, fishbone, diff;
* `workbook` — XLSX out and in (sheet/row/column errors through the master-data cell parser);
* `service`  — CP/VP entry points; `watch` — the customer watch, its report and what it opens;
* `cli` (`mcr profiles …`, `mcr watch …`), `replay`, `inbox`, `web` (JSON API);
* `models`   — profile_doc, profile_review, watch_run.

Documented for users in docs/profiles.md and docs/watch.md. Never imports another family: the tier
review is started through the engine by flow name.
"""
