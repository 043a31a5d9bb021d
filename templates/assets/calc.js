// The calculator on each cell page. It only lays out and loops over layers and directions;
// every formula it evaluates is generated from the closed forms (assets/calc-data.js).
// All arithmetic is BigInt: counts stay exact at any size.
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

  function field(form, label, name, value, attrs) {
    var wrap = el("label", { "class": "calc-field" });
    wrap.appendChild(el("span", {}, label));
    var input = el("input", Object.assign({ name: name, value: value, type: "text",
      inputmode: "numeric", autocomplete: "off", spellcheck: "false" }, attrs || {}));
    wrap.appendChild(input);
    form.appendChild(wrap);
    return input;
  }

  function positive(text, name) {
    var t = String(text).trim().replace(/[_,\s]/g, "");
    if (!/^\d+$/.test(t) || BigInt(t) < 1n) throw new Error(name + " must be a positive integer, got '" + text + "'");
    return BigInt(t);
  }

  function name(template, tensor, k) {
    return template.replace(/\{(t|k|k1|k_)\}/g, function (_, key) {
      return { t: tensor, k: String(k), k1: String(k + 1), k_: k === 0 ? "" : "_" + k }[key];
    });
  }

  function table(head, rows, cls) {
    var t = el("table", { "class": cls });
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", {}, h)); });
    t.appendChild(el("thead")).appendChild(tr);
    var body = t.appendChild(el("tbody"));
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c) { row.appendChild(el("td", {}, c)); });
      body.appendChild(row);
    });
    return t;
  }

  function allowed(conv, s) {  // the framework's own conditions on the sizes (p < h, ...)
    return conv.requires.filter(function (r) {
      var a = r.left(s), b = r.right(s);
      return !{ "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a === b,
        "|": a > 0n && b % a === 0n }[r.op];
    }).map(function (r) { return r.message; });
  }

  var DEFAULTS = { input_size: "512", hidden_size: "256", proj_size: "128" };

  function build(root) {
    var cell = DERIVE_CALC[root.getAttribute("data-cell")];
    if (!cell) return;
    var form = el("form", { "class": "calc-form", onsubmit: "return false" });
    var fw = el("select", { name: "framework" });
    Object.keys(cell.conventions).forEach(function (k) {
      fw.appendChild(el("option", { value: k }, k + " — " + cell.conventions[k].title));
    });
    if (cell.conventions.pytorch) fw.value = "pytorch";
    var fwl = el("label", { "class": "calc-field calc-wide" });
    fwl.appendChild(el("span", {}, "convention"));
    fwl.appendChild(fw);
    form.appendChild(fwl);
    var sizes = cell.sizes.map(function (s) {
      return { s: s, input: field(form, s.keyword + " (" + s.symbol + ")", s.keyword,
        DEFAULTS[s.keyword] || s.example || "64", { title: s.description }) };
    });
    var layers = field(form, "num_layers (L)", "num_layers", "1");
    var batch = field(form, "batch (B)", "batch", "1");
    var steps = field(form, "seq_len (T)", "seq_len", "1");
    var bidir = el("input", { type: "checkbox", name: "bidirectional" });
    var bias = el("input", { type: "checkbox", name: "bias", checked: "" });
    [["bidirectional (D = 2)", bidir], ["bias", bias]].forEach(function (p) {
      var l = el("label", { "class": "calc-check" });
      l.appendChild(p[1]);
      l.appendChild(el("span", {}, " " + p[0]));
      form.appendChild(l);
    });
    var dtype = el("select", { name: "dtype" });
    Object.keys(DERIVE_DTYPES).forEach(function (k) { dtype.appendChild(el("option", { value: k }, k)); });
    dtype.value = "fp32";
    var dl = el("label", { "class": "calc-field" });
    dl.appendChild(el("span", {}, "dtype"));
    dl.appendChild(dtype);
    form.appendChild(dl);
    root.appendChild(form);
    var out = el("div", { "class": "calc-out", "aria-live": "polite" });
    root.appendChild(out);

    function update() {
      out.textContent = "";
      try {
        var conv = cell.conventions[fw.value];
        layers.disabled = !conv.stackable;
        bidir.disabled = !conv.stackable;
        var s = {};
        sizes.forEach(function (z) { s[z.s.symbol] = positive(z.input.value, z.s.keyword); });
        Object.keys(cell.forced).forEach(function (k) { s[k] = cell.forced[k](s); });
        var broken = allowed(conv, s);
        if (broken.length) throw new Error(broken[0]);
        s.L = conv.stackable ? positive(layers.value, "num_layers") : 1n;
        s.D = conv.stackable && bidir.checked ? 2n : 1n;
        s.B = positive(batch.value, "batch");
        s.T = positive(steps.value, "seq_len");
        bias.disabled = !conv.biasOptional;
        var part = bias.checked || !conv.biasOptional ? conv.bias : conv.noBias;
        var total = part.total(s);
        var p = el("p", { "class": "calc-result" });
        p.appendChild(el("span", {}, "Parameters: "));
        p.appendChild(el("strong", { "class": "calc-total", "data-value": total.toString() }, group(total)));
        out.appendChild(p);
        // per tensor: layer k reads the input (k = 0) or what the layer below gives it
        // (D outputs concatenated, or one direction's for separate stacks)
        var rows = [], sum = 0n, upper = conv.above(s);
        var one = s.L > 1n ? conv.namesStacked : conv.names;
        var two = s.L > 1n ? conv.namesStackedBidirectional : conv.namesBidirectional;
        for (var k = 0n; k < s.L; k++) {
          var ls = Object.assign({}, s);
          if (k > 0n) ls[cell.input] = upper;
          var groups = conv.directionAxis ? [[one[0], [s.D]]]
            : s.D === 1n ? [[one[0], []]]
              : [[two[0], []], [two[1], []]];
          groups.forEach(function (g) {
            part.tensors.forEach(function (t) {
              var shape = g[1].concat(t.dims.map(function (f) { return f(ls); }));
              var n = shape.reduce(function (a, b) { return a * b; }, 1n);
              sum += n;
              rows.push([name(g[0], t.name, Number(k)) + (conv.directionAxis && s.L > 1n ? " (layer " + (k + 1n) + ")" : ""),
                "(" + shape.map(String).join(", ") + (shape.length === 1 ? ",)" : ")"), group(n)]);
            });
          });
        }
        rows.push(["total", "", group(sum)]);
        out.appendChild(table(["tensor", "shape", "count"], rows, "calc-tensors"));
        // the same sizes under every convention of the cell
        var every = Object.keys(cell.conventions).map(function (k) {
          var c = cell.conventions[k];
          var ok = allowed(c, s).length === 0;
          var single = !c.stackable && (s.L !== 1n || s.D !== 1n);
          return [k, c.title, !ok ? "— (sizes it does not allow)"
            : single ? "— (a single cell: one layer, one direction)"
              : group((bias.checked || !c.biasOptional ? c.bias : c.noBias).total(s))];
        });
        out.appendChild(el("h4", {}, "Parameters under each convention"));
        out.appendChild(table(["convention", "", "parameters"], every, "calc-conventions"));
        var fl = Object.keys(DERIVE_COMPUTE).map(function (c) {
          var mine = part.flops[c](s), theirs = part.printed[c] ? part.printed[c](s) : mine;
          return [c, group(mine), theirs === mine ? "" : group(theirs), DERIVE_COMPUTE[c].summary];
        });
        out.appendChild(el("h4", {}, "Compute over the sequence (B·T steps)"));
        out.appendChild(table(["convention", "total", "the tool prints (its bugs; input (T, B, d))", "what it counts"],
          fl, "calc-flops"));
        var bytes = BigInt(DERIVE_DTYPES[dtype.value]);
        out.appendChild(el("h4", {}, "Memory (" + dtype.value + ")"));
        out.appendChild(table(["what", "values", "bytes"], [
          ["weights", group(total), group(total * bytes)],
          ["recurrent state between steps", group(conv.state(s)), group(conv.state(s) * bytes)],
          ["activations kept for backprop", group(conv.kept(s)), group(conv.kept(s) * bytes)]
        ], "calc-memory"));
      } catch (e) {
        out.appendChild(el("p", { "class": "calc-error", role: "alert" }, e.message));
      }
    }
    // the configuration lives in the page's address: #fw=pytorch&d=512&h=256&L=2&bi=1
    function state() {
      var q = new URLSearchParams();
      q.set("fw", fw.value);
      sizes.forEach(function (z) { q.set(z.s.symbol, z.input.value); });
      q.set("L", layers.value); q.set("B", batch.value); q.set("T", steps.value);
      q.set("bi", bidir.checked ? "1" : "0"); q.set("bias", bias.checked ? "1" : "0");
      q.set("dtype", dtype.value);
      return q.toString();
    }
    function restore() {
      var h = location.hash.slice(1);
      if (h.indexOf("=") < 0) return;  // an anchor (#derivation-W_hi), not a configuration
      var q = new URLSearchParams(h);
      if (q.has("fw") && cell.conventions[q.get("fw")]) fw.value = q.get("fw");
      sizes.forEach(function (z) { if (q.has(z.s.symbol)) z.input.value = q.get(z.s.symbol); });
      [["L", layers], ["B", batch], ["T", steps]].forEach(function (p) {
        if (q.has(p[0])) p[1].value = q.get(p[0]);
      });
      if (q.has("bi")) bidir.checked = q.get("bi") === "1";
      if (q.has("bias")) bias.checked = q.get("bias") !== "0";
      if (q.has("dtype") && DERIVE_DTYPES[q.get("dtype")] !== undefined) dtype.value = q.get("dtype");
    }
    function changed() {
      update();
      if (window.history && history.replaceState) history.replaceState(null, "", "#" + state());
    }
    restore();
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    update();
  }

  function openTarget() {  // a link to one parameter's derivation opens it
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") target.open = true;
  }
  window.addEventListener("hashchange", openTarget);

  function init() {
    openTarget();
    Array.prototype.forEach.call(document.querySelectorAll(".derive-calc"), function (root) {
      if (!root.getAttribute("data-ready")) { root.setAttribute("data-ready", "1"); build(root); }
    });
  }
  if (typeof document$ !== "undefined") document$.subscribe(init);  // Material instant loading
  else document.addEventListener("DOMContentLoaded", init);
})();
