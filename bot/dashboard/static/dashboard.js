// SASI dashboard: sortable tables and the live summary. No library, no build step.
"use strict";

(function () {
  var POLL_MS = 5000;

  function sortValue(cell, type) {
    var marked = cell.querySelector("[data-sort]");
    var raw = marked ? marked.getAttribute("data-sort") : cell.textContent;
    return type === "number" ? parseFloat(raw) || 0 : String(raw).toLowerCase();
  }

  function sortBy(button) {
    var table = button.closest("table");
    var col = parseInt(button.getAttribute("data-col"), 10);
    var type = button.getAttribute("data-type");
    var th = button.closest("th");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortValue(a.cells[col], type), y = sortValue(b.cells[col], type);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.sort") : null;
    if (button) { sortBy(button); }
  });

  function poll(live) {
    var version = live.getAttribute("data-version") || "";
    fetch("/dasbor/api/summary?v=" + encodeURIComponent(version), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        window.location.reload();  // the session ended: show the page that says so
        return null;
      }
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      if (data.html !== undefined && data.version !== version) {
        live.innerHTML = data.html;
        live.setAttribute("data-version", data.version);
      }
      var stamp = document.getElementById("updated");
      if (stamp) { stamp.textContent = data.updated; }
    }).catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(function () { window.setTimeout(function () { poll(live); }, POLL_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("live");
    if (live) { window.setTimeout(function () { poll(live); }, POLL_MS); }
  });
})();
