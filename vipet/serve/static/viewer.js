// The study viewer: MIP, one fused plane with a slice slider and window presets, voxel values,
// region boundaries, drafting and asking. Pictures come from the server as PNG; nothing else loads.
"use strict";
(function () {
  const root = document.getElementById("viewer");
  if (!root) { return; }
  const key = root.dataset.key;
  const api = "/api/study/" + encodeURIComponent(key);
  const plane = document.getElementById("plane");
  const mip = document.getElementById("mip");
  const slider = document.getElementById("slice");
  const windowSelect = document.getElementById("window");
  let info = null;

  function currentPlane() { return document.querySelector('input[name="plane"]:checked').value; }

  function showPlane() {
    const name = currentPlane();
    plane.src = api + "/plane/" + name + "/" + slider.value + ".png?window=" + windowSelect.value;
    plane.dataset.plane = name;
    plane.dataset.index = slider.value;
    document.getElementById("slice-label").textContent = name + " " + slider.value + " / " + (info.planes[name] - 1);
    drawRegions(document.getElementById("plane-frame"), name === "axial" ? null : info.shape[0]);
    const here = Object.entries(info.regions).filter(function (r) {
      return name === "axial" && r[1][0] <= slider.value && slider.value < r[1][1];
    }).map(function (r) { return r[0]; });
    document.getElementById("region-list").textContent = name === "axial" ?
      ("regions of this slice: " + (here.join(", ") || "none")) : "dashed lines: region boundaries of the build";
  }

  function setPlane(name, index) {
    const marker = document.querySelector("#plane-frame .marker");
    if (marker) { marker.remove(); }
    slider.max = info.planes[name] - 1;
    slider.value = index === undefined ? Math.floor(info.planes[name] / 2) : index;
    showPlane();
  }

  // Region starts and stops as dashed lines across a head-to-feet image of `depth` slices.
  function drawRegions(frame, depth) {
    frame.querySelectorAll(".region-line").forEach(function (line) { line.remove(); });
    if (!depth) { return; }
    Object.entries(info.regions).forEach(function (entry) {
      [entry[1][0], entry[1][1]].forEach(function (z, n) {
        if (z <= 0 || z >= depth) { return; }
        const line = document.createElement("div");
        line.className = "region-line region-" + entry[0];
        line.style.top = (100 * z / depth) + "%";
        const tag = document.createElement("span");
        tag.textContent = entry[0] + (n === 0 ? " ↓" : " ↑");
        line.appendChild(tag);
        frame.appendChild(line);
      });
    });
  }

  function voxelOf(event) {
    const fx = event.offsetX / plane.clientWidth, fy = event.offsetY / plane.clientHeight;
    const [depth, rows, cols] = info.shape, index = Number(slider.value), name = currentPlane();
    const clamp = function (v, n) { return Math.max(0, Math.min(n - 1, Math.floor(v * n))); };
    if (name === "axial") { return [index, clamp(fy, rows), clamp(fx, cols)]; }
    if (name === "coronal") { return [clamp(fy, depth), index, clamp(fx, cols)]; }
    return [clamp(fy, depth), clamp(fx, rows), index];
  }

  async function readout(event) {
    const [z, y, x] = voxelOf(event);
    const value = await (await fetch(api + "/value?z=" + z + "&y=" + y + "&x=" + x, {credentials: "same-origin"})).json();
    const out = document.getElementById("suv-readout");
    if (value.error) { out.textContent = value.error; return; }
    const pet = value.is_suv ? ("SUV " + value.pet.toFixed(2)) : ("PET " + value.pet + " " + value.pet_unit);
    out.textContent = pet + " · CT " + value.ct_hu + " HU at (z " + z + ", y " + y + ", x " + x + ")";
    out.dataset.value = value.pet;
    const frame = document.getElementById("plane-frame");
    let marker = frame.querySelector(".marker");
    if (!marker) { marker = document.createElement("div"); marker.className = "marker"; frame.appendChild(marker); }
    marker.style.left = event.offsetX + "px";
    marker.style.top = event.offsetY + "px";
  }

  async function start() {
    info = await (await fetch(api + "/info", {credentials: "same-origin"})).json();
    if (info.error) { document.getElementById("load-message").textContent = info.error; return; }
    document.getElementById("unit-note").classList.toggle("hidden", info.is_suv);
    mip.src = api + "/mip.png";
    drawRegions(document.getElementById("mip-frame"), info.shape[0]);
    setPlane("axial");
    root.dataset.ready = "yes";
  }

  async function openThenStart() {
    const loading = document.getElementById("loading");
    loading.classList.remove("hidden");
    try {
      const job = await window.vipet.post(api + "/open");
      await window.vipet.poll(job.job, document.getElementById("load-progress"), document.getElementById("load-message"));
      loading.classList.add("hidden");
      await start();
    } catch (err) { document.getElementById("load-message").textContent = err.message; }
  }

  slider.addEventListener("input", showPlane);
  windowSelect.addEventListener("change", showPlane);
  document.querySelectorAll('input[name="plane"]').forEach(function (radio) {
    radio.addEventListener("change", function () { setPlane(radio.value); });
  });
  plane.addEventListener("click", readout);
  mip.addEventListener("click", function (event) {  // jump the axial view to the clicked height
    document.querySelector('input[name="plane"][value="axial"]').checked = true;
    setPlane("axial", Math.max(0, Math.min(info.shape[0] - 1, Math.floor(event.offsetY / mip.clientHeight * info.shape[0]))));
  });

  const draftButton = document.getElementById("draft-go");
  if (draftButton) {
    draftButton.addEventListener("click", async function () {
      const bar = document.getElementById("draft-progress"), message = document.getElementById("draft-message");
      bar.classList.remove("hidden");
      draftButton.disabled = true;
      try {
        const job = await window.vipet.post(api + "/draft");
        const result = await window.vipet.poll(job.job, bar, message);
        document.getElementById("draft-result").innerHTML = result.html;  // server-rendered, escaped template
        document.getElementById("to-review").classList.remove("hidden");
        root.dataset.drafted = "yes";
      } catch (err) { message.textContent = err.message; }
      draftButton.disabled = false;
    });
    document.getElementById("to-review").addEventListener("click", async function () {
      const status = document.getElementById("to-review-status");
      try {
        const added = await window.vipet.post(api + "/to-review");
        status.textContent = "";
        const link = document.createElement("a");
        link.href = added.url; link.id = "review-link"; link.textContent = "review it: " + added.item_id;
        status.appendChild(link);
      } catch (err) { status.textContent = err.message; }
    });
  }

  const askForm = document.getElementById("ask-form");
  if (askForm) {
    document.querySelectorAll(".suggestion").forEach(function (button) {
      button.addEventListener("click", function () { document.getElementById("question").value = button.dataset.question; });
    });
    askForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const chat = document.getElementById("chat"), question = document.getElementById("question").value;
      const q = document.createElement("p"); q.className = "q"; q.textContent = question; chat.appendChild(q);
      const a = document.createElement("p"); a.className = "a"; chat.appendChild(a);
      try {
        const reply = await window.vipet.post(api + "/ask", {question: question});
        a.textContent = reply.answer + "  (" + reply.model + ")";
        a.dataset.answer = reply.answer;
      }
      catch (err) { a.textContent = err.message; }
    });
  }

  if (root.dataset.kind === "source" && root.dataset.opened !== "yes") { openThenStart(); } else { start(); }
})();
