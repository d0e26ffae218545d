// The pages' only hand-written script (no inline scripts, so a strict Content-Security-Policy fits):
// draw the flow diagram with the vendored Mermaid, draw the charts with the vendored ECharts (each
// element's `data-chart` holds its option, engine/web/charts.py), and let a case-library hit fill the
// resolve form.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (window.mermaid && document.querySelector("pre.mermaid")) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral",
                                fontFamily: '"Noto Sans CJK SC", "Noto Sans SC", sans-serif' });
    window.mermaid.run({ querySelector: "pre.mermaid" });
  }
  drawCharts(document);
});
document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });
function drawCharts(root) {
  if (!window.echarts) return;
  root.querySelectorAll("[data-chart]").forEach(function (el) {
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(JSON.parse(el.dataset.chart), true);
    el.dataset.drawn = "1";
  });
}
window.addEventListener("resize", function () {
  if (!window.echarts) return;
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var chart = window.echarts.getInstanceByDom(el);
    if (chart) chart.resize();
  });
});
document.addEventListener("click", function (event) {
  var hit = event.target.closest("[data-case-code]");
  if (!hit) return;
  var field = document.querySelector("input[name=case]");
  if (field) { field.value = hit.dataset.caseCode; field.focus(); }
});
