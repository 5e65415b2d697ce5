/* Dashboard charts: series from the JSON endpoint (data-src), drawn with the local ECharts. */
(function () {
  "use strict";
  var holder = document.getElementById("charts");
  if (!holder || typeof window.echarts === "undefined") {
    return; // the tables below each chart still show every figure
  }
  var charts = [];

  function draw(id, option) {
    var element = document.getElementById("chart-" + id);
    if (!element) { return; }
    element.classList.add("ready");
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    chart.setOption(option);
    charts.push(chart);
  }

  function bars(table, series, keys, horizontal) {
    var category = { type: "category", data: table.labels, axisLabel: { interval: 0, hideOverlap: true } };
    var value = { type: "value", minInterval: 1 };
    return {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 16, bottom: 8, top: 36, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: keys.map(function (key) {
        return { name: series[key], type: "bar", data: table[key] };
      })
    };
  }

  function trend(table, series) {
    var option = bars(table, series, ["received", "resolved", "overdue"], false);
    option.series.push({
      name: series.satisfaction_rate, type: "line", yAxisIndex: 1, connectNulls: true,
      showSymbol: true, symbolSize: 8,
      data: table.satisfaction_rate.map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; })
    });
    option.yAxis = [
      { type: "value", minInterval: 1 },
      { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } }
    ];
    return option;
  }

  fetch(holder.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    })
    .then(function (data) {
      var s = data.series;
      draw("by_month", trend(data.by_month, s));
      draw("by_category", bars(data.by_category, s, ["received", "resolved", "escalated"], true));
      draw("by_grid", bars(data.by_grid, s, ["received", "resolved", "overdue"], false));
      document.body.setAttribute("data-charts", "ready");
    })
    .catch(function () {
      document.body.setAttribute("data-charts", "failed");
    });

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
