// The calculator on each model page. It only lays out: every count it evaluates is a
// closed form generated from the model (assets/calc-data.js, DERIVE_MODELS), in BigInt.
(function () {
  "use strict";

  function group(n) {
    var neg = n < 0n, t = (neg ? -n : n).toString();
    return (neg ? "−" : "") + t.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function positive(text, name) {
    var t = String(text).trim().replace(/[_,\s]/g, "");
    if (!/^\d+$/.test(t) || BigInt(t) < 1n) throw new Error(name + " must be a positive integer, got '" + text + "'");
    return BigInt(t);
  }

  var OPS = {
    "<": function (a, b) { return a < b; }, "<=": function (a, b) { return a <= b; },
    ">": function (a, b) { return a > b; }, ">=": function (a, b) { return a >= b; },
    "==": function (a, b) { return a === b; }, "!=": function (a, b) { return a !== b; },
    "|": function (a, b) { return a !== 0n && b % a === 0n; }
  };

  function mount(root) {
    var model = (window.DERIVE_MODELS || {})[root.dataset.model];
    if (!model) return;
    var form = el("form", { "class": "calc-form" });
    var inputs = {};
    model.symbols.forEach(function (s) {
      var wrap = el("label", { "class": "calc-field", title: s.description });
      wrap.appendChild(el("span", {}, s.label));
      var input = el("input", { name: s.name, value: s.value, type: "text", inputmode: "numeric",
        autocomplete: "off", spellcheck: "false", "aria-label": s.name + ": " + s.description });
      wrap.appendChild(input);
      form.appendChild(wrap);
      inputs[s.name] = input;
    });
    var out = el("div", { "class": "calc-out", "aria-live": "polite" });
    root.appendChild(form);
    root.appendChild(out);

    function update() {
      out.textContent = "";
      var s = {};
      try {
        model.symbols.forEach(function (sym) { s[sym.name] = positive(inputs[sym.name].value, sym.name); });
        model.requires.forEach(function (r) {
          if (!OPS[r.op](r.left(s), r.right(s))) throw new Error("needs " + r.text);
        });
      } catch (e) {
        out.appendChild(el("p", { "class": "calc-error" }, e.message));
        return;
      }
      var sum = model.total(s);
      var t = el("table", { "class": "calc-layers" });
      var tr = el("tr");
      ["layer", "what", "parameters"].forEach(function (h) { tr.appendChild(el("th", {}, h)); });
      t.appendChild(el("thead")).appendChild(tr);
      var body = t.appendChild(el("tbody"));
      model.layers.forEach(function (layer) {
        var row = el("tr");
        [layer.name, layer.summary, group(layer.count(s))].forEach(function (c) { row.appendChild(el("td", {}, c)); });
        body.appendChild(row);
      });
      var total = el("tr");
      ["total", "", group(sum)].forEach(function (c) { total.appendChild(el("td", {}, c)); });
      body.appendChild(total);
      out.appendChild(el("p", { "class": "calc-total", "data-value": sum.toString() },
        "total: " + group(sum) + " parameters"));
      out.appendChild(t);
    }

    form.addEventListener("input", update);
    form.addEventListener("submit", function (e) { e.preventDefault(); update(); });
    update();
  }

  function start() {
    document.querySelectorAll(".derive-model-calc").forEach(function (root) {
      if (!root.dataset.mounted) { root.dataset.mounted = "1"; mount(root); }
    });
  }

  if (window.document$ && window.document$.subscribe) window.document$.subscribe(start);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
