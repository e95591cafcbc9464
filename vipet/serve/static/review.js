// The review screen: edit the lesion table, label sentences, save (a new revision), export.
"use strict";
(function () {
  const exportButton = document.getElementById("export-go");
  if (exportButton) {
    exportButton.addEventListener("click", async function () {
      const list = document.getElementById("export-files");
      list.textContent = "";
      try {
        const result = await window.vipet.post("/api/review-export");
        result.files.concat(result.problems).forEach(function (name, n) {
          const item = document.createElement("li");
          if (n < result.files.length) {
            const link = document.createElement("a");
            link.href = "/review/exports/" + name.split("/").map(encodeURIComponent).join("/");
            link.className = "export-file"; link.textContent = name;
            item.appendChild(link);
          } else { item.className = "problem"; item.textContent = name; }
          list.appendChild(item);
        });
      } catch (err) { list.textContent = err.message; }
    });
  }
  const root = document.getElementById("review");
  if (!root) { return; }
  const table = document.querySelector("#lesion-table tbody");
  const columns = document.querySelectorAll("#lesion-table thead th").length - 1;

  function wireRemove(row) {
    row.querySelector(".remove-row").addEventListener("click", function () { row.remove(); });
  }
  table.querySelectorAll("tr").forEach(wireRemove);
  document.getElementById("add-lesion").addEventListener("click", function () {
    const row = document.createElement("tr");
    for (let i = 0; i < columns; i++) {
      const cell = document.createElement("td"), input = document.createElement("input");
      input.className = "cell"; input.value = "Không có"; cell.appendChild(input); row.appendChild(cell);
    }
    const last = document.createElement("td"), remove = document.createElement("button");
    remove.className = "remove-row"; remove.textContent = "✕"; last.appendChild(remove); row.appendChild(last);
    table.appendChild(row);
    wireRemove(row);
  });

  document.getElementById("save-review").addEventListener("click", async function () {
    const status = document.getElementById("save-status");
    const lesions = Array.from(table.querySelectorAll("tr")).map(function (row) {
      return Array.from(row.querySelectorAll("input.cell")).map(function (input) { return input.value; });
    });
    const sentences = Array.from(document.querySelectorAll("#sentence-table tr")).map(function (row) {
      return {index: Number(row.dataset.index), label: row.querySelector(".label").value,
              category: row.querySelector(".category").value || null};
    });
    try {
      const saved = await window.vipet.post("/api/review/" + encodeURIComponent(root.dataset.item),
        {lesions: lesions, sentences: sentences, expect_revision: Number(root.dataset.revision)});
      root.dataset.revision = saved.revision;
      status.textContent = "saved revision " + saved.revision + " (" + saved.lesions + " lesions, " + saved.labels + " labels)";
      document.getElementById("revision-label").textContent = "revision " + saved.revision;
    } catch (err) { status.textContent = "not saved: " + err.message; }
  });
})();
