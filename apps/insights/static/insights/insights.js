// Insights charts: each element with data-chart holds its data as JSON; ECharts (vendored)
// draws it. Every chart's numbers are also in a table on the page, so the script and colour
// are conveniences, never the only way to read a figure. Clicking a bar or a point opens the
// conversations behind it.
(function () {
  "use strict";

  const BLUE = "#364fc7";
  const GREY = "#8a94a6";

  function format(value, unit) {
    if (value === null || value === undefined) return "no data";
    if (unit === "seconds") {
      if (value < 90) return value.toFixed(value < 10 ? 1 : 0) + " s";
      const m = Math.floor(Math.round(value) / 60);
      const s = Math.round(value) % 60;
      return m + "m " + String(s).padStart(2, "0") + "s";
    }
    if (unit === "share") return (value * 100).toFixed(value * 100 < 10 ? 1 : 0) + "%";
    if (unit === "score") return value.toFixed(1);
    if (unit === "delta") return (value >= 0 ? "+" : "") + value.toFixed(2);
    return Math.round(value).toLocaleString();
  }

  function spark(el, data) {
    const chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 2, right: 2, top: 4, bottom: 2 },
      xAxis: { type: "category", show: false, data: data.values.map((_, i) => i) },
      yAxis: { type: "value", show: false, scale: true },
      tooltip: {
        trigger: "axis",
        formatter: (items) => "Day " + (items[0].dataIndex + 1) + ": " + format(items[0].value, data.unit),
      },
      series: [{
        // Days without data are gaps in a mean or a rate: joined, with a dot on each real day.
        type: "line", data: data.values, connectNulls: true, symbol: "circle", symbolSize: 3,
        showSymbol: data.values.filter((v) => v !== null).length < 40, itemStyle: { color: BLUE },
        lineStyle: { width: 1.5, color: BLUE }, areaStyle: { color: "rgba(54,79,199,0.08)" },
      }],
    });
    return chart;
  }

  function bars(el, data) {
    const rows = data.rows.slice().reverse();
    el.style.height = Math.max(120, rows.length * 26 + 30) + "px";
    const chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      aria: { enabled: true, decal: { show: true } },
      grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1, splitLine: { lineStyle: { color: "#eef0f4" } } },
      yAxis: { type: "category", data: rows.map((r) => r.label), axisTick: { show: false } },
      tooltip: { trigger: "item", formatter: (p) => p.name + ": " + p.value + " conversations" },
      series: [{
        type: "bar", data: rows.map((r) => r.value), barMaxWidth: 18, cursor: "pointer",
        itemStyle: { color: BLUE, borderRadius: [0, 3, 3, 0] },
        label: { show: true, position: "right", color: "#495057" },
      }],
    });
    chart.on("click", (p) => { const row = rows[p.dataIndex]; if (row && row.url) window.location.href = row.url; });
    return chart;
  }

  function series(el, data) {
    const points = data.points;
    const chart = echarts.init(el, null, { renderer: "svg" });
    // The band is clipped to what the figure can be (a score 0-100, a share 0-1): a day with
    // two reviews has a t interval far wider than the scale, which would flatten the line.
    const bounds = data.unit === "score" ? [0, 100] : data.unit === "share" ? [0, 1] : [null, null];
    const clip = (v) => (v === null ? null : Math.min(bounds[1] === null ? v : bounds[1], Math.max(bounds[0] === null ? v : bounds[0], v)));
    const low = points.map((p) => clip(p.low));
    const band = points.map((p) => (p.low === null || p.high === null ? null : clip(p.high) - clip(p.low)));
    const hasBand = band.some((v) => v !== null);
    const list = [];
    if (hasBand) {
      list.push({ name: "95% low", type: "line", data: low, stack: "band", symbol: "none", lineStyle: { opacity: 0 }, tooltip: { show: false } });
      list.push({ name: "95% interval", type: "line", data: band, stack: "band", symbol: "none", lineStyle: { opacity: 0 }, areaStyle: { color: "rgba(54,79,199,0.12)" }, tooltip: { show: false } });
    }
    // Error bars too: a band between isolated days (most days without reviews) is invisible.
    const bars = [];
    points.forEach((p, i) => { if (p.low !== null && p.high !== null) bars.push([i, clip(p.low), clip(p.high)]); });
    if (bars.length) {
      list.push({
        name: "95% error bars", type: "custom", data: bars, encode: { x: 0, y: [1, 2] }, z: 1, silent: true,
        tooltip: { show: false },
        renderItem: (params, api) => {
          const low = api.coord([api.value(0), api.value(1)]);
          const high = api.coord([api.value(0), api.value(2)]);
          const style = { stroke: BLUE, lineWidth: 1.2, opacity: 0.55 };
          return {
            type: "group",
            children: [
              { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style: style },
              { type: "line", shape: { x1: low[0] - 4, y1: low[1], x2: low[0] + 4, y2: low[1] }, style: style },
              { type: "line", shape: { x1: high[0] - 4, y1: high[1], x2: high[0] + 4, y2: high[1] }, style: style },
            ],
          };
        },
      });
    }
    list.push({
      // Points from fewer values than INSIGHTS_MIN_N are hollow (the tooltip says "few").
      name: data.label, type: "line", symbol: "circle", symbolSize: 7,
      data: points.map((p) => ({ value: p.value, symbol: p.few ? "emptyCircle" : "circle" })),
      lineStyle: { width: 2, color: BLUE }, itemStyle: { color: BLUE }, cursor: "pointer", connectNulls: false,
    });
    if (points.some((p) => p.previous !== null)) {
      list.push({
        name: "Previous period", type: "line", data: points.map((p) => p.previous), symbol: "triangle", symbolSize: 6,
        lineStyle: { width: 1.5, type: "dashed", color: GREY }, itemStyle: { color: GREY },
      });
    }
    chart.setOption({
      animation: false,
      aria: { enabled: true },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      legend: { top: 0, data: list.filter((s) => s.tooltip === undefined).map((s) => s.name) },
      xAxis: { type: "category", data: points.map((p) => p.x) },
      yAxis: { type: "value", scale: true, axisLabel: { formatter: (v) => format(v, data.unit) } },
      tooltip: {
        trigger: "axis",
        formatter: (items) => {
          const i = items[0].dataIndex;
          const p = points[i];
          let text = p.x + "<br>" + data.label + ": " + format(p.value, data.unit) + " (n = " + p.n + (p.few ? ", few: read with care" : "") + ")";
          if (p.low !== null && p.high !== null) text += "<br>95%: " + format(p.low, data.unit) + " – " + format(p.high, data.unit);
          if (p.previous !== null) text += "<br>Previous period: " + format(p.previous, data.unit);
          return text;
        },
      },
      series: list,
    });
    chart.on("click", (p) => { const point = points[p.dataIndex]; if (point && point.url) window.location.href = point.url; });
    return chart;
  }

  const KINDS = { spark: spark, bars: bars, series: series };

  function draw() {
    if (typeof echarts === "undefined") return;
    const charts = [];
    document.querySelectorAll("[data-chart]").forEach((el) => {
      try {
        const data = JSON.parse(el.dataset.chart);
        const make = KINDS[data.type];
        if (make) charts.push(make(el, data));
      } catch (error) {
        el.textContent = "";  // the table beside it still has the numbers
      }
    });
    window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
