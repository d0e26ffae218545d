"""Charts for the pages: one `Chart` holds the numbers once; the page draws it with the vendored
ECharts (`static/vendor/echarts.min.js`) and shows the same numbers as a table beneath it, so the
figures are readable without JavaScript, by a screen reader and by a test.

Build a chart in the page's Python (`bar`, `line`, `pie`), pass it to the template and call the
macro: `{% from "_charts.html" import chart %}{{ chart(my_chart) }}` plus, once per page,
`{% block charts_js %}{{ chart_script() }}{% endblock %}` (also in `_charts.html`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence


@dataclass
class Chart:
    id: str                                   # DOM id, also the table's data-testid prefix
    title: str                                # already translated
    categories: list[str]                     # x axis (bar/line) or slice names (pie)
    series: dict[str, list[Optional[float]]]  # series name (translated) -> one value per category
    kind: str = "bar"                         # bar | line | pie | stacked
    unit: str = ""                            # shown after the numbers in the table ("%", "元")
    option: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, values in self.series.items():
            if len(values) != len(self.categories):
                raise ValueError(f"chart {self.id}: series '{name}' has {len(values)} values for "
                                 f"{len(self.categories)} categories")
        if not self.option:
            self.option = self._option()

    def rows(self) -> list[list[Any]]:
        """The table under the chart: one row per category, one column per series."""
        names = list(self.series)
        return [[cat] + [self.series[n][i] for n in names] for i, cat in enumerate(self.categories)]

    def _option(self) -> dict[str, Any]:
        if self.kind == "pie":
            (name, values), = list(self.series.items())[:1] or [("", [])]
            return {"tooltip": {"trigger": "item"}, "legend": {"bottom": 0},
                    "series": [{"type": "pie", "name": name, "radius": ["35%", "65%"],
                                "data": [{"name": c, "value": v} for c, v in zip(self.categories, values)]}]}
        kind = "line" if self.kind == "line" else "bar"
        series = []
        for name, values in self.series.items():
            item: dict[str, Any] = {"type": kind, "name": name, "data": values}
            if self.kind == "stacked":
                item["stack"] = "total"
            series.append(item)
        return {"tooltip": {"trigger": "axis"}, "legend": {"bottom": 0},
                "grid": {"left": 48, "right": 16, "top": 24, "bottom": 56, "containLabel": True},
                "xAxis": {"type": "category", "data": self.categories},
                "yAxis": {"type": "value"}, "series": series}


def bar(id: str, title: str, categories: Sequence[str], series: dict[str, Sequence[Optional[float]]],
        *, stacked: bool = False, unit: str = "") -> Chart:
    return Chart(id, title, list(categories), {k: list(v) for k, v in series.items()},
                 kind="stacked" if stacked else "bar", unit=unit)


def line(id: str, title: str, categories: Sequence[str], series: dict[str, Sequence[Optional[float]]],
         *, unit: str = "") -> Chart:
    return Chart(id, title, list(categories), {k: list(v) for k, v in series.items()}, kind="line", unit=unit)


def pie(id: str, title: str, slices: dict[str, float], *, name: str = "", unit: str = "") -> Chart:
    return Chart(id, title, list(slices), {name or title: list(slices.values())}, kind="pie", unit=unit)
