// The pages' only hand-written script (no inline scripts, so a strict Content-Security-Policy fits):
// draw the flow diagram with the vendored Mermaid, and let a case-library hit fill the resolve form.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (window.mermaid && document.querySelector("pre.mermaid")) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral",
                                fontFamily: '"Noto Sans CJK SC", "Noto Sans SC", sans-serif' });
    window.mermaid.run({ querySelector: "pre.mermaid" });
  }
});
document.addEventListener("click", function (event) {
  var hit = event.target.closest("[data-case-code]");
  if (!hit) return;
  var field = document.querySelector("input[name=case]");
  if (field) { field.value = hit.dataset.caseCode; field.focus(); }
});
