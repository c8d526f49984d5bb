// Tocsin's own browser code: CSRF for htmx, live updates over SSE, small page helpers.
// Front-end libraries (htmx, Alpine.js, Cytoscape.js) are served from node_modules.
"use strict";

(function () {
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the session's CSRF token; the server refuses writes without it.
  document.addEventListener("htmx:configRequest", function (event) {
    const token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // Errors from htmx requests are shown, not swallowed: a responder must know a save failed.
  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    let message = "The server answered " + xhr.status + ".";
    try {
      const problem = JSON.parse(xhr.responseText);
      message = problem.detail || problem.title || message;
    } catch (_) {
      /* not problem+json */
    }
    showNotice(message, "error");
  });

  function showNotice(message, kind) {
    const main = document.getElementById("main");
    if (!main) return;
    const notice = document.createElement("p");
    notice.className = "notice " + (kind || "info");
    notice.setAttribute("role", "alert");
    notice.textContent = message;
    main.prepend(notice);
  }

  // Live updates: one EventSource per page. Each domain event becomes two DOM events on
  // <body>, "live:<name>" and "live:<domain>", so a fragment can refresh itself with
  //   hx-get="…" hx-trigger="live:catalog from:body"
  function setLiveState(state) {
    const badge = document.getElementById("live-status");
    if (!badge) return;
    badge.dataset.state = state;
    const label = badge.querySelector(".live-label");
    if (label) {
      label.textContent = { open: "live", connecting: "connecting", closed: "offline" }[state];
    }
  }

  function connectLive() {
    const url = document.body.dataset.liveStream;
    if (!url || !("EventSource" in window)) {
      setLiveState("closed");
      return;
    }
    const source = new EventSource(url);
    source.addEventListener("open", function () {
      setLiveState("open");
    });
    source.addEventListener("error", function () {
      // The browser retries by itself while the stream is CONNECTING; CLOSED means it gave up
      // (for instance the session ended).
      setLiveState(source.readyState === EventSource.CLOSED ? "closed" : "connecting");
    });
    source.addEventListener("tocsin", function (message) {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      const domain = String(event.name).split(".")[0];
      for (const name of ["live:" + event.name, "live:" + domain]) {
        document.body.dispatchEvent(new CustomEvent(name, { detail: event }));
      }
    });
    window.addEventListener("pagehide", function () {
      source.close();
    });
    window.tocsinLive = source;
  }

  document.addEventListener("DOMContentLoaded", connectLive);
  window.Tocsin = { csrfToken: csrfToken, showNotice: showNotice };
})();
