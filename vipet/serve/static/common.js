// Shared helpers: every state-changing request carries the page's CSRF token in a header.
"use strict";
window.vipet = {
  csrf: function () { return document.querySelector('meta[name="csrf-token"]').content; },
  post: async function (url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": window.vipet.csrf()},
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(function () { return {error: "HTTP " + response.status}; });
    if (!response.ok) { throw new Error(data.error || ("HTTP " + response.status)); }
    return data;
  },
  // Poll a background job, showing its progress, until it is done; resolves with its result.
  poll: function (jobId, bar, label) {
    return new Promise(function (resolve, reject) {
      const tick = async function () {
        const state = await (await fetch("/api/jobs/" + jobId, {credentials: "same-origin"})).json();
        if (bar) { bar.value = state.fraction; }
        if (label) { label.textContent = state.message; }
        if (state.error) { reject(new Error(state.error)); return; }
        if (state.done) { resolve(state.result); return; }
        setTimeout(tick, 200);
      };
      tick();
    });
  },
};
