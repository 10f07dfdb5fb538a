/* One function per page (chosen by <body data-page>), each filling <main> from the JSON API.
   Text a flow author wrote goes in through assetline.el (textContent), never as HTML. */
"use strict";
(function () {
  const A = window.assetline;
  const { el, api, enc, params, when, stateChip, typeChip, assetLink, executionLink, table } = A;
  const main = document.getElementById("main");
  const TERMINAL = new Set(["SUCCESS", "WARNING", "FAILED", "KILLED"]);

  function metaText(metadata) {
    return Object.entries(metadata || {}).map(([k, v]) =>
      el("div", { class: "meta", text: k + "=" + (typeof v === "string" ? v : JSON.stringify(v)) }));
  }

  // Sort the rows of a table on the page by a column when its header is clicked.
  function sortable(tableNode) {
    tableNode.querySelectorAll("th").forEach((th, index) => {
      th.classList.add("sortable");
      th.addEventListener("click", () => {
        const body = tableNode.tBodies[0];
        const rows = [...body.rows];
        const ascending = th.dataset.sort !== "asc";
        tableNode.querySelectorAll("th").forEach((other) => delete other.dataset.sort);
        th.dataset.sort = ascending ? "asc" : "desc";
        rows.sort((a, b) => {
          const x = a.cells[index].textContent, y = b.cells[index].textContent;
          return ascending ? x.localeCompare(y) : y.localeCompare(x);
        });
        body.append(...rows);
      });
    });
    return tableNode;
  }

  // -- inventory --------------------------------------------------------------------------------
  async function inventory() {
    const query = params();
    const field = (name, label, extra) => el("label", {}, label,
      el("input", Object.assign({ name, value: query.get(name) || "" }, extra || {})));
    const metaInputs = el("span", { class: "meta-inputs" });
    const addMeta = (value) => metaInputs.append(el("label", {}, "metadata key:value",
      el("input", { name: "meta", value: value || "", placeholder: "team:sales" })));
    const metas = query.getAll("meta");
    (metas.length ? metas : [""]).forEach(addMeta);
    const form = el("form", { class: "filters", method: "get", action: "/", id: "filters" },
      field("q", "id or name contains"), field("type", "type"), field("namespace", "namespace"),
      metaInputs,
      el("button", { type: "button", onclick: () => addMeta(""), text: "+ metadata" }),
      el("button", { type: "submit", text: "Filter" }),
      el("a", { href: "/", text: "clear" }));
    form.addEventListener("submit", () => {
      form.querySelectorAll("input").forEach((input) => { if (!input.value) input.disabled = true; });
    });
    const results = el("div", { id: "results" }, el("p", { class: "muted", text: "Loading…" }));
    main.replaceChildren(el("h1", { text: "Assets" }), form, results);

    const apiQuery = new URLSearchParams();
    for (const name of ["q", "type", "namespace", "after", "limit"]) {
      if (query.get(name)) apiQuery.set(name, query.get(name));
    }
    metas.filter(Boolean).forEach((m) => apiQuery.append("meta", m));
    try {
      const page = await api("/assets?" + apiQuery.toString());
      const rows = page.items.map((asset) => [
        assetLink(asset.id), asset.displayName || "", typeChip(asset.type), asset.namespace,
        metaText(asset.metadata), when(asset.updated)]);
      const grid = sortable(table(["id", "name", "type", "namespace", "metadata", "updated"], rows,
                                  { id: "assets" }));
      const pager = el("div", { class: "pager" });
      if (query.get("after")) pager.append(el("button", { type: "button", text: "← Previous", onclick: () => history.back() }),
                                          el("a", { href: "?" + withoutAfter(query), text: "First page" }));
      if (page.next) {
        const next = new URLSearchParams(query);
        next.set("after", page.next);
        pager.append(el("a", { id: "next-page", href: "?" + next.toString(), text: "Next page →" }));
      }
      const count = page.total !== null ? `${page.total} assets in the store` : "";
      pager.append(el("span", { class: "muted", text: `${page.items.length} shown, by id. ${count}` }));
      results.replaceChildren(page.items.length ? grid : el("p", { class: "muted", text: "No asset matches." }), pager);
      results.dataset.ready = "true";
    } catch (error) { A.showError(results, error); }
  }

  function withoutAfter(query) {
    const copy = new URLSearchParams(query);
    copy.delete("after");
    return copy.toString();
  }

  // -- asset ------------------------------------------------------------------------------------
  async function asset() {
    const id = params().get("id") || "";
    let data;
    try { data = await api("/assets/" + encPath(id)); } catch (error) { A.showError(main, error); return; }
    document.title = "assetline: " + data.id;
    const attrs = el("dl", { class: "attrs" });
    for (const [label, value] of [["id", data.id], ["name", data.displayName], ["namespace", data.namespace],
                                   ["description", data.description], ["created", when(data.created)],
                                   ["updated", when(data.updated)]]) {
      attrs.append(el("dt", { text: label }), el("dd", { text: value || "" }));
    }
    attrs.append(el("dt", { text: "type" }), el("dd", {}, typeChip(data.type)));
    const meta = table(["key", "value"], Object.entries(data.metadata).map(([k, v]) =>
      [k, typeof v === "string" ? v : JSON.stringify(v)]), { id: "metadata" });
    const depth = el("input", { type: "number", id: "depth", min: 1, max: 20, value: params().get("depth") || 2 });
    const direction = el("select", { id: "direction" },
      ["both", "up", "down"].map((d) => el("option", { value: d, text: d, selected: d === (params().get("direction") || "both") })));
    const graphBox = el("div", { id: "lineage" });
    const controls = el("div", { class: "graph-controls" },
      el("label", {}, "direction ", direction), el("label", {}, "depth ", depth),
      el("a", { href: "/impact?id=" + enc(data.id), text: "impact of this asset" }));
    const usagesBox = el("div", { id: "usages" });
    main.replaceChildren(el("h1", { text: data.displayName || data.id }), attrs,
      el("h2", { text: "Metadata" }), meta, el("h2", { text: "Lineage" }), controls, graphBox,
      el("h2", { text: "Usages" }), usagesBox);
    const draw = async () => {
      const url = new URL(window.location.href);
      url.searchParams.set("depth", depth.value);
      url.searchParams.set("direction", direction.value);
      history.replaceState(null, "", url);
      try {
        const graph = await api(`/assets/${encPath(id)}/lineage?direction=${enc(direction.value)}&depth=${enc(depth.value)}`);
        window.assetlineGraph.renderGraph(graphBox, graph);
      } catch (error) { A.showError(graphBox, error); }
    };
    depth.addEventListener("change", draw);
    direction.addEventListener("change", draw);
    draw();
    try {
      const used = await api(`/assets/${encPath(id)}/usages`);
      usagesBox.replaceChildren(table(["direction", "flow", "task", "value", "state", "execution", "start", "end"],
        used.usages.map((u) => [u.direction, u.namespace + "." + u.flowId, u.taskId, u.value || "",
                                stateChip(u.state), executionLink(u.executionId), when(u.startDate), when(u.endDate)])));
    } catch (error) { A.showError(usagesBox, error); }
  }

  // Asset ids may hold "/", "?" or "#": encode each character that is not path-safe.
  const encPath = (id) => id.split("/").map(enc).join("/");

  // -- impact -----------------------------------------------------------------------------------
  async function impact() {
    const id = params().get("id") || "";
    const upstream = params().get("upstream") === "true";
    try {
      const report = await api(`/assets/${encPath(id)}/impact?upstream=${upstream}`);
      const other = el("a", { href: `/impact?id=${enc(id)}&upstream=${!upstream}`,
                              text: upstream ? "show downstream impact" : "show upstream dependencies" });
      const assets = table(["asset", "type", "namespace", "path"], report.assets.map((a) =>
        [assetLink(a.id), a.type ? typeChip(a.type) : "", a.namespace || "", a.path.join(" → ")]), { id: "impact-assets" });
      const tasks = [];
      for (const flow of report.flows) for (const t of flow.tasks) {
        tasks.push([flow.namespace + "." + flow.flowId, t.taskId, t.direction, assetLink(t.asset),
                    t.path.join(" → "), t.seenIn.join(", ")]);
      }
      main.replaceChildren(el("h1", {}, (upstream ? "Upstream of " : "Impact of "), assetLink(id)), other,
        el("h2", { text: "Assets" }), assets, el("h2", { text: "Flow tasks" }),
        table(["flow", "task", "direction", "asset", "via", "seen in"], tasks, { id: "impact-tasks" }));
    } catch (error) { A.showError(main, error); }
  }

  // -- executions -------------------------------------------------------------------------------
  async function executions() {
    const query = params();
    const field = (name, label) => el("label", {}, label, el("input", { name, value: query.get(name) || "" }));
    const form = el("form", { class: "filters", method: "get", action: "/executions" },
      field("flowId", "flow id"), field("namespace", "namespace"), field("state", "state"),
      el("button", { type: "submit", text: "Filter" }));
    const list = el("div", { id: "executions" });
    main.replaceChildren(el("h1", { text: "Executions" }), form, list);
    const apiQuery = new URLSearchParams();
    for (const name of ["flowId", "namespace", "state"]) if (query.get(name)) apiQuery.set(name, query.get(name));
    const refresh = async () => {
      try {
        const data = await api("/executions?" + apiQuery.toString());
        list.replaceChildren(table(["execution", "flow", "state", "start", "end"], data.items.map((e) =>
          [executionLink(e.id), e.namespace + "." + e.flowId, stateChip(e.state), when(e.startDate), when(e.endDate)])));
      } catch (error) { A.showError(list, error); }
    };
    await refresh();
    setInterval(refresh, 3000);
  }

  async function execution() {
    const id = params().get("id") || "";
    const live = el("span", { class: "live", id: "live" });
    // Built once per Pause and moved back in after each refresh, so what is typed stays.
    const resumeBox = el("section", { id: "resume" });
    let timer = null;
    const refresh = async () => {
      let data;
      try { data = await api("/executions/" + enc(id)); } catch (error) { A.showError(main, error); clearInterval(timer); return; }
      showExecution(data, live);
      showResume(resumeBox, id, data.paused);
      if (data.paused) main.insertBefore(resumeBox, live.nextSibling);
      live.textContent = data.done ? "finished" : "live: updated " + new Date().toLocaleTimeString();
      document.body.dataset.state = data.state;
      if (data.done && timer) { clearInterval(timer); timer = null; }
    };
    await refresh();
    if (document.body.dataset.state && !TERMINAL.has(document.body.dataset.state)) timer = setInterval(refresh, 1000);
  }

  // The form of the Pause an execution waits at: one field per onResume input, and Resume.
  function showResume(box, id, paused) {
    if (!paused) { box.replaceChildren(); delete box.dataset.task; return; }
    if (box.dataset.task === paused.task) return;
    box.dataset.task = paused.task;
    const fields = paused.inputs.map((input) => {
      const value = input.defaults === undefined ? "" : String(input.defaults);
      const field = input.type === "BOOLEAN"
        ? el("select", { name: input.id }, ["", "true", "false"].map((v) =>
            el("option", { value: v, text: v, selected: v === value ? "selected" : null })))
        : el("input", { name: input.id, value: value });
      return el("label", {}, `${input.displayName || input.id} (${input.type}${input.required ? "" : ", optional"}) `, field);
    });
    const message = el("p", { id: "resume-message" });
    const form = el("form", { id: "resume-form" }, fields, el("button", { type: "submit", text: "Resume" }), message);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const inputs = {};
      for (const field of form.querySelectorAll("[name]")) if (field.value !== "") inputs[field.name] = field.value;
      message.className = "";
      try {
        const answer = await api(`/executions/${enc(id)}/resume`, { json: { inputs } });
        message.textContent = answer.resumed ? "Resumed." : "Resume requested: it resumes when it reaches its Pause.";
      } catch (error) {
        message.className = "error";
        message.textContent = [error.message, ...(error.details || [])].join(": ");
      }
    });
    box.replaceChildren(el("h2", { text: `Paused at task ${paused.task}` }), form);
  }

  function showExecution(data, live) {
    const attrs = el("dl", { class: "attrs" });
    for (const [label, value] of [["flow", data.namespace + "." + data.flowId], ["start", when(data.startDate)],
                                   ["end", when(data.endDate)]]) attrs.append(el("dt", { text: label }), el("dd", { text: value }));
    attrs.append(el("dt", { text: "state" }), el("dd", { id: "execution-state" }, stateChip(data.state)));
    if (data.error) attrs.append(el("dt", { text: "error" }), el("dd", { class: "error", text: data.error }));
    const counts = el("p", { id: "counts" }, Object.entries(data.counts).map(([s, n]) => [stateChip(s), ` ${n}  `]));
    const iterations = table(["ForEach task", "iterations by state", "total"], Object.entries(data.iterations).map(([task, byState]) =>
      [task, Object.entries(byState).map(([s, n]) => [stateChip(s), ` ${n} `]),
       String(Object.values(byState).reduce((a, b) => a + b, 0))]), { id: "iterations" });
    const runs = table(["task", "value", "attempt", "state", "start", "duration", "read", "wrote"], data.taskRuns.map((r) =>
      [r.taskId, r.value === null ? "" : String(r.value), String(r.attempt), stateChip(r.state), when(r.startDate),
       r.duration.toFixed(2) + " s", r.inputs.map((i) => el("div", {}, assetLink(i))),
       r.outputs.map((o) => el("div", {}, assetLink(o)))]), { id: "taskruns" });
    const logs = el("div", { id: "logs" }, data.taskRuns.filter((r) => r.logs.length || r.error).map((r) =>
      el("details", {}, el("summary", { text: `${r.taskId}${r.value !== null ? " [" + r.value + "]" : ""} attempt ${r.attempt}` }),
         r.error ? el("pre", { class: "error", text: r.error }) : null,
         el("pre", { text: r.logs.map((l) => `${l.level} ${l.message}`).join("\n") }))));
    main.replaceChildren(el("h1", { text: "Execution " + data.id }), live, attrs,
      el("h2", { text: "Task runs by state" }), counts,
      el("h2", { text: "ForEach iterations" }), iterations,
      el("h2", { text: "Task runs" }), runs,
      el("h2", { text: "Assets read" }), el("p", {}, data.assetsRead.map((a) => [assetLink(a), " "])),
      el("h2", { text: "Assets written" }), el("p", {}, data.assetsWritten.map((a) => [assetLink(a), " "])),
      el("h2", { text: "Logs" }), logs);
  }

  // -- flows ------------------------------------------------------------------------------------
  function triggerText(trigger) {
    return `${trigger.id || "?"}: ${String(trigger.type || "").split(".").pop()}`;
  }

  async function flows() {
    try {
      const data = await api("/flows");
      main.replaceChildren(el("h1", { text: "Deployed flows" }),
        data.items.length ? table(["flow", "revision", "triggers", "assets declared", "deployed"], data.items.map((f) =>
          [el("a", { href: `/flow?namespace=${enc(f.namespace)}&id=${enc(f.id)}`, text: f.namespace + "." + f.id }),
           String(f.revision), f.triggers.map((t) => el("div", { text: triggerText(t) })), String(f.assets.length), when(f.deployed)]),
          { id: "flows" })
        : el("p", { class: "muted", text: "No deployed flow. Deploy one with `assetline deploy FLOW.yaml` or from a blueprint." }));
    } catch (error) { A.showError(main, error); }
  }

  async function flow() {
    const query = params();
    try {
      const data = await api(`/flows/${enc(query.get("namespace") || "")}/${enc(query.get("id") || "")}`);
      const graphBox = el("div", { id: "flow-graph" });
      main.replaceChildren(el("h1", { text: data.namespace + "." + data.id }),
        el("p", { class: "muted", text: `revision ${data.revision}, deployed ${when(data.deployed)}` }),
        el("h2", { text: "Triggers" }),
        data.triggers.length ? el("pre", { id: "triggers", text: JSON.stringify(data.triggers, null, 2) }) : el("p", { class: "muted", text: "none" }),
        el("h2", { text: "What this flow touches" }), graphBox,
        el("h2", { text: "Source" }), el("pre", { text: data.source }));
      if (data.graph.nodes.length) {
        window.assetlineGraph.renderGraph(graphBox, data.graph, {
          href: (node) => node.kind === "asset" && !node.id.includes("{{") ? "/asset?id=" + enc(node.id) : null });
      } else graphBox.append(el("p", { class: "muted", text: "Its tasks declare no assets." }));
    } catch (error) { A.showError(main, error); }
  }

  // -- blueprints -------------------------------------------------------------------------------
  async function blueprints() {
    try {
      const data = await api("/blueprints");
      main.replaceChildren(el("h1", { text: "Blueprints" }),
        table(["blueprint", "title", "tags", "arguments"], data.items.map((b) =>
          [el("a", { href: "/blueprint?id=" + enc(b.id), text: b.id }), b.title || "", b.tags.join(", "),
           b.arguments.map((a) => a.id).join(", ")]), { id: "blueprints" }),
        data.problems.length ? el("pre", { class: "error", text: data.problems.join("\n") }) : null);
    } catch (error) { A.showError(main, error); }
  }

  function argumentInput(arg) {
    const name = "arg-" + arg.id;
    const defaults = arg.defaults;
    const choices = arg.values || [];
    if (arg.type === "MULTISELECT") {
      const chosen = new Set(Array.isArray(defaults) ? defaults.map(String) : []);
      return el("div", { "data-arg": arg.id, "data-kind": "multi" }, choices.map((v) =>
        el("label", {}, el("input", { type: "checkbox", name, value: v, checked: chosen.has(String(v)) }), " " + v + " ")));
    }
    if (arg.type === "SELECT" || arg.type === "ENUM") {
      return el("select", { name, "data-arg": arg.id }, choices.map((v) =>
        el("option", { value: v, text: v, selected: String(v) === String(defaults) })));
    }
    if (arg.type === "BOOLEAN" || arg.type === "BOOL") {
      return el("input", { type: "checkbox", name, "data-arg": arg.id, "data-kind": "bool", checked: defaults === true });
    }
    const value = defaults === undefined || defaults === null ? "" : (typeof defaults === "string" ? defaults : JSON.stringify(defaults));
    if (arg.type === "INT" || arg.type === "FLOAT") return el("input", { type: "number", step: arg.type === "INT" ? 1 : "any", name, value, "data-arg": arg.id });
    return el("input", { name, value, "data-arg": arg.id, size: 50 });
  }

  function readArguments(form) {
    const result = {};
    for (const input of form.querySelectorAll("[data-arg]")) {
      const id = input.dataset.arg;
      if (input.dataset.kind === "multi") result[id] = [...input.querySelectorAll("input:checked")].map((c) => c.value);
      else if (input.dataset.kind === "bool") result[id] = input.checked;
      else if (input.value !== "") result[id] = input.value;
    }
    return result;
  }

  async function blueprint() {
    const id = params().get("id") || "";
    let data;
    try { data = await api("/blueprints/" + enc(id)); } catch (error) { A.showError(main, error); return; }
    const grid = el("div", { class: "form-grid" });
    for (const arg of data.arguments) {
      grid.append(el("label", { text: (arg.displayName || arg.id) + (arg.required ? " *" : "") }), argumentInput(arg));
      if (arg.description) grid.append(el("div", { class: "help", text: arg.description }));
    }
    const output = el("div", { id: "generated" });
    const status = el("div", { id: "deploy-result" });
    const form = el("form", { id: "blueprint-form" }, grid,
      el("p", {}, el("button", { type: "submit", text: "Generate flow" }), " ",
         el("button", { type: "button", id: "deploy", text: "Deploy it", onclick: async () => {
           try {
             const done = await api(`/blueprints/${enc(id)}/deploy`, { json: { arguments: readArguments(form) } });
             status.replaceChildren(el("p", {}, done.message + " ",
               el("a", { href: `/flow?namespace=${enc(done.namespace)}&id=${enc(done.flowId)}`, text: "open it" })));
           } catch (error) { A.showError(status, error); }
         } })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const rendered = await api(`/blueprints/${enc(id)}/render`, { json: { arguments: readArguments(form) } });
        output.replaceChildren(el("h2", { text: `Generated flow ${rendered.namespace}.${rendered.flowId}` }),
                               el("pre", { id: "flow-yaml", text: rendered.text }));
      } catch (error) { A.showError(output, error); }
    });
    main.replaceChildren(el("h1", { text: data.title || data.id }),
      el("p", { class: "muted", text: data.description || "" }), form, status, output);
  }

  const PAGES = { inventory, asset, impact, executions, execution, flows, flow, blueprints, blueprint };
  const page = PAGES[document.body.dataset.page];
  if (page) page();
})();
