// loads' HTML report: draws the page from the JSON report inlined beside it
// (docs/report.md), with uPlot for the charts. runner/html_report.cpp inlines
// this file, uPlot and the data, so the page needs nothing else.
// With a base report (`loads-runner report run.json --compare base.json`) it
// adds the differential tables.
(function () {
  'use strict';

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  var run = data('loads-run');
  var base = data('loads-base');
  var meta = data('loads-meta') || {};
  var app = document.getElementById('app');

  // ---------------------------------------------------------------- helpers

  function h(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] === undefined || attrs[k] === null) return;
        if (k === 'class') e.className = attrs[k];
        else e.setAttribute(k, attrs[k]);
      });
    }
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(e, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(e, x); }); return; }
    e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : 0; }
  function int(n) { return Math.round(num(n)).toLocaleString('en-US'); }
  function fixed(v, d) { return num(v).toFixed(d); }
  // Milliseconds as the text summary writes them (runner/report.cpp).
  function ms(ns) {
    var v = num(ns) / 1e6;
    return v.toFixed(v < 10 ? 3 : v < 100 ? 2 : 1) + ' ms';
  }
  function rate(v) { return fixed(v, v < 10 ? 2 : 1); }
  function pct(part, whole) { return whole ? fixed(100 * part / whole, 1) + '%' : '—'; }
  function bytes(n) {
    n = num(n);
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }
  function secs(s) { return s === null || s === undefined ? '—' : fixed(s, s < 10 ? 2 : 1) + ' s'; }
  function q(hist, name) { return hist && hist.percentiles_ns ? num(hist.percentiles_ns[name]) : 0; }
  function isOpen(r) { return r.plan && r.plan.model === 'open'; }
  // The latency a person should read: from schedule in the open model.
  function mainLatency(stats, r) {
    var s = stats.latency_from_schedule;
    return isOpen(r) && s && s.count ? s : stats.latency;
  }
  function table(head, rows, attrs) {
    return h('table', attrs,
      h('thead', null, h('tr', null, head.map(function (c, i) {
        return h('th', { class: i === 0 ? 'l' : null }, c);
      }))),
      h('tbody', null, rows));
  }
  function td(v, attrs) { return h('td', attrs, v); }
  function tdl(v, attrs) { attrs = attrs || {}; attrs.class = 'l' + (attrs.class ? ' ' + attrs.class : ''); return h('td', attrs, v); }
  function section(title, id) {
    var s = h('section', { id: id }, h('h2', null, title));
    app.appendChild(s);
    return s;
  }

  // docs/protocol.md section 7: 256 one-nanosecond buckets, then 128 per
  // power of two.
  function bucketLow(i) {
    if (i < 256) return i;
    var j = i - 256, e = 8 + Math.floor(j / 128);
    return (j % 128 + 128) * Math.pow(2, e - 7);
  }
  function bucketHigh(i) {
    if (i < 256) return i;
    var j = i - 256, e = 8 + Math.floor(j / 128);
    return bucketLow(i) + Math.pow(2, e - 7) - 1;
  }
  // Width of the bucket a value falls in: two values closer than this can
  // be the same measurement.
  function bucketWidth(v) {
    return v < 256 ? 1 : Math.pow(2, Math.floor(Math.log2(v)) - 7);
  }

  // ---------------------------------------------------------------- charts

  var charts = [];
  function chartWidth(box) { return Math.max(300, box.clientWidth - 12); }
  function chart(parent, key, title, opts, dataRows) {
    var box = h('div', { class: 'chart', 'data-chart': key }, h('h3', null, title));
    parent.appendChild(box);
    if (!dataRows[0].length) {
      box.appendChild(h('p', { class: 'empty' }, 'no data'));
      return;
    }
    opts.width = chartWidth(box);
    opts.height = 220;
    opts.legend = { live: true };
    var u = new uPlot(opts, dataRows, box);
    charts.push({ u: u, box: box });
  }
  window.addEventListener('resize', function () {
    charts.forEach(function (c) { c.u.setSize({ width: chartWidth(c.box), height: 220 }); });
  });
  var colors = ['#2563eb', '#16a34a', '#ea580c', '#9333ea', '#dc2626', '#0891b2'];
  function line(label, i, extra) {
    var s = { label: label, stroke: colors[i % colors.length], width: 1.5, points: { show: false },
              paths: uPlot.paths.stepped({ align: 1 }) };
    Object.keys(extra || {}).forEach(function (k) { s[k] = extra[k]; });
    return s;
  }
  function yAxis(label) { return { label: label, size: 64 }; }
  function timeAxis() { return { label: 'seconds since start', values: function (u, v) { return v.map(function (x) { return x + ' s'; }); } }; }
  function xScale() { return { time: false }; }

  function seriesCharts(parent, r) {
    var rows = r.series || [];
    var grid = h('div', { class: 'charts' });
    parent.appendChild(grid);
    if (!rows.length) {
      grid.appendChild(h('p', { class: 'empty' }, 'The report has no series rows.'));
      return;
    }
    // Each row is an interval: a step from its start to its end (the last
    // value repeated at the last end), so even a single row shows.
    var t = rows.map(function (x) { return num(x.start_s); }).concat([num(rows[rows.length - 1].end_s)]);
    function col(f) { var v = rows.map(f); return v.concat([v[v.length - 1]]); }
    chart(grid, 'throughput', 'Throughput (per second, per interval)', {
      scales: { x: xScale() },
      axes: [timeAxis(), yAxis('/s')],
      series: [{ label: 't (s)' }, line('requests/s', 0), line('hits/s', 1)]
    }, [t, col(function (x) { return num(x.requests_per_s); }), col(function (x) { return num(x.hits_per_s); })]);

    var lat = [{ label: 't (s)' }, line('p50', 0), line('p95', 2), line('p99', 4)];
    var latData = [t,
      col(function (x) { return x.latency_ns.count ? num(x.latency_ns.p50) / 1e6 : null; }),
      col(function (x) { return x.latency_ns.count ? num(x.latency_ns.p95) / 1e6 : null; }),
      col(function (x) { return x.latency_ns.count ? num(x.latency_ns.p99) / 1e6 : null; })];
    if (isOpen(r)) {
      lat.push(line('p99 from schedule', 3, { dash: [6, 4] }));
      latData.push(col(function (x) {
        var s = x.latency_from_schedule_ns;
        return s && s.count ? num(s.p99) / 1e6 : null;
      }));
    }
    chart(grid, 'latency', (isOpen(r) ? 'Service time' : 'Latency') + ' per interval (ms)', {
      scales: { x: xScale() },
      axes: [timeAxis(), yAxis('ms')],
      series: lat
    }, latData);

    var errSeries = [{ label: 't (s)' }, line('errors', 4), line('failures', 2)];
    var errData = [t, col(function (x) { return num(x.errors); }), col(function (x) { return num(x.failures); })];
    if (isOpen(r)) {
      errSeries.push(line('dropped', 3));
      errData.push(col(function (x) { return num(x.dropped); }));
    }
    chart(grid, 'errors', 'Errors and failures per interval', {
      scales: { x: xScale() }, axes: [timeAxis(), yAxis('hits')], series: errSeries
    }, errData);

    chart(grid, 'users', 'Virtual users', {
      scales: { x: xScale() },
      axes: [timeAxis(), yAxis('users')],
      series: [{ label: 't (s)' }, line('alive', 0), line('busy', 1)]
    }, [t, col(function (x) { return num(x.users); }), col(function (x) { return num(x.users_busy); })]);
  }

  // Labels at 1, 2 and 5 times a power of ten, so a narrow range still has some.
  function logLabels(u, splits) {
    return splits.map(function (v) {
      if (!(v > 0)) return null;
      var m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
      return [1, 2, 5].some(function (k) { return Math.abs(m - k) < 1e-6; }) ? v : null;
    });
  }

  // The histogram's buckets grouped eight to a power of two, on a log axis.
  function histogramChart(parent, hist, key, title) {
    var grid = h('div', { class: 'charts' });
    parent.appendChild(grid);
    var bins = {};
    var lo = Infinity, hi = -Infinity;
    (hist.buckets || []).forEach(function (p) {
      var top = Math.max(1, bucketHigh(p[0]));
      var k = Math.floor(Math.log2(top) * 8);
      bins[k] = (bins[k] || 0) + p[1];
      lo = Math.min(lo, k); hi = Math.max(hi, k);
    });
    var xs = [], ys = [];
    if (lo <= hi) {
      for (var k = lo; k <= hi + 1; k++) {
        xs.push(Math.pow(2, k / 8) / 1e6);
        ys.push(bins[k] || 0);
      }
    }
    chart(grid, key, title, {
      scales: { x: { time: false, distr: 3 } },
      axes: [{ label: 'ms (log)', filter: logLabels, values: function (u, v) { return v.map(function (x) { return x === null ? '' : +x.toPrecision(3); }); } },
             yAxis('count')],
      series: [{ label: 'ms' }, line('count', 0, { fill: 'rgba(37,99,235,0.25)' })]
    }, [xs, ys]);
  }

  // ---------------------------------------------------------------- the run

  function header() {
    var ok = run.exit_code === 0;
    var why = { 1: 'not all good', 3: 'thresholds failed' }[run.exit_code] || 'not all good';
    app.appendChild(h('h1', null, base ? 'loads differential report ' : 'loads report ',
      h('span', { class: 'badge ' + (ok ? 'ok' : 'fail'), 'data-metric': 'exit_code' },
        ok ? 'exit 0: passed' : 'exit ' + run.exit_code + ': ' + why)));
    app.appendChild(h('p', { class: 'sub' }, h('code', null, run.test || ''), ' — started ', run.started || '?',
      ', ', secs(run.duration_s), run.agents ? ', ' + run.agents + ' agents' : ', local run'));
  }

  function card(label, value, metric, bad) {
    return h('div', { class: 'card' + (bad ? ' bad' : '') },
      h('div', { class: 'label' }, label), h('div', { class: 'value', 'data-metric': metric }, value));
  }

  function summary() {
    var s = run.total, lat = mainLatency(s, run);
    var sec = section('Summary', 'summary');
    var cards = h('div', { class: 'cards' },
      card('Hits', int(s.hits), 'hits'),
      card('Successes', int(s.successes), 'successes'),
      card('Failures', int(s.failures), 'failures', s.failures > 0),
      card('Errors', int(s.errors), 'errors', s.errors > 0),
      card('Success rate', pct(s.successes, s.hits), 'success_rate'),
      card('Hits/s', rate(run.rps), 'rps'),
      card('p50', ms(q(lat, 'p50')), 'p50'),
      card('p95', ms(q(lat, 'p95')), 'p95'),
      card('p99', ms(q(lat, 'p99')), 'p99'),
      card('max', ms(q(lat, 'max')), 'max'),
      card('Requests', int(s.requests), 'requests'),
      card('Duration', secs(run.duration_s), 'duration'));
    if (isOpen(run) || s.dropped || s.late || s.interrupted) {
      add(cards, [card('Scheduled', int(s.scheduled), 'scheduled'), card('Dropped', int(s.dropped), 'dropped', s.dropped > 0),
                  card('Late', int(s.late), 'late'), card('Interrupted', int(s.interrupted), 'interrupted', s.interrupted > 0)]);
    }
    sec.appendChild(cards);
    sec.appendChild(h('p', { class: 'note' },
      'Latency: ' + (isOpen(run) && s.latency_from_schedule.count
        ? 'from each hit\'s scheduled start to its end (open model; waiting for a free user included).'
        : 'service time of each request or exchange, first byte sent to last byte received.') +
      ' Percentiles are from the merged histograms, never averaged.'));
    var lines = [];
    if (s.requests || s.request_errors)
      lines.push('Requests: ' + int(s.requests) + ' responses, ' + int(s.request_errors) + ' without response; received ' +
                 bytes(s.bytes_received) + ', sent ' + bytes(s.bytes_sent) + '.');
    if (s.ws && (s.ws.opened || s.ws.messages_sent))
      lines.push('WebSocket: ' + int(s.ws.opened) + ' opened, ' + int(s.ws.messages_sent) + ' messages sent, ' +
                 int(s.ws.messages_received) + ' received.');
    if (s.tcp && s.tcp.opened)
      lines.push('TCP: ' + int(s.tcp.opened) + ' connections, ' + bytes(s.tcp.bytes_sent) + ' sent, ' +
                 bytes(s.tcp.bytes_received) + ' received.');
    if (run.stopped) lines.push('Stopped: the plan did not run to its end.');
    if (run.incomplete) lines.push('Incomplete: an agent was lost or results are missing; the figures miss a part.');
    lines.forEach(function (l) { sec.appendChild(h('p', null, l)); });
  }

  // A threshold's measured value or limit in its unit (docs/report.md, Threshold).
  function inUnit(v, unit) {
    if (v === null || v === undefined) return '—';
    if (typeof v !== 'number') return String(v);
    if (unit === 'ns') return ms(v);
    if (unit === '%') return fixed(v, 2) + '%';
    if (unit === '1/s') return rate(v) + '/s';
    return +v.toPrecision(6) + '';
  }
  function thresholds() {
    if (!Array.isArray(run.thresholds) || !run.thresholds.length) return;
    var sec = section('Thresholds', 'thresholds');
    var failed = run.thresholds.filter(function (t) { return !t.ok; }).length;
    sec.appendChild(h('p', { 'data-metric': 'thresholds' }, failed
      ? failed + ' of ' + run.thresholds.length + ' failed (exit code 3).'
      : 'All ' + run.thresholds.length + ' passed.'));
    sec.appendChild(table(['Threshold', 'Measured', 'Limit', 'Verdict'], run.thresholds.map(function (t) {
      var measured = 'measured' in t ? t.measured : t.value;
      var verdict = t.ok ? '✓ pass' : '✗ fail' + (t.aborted ? ' (stopped the run)' : '');
      return h('tr', { 'data-threshold': t.expression },
        tdl(h('code', null, t.expression)),
        td(measured === null && 'measured' in t ? 'nothing to measure' : inUnit(measured, t.unit)),
        td(t.limit === undefined ? '—' : (t.operator || '') + ' ' + inUnit(t.limit, t.unit)),
        td(verdict, { class: t.ok ? 'pass' : 'failv' }));
    }), { id: 'thresholds-table' }));
  }

  function planText(r) {
    var p = r.plan || {}, cyc = p.cycles || [];
    var rows = [];
    rows.push(['Test', h('code', null, r.test || '')]);
    rows.push(['Model', p.model === 'open' ? 'open (arrival rate, --rate)' : 'closed (concurrent users, -u)']);
    if (p.model === 'open') {
      rows.push(['Rates (/s)', cyc.map(function (c) { return c.rate; }).join(' : ')]);
      rows.push(['Split', p.split]);
      rows.push(['Ramp', secs(p.ramp_s)]);
      rows.push(['Arrivals', p.arrivals]);
      rows.push(['Max users', p.max_users]);
    } else {
      rows.push(['Users', cyc.map(function (c) { return c.users; }).join(' : ')]);
      if (cyc.length && cyc[0].hits_per_user !== undefined)
        rows.push(['Hits per user', cyc.map(function (c) { return c.hits_per_user; }).join(' : ')]);
      rows.push(['Sleep', p.sleep_min_s === p.sleep_max_s ? secs(p.sleep_min_s) : secs(p.sleep_min_s) + ' to ' + secs(p.sleep_max_s)]);
      rows.push(['Startup delay', secs(p.startup_delay_s)]);
    }
    if (cyc.length && cyc[0].duration_s !== null && cyc[0].duration_s !== undefined)
      rows.push(['Cycle duration', cyc.map(function (c) { return secs(c.duration_s); }).join(' : ')]);
    rows.push(['Graceful stop', secs(p.graceful_stop_s)]);
    rows.push(['Timeout / connect', secs(p.timeout_s) + ' / ' + secs(p.connect_timeout_s)]);
    rows.push(['Interval', secs(p.interval_s)]);
    rows.push(['Threads', p.threads ? p.threads : 'one per core']);
    return rows;
  }
  function kv(rows) {
    return table(['', ''], rows.map(function (r) { return h('tr', null, td(r[0]), td(r[1])); }), { class: 'kv' });
  }

  // "a0 on web-3 (pid 412, 2 threads, loads 0.1.0)", one per agent; the
  // local run's host is the runner's.
  function agentHosts() {
    if (!run.agents) return 'the runner host (local run)';
    var hosts = run.agent_hosts || [];
    if (!hosts.length) return 'unknown (older report)';
    return hosts.map(function (a) {
      if (!a.host) return a.id + ' (no longer registered when the run ended)';
      return a.id + ' on ' + a.host + ' (pid ' + a.pid + ', ' + a.threads + ' thread' + (a.threads === 1 ? '' : 's') +
        (a.version ? ', loads ' + a.version : '') + ')';
    }).join('; ');
  }

  function planAndEnvironment() {
    var sec = section('Plan and environment', 'plan');
    var grid = h('div', { class: 'charts' });
    sec.appendChild(grid);
    grid.appendChild(h('div', null, h('h3', null, 'Plan'), kv(planText(run))));
    var env = [
      ['loads version', run.loads_version || 'unknown (older report)'],
      ['Runner host', run.host || 'unknown'],
      ['Agents', run.agents ? run.agents + (run.agent_ids && run.agent_ids.length ? ': ' + run.agent_ids.join(', ') : '') : '0 (local run)'],
      ['Agent hosts', agentHosts()],
      ['Started', run.started + (run.started_unix ? ' (unix ' + fixed(run.started_unix, 3) + ')' : '')],
      ['Duration', secs(run.duration_s)],
      ['Stopped early', run.stopped ? 'yes' : 'no'],
      ['Incomplete', run.incomplete ? 'yes' : 'no'],
      ['Report made by', (meta.generator || 'loads-runner') + ' at ' + (meta.generated || '?') + (meta.run_label ? ' from ' + meta.run_label : '')]
    ];
    grid.appendChild(h('div', null, h('h3', null, 'Environment'), kv(env)));
    if (run.events && run.events.length) {
      sec.appendChild(h('h3', null, 'Cluster events'));
      sec.appendChild(h('ul', null, run.events.map(function (e) { return h('li', null, e); })));
    }
  }

  function overTime() {
    var sec = section('Over time', 'over-time');
    seriesCharts(sec, run);
  }

  function histogram() {
    var sec = section('Latency histogram', 'histogram');
    var s = run.total;
    if (isOpen(run) && s.latency_from_schedule.count) {
      histogramChart(sec, s.latency_from_schedule, 'histogram_schedule', 'Latency from schedule: ' + int(s.latency_from_schedule.count) + ' hits');
    }
    histogramChart(sec, s.latency, 'histogram', (isOpen(run) ? 'Service time' : 'Latency') + ': ' + int(s.latency.count) + ' requests and exchanges');
    var names = ['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'];
    var hists = [[isOpen(run) ? 'service time' : 'latency', s.latency]];
    if (isOpen(run)) hists.unshift(['from schedule', s.latency_from_schedule]);
    sec.appendChild(table(['Histogram'].concat(names), hists.map(function (x) {
      var hh = x[1];
      return h('tr', null, tdl(x[0]), td(ms(hh.min_ns)), td(ms(hh.mean_ns)), names.slice(2).map(function (n) { return td(ms(q(hh, n))); }));
    })));
  }

  function cycleRate(c) { return c.duration_s > 0 ? c.hits / c.duration_s : 0; }
  function cycles() {
    var sec = section('Cycles', 'cycles');
    var open = isOpen(run);
    sec.appendChild(table(['Cycle', open ? 'Rate (/s)' : 'Users', 'Hits', 'Duration', 'Hits/s', 'Success', 'Errors', 'Failures', 'p50', 'p95', 'p99'],
      (run.cycles || []).map(function (c) {
        var lat = mainLatency(c, run);
        return h('tr', { 'data-cycle': c.cycle },
          tdl(String(c.cycle)), td(open ? c.rate : c.users), td(int(c.hits)), td(secs(c.duration_s)), td(rate(cycleRate(c))),
          td(pct(c.successes, c.hits)), td(int(c.errors)), td(int(c.failures)),
          td(ms(q(lat, 'p50'))), td(ms(q(lat, 'p95'))), td(ms(q(lat, 'p99'))));
      }), { id: 'cycles-table' }));
  }

  function names() {
    var sec = section('Requests by name', 'names');
    var entries = Object.keys(run.total.names || {}).sort();
    if (!entries.length) { sec.appendChild(h('p', { class: 'empty' }, 'No named requests.')); return; }
    sec.appendChild(table(['Name', 'Count', 'Errors', 'Per second', 'p50', 'p95', 'p99', 'max'],
      entries.map(function (n) {
        var x = run.total.names[n];
        return h('tr', { 'data-name': n }, tdl(n), td(int(x.count)), td(int(x.errors)),
          td(rate(run.duration_s > 0 ? x.count / run.duration_s : 0)),
          td(ms(q(x.latency, 'p50'))), td(ms(q(x.latency, 'p95'))), td(ms(q(x.latency, 'p99'))), td(ms(q(x.latency, 'max'))));
      }), { id: 'names-table' }));
    if (entries.some(function (n) { return n.indexOf('group ') === 0; }))
      sec.appendChild(h('p', { class: 'note', id: 'groups-note' },
        'Group rows time a test\'s group() as a whole: they are not in the latency above; their requests are.'));
    if (entries.some(function (n) { return n.indexOf('WS connect ') === 0; }))
      sec.appendChild(h('p', { class: 'note', id: 'ws-connect-note' },
        'WS connect rows time WebSocket handshakes: they are not in the latency above, which times the exchanges.'));
  }

  // The test's custom metrics (metric_counter() and the others), a row each.
  function metricValue(m) {
    function n(v) { return Number.isInteger(v) ? int(v) : String(Math.round(num(v) * 1000) / 1000); }
    if (m.kind === 'counter') return 'total ' + n(m.total) + (run.duration_s > 0 ? ' (' + rate(m.total / run.duration_s) + '/s)' : '');
    if (m.kind === 'gauge') return 'last ' + n(m.last) + ', min ' + n(m.min) + ', max ' + n(m.max);
    if (m.kind === 'rate') return fixed(100 * num(m.rate), 2) + '% (' + int(m.true) + ' of ' + int(m.count) + ')';
    var p = m.percentiles || {};
    return 'mean ' + n(m.mean) + ', p50 ' + n(p.p50) + ', p95 ' + n(p.p95) + ', p99 ' + n(p.p99) +
      ', min ' + n(m.min) + ', max ' + n(m.max);
  }
  function customMetrics() {
    var all = run.total.metrics || {};
    var entries = Object.keys(all).sort();
    if (!entries.length) return;
    var sec = section('Custom metrics', 'metrics');
    sec.appendChild(table(['Name', 'Kind', 'Count', 'Value'], entries.map(function (n) {
      var m = all[n];
      return h('tr', { 'data-metric': n }, tdl(n), tdl(m.kind), td(int(m.count)), tdl(metricValue(m)));
    }), { id: 'metrics-table' }));
  }

  function errors() {
    var sec = section('Errors', 'errors');
    var s = run.total;
    var kinds = Object.keys(s.errors_by_kind || {}).filter(function (k) { return s.errors_by_kind[k]; });
    if (!kinds.length && !s.failures) sec.appendChild(h('p', null, 'No errors and no failures.'));
    if (kinds.length)
      sec.appendChild(table(['Kind', 'Errors'], kinds.map(function (k) {
        return h('tr', { 'data-kind': k }, tdl(k), td(int(s.errors_by_kind[k])));
      }), { id: 'errors-table' }));
    var msgs = Object.keys(s.messages || {}).sort(function (a, b) { return s.messages[b] - s.messages[a]; });
    if (msgs.length) {
      sec.appendChild(h('h3', null, 'Why: the first distinct messages'));
      sec.appendChild(table(['Message', 'Count'], msgs.map(function (m) {
        return h('tr', null, tdl(m), td(int(s.messages[m])));
      }), { id: 'messages-table' }));
    }
    var codes = Object.keys(s.status_codes || {});
    if (codes.length) {
      sec.appendChild(h('h3', null, 'HTTP status codes'));
      sec.appendChild(table(['Status', 'Responses'], codes.map(function (c) {
        return h('tr', null, tdl(c === '0' ? 'other (≥ 600)' : c), td(int(s.status_codes[c])));
      })));
    }
  }

  // ---------------------------------------------------------------- compare

  var noisePct = typeof meta.noise_pct === 'number' ? meta.noise_pct : 5;
  var minCount = { p50: 2, p95: 20, p99: 100 };

  // {text, cls, significant} for a change from a to b. higherIsBetter for rates.
  function delta(a, b, higherIsBetter, opts) {
    opts = opts || {};
    if (!(a > 0)) return { text: b > 0 ? 'new' : '—', cls: '', significant: false };
    var d = b - a, rel = 100 * d / a;
    var text = (d >= 0 ? '+' : '') + rel.toFixed(1) + '%';
    var beyond = Math.abs(rel) > noisePct;
    if (opts.percentile) {
      // Two values within a bucket's width of each other can be one measurement.
      beyond = beyond && Math.abs(d) > bucketWidth(Math.max(a, b));
      if (opts.counts && (opts.counts[0] < minCount[opts.percentile] || opts.counts[1] < minCount[opts.percentile])) {
        return { text: text + ' (few values)', cls: '', significant: false };
      }
    }
    if (!beyond) return { text: text, cls: '', significant: false };
    var better = higherIsBetter ? d > 0 : d < 0;
    return { text: (better ? '▲ ' : '▼ ') + text, cls: better ? 'better' : 'worse', significant: true };
  }
  function deltaCell(dl, metric) {
    return td(dl.text, { class: dl.cls || null, 'data-delta': metric, 'data-significant': dl.significant ? '1' : '0' });
  }

  function compareRows(pairs) {
    // pairs: [{label, attr, a: {rps, lat}, b: {rps, lat}}]; a = base, b = this run.
    return pairs.map(function (p) {
      var cells = [tdl(p.label)];
      if (!p.a || !p.b) {
        cells.push(h('td', { colspan: 12, class: 'l' }, p.a ? 'only in the base' : 'only in this run'));
        return h('tr', p.attr, cells);
      }
      cells.push(td(rate(p.a.rps)), td(rate(p.b.rps)), deltaCell(delta(p.a.rps, p.b.rps, true), 'rps'));
      ['p50', 'p95', 'p99'].forEach(function (n) {
        var va = q(p.a.lat, n), vb = q(p.b.lat, n);
        cells.push(td(ms(va)), td(ms(vb)),
          deltaCell(delta(va, vb, false, { percentile: n, counts: [num(p.a.lat.count), num(p.b.lat.count)] }), n));
      });
      return h('tr', p.attr, cells);
    });
  }
  var compareHead = function (first) {
    return [first, 'base /s', 'this /s', 'Δ /s', 'base p50', 'p50', 'Δ p50', 'base p95', 'p95', 'Δ p95', 'base p99', 'p99', 'Δ p99'];
  };

  function comparison() {
    var sec = section('Compared with the base run', 'compare');
    sec.appendChild(h('p', null, 'Base: ', h('code', null, base.test || ''), ' started ', base.started || '?', ', ',
      secs(base.duration_s), meta.base_label ? ' (' + meta.base_label + ')' : '', '. This run: started ', run.started || '?',
      ', ', secs(run.duration_s), '.'));
    sec.appendChild(h('p', { class: 'note', id: 'noise-rule' },
      'Marked (▲ better, ▼ worse) where the change is beyond the noise: more than ' + noisePct +
      '% of the base value (--noise), and for a percentile also more than the width of its histogram bucket ' +
      '(1/128 of the value: two values closer than that can be the same measurement) and measured on enough values in both runs ' +
      '(p50: 2, p95: 20, p99: 100). Hits/s of a cycle is its hits over its duration; of a name, its count over the run\'s duration.'));

    sec.appendChild(h('h3', null, 'The whole run'));
    sec.appendChild(table(compareHead('Run'), compareRows([{
      label: 'total', attr: { 'data-compare': 'total' },
      a: { rps: num(base.rps), lat: mainLatency(base.total, base) },
      b: { rps: num(run.rps), lat: mainLatency(run.total, run) }
    }]), { id: 'compare-total' }));

    sec.appendChild(h('h3', null, 'Per cycle'));
    var n = Math.max((run.cycles || []).length, (base.cycles || []).length), pairs = [];
    for (var i = 0; i < n; i++) {
      var a = (base.cycles || [])[i], b = (run.cycles || [])[i];
      var who = function (c, r) { return c ? (isOpen(r) ? c.rate + '/s' : c.users + ' users') : '?'; };
      pairs.push({ label: (i + 1) + ' (' + who(a, base) + ' → ' + who(b, run) + ')', attr: { 'data-compare-cycle': i + 1 },
        a: a && { rps: cycleRate(a), lat: mainLatency(a, base) }, b: b && { rps: cycleRate(b), lat: mainLatency(b, run) } });
    }
    sec.appendChild(table(compareHead('Cycle'), compareRows(pairs), { id: 'compare-cycles' }));

    sec.appendChild(h('h3', null, 'Per name'));
    var an = base.total.names || {}, bn = run.total.names || {};
    var all = Object.keys(an).concat(Object.keys(bn).filter(function (k) { return !(k in an); })).sort();
    sec.appendChild(table(compareHead('Name'), compareRows(all.map(function (k) {
      return { label: k, attr: { 'data-compare-name': k },
        a: an[k] && { rps: base.duration_s > 0 ? an[k].count / base.duration_s : 0, lat: an[k].latency },
        b: bn[k] && { rps: run.duration_s > 0 ? bn[k].count / run.duration_s : 0, lat: bn[k].latency } };
    })), { id: 'compare-names' }));
  }

  // ---------------------------------------------------------------- page

  header();
  summary();
  thresholds();
  if (base) comparison();
  overTime();
  histogram();
  cycles();
  names();
  customMetrics();
  errors();
  planAndEnvironment();
  app.appendChild(h('footer', null, 'Made by ' + (meta.generator || 'loads-runner') + ' from the JSON report (docs/report.md); ' +
    'charts by uPlot. This file needs no network.'));
  document.body.setAttribute('data-ready', '1');
})();
