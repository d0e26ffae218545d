"""Planning and care flows of MCR (SPEC §3, §4, §7, §8): the year-end planning kit (客户关系规划三件套),
the execution rhythm (self-check, key-customer card review, half-year revision, annual evaluation),
the customer strategy review (tier review, win-rate alert), daily care reminders and relationship
handovers. Flow definitions are the YAML files of this folder; their guards, actions and launchers
are registered by `actions.py`; the numbers live in rules/planning.yaml, rules/care.yaml and
rules/festivals.yaml. See docs/planning.md and docs/care.md.
"""
