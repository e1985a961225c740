// The index of reports as a listing a reader can sort and filter: by topic, data source (own, shipped,
// simulated) and run date. Plain JavaScript run inline from the page (both publishing routes include
// it after the body), so it works from file:// and offline; without it the table is still complete.
(function () {
  var holder = document.getElementById("reports");
  var table = holder && holder.querySelector("table");
  if (!table || !table.tBodies.length) return;
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = Array.prototype.slice.call(table.tHead ? table.tHead.rows[0].cells : []);
  var column = {};
  heads.forEach(function (th, i) { column[th.textContent.trim().toLowerCase()] = i; });
  function cell(row, name) { return row.cells[column[name]].textContent.replace(/\u2011/g, "-").trim(); }

  function select(label, name, values) {
    var wrap = document.createElement("label");
    wrap.textContent = label + " ";
    var box = document.createElement("select");
    box.name = name;
    [""].concat(values).forEach(function (v) {
      var option = document.createElement("option");
      option.value = v;
      option.textContent = v || "all";
      box.appendChild(option);
    });
    wrap.appendChild(box);
    return wrap;
  }
  function distinct(name, split) {
    var seen = {};
    rows.forEach(function (r) {
      (split ? cell(r, name).split(/,\s*/) : [cell(r, name)]).forEach(function (v) { if (v) seen[v] = 1; });
    });
    return Object.keys(seen).sort();
  }

  var form = document.createElement("form");
  form.className = "listing-filters";
  form.appendChild(select("Topic", "topic", distinct("topic")));
  form.appendChild(select("Data", "data", distinct("data", true)));
  var since = document.createElement("label");
  since.textContent = "Run on or after ";
  var date = document.createElement("input");
  date.type = "date";
  date.name = "since";
  since.appendChild(date);
  form.appendChild(since);
  var count = document.createElement("span");
  count.className = "listing-count";
  form.appendChild(count);
  holder.insertBefore(form, holder.firstChild);

  function filter() {
    var topic = form.topic.value, data = form.data.value, from = form.since.value, shown = 0;
    rows.forEach(function (r) {
      var ok = (!topic || cell(r, "topic") === topic)
        && (!data || cell(r, "data").split(/,\s*/).indexOf(data) >= 0)
        && (!from || cell(r, "run on") >= from);
      r.style.display = ok ? "" : "none";
      shown += ok ? 1 : 0;
    });
    count.textContent = shown + " of " + rows.length + " reports";
  }
  form.addEventListener("change", filter);
  form.addEventListener("input", filter);
  form.addEventListener("submit", function (e) { e.preventDefault(); });

  heads.forEach(function (th, i) {
    if (th.textContent.trim().toLowerCase() === "read") return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.textContent = th.textContent.trim();
    button.title = "Sort by " + button.textContent;
    th.textContent = "";
    th.appendChild(button);
    th.setAttribute("aria-sort", "none");
    button.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      rows.slice().sort(function (a, b) {
        var x = a.cells[i].textContent.trim(), y = b.cells[i].textContent.trim();
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
      }).forEach(function (r) { body.appendChild(r); });
    });
  });
  filter();
})();
