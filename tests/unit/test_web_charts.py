from __future__ import annotations

import json

import pytest

from engine.web.charts import bar, line, pie
from engine.web.templating import make_templates


def test_a_bar_chart_lists_each_category_with_every_series_value_in_its_table():
    c = bar("weekly", "Issues", ["W1", "W2"], {"new": [3, 5], "closed": [1, None]})
    assert c.rows() == [["W1", 3, 1], ["W2", 5, None]]
    assert [s["name"] for s in c.option["series"]] == ["new", "closed"]
    assert c.option["xAxis"]["data"] == ["W1", "W2"]


def test_a_series_with_the_wrong_number_of_values_is_refused_naming_the_chart_and_series():
    with pytest.raises(ValueError, match="chart x: series 'a' has 1 values for 2 categories"):
        line("x", "t", ["a", "b"], {"a": [1]})


def test_the_chart_macro_renders_the_option_as_json_and_the_numbers_as_a_table():
    env = make_templates().env
    tpl = env.from_string('{% from "_charts.html" import chart %}{{ chart(c) }}')
    html = tpl.render(c=pie("share", "Share <b>", {"甲": 2, "乙": 3}, unit="%"))
    assert "Share &lt;b&gt;" in html
    start = html.index('data-chart="') + len('data-chart="')
    option = json.loads(html[start:html.index('"', start)].replace("&#34;", '"').replace("&quot;", '"'))
    assert option["series"][0]["data"] == [{"name": "甲", "value": 2}, {"name": "乙", "value": 3}]
    assert '<td class="num">3%</td>' in html
