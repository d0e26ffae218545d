"""Satisfaction surveys (客户满意度调查, SPEC §6): the post-project callback, the callback after a
marketing activity, the annual third-party survey sample and results, and their analysis.

Modules:
* `project_callback.yaml`, `activity_callback.yaml`, `annual_survey.yaml` — the flows; `actions.py` their
  guards and actions; `templates/` their mails;
* `rules`       — rules/survey.yaml (sample rate and seed, due times, thresholds, sample sizes, ratios);
* `sampling`    — which closed projects are called back (seeded, reproducible draw);
* `deadlines`   — due times on the office calendar (the 3-day activity limit across weekends);
* `contact_gap` — the same-contact rule across ITR and survey callbacks (同一联系人10天内不重复回访);
* `samples`, `results`, `tables` — the sample-list and result files: layouts, reading, checks, export;
* `itr_link`    — the improvement issue opened in ITR by a low score;
* `service`     — the entry points (CLI, replay, the project-close path); `cli` — `mcr survey …`;
* `report`      — the analysis (JSON, HTML with inline SVG charts); `replay` — scenario commands;
* `models`      — the survey tables; `fixtures` — a small organisation for scenarios and tests.

Documented for users in docs/survey.md.
"""
