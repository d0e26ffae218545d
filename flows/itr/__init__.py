"""ITR — Issue to Resolution (问题到解决), SPEC §5: customer issues from intake to closing.

Modules:
* `itr_issue.yaml` / `itr_review.yaml` — the flows (issue ladder; weekly and monthly reviews);
* `actions`  — their guards, actions and launchers (run inside flow steps);
* `service`  — what the CLI, the replay plugin and the web app call (`open_issue`, `escalate`, ...);
* `intake`   — checks and rows of a new issue (also `service.open_issue_in` for other flows);
* `policy`   — pure functions: quota, windows, callback sampling, SLA, ISO weeks;
* `rules`    — the model of rules/itr.yaml;
* `search`   — Chinese full-text search of the case library (SQLite and PostgreSQL);
* `reports` / `reviews` — the monitoring report, the weekly check, the scheduled reviews;
* `models`, `errors`, `messages`, `cli`, `replay`.
User documentation: docs/itr.md; scenario format: docs/replay.md.
"""
