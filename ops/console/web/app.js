// Liên thông operator console.
//
// One hand-written file, no framework and no build step: the hub embeds it
// and may run without Internet access. Every value from the API reaches the
// page through textContent or createElement, never as HTML, so dossier
// data cannot inject markup; the hub's Content-Security-Policy forbids inline
// scripts and styles as a second line of defence.
'use strict';

(function () {
  // ---------------------------------------------------------------- constants

  const TOKEN_KEY = 'lienthong.token'; // sessionStorage: the token dies with the tab
  const VIEWS = ['overview', 'dossier', 'quarantine', 'level4'];
  const OVERVIEW_EVERY_MS = 5000;
  const LEVEL4_EVERY_MS = 30000;
  const Q_PAGE = 100;

  // Sources and provinces are whatever the hub is configured with: their
  // names for people come from the overview's sources when it loads.
  // National dossier status codes 1–10.
  const STATUS = {
    1: 'new', 2: 'received', 3: 'refused', 4: 'processing', 5: 'supplement requested',
    6: 'fee due', 7: 'withdrawn', 8: 'paused', 9: 'resolved', 10: 'result returned',
  };
  const CHANNELS = { 1: 'in person', 2: 'online', 3: 'postal' };
  const FEE_KINDS = { 1: 'phí (charge)', 2: 'lệ phí (levy)' };

  const session = {
    token: null,
    me: null,
    labels: {}, // source name → label
    provinces: {}, // province code → label
    colours: [], // source names in colour order, so both charts agree
    view: null, // the view object on screen
  };

  // ------------------------------------------------------------ DOM helpers

  const $ = (id) => document.getElementById(id);

  // h builds an element. props: class, text, data-*/aria-*/other attributes,
  // on<event> listeners. Children are nodes or strings (appended as text).
  function h(tag, props, ...children) {
    const e = document.createElement(tag);
    setProps(e, props);
    appendAll(e, children);
    return e;
  }

  // svg builds an SVG element; attributes only, children as in h.
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setProps(e, attrs);
    appendAll(e, children);
    return e;
  }

  function setProps(e, props) {
    if (!props) return;
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.setAttribute('class', v);
      else if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function appendAll(e, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c)); // strings become text nodes
    }
  }

  function setText(id, text, cls) {
    const e = $(id);
    e.textContent = text || '';
    if (cls !== undefined) e.className = cls;
  }

  // fillTable writes a table's head and body from one column list, so headers
  // and cells cannot drift apart. A column is {label, cls, cell(row), attrs(row)}.
  function fillTable(table, cols, rows, opts) {
    opts = opts || {};
    // Headers take only the alignment of their cells.
    const thClass = (c) => (c.cls && c.cls.split(' ').includes('num') ? 'num' : null);
    const head = h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: thClass(c) }, c.label))));
    const body = h('tbody');
    if (opts.error) {
      body.append(h('tr', { class: 'empty' }, h('td', { colspan: cols.length, class: 'error' }, opts.error)));
    } else if (!rows || rows.length === 0) {
      body.append(h('tr', { class: 'empty' }, h('td', { colspan: cols.length }, opts.empty || 'None.')));
    } else {
      for (const r of rows) {
        const tr = h('tr', opts.rowAttrs ? opts.rowAttrs(r) : null);
        for (const c of cols) {
          const v = c.cell(r);
          const attrs = Object.assign({ class: c.cls }, c.attrs ? c.attrs(r) : null);
          tr.append(h('td', attrs, v === null || v === undefined || v === '' ? '—' : v));
        }
        body.append(tr);
      }
    }
    table.replaceChildren(head, body);
  }

  // facts renders label/value pairs as a <dl>; empty values are skipped.
  function facts(pairs, el) {
    const dl = el || h('dl', { class: 'facts' });
    dl.replaceChildren();
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === '') continue;
      dl.append(h('dt', null, k), h('dd', null, v));
    }
    return dl;
  }

  // -------------------------------------------------------------- formatting

  // Times are shown in Vietnam's zone whatever the browser's, as the portals
  // and the operators use it.
  const timeFormat = (() => {
    try {
      return new Intl.DateTimeFormat('en-CA', {
        timeZone: 'Asia/Ho_Chi_Minh', year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
      });
    } catch (e) {
      return null;
    }
  })();

  function timeParts(t) {
    if (!timeFormat) {
      const iso = t.toISOString();
      return { year: iso.slice(0, 4), month: iso.slice(5, 7), day: iso.slice(8, 10),
        hour: iso.slice(11, 13), minute: iso.slice(14, 16), second: iso.slice(17, 19) };
    }
    const p = {};
    for (const x of timeFormat.formatToParts(t)) p[x.type] = x.value;
    return p;
  }

  function fmtTime(iso) {
    if (!iso) return '';
    const t = new Date(iso);
    if (isNaN(t)) return String(iso);
    const p = timeParts(t);
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
  }

  function fmtClock(t) {
    const p = timeParts(t);
    return `${p.hour}:${p.minute}:${p.second}`;
  }

  // fmtAgo says how long before ref (ms) iso was: "12 s ago".
  function fmtAgo(iso, ref) {
    if (!iso) return 'never';
    const t = Date.parse(iso);
    if (isNaN(t)) return String(iso);
    const s = Math.max(0, ((ref || Date.now()) - t) / 1000);
    if (s < 60) return `${Math.round(s)} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function fmtSeconds(s) {
    if (s === null || s === undefined || isNaN(s)) return '';
    if (s < 10) return `${Math.round(s * 10) / 10} s`;
    if (s < 60) return `${Math.round(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  // fmtRate keeps a plain number (no grouping) so it reads back with parseFloat.
  function fmtRate(n) {
    if (n === null || n === undefined || isNaN(n)) return '';
    return String(Math.round(n * 10) / 10);
  }

  const intFormat = new Intl.NumberFormat('en-US');
  function fmtInt(n) {
    return n === null || n === undefined ? '' : intFormat.format(n);
  }
  function fmtMoney(n) {
    return n === null || n === undefined ? '' : intFormat.format(n) + ' ₫';
  }

  function sourceLabel(name) {
    return session.labels[name] || name || '';
  }
  function provinceLabel(code) {
    const name = session.provinces[code];
    return code ? (name ? `${name} (${code})` : code) : '';
  }
  function statusLabel(code) {
    if (code === null || code === undefined) return '';
    return STATUS[code] ? `${code} · ${STATUS[code]}` : String(code);
  }

  function badge(text, kind) {
    return h('span', { class: `badge ${kind || ''}` }, text || '—');
  }

  // The breaker's colour is the at-a-glance health of a portal.
  function breakerBadge(state) {
    const known = { closed: 'ok', 'half-open': 'warn', open: 'bad' };
    return badge(state || 'not called', known[state] || 'idle');
  }

  function stateBadge(state) {
    const kinds = {
      paid: 'ok', settled: 'ok', delivered: 'ok', held: 'ok', replayed: 'ok', alive: 'ok', gone: 'bad',
      new: 'idle', pending: 'warn', ordered: 'warn', open: 'warn',
      failed: 'bad', cancelled: 'bad', discarded: 'idle', returned: 'bad',
    };
    return badge(state, kinds[state] || 'idle');
  }

  function canView(view) {
    return !!(session.me && (session.me.views || []).includes(view));
  }

  // dossierLink links to the dossier page when this token may open it.
  function dossierLink(id) {
    if (!id) return '';
    if (!canView('dossier')) return id;
    return h('a', { href: '#/dossier/' + encodeURIComponent(id) }, id);
  }

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  // api calls the hub with the token. A 401 ends the session (the token was
  // revoked or never valid) and goes back to the sign-in form.
  async function api(path, options) {
    options = options || {};
    const headers = { Authorization: 'Bearer ' + session.token, Accept: 'application/json' };
    const init = { method: options.method || 'GET', headers, cache: 'no-store', credentials: 'same-origin' };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'cannot reach the hub (' + e.message + ')');
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    const message = (data && typeof data.error === 'string' && data.error) || `HTTP ${res.status} ${res.statusText}`.trim();
    if (res.status === 401) {
      signOut(`The hub refused the token (401: ${message}). Sign in again.`);
      throw new ApiError(401, message, data);
    }
    if (!res.ok) throw new ApiError(res.status, message, data);
    return data;
  }

  // describe turns an error into a sentence for the page.
  function describe(err) {
    if (!(err instanceof ApiError)) return 'Error: ' + (err && err.message ? err.message : String(err));
    if (err.status === 403) return 'Not allowed for this token (403): ' + err.message;
    if (err.status === 0) return 'Error: ' + err.message;
    return `Error ${err.status}: ${err.message}`;
  }

  // report shows err in the element id, except a 401, whose message is
  // already on the sign-in form.
  function report(id, err) {
    if (err instanceof ApiError && err.status === 401) return;
    setText(id, describe(err));
  }

  // ----------------------------------------------------- session and routing

  async function start(token) {
    session.token = token;
    let me;
    try {
      me = await api('/api/me');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showLogin(describe(e));
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    session.me = me;
    session.colours = (me.sources || []).slice();
    $('token').value = '';
    showApp();
    route();
  }

  function showLogin(message) {
    $('app').hidden = true;
    $('login-view').hidden = false;
    setText('login-error', message);
    $('token').focus();
  }

  // signOut forgets the token and clears every page, so that no personal
  // data stays in the DOM once the operator has left.
  function signOut(message) {
    if (session.view) session.view.leave();
    session.view = null;
    session.me = null;
    session.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    resetPages();
    showLogin(message);
  }

  function showApp() {
    const me = session.me;
    $('login-view').hidden = true;
    $('app').hidden = false;
    setText('login-error', '');
    let who = me.role || '?';
    if (me.role === 'provincial') who += ' · ' + (provinceLabel(me.province) || 'no province');
    else if (me.role === 'national') who += ' · all provinces';
    else if (me.province) who += ' · ' + provinceLabel(me.province);
    $('whoami').replaceChildren(h('strong', null, who), h('span', { class: 'muted' }, ' token ' + (me.token_id || '')));
    for (const v of VIEWS) $('nav-' + v).hidden = !canView(v);
    quarantine.fillSources();
  }

  function parseHash() {
    const m = /^#\/([a-z0-9]+)(?:\/(.*))?$/.exec(location.hash);
    if (!m) return { view: '', arg: '' };
    let arg = m[2] || '';
    try {
      arg = decodeURIComponent(arg);
    } catch (e) {
      // keep it as written
    }
    return { view: m[1], arg };
  }

  const pages = {}; // view name → page object, filled below

  // route shows the page the hash names, or the token's first page when it
  // names none or one the token may not use.
  function route() {
    if (!session.me) return;
    const allowed = VIEWS.filter(canView);
    let { view, arg } = parseHash();
    if (!allowed.includes(view)) {
      view = allowed[0];
      arg = '';
      if (view) history.replaceState(null, '', '#/' + view);
    }
    $('no-view').hidden = !!view;
    for (const v of VIEWS) {
      $('view-' + v).hidden = v !== view;
      $('nav-' + v).classList.toggle('active', v === view);
      if (v === view) $('nav-' + v).setAttribute('aria-current', 'page');
      else $('nav-' + v).removeAttribute('aria-current');
    }
    const page = view ? pages[view] : null;
    if (session.view && session.view !== page) session.view.leave();
    session.view = page;
    if (page) page.enter(arg);
  }

  function resetPages() {
    for (const v of VIEWS) $('view-' + v).hidden = true;
    for (const id of ['sources', 'targets', 'chart-throughput', 'chart-lag', 'timeline', 'quarantine',
      'payments', 'stale-payments', 'deliveries', 'problems', 'search-results', 'dossier-summary',
      'dossier-record', 'targets-held', 'q-meta', 'q-payload', 'whoami']) {
      $(id).replaceChildren();
    }
    for (const id of ['overview-updated', 'overview-error', 'dossier-error', 'q-message', 'q-reason-text',
      'q-payload-note', 'level4-updated']) {
      setText(id, '');
    }
    for (const id of ['search', 'q-field', 'q-reason', 'q-dossier', 'q-discard-reason']) $(id).value = '';
    $('q-source').value = '';
    $('q-state').value = 'open';
    $('dossier-body').hidden = true;
    $('q-detail').hidden = true;
    $('q-confirm').hidden = true;
    quarantine.reset();
  }

  // ----------------------------------------------------------------- charts

  // seriesClass gives a source a stable colour (style.css .series-N).
  function seriesClass(name) {
    let i = session.colours.indexOf(name);
    if (i < 0) {
      session.colours.push(name);
      i = session.colours.length - 1;
    }
    return 'series-' + (i % 8);
  }

  // niceTicks returns round tick values from 0 to at least max.
  function niceTicks(max, count) {
    if (!(max > 0)) max = 1;
    const raw = max / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw);
    const ticks = [];
    for (let v = 0; v < max + step / 2; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
    if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
    return ticks;
  }

  // drawChart draws one line per source of points[i][key][source] against
  // time, with axes, grid, labels and a legend, into the <svg> element.
  function drawChart(el, points, key, yLabel, fmtY) {
    const W = 600, H = 250;
    const pad = { l: 54, r: 14, t: 12, b: 62 };
    const pw = W - pad.l - pad.r, ph = H - pad.t - pad.b;
    el.setAttribute('viewBox', `0 0 ${W} ${H}`);
    el.replaceChildren();

    points = (points || []).filter((p) => !isNaN(Date.parse(p.at)));
    const names = [];
    let max = 0;
    for (const p of points) {
      for (const [name, v] of Object.entries(p[key] || {})) {
        if (!names.includes(name)) names.push(name);
        if (typeof v === 'number' && v > max) max = v;
      }
    }
    // Legend and lines in the order the token's sources are listed.
    names.forEach(seriesClass);
    names.sort((a, b) => session.colours.indexOf(a) - session.colours.indexOf(b));
    if (points.length === 0 || names.length === 0) {
      el.append(svg('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'No data yet'));
      return;
    }

    const t0 = Date.parse(points[0].at);
    let t1 = Date.parse(points[points.length - 1].at);
    if (t1 <= t0) t1 = t0 + 60000;
    const ticks = niceTicks(max, 4);
    const yMax = ticks[ticks.length - 1];
    const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * pw;
    const y = (v) => pad.t + ph - (v / yMax) * ph;
    const bottom = pad.t + ph;

    // Horizontal grid and y labels.
    for (const v of ticks) {
      el.append(svg('line', { x1: pad.l, x2: pad.l + pw, y1: y(v), y2: y(v), class: v === 0 ? 'axis' : 'grid' }));
      el.append(svg('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmtY(v)));
    }
    el.append(svg('line', { x1: pad.l, x2: pad.l, y1: pad.t, y2: bottom, class: 'axis' }));

    // Time ticks on round minutes, at most about six of them.
    const span = (t1 - t0) / 60000;
    const stepMin = [1, 2, 5, 10, 15, 20, 30, 60].find((s) => span / s <= 6) || 60;
    const stepMs = stepMin * 60000;
    for (let t = Math.ceil(t0 / stepMs) * stepMs; t <= t1; t += stepMs) {
      el.append(svg('line', { x1: x(t), x2: x(t), y1: bottom, y2: bottom + 4, class: 'axis' }));
      el.append(svg('text', { x: x(t), y: bottom + 16, 'text-anchor': 'middle', class: 'tick' }, fmtClock(new Date(t)).slice(0, 5)));
    }

    // Axis titles.
    el.append(svg('text', { x: pad.l + pw / 2, y: bottom + 32, 'text-anchor': 'middle', class: 'axis-label' }, 'time (Vietnam)'));
    el.append(svg('text', {
      x: 0, y: 0, transform: `translate(14 ${pad.t + ph / 2}) rotate(-90)`, 'text-anchor': 'middle', class: 'axis-label',
    }, yLabel));

    // One path per source; a point where the source has no value breaks the line.
    for (const name of names) {
      let d = '';
      let pen = false;
      let last = null;
      for (const p of points) {
        const v = (p[key] || {})[name];
        if (typeof v !== 'number') {
          pen = false;
          continue;
        }
        const px = x(Date.parse(p.at)).toFixed(1), py = y(v).toFixed(1);
        d += (pen ? 'L' : 'M') + px + ' ' + py + ' ';
        pen = true;
        last = { px, py, v };
      }
      const cls = seriesClass(name);
      el.append(svg('path', { d: d.trim(), class: 'line ' + cls }, svg('title', null, sourceLabel(name))));
      if (last) {
        // The newest value, also what shows a series with a single point.
        el.append(svg('circle', { cx: last.px, cy: last.py, r: 3, class: 'dot ' + cls },
          svg('title', null, `${sourceLabel(name)}: ${fmtY(last.v)}`)));
      }
    }

    // Legend under the axis title.
    let lx = pad.l;
    const ly = H - 10;
    for (const name of names) {
      const label = sourceLabel(name);
      el.append(svg('rect', { x: lx, y: ly - 9, width: 12, height: 10, rx: 2, class: 'swatch ' + seriesClass(name) }));
      el.append(svg('text', { x: lx + 16, y: ly, class: 'legend' }, label));
      lx += 16 + label.length * 7 + 18;
    }
  }

  // --------------------------------------------------------------- overview

  const SOURCE_COLS = [
    { label: 'Province', cell: (s) => [h('strong', null, s.label || sourceLabel(s.source)), h('span', { class: 'muted small' }, ` ${s.source} · ${s.province || ''}`)] },
    { label: 'Lag', cls: 'lag num', cell: (s) => fmtSeconds(s.lag_seconds), attrs: (s) => ({ 'data-value': s.lag_seconds }) },
    { label: 'Dossiers/min', cls: 'per-minute num', cell: (s) => fmtRate(s.per_minute), attrs: (s) => ({ 'data-value': s.per_minute }) },
    { label: 'Pulled', cls: 'num', cell: (s) => fmtInt(s.pulled_total) },
    { label: 'Normalised', cls: 'num', cell: (s) => fmtInt(s.normalised_total) },
    { label: 'Synced', cls: 'num', cell: (s) => fmtInt(s.synced_total) },
    { label: 'Quarantined', cls: 'num', cell: (s) => fmtInt(s.quarantined_total) },
    { label: 'Errors', cls: 'num', cell: (s) => fmtInt(s.errors), attrs: (s) => ({ class: 'num' + (s.errors > 0 ? ' warn-text' : '') }) },
    { label: 'Open quarantine', cls: 'num', cell: (s) => fmtInt(s.quarantine_open), attrs: (s) => ({ class: 'num' + (s.quarantine_open > 0 ? ' warn-text' : '') }) },
    { label: 'Breaker', cell: (s) => breakerBadge(s.breaker) },
    { label: 'Last success', cls: 'last-success', cell: (s) => fmtAgo(s.last_success, overview.ref), attrs: (s) => ({ title: fmtTime(s.last_success) }) },
  ];

  const TARGET_COLS = [
    { label: 'Target', cell: (t) => h('strong', null, t.target) },
    { label: 'Calls/min', cls: 'per-minute num', cell: (t) => fmtRate(t.per_minute), attrs: (t) => ({ 'data-value': t.per_minute }) },
    { label: 'Errors', cls: 'num', cell: (t) => fmtInt(t.errors), attrs: (t) => ({ class: 'num' + (t.errors > 0 ? ' warn-text' : '') }) },
    { label: 'Breaker', cell: (t) => breakerBadge(t.breaker) },
    { label: 'Last success', cls: 'last-success', cell: (t) => fmtAgo(t.last_success, overview.ref), attrs: (t) => ({ title: fmtTime(t.last_success) }) },
    { label: 'Lag', cls: 'lag num', cell: (t) => fmtSeconds(t.lag_seconds), attrs: (t) => ({ 'data-value': t.lag_seconds }) },
  ];

  const INSTANCE_COLS = [
    { label: 'Instance', cell: (i) => [h('strong', null, i.name), h('span', { class: 'muted small mono' }, ' ' + i.id)] },
    { label: 'State', cell: (i) => stateBadge(i.alive ? 'alive' : 'gone') },
    { label: 'Started', cls: 'time', cell: (i) => fmtTime(i.started_at) },
    { label: 'Last report', cls: 'last-success', cell: (i) => fmtAgo(i.seen_at, overview.ref), attrs: (i) => ({ title: fmtTime(i.seen_at) }) },
    { label: 'Leases', cell: (i) => (i.leases || []).join(', ') },
    { label: 'Partitions', cls: 'small', cell: (i) => Object.keys(i.partitions || {}).sort().map((t) => `${t}: ${i.partitions[t].join(' ')}`).join(' · ') },
  ];

  const overview = {
    seq: 0,
    timer: null,
    ref: 0, // the server's clock at generated_at, so "ago" ignores the browser's clock skew

    enter() {
      this.leave();
      this.load();
    },
    leave() {
      clearTimeout(this.timer);
      this.timer = null;
      this.seq++; // drops an answer still in flight
    },

    // load fetches and draws, then schedules the next load: one request at
    // a time however slow the hub is.
    async load() {
      const seq = ++this.seq;
      try {
        const data = await api('/api/overview');
        if (seq !== this.seq) return;
        this.render(data);
        setText('overview-updated', 'Updated ' + fmtClock(new Date()) + ' · refreshes every 5 s');
        setText('overview-error', '');
      } catch (e) {
        if (seq !== this.seq) return;
        report('overview-error', e);
      }
      if (seq === this.seq && session.me) this.timer = setTimeout(() => this.load(), OVERVIEW_EVERY_MS);
    },

    render(data) {
      this.ref = Date.parse(data.generated_at) || Date.now();
      const sources = data.sources || [];
      for (const s of sources) {
        if (s.label) session.labels[s.source] = s.label;
        if (s.label && s.province) session.provinces[s.province] = s.label;
      }
      fillTable($('sources'), SOURCE_COLS, sources, {
        rowAttrs: (s) => ({ 'data-source': s.source }),
        empty: 'No source is visible to this token.',
      });
      fillTable($('targets'), TARGET_COLS, data.targets || [], {
        rowAttrs: (t) => ({ 'data-target': t.target }),
        empty: 'No target.',
      });
      // Shown to national operators only (the API sends none to others).
      const instances = data.instances || [];
      $('overview-instances').hidden = instances.length === 0;
      fillTable($('instances'), INSTANCE_COLS, instances, { rowAttrs: (i) => ({ 'data-instance': i.name }) });
      // Both charts are per source: pointless for a token that sees none (postal).
      $('overview-charts').hidden = sources.length === 0;
      const points = (data.history && data.history.points) || [];
      drawChart($('chart-throughput'), points, 'per_minute', 'dossiers / min', (v) => fmtRate(v));
      drawChart($('chart-lag'), points, 'lag_seconds', 'lag (s)', (v) => fmtRate(v));
    },
  };

  // ---------------------------------------------------------------- dossier

  const TIMELINE_COLS = [
    { label: 'Time', cls: 'time', cell: (e) => fmtTime(e.at) },
    { label: 'Kind', cls: 'kind', cell: (e) => e.kind },
    { label: 'Detail', cls: 'detail', cell: (e) => e.detail },
    { label: 'Version', cls: 'num', cell: (e) => (e.version ? String(e.version) : '') },
  ];

  const PAYMENT_COLS = [
    { label: 'Ref', cls: 'mono', cell: (p) => p.ref },
    { label: 'State', cell: (p) => stateBadge(p.state) },
    { label: 'Amount', cls: 'num', cell: (p) => fmtMoney(p.amount) },
    { label: 'Fees', cell: (p) => (p.fee_codes || []).join(', ') },
    { label: 'Transaction', cls: 'mono', cell: (p) => p.txn_id },
    { label: 'Paid', cls: 'time', cell: (p) => fmtTime(p.paid_at) },
    { label: 'Settled', cls: 'time', cell: (p) => fmtTime(p.settled_at) },
    { label: 'Updated', cls: 'time', cell: (p) => fmtTime(p.updated_at) },
  ];

  const DELIVERY_COLS = [
    { label: 'Order', cls: 'mono', cell: (d) => d.order_number },
    { label: 'Item', cls: 'mono', cell: (d) => d.item_code },
    { label: 'State', cell: (d) => stateBadge(d.state) },
    { label: 'VNPost status', cls: 'num', cell: (d) => (d.status ? String(d.status) : ''), attrs: (d) => ({ title: fmtTime(d.status_at) }) },
    { label: 'COD', cls: 'num', cell: (d) => fmtMoney(d.cod) },
    { label: 'Fee', cls: 'num', cell: (d) => fmtMoney(d.total_fee) },
    { label: 'Delivered', cls: 'time', cell: (d) => fmtTime(d.delivered_at) },
    { label: 'Problem', cell: (d) => d.problem, attrs: (d) => ({ class: d.problem ? 'error-text' : null }) },
  ];

  const dossier = {
    seq: 0,

    enter(arg) {
      if (arg) {
        $('search').value = arg;
        this.open(arg);
      } else {
        // The bare page keeps the search and its results, drops the record.
        this.seq++;
        $('dossier-body').hidden = true;
        setText('dossier-error', '');
      }
    },
    leave() {
      this.seq++;
    },

    // search: 9–12 digits are a CCCD (a list of dossiers); anything else a
    // MaHoSo. The CCCD is kept out of the URL so it stays out of history.
    search() {
      const q = $('search').value.trim();
      setText('dossier-error', '');
      if (!q) {
        setText('dossier-error', 'Enter a MaHoSo or a CCCD.');
        return;
      }
      if (/^\d{9,12}$/.test(q)) {
        if (parseHash().arg) history.pushState(null, '', '#/dossier');
        $('dossier-body').hidden = true;
        this.byCCCD(q);
        return;
      }
      const hash = '#/dossier/' + encodeURIComponent(q);
      if (location.hash === hash) this.open(q); // same hash: no hashchange
      else location.hash = hash;
    },

    async byCCCD(cccd) {
      const seq = ++this.seq;
      const out = $('search-results');
      out.replaceChildren(h('p', { class: 'muted' }, 'Searching…'));
      let data;
      try {
        data = await api('/api/dossiers?cccd=' + encodeURIComponent(cccd));
      } catch (e) {
        if (seq !== this.seq) return;
        out.replaceChildren();
        report('dossier-error', e);
        return;
      }
      if (seq !== this.seq) return;
      const items = data.items || [];
      if (items.length === 0) {
        out.replaceChildren(h('p', { class: 'muted' }, 'No dossier visible to this token has this CCCD.'));
        return;
      }
      out.replaceChildren(
        h('p', { class: 'muted' }, `${items.length} dossier${items.length === 1 ? '' : 's'} for this CCCD:`),
        h('ul', { class: 'results' }, items.map((d) => h('li', null,
          h('a', { class: 'result', href: '#/dossier/' + encodeURIComponent(d.id), 'data-id': d.id }, d.id),
          h('span', { class: 'muted' }, ' · ' + [
            sourceLabel(d.source), d.procedure, 'status ' + statusLabel(d.status),
            d.national_state ? 'national: ' + d.national_state : 'not at the national portal',
            d.updated_at ? 'updated ' + fmtTime(d.updated_at) : '',
          ].filter(Boolean).join(' · '))))));
    },

    async open(id) {
      const seq = ++this.seq;
      setText('dossier-error', '');
      let d;
      try {
        d = await api('/api/dossiers/' + encodeURIComponent(id));
      } catch (e) {
        if (seq !== this.seq) return;
        $('dossier-body').hidden = true;
        if (e instanceof ApiError && e.status === 404) {
          setText('dossier-error', `No dossier ${id} (or it belongs to a province this token may not see).`);
        } else {
          report('dossier-error', e);
        }
        return;
      }
      if (seq !== this.seq) return;
      this.render(d);
      $('dossier-body').hidden = false;
    },

    render(d) {
      const rec = d.dossier || {};
      const summary = $('dossier-summary');
      summary.replaceChildren(
        h('div', { class: 'summary-id' }, h('span', { class: 'mono big' }, d.id),
          d.deleted ? badge('deleted at the source', 'bad') : null),
        facts([
          ['Source', `${sourceLabel(d.source)} (${d.source})`],
          ['Province', provinceLabel(d.province)],
          ['Status', statusLabel(d.status)],
          ['National portal', d.targets && d.targets.national ? stateBadge(d.targets.national.state) : 'not sent'],
        ]));

      $('dossier-record').replaceChildren(this.recordTable(rec),
        h('details', { class: 'json' }, h('summary', null, 'Whole record (JSON)'),
          h('pre', { class: 'payload' }, JSON.stringify(rec, null, 2))));

      fillTable($('timeline'), TIMELINE_COLS, d.timeline || [], {
        rowAttrs: (e) => ({ class: 'event', title: e.instance ? 'instance ' + e.instance : null }),
        empty: 'No event recorded.',
      });
      this.targets(d.targets || {});
    },

    // recordTable shows the fields an operator looks for first.
    recordTable(r) {
      const a = r.applicant || {};
      const addr = (x) => (x ? [x.detail, x.communeCode, x.districtCode, x.provinceCode].filter(Boolean).join(', ') : '');
      const pair = (code, name) => [code, name].filter(Boolean).join(' — ');
      const rows = [
        ['Procedure', pair(r.procedure && r.procedure.code, r.procedure && r.procedure.name) +
          (r.procedure && r.procedure.level ? ` (level ${r.procedure.level})` : '')],
        ['Field', r.procedure ? pair(r.procedure.fieldCode, r.procedure.fieldName) : ''],
        ['Agency', r.agency ? pair(r.agency.code, r.agency.name) : ''],
        ['Channel', CHANNELS[r.channel] || (r.channel ? String(r.channel) : '')],
        ['Summary', r.summary],
        ['Applicant', a.name ? a.name + (a.kind === 2 ? ' (organisation)' : '') : ''],
        ['ID number', a.idNumber ? a.idNumber + (a.idType ? ` (${a.idType})` : '') : ''],
        ['Phone', a.phone],
        ['Email', a.email],
        ['Address', addr(a.address)],
        ['Status', statusLabel(r.status) + (r.sourceStatus ? ` · source: ${r.sourceStatus}` : '')],
        ['Source version', r.sourceVersion ? String(r.sourceVersion) : ''],
        ['Submitted', fmtTime(r.submittedAt)],
        ['Received', fmtTime(r.receivedAt)],
        ['Due', fmtTime(r.dueAt)],
        ['Returned', fmtTime(r.returnedAt)],
        ['Processing ended', fmtTime(r.processingEndedAt)],
        ['Source updated', fmtTime(r.sourceUpdated)],
        ['Result delivery', r.resultDelivery],
        ['Result address', r.resultAddress ? [r.resultAddress.name, r.resultAddress.phone, addr(r.resultAddress.address)].filter(Boolean).join(' · ') : ''],
        ['Attachments', r.attachments && r.attachments.length ? String(r.attachments.length) : ''],
        ['Steps', r.steps && r.steps.length ? String(r.steps.length) : ''],
      ];
      const body = h('tbody');
      for (const [k, v] of rows) {
        if (!v) continue;
        body.append(h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v)));
      }
      const fees = r.fees || [];
      body.append(h('tr', null, h('th', { scope: 'row' }, 'Fees'), h('td', null, fees.length === 0 ? 'none' :
        h('table', { class: 'grid inner' },
          h('thead', null, h('tr', null, ['Code', 'Name', 'Kind', 'Amount', 'Paid', 'Method'].map((t) => h('th', null, t)))),
          h('tbody', null, fees.map((f) => h('tr', null,
            h('td', { class: 'mono' }, f.code || '—'), h('td', null, f.name || '—'),
            h('td', null, FEE_KINDS[f.kind] || String(f.kind || '—')),
            h('td', { class: 'num' }, fmtMoney(f.amount)),
            h('td', { class: f.paid ? 'paid' : 'unpaid' }, f.paid ? '✓ paid' : '✗ unpaid'),
            h('td', null, f.paymentMethod || '—'))))))));
      return h('table', { class: 'record' }, body);
    },

    // targets shows each target's copy: national, payments, deliveries,
    // and what was written back to the province.
    targets(t) {
      const n = t.national;
      const sub = (title, node) => h('div', { class: 'held' }, h('h4', null, title), node);
      const table = (cols, rows, empty, attrs) => {
        const el = h('table', { class: 'grid' });
        fillTable(el, cols, rows, { empty, rowAttrs: attrs });
        return el;
      };
      $('targets-held').replaceChildren(
        sub('National portal', n ? facts([
          ['State', stateBadge(n.state)], ['Version', n.version ? String(n.version) : ''],
          ['Steps', n.steps !== undefined ? String(n.steps) : ''], ['At', fmtTime(n.at)],
        ]) : h('p', { class: 'muted' }, 'Not sent to the national portal yet.')),
        sub('Payments', table(PAYMENT_COLS, t.payments || [], 'No payment.', (p) => ({ 'data-ref': p.ref }))),
        sub('Deliveries (VNPost)', table(DELIVERY_COLS, t.deliveries || [], 'No delivery.', (d) => ({ 'data-order': d.order_number }))),
        sub('Written back to the province', table(TIMELINE_COLS, t.province || [], 'Nothing written back.')));
    },
  };

  // ------------------------------------------------------------- quarantine

  const QUARANTINE_COLS = [
    { label: 'ID', cls: 'num', cell: (q) => String(q.id) },
    { label: 'At', cls: 'time', cell: (q) => fmtTime(q.at) },
    { label: 'Source', cell: (q) => sourceLabel(q.source) },
    { label: 'Dossier', cls: 'mono', cell: (q) => q.dossier_id + (q.version ? ` v${q.version}` : '') },
    { label: 'Field', cls: 'mono', cell: (q) => q.field },
    { label: 'Reason', cls: 'reason-cell', cell: (q) => q.reason, attrs: (q) => ({ title: q.reason }) },
    { label: 'State', cell: (q) => stateBadge(q.state) },
  ];

  const quarantine = {
    seq: 0,
    detailSeq: 0,
    applied: { state: 'open' }, // the filters the list shows
    offset: 0,
    items: [],
    selected: null, // the entry in #q-detail

    reset() {
      this.applied = { state: 'open' };
      this.offset = 0;
      this.items = [];
      this.selected = null;
    },

    fillSources() {
      const sel = $('q-source');
      sel.replaceChildren(h('option', { value: '' }, 'all'));
      for (const s of (session.me && session.me.sources) || []) sel.append(h('option', { value: s }, sourceLabel(s)));
    },

    enter() {
      this.load();
    },
    leave() {
      this.seq++;
      this.detailSeq++;
      $('q-confirm').hidden = true;
    },

    readInputs() {
      return {
        source: $('q-source').value,
        field: $('q-field').value.trim(),
        reason: $('q-reason').value.trim(),
        dossier: $('q-dossier').value.trim(),
        state: $('q-state').value,
      };
    },

    // params builds the query; empty filters are left out (the hub refuses
    // unknown or repeated parameters rather than ignore them).
    params(f, withState) {
      const p = new URLSearchParams();
      for (const k of ['source', 'field', 'reason', 'dossier']) if (f[k]) p.set(k, f[k]);
      if (withState && f.state) p.set('state', f.state);
      return p;
    },

    apply() {
      this.applied = this.readInputs();
      this.offset = 0;
      $('q-confirm').hidden = true;
      return this.load();
    },

    async load() {
      const seq = ++this.seq;
      const p = this.params(this.applied, true);
      p.set('limit', String(Q_PAGE));
      if (this.offset) p.set('offset', String(this.offset));
      let data;
      try {
        data = await api('/api/dlq?' + p.toString());
      } catch (e) {
        if (seq !== this.seq) return;
        if (!(e instanceof ApiError && e.status === 401)) {
          fillTable($('quarantine'), QUARANTINE_COLS, [], { error: describe(e) });
        }
        return;
      }
      if (seq !== this.seq) return;
      this.items = data.items || [];
      fillTable($('quarantine'), QUARANTINE_COLS, this.items, {
        rowAttrs: (q) => ({
          'data-id': q.id, tabindex: 0,
          class: this.selected && this.selected.id === q.id ? 'selected' : null,
        }),
        empty: 'No quarantined entry matches.',
      });
      const n = this.items.length;
      setText('q-page', n ? `entries ${this.offset + 1}–${this.offset + n}` : '');
      $('q-prev').disabled = this.offset === 0;
      $('q-next').disabled = n < Q_PAGE;
    },

    async show(id) {
      const seq = ++this.detailSeq;
      let d;
      try {
        d = await api('/api/dlq/' + encodeURIComponent(id));
      } catch (e) {
        if (seq !== this.detailSeq) return;
        if (e instanceof ApiError && e.status === 404) this.message(`Entry ${id} no longer exists or is not visible.`, true);
        else if (!(e instanceof ApiError && e.status === 401)) this.message(describe(e), true);
        return;
      }
      if (seq !== this.detailSeq) return;
      this.selected = d;
      for (const tr of $('quarantine').querySelectorAll('tbody tr')) {
        tr.classList.toggle('selected', tr.getAttribute('data-id') === String(d.id));
      }
      setText('q-id', String(d.id));
      facts([
        ['Source', `${sourceLabel(d.source)} (${d.source})`],
        ['Dossier', dossierLink(d.dossier_id)],
        ['Version', d.version ? String(d.version) : ''],
        ['Field', d.field],
        ['Format', d.format],
        ['State', stateBadge(d.state)],
        ['At', fmtTime(d.at)],
        ['Size', typeof d.payload_size === 'number' ? fmtInt(d.payload_size) + ' bytes' : ''],
      ], $('q-meta'));
      setText('q-reason-text', d.reason || '(no reason recorded)');
      this.payload(d);
      const open = d.state === 'open';
      $('q-replay').disabled = !open;
      $('q-discard').disabled = !open;
      $('q-discard-reason').disabled = !open;
      $('q-discard-reason').value = '';
      setText('q-state-note', open ? '' : `This entry is ${d.state}: only open entries can be replayed or discarded.`);
      $('q-detail').hidden = false;
    },

    // payload shows JSON pretty-printed when it parses, XML and other text
    // as received, and says so when the bytes were not text (base64).
    payload(d) {
      let text = d.payload || '';
      let note = '';
      if (d.payload_encoding === 'base64') {
        note = 'The payload is not valid text: shown base64-encoded.';
      } else if (d.format === 'json' || /^\s*[[{]/.test(text)) {
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
          note = 'JSON, pretty-printed.';
        } catch (e) {
          note = 'Does not parse as JSON: shown as received.';
        }
      } else if (d.format === 'xml' || /^\s*</.test(text)) {
        note = 'XML, shown as received.';
      } else if (d.format) {
        note = `Format ${d.format}, shown as received.`;
      }
      setText('q-payload-note', note);
      setText('q-payload', text || '(empty)');
    },

    message(text, isError) {
      setText('q-message', text, isError ? 'message error' : 'message ok');
    },

    // act runs a replay or discard on the entry in the detail pane, then
    // refreshes it and the list, as the entry's state has changed.
    async act(kind) {
      const d = this.selected;
      if (!d) return;
      let body;
      if (kind === 'discard') {
        const reason = $('q-discard-reason').value.trim();
        if (!reason) {
          this.message(`Give a reason for discarding entry ${d.id}.`, true);
          $('q-discard-reason').focus();
          return;
        }
        body = { reason };
      }
      $('q-replay').disabled = $('q-discard').disabled = true;
      try {
        const res = await api(`/api/dlq/${encodeURIComponent(d.id)}/${kind}`, { method: 'POST', body });
        this.message(kind === 'replay'
          ? `Entry ${res.id} replayed: sent back to be normalised again (state ${res.state}).`
          : `Entry ${res.id} discarded (state ${res.state}).`, false);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        this.message(`${kind === 'replay' ? 'Replay' : 'Discard'} of entry ${d.id} failed. ${describe(e)}`, true);
      }
      await Promise.all([this.show(d.id), this.load()]);
    },

    // askReplayAll applies the filters as typed, then asks in the page:
    // what is replayed is exactly what the list now shows the filters for.
    async askReplayAll() {
      await this.apply();
      const f = this.applied;
      const parts = ['source', 'field', 'reason', 'dossier'].filter((k) => f[k]).map((k) =>
        `${k} ${k === 'reason' ? 'contains' : '='} “${k === 'source' ? sourceLabel(f[k]) : f[k]}”`);
      const open = this.items.filter((q) => q.state === 'open').length;
      const count = f.state === 'open' || f.state === 'all'
        ? ` The list shows ${open}${this.items.length >= Q_PAGE ? ' or more' : ''} open entr${open === 1 ? 'y' : 'ies'}.`
        : '';
      setText('q-confirm-text', (parts.length
        ? `Replay every open quarantined entry where ${parts.join(' and ')}?`
        : 'No filter is set: replay EVERY open quarantined entry this token can see?') + count);
      $('q-confirm').hidden = false;
      $('q-replay-all-confirm').focus();
    },

    async replayAll() {
      $('q-confirm').hidden = true;
      const p = this.params(this.applied, false); // the hub replays open entries only
      try {
        const res = await api('/api/dlq/replay' + (p.toString() ? '?' + p.toString() : ''), { method: 'POST' });
        this.message(`Replayed ${res.replayed} entr${res.replayed === 1 ? 'y' : 'ies'}.`, false);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        const done = e.body && typeof e.body.replayed === 'number' ? ` Stopped after replaying ${e.body.replayed}.` : '';
        this.message('Replay all failed. ' + describe(e) + done, true);
      }
      await this.load();
      if (this.selected) await this.show(this.selected.id);
    },
  };

  // ---------------------------------------------------------------- level 4

  const withDossier = (cols) => [
    { label: 'Dossier', cls: 'mono', cell: (r) => dossierLink(r.dossier_id) },
    { label: 'Source', cell: (r) => sourceLabel(r.source) },
  ].concat(cols);

  const L4_PAYMENT_COLS = withDossier([
    { label: 'Ref', cls: 'mono', cell: (p) => p.ref },
    { label: 'State', cell: (p) => stateBadge(p.state) },
    { label: 'Amount', cls: 'num', cell: (p) => fmtMoney(p.amount) },
    { label: 'Fees', cell: (p) => (p.fee_codes || []).join(', ') },
    { label: 'Created', cls: 'time', cell: (p) => fmtTime(p.created_at) },
    { label: 'Last change', cls: 'time', cell: (p) => fmtAgo(p.updated_at), attrs: (p) => ({ title: fmtTime(p.updated_at) }) },
  ]);

  const L4_DELIVERY_COLS = withDossier([
    { label: 'Order', cls: 'mono', cell: (d) => d.order_number },
    { label: 'Item', cls: 'mono', cell: (d) => d.item_code },
    { label: 'State', cell: (d) => stateBadge(d.state) },
    { label: 'VNPost status', cls: 'num', cell: (d) => (d.status ? String(d.status) : '') },
    { label: 'Status at', cls: 'time', cell: (d) => fmtTime(d.status_at) },
    { label: 'COD', cls: 'num', cell: (d) => fmtMoney(d.cod) },
    { label: 'Last change', cls: 'time', cell: (d) => fmtAgo(d.updated_at), attrs: (d) => ({ title: fmtTime(d.updated_at) }) },
  ]);

  const L4_PROBLEM_COLS = L4_DELIVERY_COLS.concat([
    { label: 'Problem', cell: (d) => d.problem, attrs: (d) => ({ class: d.problem ? 'error-text' : null }) },
  ]);

  const level4 = {
    seq: 0,
    timer: null,

    enter() {
      this.leave();
      this.load();
    },
    leave() {
      clearTimeout(this.timer);
      this.timer = null;
      this.seq++;
    },

    async load() {
      const seq = ++this.seq;
      clearTimeout(this.timer);
      // Payments are for operators; a postal token sees deliveries only.
      const payments = session.me.role !== 'postal';
      $('level4-payments').hidden = !payments;
      const one = async (id, path, cols, empty, key) => {
        let rows = [], error = null;
        try {
          rows = (await api(path)).items || [];
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) return;
          error = describe(e);
        }
        if (seq !== this.seq) return;
        fillTable($(id), cols, rows, { empty, error, rowAttrs: (r) => ({ [key[0]]: r[key[1]] }) });
      };
      await Promise.all([
        payments && one('payments', '/api/payments', L4_PAYMENT_COLS, 'No payment in flight.', ['data-ref', 'ref']),
        payments && one('stale-payments', '/api/payments?state=new,pending&stale=30m', L4_PAYMENT_COLS,
          'No payment has been pending for more than 30 minutes.', ['data-ref', 'ref']),
        one('deliveries', '/api/deliveries?inflight=true', L4_DELIVERY_COLS, 'No delivery in flight.', ['data-order', 'order_number']),
        one('problems', '/api/deliveries?problems=true', L4_PROBLEM_COLS, 'No failed delivery.', ['data-order', 'order_number']),
      ]);
      if (seq !== this.seq || !session.me) return;
      setText('level4-updated', 'Updated ' + fmtClock(new Date()));
      this.timer = setTimeout(() => this.load(), LEVEL4_EVERY_MS);
    },
  };

  Object.assign(pages, { overview, dossier, quarantine, level4 });

  // ------------------------------------------------------------------ wiring

  function wire() {
    $('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const token = $('token').value.trim();
      if (!token) {
        setText('login-error', 'Enter your API token.');
        return;
      }
      $('login').disabled = true;
      setText('login-error', '');
      try {
        await start(token);
      } finally {
        $('login').disabled = false;
      }
    });
    $('logout').addEventListener('click', () => signOut('Signed out.'));
    window.addEventListener('hashchange', route);

    $('search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      dossier.search();
    });
    // A result already in the hash would not fire hashchange: open it here.
    $('search-results').addEventListener('click', (ev) => {
      const a = ev.target.closest('a.result');
      if (a && a.getAttribute('href') === location.hash) {
        ev.preventDefault();
        dossier.open(a.getAttribute('data-id'));
      }
    });

    $('q-filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      quarantine.apply();
    });
    const pick = (ev) => {
      const tr = ev.target.closest('tr[data-id]');
      if (tr && !ev.target.closest('a')) quarantine.show(tr.getAttribute('data-id'));
    };
    $('quarantine').addEventListener('click', pick);
    $('quarantine').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        pick(ev);
      }
    });
    $('q-prev').addEventListener('click', () => {
      quarantine.offset = Math.max(0, quarantine.offset - Q_PAGE);
      quarantine.load();
    });
    $('q-next').addEventListener('click', () => {
      quarantine.offset += Q_PAGE;
      quarantine.load();
    });
    $('q-replay').addEventListener('click', () => quarantine.act('replay'));
    $('q-discard').addEventListener('click', () => quarantine.act('discard'));
    $('q-discard-reason').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') quarantine.act('discard');
    });
    $('q-replay-all').addEventListener('click', () => quarantine.askReplayAll());
    $('q-replay-all-confirm').addEventListener('click', () => quarantine.replayAll());
    $('q-replay-all-cancel').addEventListener('click', () => {
      $('q-confirm').hidden = true;
    });

    $('level4-refresh').addEventListener('click', () => level4.load());
  }

  function boot() {
    wire();
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) start(token);
    else showLogin('');
  }

  boot(); // the script is deferred: the document is parsed
})();
