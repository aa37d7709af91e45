// Progressive enhancement of the declaration page (the page works without it: "Cập nhật",
// "Thêm" and "Xóa" reload it from the server). With it, conditional fields and sections appear
// as soon as the answer they depend on changes, and "Thêm" adds an item at once.
(function () {
  "use strict";
  var form = document.querySelector("form[data-declaration]");
  if (!form) return;

  function values(key) {
    var out = [];
    var els = form.querySelectorAll('[name="' + CSS.escape(key) + '"]');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (isHidden(el)) continue;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) continue;
      var v = (el.value || "").trim();
      if (v) out.push(v);
    }
    return out;
  }

  function isHidden(el) {
    for (var n = el; n && n !== form; n = n.parentElement) {
      if (n.hidden) return true;
    }
    return false;
  }

  // In document order: a condition only looks back, so one pass settles chains.
  function refresh() {
    var nodes = form.querySelectorAll("[data-show-if]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var wanted = [];
      try { wanted = JSON.parse(node.getAttribute("data-equals") || "[]"); } catch (e) { wanted = []; }
      var got = values(node.getAttribute("data-show-if"));
      var ok = got.length > 0 && (wanted.length === 0 || got.some(function (v) { return wanted.indexOf(v) >= 0; }));
      node.hidden = !ok;
    }
  }

  function add(group, button) {
    var box = document.getElementById("nhom-" + group);
    var tpl = document.getElementById("mau-" + group);
    if (!box || !tpl) return false;
    var count = box.querySelector("input[data-count]");
    var n = parseInt(count.value, 10) + 1;
    var max = parseInt(box.getAttribute("data-max"), 10);
    if (!(n <= max)) return false;
    var html = tpl.innerHTML.split("__N__").join(String(n));
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var item = holder.firstElementChild;
    tpl.parentNode.insertBefore(item, tpl);
    count.value = String(n);
    if (n >= max) button.hidden = true;
    refresh();
    var first = item.querySelector("input, select, textarea");
    if (first) first.focus();
    return true;
  }

  var hide = form.querySelectorAll(".js-hide");
  for (var i = 0; i < hide.length; i++) hide[i].hidden = true;
  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
  form.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button[data-add]") : null;
    if (b && add(b.getAttribute("data-add"), b)) ev.preventDefault();
  });
  refresh();
})();
