// The listening view of frisson.report.listening: canvases, cursor, seeking. No dependencies.
(function () {
  var D = JSON.parse(document.getElementById('frisson-data').textContent);
  var audio = document.getElementById('audio'), M = {l: 62, r: 14, t: 10, b: 30};
  var C = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f',
           '#bcbd22','#17becf'];
  var panels = [], plane = null, spec = new Image(); spec.src = D.spectrogram.png;
  function grid(s, i) { return s.t0 + i * s.dt; }
  function ticks(lo, hi, n) {
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n || 1))), out = [];
    [1, 2, 5, 10].some(function (m) { if ((hi - lo) / (step * m) <= n) { step *= m; return true; } });
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(6));
    return out;
  }
  function make(box, h) {
    box.style.height = h + 'px'; box.innerHTML = '';
    var w = box.clientWidth, out = [];
    ['base', 'overlay'].forEach(function (k) {
      var c = document.createElement('canvas'); c.width = w; c.height = h; c.className = k;
      box.appendChild(c); out.push(c);
    });
    return out;
  }
  function axes(ctx, p, xlabel) {
    ctx.strokeStyle = '#888'; ctx.fillStyle = '#333'; ctx.font = '11px sans-serif';
    ctx.strokeRect(M.l, M.t, p.w, p.h);
    ctx.textAlign = 'center';
    ticks(p.x0, p.x1, 10).forEach(function (v) {
      var x = p.x(v); ctx.beginPath(); ctx.moveTo(x, M.t + p.h); ctx.lineTo(x, M.t + p.h + 4);
      ctx.stroke(); ctx.fillText(v, x, M.t + p.h + 15);
    });
    ctx.fillText(xlabel, M.l + p.w / 2, M.t + p.h + 28);
    ctx.textAlign = 'right';
    ticks(p.y0, p.y1, 4).forEach(function (v) {
      var y = p.y(v); ctx.fillText(v, M.l - 5, y + 4);
    });
    ctx.save(); ctx.translate(12, M.t + p.h / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center'; ctx.fillText(p.ylabel, 0, 0); ctx.restore();
  }
  function frame(box, h, x0, x1, y0, y1, ylabel) {
    var cs = make(box, h), p = {box: box, base: cs[0], over: cs[1], x0: x0, x1: x1, y0: y0,
      y1: y1, ylabel: ylabel, w: cs[0].width - M.l - M.r, h: h - M.t - M.b};
    p.x = function (v) { return M.l + (v - x0) / (x1 - x0) * p.w; };
    p.y = function (v) { return M.t + (1 - (v - y0) / (y1 - y0)) * p.h; };
    return p;
  }
  function line(ctx, p, s, values, color, width) {
    ctx.strokeStyle = color; ctx.lineWidth = width || 1; ctx.beginPath(); var on = false;
    values.forEach(function (v, i) {
      if (v === null) { on = false; return; }
      var x = p.x(grid(s, i)), y = p.y(v); if (on) ctx.lineTo(x, y); else ctx.moveTo(x, y); on = true;
    });
    ctx.stroke(); ctx.lineWidth = 1;
  }
  function band(ctx, p, s, lo, hi, color) {
    ctx.fillStyle = color;
    for (var i = 0; i + 1 < lo.length; i++) {
      if (lo[i] === null || hi[i] === null || lo[i + 1] === null || hi[i + 1] === null) continue;
      ctx.beginPath(); ctx.moveTo(p.x(grid(s, i)), p.y(lo[i])); ctx.lineTo(p.x(grid(s, i + 1)), p.y(lo[i + 1]));
      ctx.lineTo(p.x(grid(s, i + 1)), p.y(hi[i + 1])); ctx.lineTo(p.x(grid(s, i)), p.y(hi[i])); ctx.fill();
    }
  }
  function marks(ctx, p) {
    ctx.strokeStyle = '#c0392b'; ctx.setLineDash([4, 3]);
    D.transitions.forEach(function (tr) {
      var x = p.x(tr.time_s); ctx.beginPath(); ctx.moveTo(x, M.t); ctx.lineTo(x, M.t + p.h); ctx.stroke();
    });
    ctx.setLineDash([]);
  }
  function range(arrays) {  // 0.5-99.5 % of the values: a CI blown up at an edge stays off-scale
    var all = [];
    arrays.forEach(function (a) { a.forEach(function (v) { if (v !== null) all.push(v); }); });
    all.sort(function (a, b) { return a - b; });
    var lo = all[Math.floor(0.005 * (all.length - 1))], hi = all[Math.ceil(0.995 * (all.length - 1))];
    var pad = 0.05 * (hi - lo || 1); return [lo - pad, hi + pad];
  }
  function timePanel(id, h, y, ylabel, draw) {
    var box = document.getElementById(id); if (!box) return;
    var p = frame(box, h, 0, D.duration_s, y[0], y[1], ylabel), ctx = p.base.getContext('2d');
    ctx.save(); ctx.beginPath(); ctx.rect(M.l, M.t, p.w, p.h); ctx.clip(); draw(ctx, p); ctx.restore();
    axes(ctx, p, 'time (s)'); marks(ctx, p);
    p.over.addEventListener('click', function (e) { seek((e.offsetX - M.l) / p.w * D.duration_s); });
    panels.push(p);
  }
  function build() {
    panels = [];
    var S = D.spectrogram;
    timePanel('p-spec', 170, [0, S.bands], 'mel band', function (ctx, p) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(spec, p.x(S.t0), M.t, p.x(S.t1) - p.x(S.t0), p.h);
    });
    var P = D.pcs;
    timePanel('p-pcs', 190, range([P.pc1, P.pc2]), 'PC score', function (ctx, p) {
      P.cluster.forEach(function (k, i) {
        ctx.fillStyle = C[k % 10]; ctx.fillRect(p.x(grid(P, i)), M.t + p.h - 7, Math.max(1, p.w * P.dt / D.duration_s + 1), 7);
      });
      line(ctx, p, P, P.pc1, '#111', 1.3); line(ctx, p, P, P.pc2, '#1f77b4', 1.1);
      ctx.fillStyle = '#c0392b'; ctx.font = '10px sans-serif'; ctx.textAlign = 'left';
      D.transitions.forEach(function (tr) {
        if (tr.p !== null) ctx.fillText('p=' + tr.p.toPrecision(2), p.x(tr.time_s) + 3, M.t + 10);
      });
    });
    var V = D.variance;
    timePanel('p-var', 120, range([V.v]), V.label, function (ctx, p) { line(ctx, p, V, V.v, '#c0392b', 1.1); });
    D.curves.forEach(function (c, j) {
      timePanel('p-curve-' + j, 160, range([c.low, c.high, c.mean]), c.label + ' (' + c.unit + ')', function (ctx, p) {
        band(ctx, p, c, c.low, c.high, 'rgba(31,119,180,0.22)'); line(ctx, p, c, c.mean, '#1f4e79', 1.4);
        ctx.fillStyle = '#8e44ad';
        D.chills_s.forEach(function (t) { var x = p.x(t); ctx.fillRect(x - 1, M.t + 1, 2, 8); });
      });
    });
    var box = document.getElementById('p-plane');
    var xr = range([P.pc1]), yr = range([P.pc2]);
    plane = frame(box, Math.min(420, box.clientWidth), xr[0], xr[1], yr[0], yr[1], 'PC2');
    var ctx = plane.base.getContext('2d');
    P.pc1.forEach(function (v, i) { ctx.fillStyle = C[P.cluster[i] % 10]; ctx.globalAlpha = 0.45;
      ctx.fillRect(plane.x(v) - 1.5, plane.y(P.pc2[i]) - 1.5, 3, 3); });
    ctx.globalAlpha = 1; axes(ctx, plane, 'PC1');
    plane.over.addEventListener('click', function (e) {
      var best = 0, dist = Infinity;
      P.pc1.forEach(function (v, i) {
        var d = Math.pow(plane.x(v) - e.offsetX, 2) + Math.pow(plane.y(P.pc2[i]) - e.offsetY, 2);
        if (d < dist) { dist = d; best = i; }
      });
      seek(grid(P, best));
    });
    draw();
  }
  function seek(t) {
    t = Math.max(0, Math.min(D.duration_s, t));
    try { audio.currentTime = t; } catch (err) { /* no audio: the cursor still moves */ }
    draw(t);
  }
  function draw(t) {
    if (t === undefined) t = audio.currentTime || 0;
    panels.forEach(function (p) {
      var ctx = p.over.getContext('2d'), x = p.x(t);
      ctx.clearRect(0, 0, p.over.width, p.over.height);
      ctx.strokeStyle = '#e67e22'; ctx.lineWidth = 2; ctx.beginPath();
      ctx.moveTo(x, M.t); ctx.lineTo(x, M.t + p.h); ctx.stroke(); ctx.lineWidth = 1;
      p.over.dataset.cursorX = x.toFixed(1); p.over.dataset.cursorS = t.toFixed(3);
    });
    if (plane) {
      var ctx = plane.over.getContext('2d'), P = D.pcs;
      var i = Math.max(0, Math.min(P.pc1.length - 1, Math.round((t - P.t0) / P.dt)));
      var j0 = Math.max(0, i - Math.round(D.trail_s / P.dt));
      ctx.clearRect(0, 0, plane.over.width, plane.over.height);
      ctx.strokeStyle = '#333'; ctx.beginPath();
      for (var j = j0; j <= i; j++) { var x = plane.x(P.pc1[j]), y = plane.y(P.pc2[j]); if (j === j0) ctx.moveTo(x, y); else ctx.lineTo(x, y); }
      ctx.stroke(); ctx.fillStyle = '#e67e22'; ctx.beginPath();
      ctx.arc(plane.x(P.pc1[i]), plane.y(P.pc2[i]), 6, 0, 2 * Math.PI); ctx.fill();
      plane.over.dataset.index = i;
    }
    document.getElementById('clock').textContent = t.toFixed(1) + ' s';
  }
  function loop() { draw(); if (!audio.paused) requestAnimationFrame(loop); }
  audio.addEventListener('play', loop);
  ['seeked', 'timeupdate', 'loadedmetadata'].forEach(function (e) { audio.addEventListener(e, function () { draw(); }); });
  window.addEventListener('resize', build);
  document.querySelectorAll('details').forEach(function (d) { d.addEventListener('toggle', build); });
  if (spec.complete) build(); else spec.onload = build;
  window.frissonView = {seek: seek, draw: draw, panels: function () { return panels; }, plane: function () { return plane; }};
})();
