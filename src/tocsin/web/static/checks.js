// The latency chart of a synthetic check, drawn with Chart.js from the JSON the page embeds.
// Failed runs are red points so a responder sees when trouble started at a glance.
"use strict";

(function () {
  function draw() {
    const canvas = document.getElementById("check-latency");
    const source = document.getElementById("check-latency-data");
    if (!canvas || !source || typeof window.Chart === "undefined") return;
    const runs = JSON.parse(source.textContent || "[]");
    const style = getComputedStyle(document.documentElement);
    const accent = style.getPropertyValue("--accent").trim() || "#2f5fb3";
    const danger = style.getPropertyValue("--danger").trim() || "#b3261e";
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: runs.map((r) => new Date(r.at).toLocaleTimeString()),
        datasets: [
          {
            label: "latency (ms)",
            data: runs.map((r) => r.ms),
            borderColor: accent,
            pointBackgroundColor: runs.map((r) => (r.ok ? accent : danger)),
            pointRadius: runs.map((r) => (r.ok ? 2 : 5)),
            tension: 0.2,
          },
        ],
      },
      options: {
        animation: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } },
        plugins: { legend: { display: false } },
      },
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
