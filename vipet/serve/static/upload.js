"use strict";
(function () {
  const form = document.getElementById("upload-form");
  if (!form) { return; }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const status = document.getElementById("upload-status");
    const data = new FormData(form);
    const response = await fetch("/upload", {method: "POST", body: data, credentials: "same-origin",
                                             headers: {"X-CSRF-Token": window.vipet.csrf()}});
    const body = await response.json().catch(function () { return {}; });
    if (response.ok) { const link = document.createElement("a"); link.href = body.url; link.textContent = "saved " + body.saved + " files: open " + body.key; status.textContent = ""; status.appendChild(link); } else { status.textContent = body.error || response.status; }
  });
})();
