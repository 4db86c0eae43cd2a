// "Hide screen": blanks the page at once (button, or Escape pressed twice), for when someone
// walks up to the desk. Any click or key brings the page back.
(function () {
  "use strict";
  var cover = document.getElementById("cmer-screen-cover");
  if (!cover) { return; }
  var lastEscape = 0;
  var savedTitle = document.title;
  function hide() { cover.hidden = false; document.title = "CMER"; }
  function show() { cover.hidden = true; document.title = savedTitle; }
  // Delegated: the button exists twice (header tools, and the phone menu).
  document.addEventListener("click", function (e) {
    var target = e.target.closest ? e.target.closest(".cmer-hide-screen") : null;
    if (target) { e.stopPropagation(); e.preventDefault(); hide(); }
  });
  cover.addEventListener("click", show);
  document.addEventListener("keydown", function (e) {
    if (!cover.hidden) { show(); e.preventDefault(); return; }
    if (e.key === "Escape") {
      var now = Date.now();
      if (now - lastEscape < 600) { hide(); }
      lastEscape = now;
    }
  });
  // After a failed POST, the error summary (or the confirmation step) takes the focus, so that
  // a screen reader announces it and the keyboard starts from there.
  var focusTarget = document.querySelector("[data-cmer-focus]");
  if (focusTarget) { focusTarget.focus(); }
  // A table that scrolls sideways (phones) must be reachable by keyboard to be scrolled
  // (axe "scrollable-region-focusable"): focusable only while it actually scrolls.
  function focusableScrollers() {
    document.querySelectorAll(".fr-table table, .fr-table__container").forEach(function (el) {
      var scrolls = el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
      if (scrolls && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
        el.setAttribute("data-cmer-scroll", "");
      } else if (!scrolls && el.hasAttribute("data-cmer-scroll")) {
        el.removeAttribute("tabindex");
        el.removeAttribute("data-cmer-scroll");
      }
    });
  }
  focusableScrollers();
  window.addEventListener("load", focusableScrollers);
  window.addEventListener("resize", focusableScrollers);
  // Elements that ask for confirmation before a consequential POST.
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (e) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
  // Show/hide blocks driven by a field (e.g. the emergency notice when urgency is "danger").
  document.querySelectorAll("[data-show-when]").forEach(function (block) {
    var spec = block.getAttribute("data-show-when").split("=");
    var inputs = document.querySelectorAll('[name="' + spec[0] + '"]');
    if (!inputs.length) { return; }
    function update() {
      var value = null;
      inputs.forEach(function (input) {
        if (input.type === "radio" || input.type === "checkbox") {
          if (input.checked) { value = input.value; }
        } else { value = input.value; }
      });
      block.hidden = value !== spec[1];
    }
    inputs.forEach(function (input) { input.addEventListener("change", update); });
    update();
  });
})();
