/* The supervisor's dashboard: fetches /api/reports (the figures of `voicebot report`) for the chosen period
   and draws them with Chart.js. No build step; loaded after the vendored Chart.js UMD build. */
(function () {
  "use strict";
  const palette = ["#2f5bea", "#1f9d55", "#d97706", "#d14343", "#8b5cf6", "#0891b2", "#64748b"];
  const charts = {};

  const pct = (v) => (v === null || v === undefined ? "–" : Math.round(v * 1000) / 10 + " %");
  const secs = (v) => (v === null || v === undefined ? "–" : (Math.round(v * 10) / 10) + " s");
  const hourLabel = (iso) => iso.slice(5, 10) + " " + iso.slice(11, 16);
  const asPct = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);

  function draw(id, config) {
    if (charts[id]) {  // same chart, new figures: update in place (no flicker, no leaked canvas)
      charts[id].data = config.data;
      charts[id].update();
      return;
    }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom" } } }, config.options || {});
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function render(r) {
    const set = (id, text) => { document.getElementById(id).textContent = text; };
    set("kpi-calls", String(r.calls));
    set("kpi-containment", pct(r.containment.rate));
    set("kpi-sl1", pct(r.service_level.sl1));
    set("kpi-sl2", pct(r.service_level.sl2));
    set("kpi-asa", secs(r.asa));
    set("kpi-abandonment", pct(r.abandonment.rate));
    set("kpi-aht", secs(r.aht.aht_seconds));
    set("kpi-occupancy", pct(r.occupancy.occupancy));

    // The report lists hours with calls; the charts show every hour from the first to the last (quiet hours as 0).
    const byHour = new Map(r.hourly.map((h) => [h.hour, h]));
    const hourly = [];
    if (r.hourly.length) {
      const last = Date.parse(r.hourly[r.hourly.length - 1].hour);
      for (let t = Date.parse(r.hourly[0].hour); t <= last; t += 3600000) {
        const iso = new Date(t).toISOString().slice(0, 19) + "+00:00";
        hourly.push(byHour.get(iso) || { hour: iso, calls: 0, self_served: 0, queued: 0, abandoned: 0,
          containment: null, sl1: null, sl2: null });
      }
    }
    r = Object.assign({}, r, { hourly: hourly });
    const hours = r.hourly.map((h) => hourLabel(h.hour));
    draw("calls-chart", { type: "bar", data: { labels: hours, datasets: [
      { label: "calls", data: r.hourly.map((h) => h.calls), backgroundColor: palette[0] },
      { label: "self-served", data: r.hourly.map((h) => h.self_served), backgroundColor: palette[1] },
      { label: "queued", data: r.hourly.map((h) => h.queued), backgroundColor: palette[2] },
      { label: "abandoned in queue", data: r.hourly.map((h) => h.abandoned), backgroundColor: palette[3] },
    ] }, options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });

    draw("rates-chart", { type: "line", data: { labels: hours, datasets: [
      { label: "containment %", data: r.hourly.map((h) => asPct(h.containment)), borderColor: palette[1], backgroundColor: palette[1], spanGaps: true },
      { label: "SL1 %", data: r.hourly.map((h) => asPct(h.sl1)), borderColor: palette[0], backgroundColor: palette[0], spanGaps: true },
      { label: "SL2 %", data: r.hourly.map((h) => asPct(h.sl2)), borderColor: palette[4], backgroundColor: palette[4], spanGaps: true },
    ] }, options: { scales: { y: { min: 0, max: 100 } } } });

    const nodes = r.ivr_funnel.slice(0, 15);
    draw("funnel-chart", { type: "bar", data: { labels: nodes.map((n) => n.node), datasets: [
      { label: "reached", data: nodes.map((n) => n.reached), backgroundColor: palette[0] },
      { label: "hung up", data: nodes.map((n) => n.hung_up), backgroundColor: palette[3] },
      { label: "handed off", data: nodes.map((n) => n.handed_off), backgroundColor: palette[2] },
      { label: "no match", data: nodes.map((n) => n.no_match), backgroundColor: palette[4] },
      { label: "no input", data: nodes.map((n) => n.no_input), backgroundColor: palette[6] },
    ] }, options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } } });

    const agents = Object.entries(r.occupancy.agents);
    draw("occupancy-chart", { type: "bar", data: { labels: agents.map((a) => a[0]), datasets: [
      { label: "occupancy %", data: agents.map((a) => asPct(a[1].occupancy)), backgroundColor: palette[5] },
    ] }, options: { scales: { y: { min: 0, max: 100 } } } });

    const staffHours = [...new Set(r.staffing.map((s) => s.hour))].sort();
    const staffQueues = [...new Set(r.staffing.map((s) => s.queue))].sort();
    draw("staffing-chart", { type: "bar", data: { labels: staffHours.map(hourLabel), datasets: staffQueues.map((q, i) => ({
      label: q + " agents needed", backgroundColor: palette[i % palette.length],
      data: staffHours.map((h) => { const s = r.staffing.find((x) => x.hour === h && x.queue === q); return s ? s.agents_needed : null; }),
    })) }, options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
  }

  async function load() {
    const form = document.getElementById("period");
    const status = document.getElementById("status");
    const params = new URLSearchParams();
    for (const name of ["since", "until", "queue"]) {
      const value = form.elements[name].value;
      if (value) params.set(name, value);
    }
    history.replaceState(null, "", "/supervisor/dashboard?" + params.toString());
    status.textContent = "loading…";
    document.body.dataset.report = "loading";
    const response = await fetch("/api/reports?" + params.toString(), { headers: { Accept: "application/json" } });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      status.textContent = "could not load: " + (body.detail || response.status);
      document.body.dataset.report = "error";
      return;
    }
    const report = await response.json();
    render(report);
    status.textContent = report.calls + " calls from " + report.since.slice(0, 16).replace("T", " ") +
      " to " + report.until.slice(0, 16).replace("T", " ") + " UTC";
    document.body.dataset.report = report.since + "|" + report.until + "|" + (report.queue || "");
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("period").addEventListener("submit", (event) => { event.preventDefault(); load(); });
    load();
  });
})();
