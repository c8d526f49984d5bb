// Reads a Statuspage-compatible API with the published `statuspage.io` client and prints
// what the client parsed, as one JSON object, for tests/test_statuspage_client.py to compare
// with what Tocsin holds. Usage: node tests/js/statuspage_client.js BASE_URL
"use strict";

const { Statuspage } = require("statuspage.io");

async function main() {
  const base = process.argv[2];
  if (!base) {
    throw new Error("usage: statuspage_client.js BASE_URL");
  }
  // The page id only names the hosted default address, which setApiUrl replaces.
  const client = new Statuspage("tocsin");
  client.setApiUrl(base);
  const api = client.api;
  const out = {
    summary: await api.getSummary(),
    status: await api.getStatus(),
    components: await api.getComponents(),
    incidents: await api.incidents.getAll(),
    unresolved: await api.incidents.getUnresolved(),
    upcoming: await api.scheduledMaintenances.getUpcoming(),
    // The library's getActive() and getAll() request upcoming.json (a bug in the library
    // itself), so the active list is read through the client's own HTTP instance.
    active: (await client.apiClient.get("/api/v2/scheduled-maintenances/active.json")).data,
  };
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
