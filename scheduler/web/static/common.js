/* assetline UI helpers shared by every page. Everything a flow author wrote reaches the page
   through textContent or attribute values (never innerHTML), so it always shows as text. */
"use strict";
(function () {
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || ("HTTP " + status));
      this.status = status;
      this.details = (body && body.details) || [];
    }
  }

  async function api(path, options) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (init.json !== undefined) {
      init.method = init.method || "POST";
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(init.json);
      delete init.json;
    }
    const response = await fetch("/api/v1" + path, init);
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  const enc = encodeURIComponent;
  const params = () => new URLSearchParams(window.location.search);

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return isNaN(date) ? String(iso) : date.toISOString().replace("T", " ").slice(0, 19);
  }

  function stateChip(state) {
    return el("span", { class: "state state-" + String(state).replace(/[^A-Z]/g, ""), text: state });
  }

  // A stable colour per asset type (the same type is the same colour on every page).
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
                   "#b07aa1", "#ff9da7", "#9c755f", "#2f8f9d", "#8cd17d", "#d37295"];
  function typeColor(type) {
    let hash = 0;
    for (const ch of String(type || "")) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return PALETTE[hash % PALETTE.length];
  }
  function typeChip(type) {
    const chip = el("span", { class: "chip", text: type || "" });
    chip.style.background = typeColor(type);
    return chip;
  }

  const assetLink = (id, label) => el("a", { href: "/asset?id=" + enc(id), text: label || id });
  const executionLink = (id, label) =>
    el("a", { href: "/execution?id=" + enc(id), text: label || id });

  function table(headers, rows, options) {
    const head = el("tr", {}, headers.map((h) => el("th", { text: h })));
    const body = el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))));
    const result = el("table", options || {}, el("thead", {}, head), body);
    return result;
  }

  function showError(target, error) {
    const box = el("div", { class: "error", role: "alert" }, String(error.message || error));
    if (error.details && error.details.length) box.append(el("ul", {}, error.details.map((d) => el("li", { text: d }))));
    target.replaceChildren(box);
    return box;
  }

  window.assetline = { el, api, ApiError, enc, params, when, stateChip, typeColor, typeChip,
                       assetLink, executionLink, table, showError };
})();
