"""Organisation and customer master data (主数据): people, customers, key contacts and their cards,
relationship assessments, sponsors, projects and marketing activities.

Modules:
* `models`     — the tables (SQLModel);
* `settings`   — rules/masterdata.yaml (assessment scale, sensitive-data switch, competitor limit);
* `tiers`      — rules/tiers.yaml (what each customer tier requires);
* `layouts`    — the import/export column layouts (Chinese and English headers);
* `importer` / `exporter` — CSV and XLSX in and out, all-or-nothing per file;
* `visibility` — who may see which customer, contact and sensitive field;
* `audit`      — the audit log of card reads and changes;
* `service`    — the functions the CLI, the web app and the ITR/planning flows call;
* `demo`       — a deterministic demo organisation;
* `cli`        — `mcr import|export|demo-data`.
"""
