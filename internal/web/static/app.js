// Gefion's web view: live updates by Server-Sent Events on top of pages
// that work without this script.
(function () {
  'use strict';

  function listen(url, name, fn) {
    if (!window.EventSource) return;
    var es = new EventSource(url);
    es.addEventListener(name, function (e) {
      var u = JSON.parse(e.data);
      fn(u);
      if (u.final) es.close();
    });
  }

  // My jobs: the table's rows and totals, re-rendered by the server.
  var table = document.querySelector('table.jobs[data-stream]');
  if (table) {
    var rows = document.getElementById('rows');
    var totals = document.getElementById('totals');
    listen(table.dataset.stream, 'rows', function (u) {
      rows.innerHTML = u.rows;
      totals.innerHTML = u.totals;
      document.body.dataset.updated = String(Date.now());
    });
  }

  // A job's page: its state and the end of its output.
  var head = document.querySelector('.jobhead[data-stream]');
  if (head) {
    var tail = document.getElementById('tail');
    listen(head.dataset.stream, 'job', function (u) {
      var st = document.getElementById('jstate');
      st.textContent = u.state;
      st.className = 'state ' + u['class'];
      document.getElementById('jtime').textContent = u.time;
      document.getElementById('tailnote').textContent = u.note;
      var atEnd = tail.scrollTop + tail.clientHeight >= tail.scrollHeight - 4;
      tail.textContent = u.tail;
      if (atEnd) tail.scrollTop = tail.scrollHeight;
      document.body.dataset.updated = String(Date.now());
    });
  }

  // Cluster: recolour the nodes that changed; the page is never redrawn.
  var map = document.querySelector('.map[data-stream]');
  if (map) {
    var byName = {};
    map.querySelectorAll('[data-node]').forEach(function (n) { byName[n.dataset.node] = n; });
    var detail = document.getElementById('detail');
    listen(map.dataset.stream, 'nodes', function (u) {
      (u.nodes || []).forEach(function (n) {
        var el = byName[n.n];
        if (!el) return;
        el.className = 'node n-' + n.s;
        el.title = n.l;
        var cells = el.children;
        (n.g || []).forEach(function (c, i) {
          var s = cells[i];
          if (!s) return;
          s.className = 'g ' + c.c;
          s.setAttribute('aria-label', c.l);
          s.title = c.l;
          if (s === document.activeElement) detail.textContent = c.l;
        });
      });
      document.querySelectorAll('[data-count]').forEach(function (el) {
        el.textContent = String((u.count || {})[el.dataset.count] || 0);
      });
      document.body.dataset.updated = String(Date.now());
    });
    var show = function (e) {
      if (e.target.classList && e.target.classList.contains('g')) detail.textContent = e.target.getAttribute('aria-label');
    };
    map.addEventListener('focusin', show);
    map.addEventListener('mouseover', show);
    // Arrow keys move between GPUs: left and right along a node's GPUs
    // and on to the next node, up and down a node at a time.
    map.addEventListener('keydown', function (e) {
      if (!e.target.classList.contains('g')) return;
      var cells = Array.prototype.slice.call(map.querySelectorAll('.g'));
      var i = cells.indexOf(e.target);
      var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 8, ArrowUp: -8 }[e.key];
      if (!step || i < 0) return;
      var next = cells[i + step];
      if (next) { next.focus(); e.preventDefault(); }
    });
  }
})();
