/* The lineage graph: dagre (vendored, see VENDORED.md) lays out the nodes left to right, SVG
   draws them. Every node is a <g data-node-id="..."> (asset id or task-run id); assets are
   coloured by type; a click opens the asset or the task run's execution; the wheel zooms and a
   drag pans. Labels are set with textContent. */
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const LARGE = 300;
  const { el, typeColor, enc } = window.assetline;

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  function labelOf(node) {
    const text = node.label || node.id;
    return text.length > 40 ? text.slice(0, 39) + "…" : text;
  }

  function defaultHref(node) {
    if (node.kind === "asset") return "/asset?id=" + enc(node.id);
    if (node.execution_id) return "/execution?id=" + enc(node.execution_id);
    return null;
  }

  // Draw `graph` ({root, nodes, edges} as the lineage API returns it) into `container`.
  function renderGraph(container, graph, options) {
    const started = performance.now();
    const opts = Object.assign({ href: defaultHref }, options || {});
    const layout = new dagre.graphlib.Graph();
    // dagre's default ranker (network simplex) is the nicest and grows fast with the graph:
    // past a few hundred nodes, tight-tree ranks a 1,000-node lineage in a tenth of the time.
    const ranker = graph.nodes.length > LARGE ? "tight-tree" : "network-simplex";
    layout.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 50, marginx: 20, marginy: 20, ranker });
    layout.setDefaultEdgeLabel(() => ({}));
    for (const node of graph.nodes) {
      const text = labelOf(node);
      const width = Math.max(60, Math.min(300, 16 + text.length * 7));
      layout.setNode(node.id, { width, height: node.kind === "task" ? 26 : 32, data: node, text });
    }
    for (const edge of graph.edges) {
      if (layout.hasNode(edge.from) && layout.hasNode(edge.to)) layout.setEdge(edge.from, edge.to);
    }
    dagre.layout(layout);

    const root = svg("svg", { role: "img", "aria-label": "lineage graph" });
    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
                                   markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a93a6" }));
    defs.append(marker);
    root.append(defs);
    const viewport = svg("g", { class: "viewport" });
    root.append(viewport);
    const edgeLayer = svg("g", { class: "edges" });
    const nodeLayer = svg("g", { class: "nodes" });
    viewport.append(edgeLayer, nodeLayer);

    for (const e of layout.edges()) {
      const points = layout.edge(e).points;
      const d = points.map((p, i) => (i ? "L" : "M") + p.x.toFixed(1) + " " + p.y.toFixed(1)).join(" ");
      const path = svg("path", { class: "edge", d, "marker-end": "url(#arrow)" });
      path.dataset.from = e.v;
      path.dataset.to = e.w;
      edgeLayer.append(path);
    }
    const types = new Map();
    for (const id of layout.nodes()) {
      const box = layout.node(id);
      const node = box.data;
      const group = svg("g", { class: "node " + node.kind + (node.id === graph.root ? " root" : ""),
                               transform: `translate(${box.x - box.width / 2},${box.y - box.height / 2})` });
      group.dataset.nodeId = node.id;
      group.dataset.kind = node.kind;
      if (node.type) group.dataset.type = node.type;
      const rect = svg("rect", { width: box.width, height: box.height, rx: node.kind === "task" ? 13 : 4 });
      if (node.kind === "asset") {
        const color = typeColor(node.type);
        types.set(node.type || "", color);
        rect.setAttribute("fill", color + "33");
        rect.setAttribute("stroke", color);
        rect.setAttribute("stroke-width", node.id === graph.root ? 3 : 1.5);
      }
      const text = svg("text", { x: 8, y: box.height / 2 + 4 });
      text.textContent = box.text;
      const title = svg("title");
      title.textContent = node.kind === "asset"
        ? `${node.id}${node.type ? " (" + node.type + ")" : ""}`
        : `task ${node.label || node.id} ${node.state || ""} (${node.id})`;
      group.append(title, rect, text);
      nodeLayer.append(group);
    }

    // Pan (drag) and zoom (wheel, buttons); a drag does not count as a click.
    const graphBox = layout.graph();
    let scale = 1, tx = 0, ty = 0, drag = null, moved = false;
    const apply = () => viewport.setAttribute("transform", `translate(${tx},${ty}) scale(${scale})`);
    function fit() {
      const width = container.clientWidth || 800, height = container.clientHeight || 500;
      scale = Math.min(1.5, width / (graphBox.width || 1), height / (graphBox.height || 1));
      tx = (width - graphBox.width * scale) / 2;
      ty = (height - graphBox.height * scale) / 2;
      apply();
    }
    function zoomAt(factor, cx, cy) {
      const next = Math.max(0.05, Math.min(8, scale * factor));
      tx = cx - (cx - tx) * (next / scale);
      ty = cy - (cy - ty) * (next / scale);
      scale = next;
      apply();
    }
    root.addEventListener("wheel", (event) => {
      event.preventDefault();
      const bounds = root.getBoundingClientRect();
      zoomAt(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - bounds.left, event.clientY - bounds.top);
    }, { passive: false });
    root.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, y: event.clientY, tx, ty };
      moved = false;
    });
    window.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) { moved = true; root.classList.add("dragging"); }
      tx = drag.tx + dx; ty = drag.ty + dy;
      apply();
    });
    window.addEventListener("pointerup", () => { drag = null; root.classList.remove("dragging"); });
    nodeLayer.addEventListener("click", (event) => {
      if (moved) return;
      const group = event.target.closest("g.node");
      if (!group) return;
      const node = layout.node(group.dataset.nodeId).data;
      const href = opts.href(node);
      if (href) window.location.assign(href);
    });

    const controls = el("div", { class: "graph-controls" },
      el("button", { type: "button", onclick: () => zoomAt(1.25, container.clientWidth / 2, container.clientHeight / 2), text: "+", title: "zoom in" }),
      el("button", { type: "button", onclick: () => zoomAt(0.8, container.clientWidth / 2, container.clientHeight / 2), text: "−", title: "zoom out" }),
      el("button", { type: "button", onclick: fit, text: "Fit" }),
      el("span", { class: "muted", text: `${graph.nodes.length} nodes, ${graph.edges.length} edges` }));
    const legend = el("div", { class: "legend" },
      [...types.entries()].map(([type, color]) => {
        const swatch = el("span", { class: "swatch" });
        swatch.style.background = color;
        return el("span", {}, swatch, type || "(no type)");
      }),
      el("span", {}, el("span", { class: "swatch task-swatch" }), "task run"));
    const frame = el("div", { class: "graph" });
    frame.append(root);
    container.replaceChildren(controls, legend, frame);
    container = frame;
    fit();
    const elapsed = performance.now() - started;
    frame.dataset.renderMs = elapsed.toFixed(1);
    frame.dataset.ready = "true";
    return { fit, zoomAt, elapsed, viewport };
  }

  window.assetlineGraph = { renderGraph };
})();
