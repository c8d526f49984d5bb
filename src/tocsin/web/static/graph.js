// The service dependency graph, drawn with Cytoscape.js from the JSON the server sends.
// An arrow a → b reads "a depends on b"; dashed arrows are soft dependencies.
"use strict";

(function () {
  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function style() {
    const text = cssVar("--text", "#1d2330");
    const surface = cssVar("--surface", "#ffffff");
    const muted = cssVar("--muted", "#5b6475");
    const accent = cssVar("--accent", "#2f5fb3");
    const focus = cssVar("--focus", "#f0a020");
    const tiers = {
      "tier-1": cssVar("--tier-1", "#b3261e"),
      "tier-2": cssVar("--tier-2", "#b65c00"),
      "tier-3": cssVar("--tier-3", "#2f5fb3"),
      "tier-4": cssVar("--tier-4", "#5b6475"),
    };
    const rules = [
      {
        selector: "node",
        style: {
          label: "data(label)",
          "font-size": 12,
          color: text,
          "text-valign": "bottom",
          "text-margin-y": 4,
          "text-wrap": "wrap",
          "text-max-width": 110,
          "background-color": surface,
          "border-width": 2,
          "border-color": muted,
          width: 22,
          height: 22,
        },
      },
      {
        selector: "edge",
        style: {
          width: 1.5,
          "line-color": muted,
          "target-arrow-color": muted,
          "target-arrow-shape": "triangle",
          "curve-style": "bezier",
          "arrow-scale": 0.9,
          opacity: 0.8,
        },
      },
      { selector: 'edge[kind = "soft"]', style: { "line-style": "dashed" } },
      {
        selector: "node[?focus]",
        style: { "border-width": 4, "border-color": focus, width: 30, height: 30, "font-weight": "bold" },
      },
      { selector: "node[side = 'upstream']", style: { shape: "round-rectangle" } },
      { selector: "node:selected", style: { "overlay-color": accent, "overlay-opacity": 0.15 } },
    ];
    for (const [tier, colour] of Object.entries(tiers)) {
      rules.push({ selector: `node[tier = "${tier}"]`, style: { "border-color": colour } });
    }
    // The focused service keeps its highlight whatever its tier.
    rules.push({ selector: "node[?focus]", style: { "border-color": focus } });
    return rules;
  }

  function draw(container, data) {
    // The server places the services in layers (see graph_layout.py): arrows point down.
    const cy = window.cytoscape({
      container: container,
      elements: data,
      style: style(),
      layout: { name: "preset", fit: true, padding: 30 },
      minZoom: 0.2,
      maxZoom: 3,
    });
    cy.on("tap", "node", function (event) {
      const href = event.target.data("href");
      if (href) window.location.assign(href);
    });
    container.dataset.nodes = String(cy.nodes().length);
    container.dataset.edges = String(cy.edges().length);
    container.dataset.state = "rendered";
    container.dispatchEvent(new CustomEvent("graph:rendered", { bubbles: true }));
    return cy;
  }

  function load(container) {
    if (!window.cytoscape) {
      container.dataset.state = "unavailable";
      container.textContent =
        "The graph library is not installed (run npm ci). The dependencies are listed below.";
      return;
    }
    container.dataset.state = "loading";
    fetch(container.dataset.src, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("the server answered " + response.status);
        return response.json();
      })
      .then(function (data) {
        if (window.tocsinGraph) window.tocsinGraph.destroy();
        window.tocsinGraph = draw(container, data);
      })
      .catch(function (error) {
        container.dataset.state = "failed";
        container.textContent = "The graph could not be loaded: " + error.message + ".";
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const container = document.getElementById("dependency-graph");
    if (!container) return;
    load(container);
    // Redraw when the catalog changes elsewhere (see app.js for the live events).
    document.body.addEventListener("live:catalog", function () {
      load(container);
    });
  });
})();
