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
  const VIEWS = ['overview', 'dossier', 'quarantine', 'ontime', 'drift', 'level4'];
  const OVERVIEW_EVERY_MS = 5000;
  const LEVEL4_EVERY_MS = 30000;
  const LANG_KEY = 'lienthong.lang'; // local storage: the operator's language, nothing else
  const LANGS = { vi: { index: 0, locale: 'vi-VN' }, en: { index: 1, locale: 'en-GB' } };
  const PAGE_SIZE = 25; // rows a page of a long list shows

  // ---------------------------------------------------------- language

  // Vietnamese by default; English when the operator picks it. The texts
  // are in i18n.js (LIENTHONG_I18N), key: [Vietnamese, English].
  const DICT = typeof LIENTHONG_I18N === 'object' ? LIENTHONG_I18N : {};
  let lang = 'vi';
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGS[saved]) lang = saved;
  } catch (e) {
    // storage refused: Vietnamese
  }

  // t is the text of key in the current language, with {name} filled from
  // args; an unknown key shows itself, so that a gap is seen, not hidden.
  function t(key, args) {
    const entry = DICT[key];
    let text = entry ? entry[LANGS[lang].index] : key;
    if (args) text = text.replace(/\{(\w+)\}/g, (m, k) => (args[k] === undefined ? m : String(args[k])));
    return text;
  }
  // tOr is t(key), or fallback (a value from the API) when key is not known.
  function tOr(key, fallback) {
    return DICT[key] ? t(key) : fallback;
  }

  // translateStatic writes the texts index.html marks with data-i18n (text),
  // data-i18n-placeholder, data-i18n-aria-label and data-i18n-title.
  function translateStatic() {
    document.documentElement.lang = lang;
    document.title = t('page.title');
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.getAttribute('data-i18n'));
    for (const attr of ['placeholder', 'aria-label', 'title']) {
      for (const e of document.querySelectorAll(`[data-i18n-${attr}]`)) e.setAttribute(attr, t(e.getAttribute(`data-i18n-${attr}`)));
    }
    const sel = document.getElementById('lang');
    if (sel) sel.value = lang;
  }

  // Sources and provinces are whatever the hub is configured with: their
  // names for people come from the overview's sources when it loads.
  // National dossier status codes 1–10 are status.1… in i18n.js.

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
  // and cells cannot drift apart. A column is {label (an i18n key), cls,
  // cell(row), attrs(row), sort(row)}. With opts.sort ({col, dir}) and
  // opts.onSort(i), a column with sort has a header button that sorts by it.
  function fillTable(table, cols, rows, opts) {
    opts = opts || {};
    // Headers take only the alignment of their cells.
    const thClass = (c) => (c.cls && c.cls.split(' ').includes('num') ? 'num' : null);
    const th = (c, i) => {
      if (!opts.onSort || !c.sort) return h('th', { scope: 'col', class: thClass(c) }, t(c.label));
      const on = opts.sort && opts.sort.col === i;
      const dir = on ? opts.sort.dir : 0;
      return h('th', { scope: 'col', class: thClass(c), 'aria-sort': dir > 0 ? 'ascending' : dir < 0 ? 'descending' : 'none' },
        h('button', { type: 'button', class: 'sort', 'data-col': i, title: t('sort.hint'), onclick: () => opts.onSort(i) },
          t(c.label), h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, dir > 0 ? ' ▲' : dir < 0 ? ' ▼' : ' ↕')));
    };
    const head = h('thead', null, h('tr', null, cols.map(th)));
    const body = h('tbody');
    if (opts.error) {
      body.append(h('tr', { class: 'empty' }, h('td', { colspan: cols.length, class: 'error' }, opts.error)));
    } else if (!rows || rows.length === 0) {
      body.append(h('tr', { class: 'empty' }, h('td', { colspan: cols.length }, opts.empty || t('none'))));
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

  // sortRows is rows sorted by cols[sort.col].sort (sort.dir 1 or -1),
  // stable, with empty values last either way.
  function sortRows(rows, cols, sort) {
    const col = sort && cols[sort.col];
    if (!col || !col.sort) return rows;
    const empty = (v) => v === null || v === undefined || v === '' || (typeof v === 'number' && isNaN(v));
    const cmp = (a, b) => {
      const x = col.sort(a), y = col.sort(b);
      if (empty(x) || empty(y)) return empty(x) === empty(y) ? 0 : empty(x) ? 1 : -1;
      if (typeof x === 'number' && typeof y === 'number') return (x - y) * sort.dir;
      return String(x).localeCompare(String(y), LANGS[lang].locale, { numeric: true }) * sort.dir;
    };
    return rows.map((r, i) => [r, i]).sort((a, b) => cmp(a[0], b[0]) || a[1] - b[1]).map((p) => p[0]);
  }

  // PagedTable shows a long list PAGE_SIZE rows at a time, sorted by the
  // column whose header the operator clicks. It is given every row and
  // sorts and pages them in the page, by each column's sort(row); or, with
  // opts.remote(page, sortKey), the hub holds the rows: a column's sort is
  // then the API's sort key, the table asks remote for the page whenever
  // the page or the order changes, and the page comes back through
  // set(rows, error, total), total counting every row. opts: empty (i18n
  // key), rowAttrs(row), sort ({col, dir}), remote, pager ({nav, prev,
  // next, label} elements; made after the table if not given).
  class PagedTable {
    constructor(table, cols, opts) {
      this.table = table;
      this.cols = cols;
      this.opts = opts || {};
      this.rows = [];
      this.total = 0;
      this.page = 0;
      this.sort = this.opts.sort || null;
      this.error = null;
      let pager = this.opts.pager;
      if (!pager) {
        pager = { prev: h('button', { type: 'button', class: 'pager-prev', 'data-i18n': 'pager.prev' }, t('pager.prev')),
          label: h('span', { class: 'muted pager-label', role: 'status' }),
          next: h('button', { type: 'button', class: 'pager-next', 'data-i18n': 'pager.next' }, t('pager.next')) };
        pager.nav = h('nav', { class: 'pager', id: table.id + '-pager', 'aria-label': t('pager.label'), 'data-i18n-aria-label': 'pager.label' },
          pager.prev, pager.label, pager.next);
        table.after(pager.nav);
      }
      this.pager = pager;
      pager.prev.addEventListener('click', () => this.go(this.page - 1));
      pager.next.addEventListener('click', () => this.go(this.page + 1));
      pager.nav.hidden = true;
    }

    // set replaces the rows (or shows error), keeping the page and the order.
    set(rows, error, total) {
      this.rows = rows || [];
      this.error = error || null;
      this.total = this.opts.remote ? total || 0 : this.rows.length;
      this.loaded = true;
      this.render();
    }

    clear() {
      this.rows = [];
      this.total = 0;
      this.page = 0;
      this.error = null;
      this.loaded = false;
      this.table.replaceChildren();
      this.pager.nav.hidden = true;
    }

    go(page) {
      this.page = Math.min(Math.max(0, page), this.pages() - 1);
      this.fetchOrRender();
    }

    // sortBy sorts by column i: ascending, then descending on a second click.
    sortBy(i) {
      this.sort = { col: i, dir: this.sort && this.sort.col === i ? -this.sort.dir : 1 };
      this.page = 0;
      this.focusCol = i; // the header is drawn again: the focus goes back to it
      this.fetchOrRender();
    }

    fetchOrRender() {
      if (this.opts.remote) this.opts.remote(this.page, this.sortKey());
      else this.render();
    }

    // sortKey is the order as the API takes it (remote): the column's key,
    // after a - when descending; '' for the API's own order.
    sortKey() {
      const c = this.sort && this.cols[this.sort.col];
      return c && typeof c.sort === 'string' ? (this.sort.dir < 0 ? '-' : '') + c.sort : '';
    }

    pages() {
      return Math.max(1, Math.ceil(this.total / PAGE_SIZE));
    }

    // shown is the rows on screen, in order: from the hub as they are.
    shown() {
      if (this.opts.remote) return this.rows;
      const from = this.page * PAGE_SIZE;
      return sortRows(this.rows, this.cols, this.sort).slice(from, from + PAGE_SIZE);
    }

    render() {
      // A remote page is the one asked for, which its owner keeps in range.
      if (!this.opts.remote) this.page = Math.min(Math.max(0, this.page), this.pages() - 1);
      const shown = this.error ? [] : this.shown();
      fillTable(this.table, this.cols, shown, {
        error: this.error, empty: t(this.opts.empty || 'none'), rowAttrs: this.opts.rowAttrs,
        sort: this.sort, onSort: (i) => this.sortBy(i),
      });
      if (this.focusCol !== undefined) {
        const b = this.table.querySelector(`th button[data-col="${this.focusCol}"]`);
        if (b) b.focus();
        this.focusCol = undefined;
      }
      const n = this.total;
      this.pager.nav.hidden = !!this.error || n === 0;
      const from = this.page * PAGE_SIZE;
      this.pager.label.textContent = n ? t('pager.count', {
        page: fmtInt(this.page + 1), pages: fmtInt(this.pages()), from: fmtInt(from + 1),
        to: fmtInt(from + shown.length), total: fmtInt(n),
      }) : '';
      this.pager.nav.setAttribute('data-page', String(this.page + 1));
      this.pager.nav.setAttribute('data-pages', String(this.pages()));
      this.pager.prev.disabled = this.page === 0;
      this.pager.next.disabled = this.page >= this.pages() - 1;
    }
  }

  // -------------------------------------------------------------- formatting

  // Times are shown in Vietnam's zone whatever the browser's, as the portals
  // and the operators use it; dates and numbers as the language writes them
  // (vi-VN or en-GB). The formats are remade when the language changes.
  const TZ = 'Asia/Ho_Chi_Minh';
  let fmts = null;
  function formats() {
    if (fmts && fmts.lang === lang) return fmts;
    const locale = LANGS[lang].locale;
    const make = (f) => {
      try {
        return f();
      } catch (e) {
        return null;
      }
    };
    fmts = {
      lang,
      time: make(() => new Intl.DateTimeFormat(locale, { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })),
      clock: make(() => new Intl.DateTimeFormat(locale, { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })),
      int: new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }),
      // rates without grouping, so that they read back with parseFloat (once
      // a decimal comma is made a point)
      rate: new Intl.NumberFormat(locale, { maximumFractionDigits: 1, useGrouping: false }),
    };
    return fmts;
  }

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const f = formats().time;
    return f ? f.format(d) : d.toISOString();
  }

  function fmtClock(d) {
    const f = formats().clock;
    return f ? f.format(d) : d.toISOString().slice(11, 19);
  }

  // fmtAgo says how long before ref (ms) iso was: "12 giây trước".
  function fmtAgo(iso, ref) {
    if (!iso) return t('never');
    const at = Date.parse(iso);
    if (isNaN(at)) return String(iso);
    const s = Math.max(0, ((ref || Date.now()) - at) / 1000);
    if (s < 60) return t('ago.s', { n: Math.round(s) });
    if (s < 3600) return t('ago.min', { n: Math.floor(s / 60) });
    if (s < 86400) return t('ago.h', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
    return t('ago.d', { n: Math.floor(s / 86400) });
  }

  function fmtSeconds(s) {
    if (s === null || s === undefined || isNaN(s)) return '';
    if (s < 10) return t('dur.s', { s: fmtRate(s) });
    if (s < 60) return t('dur.s', { s: Math.round(s) });
    if (s < 3600) return t('dur.min', { m: Math.floor(s / 60), s: Math.round(s % 60) });
    return t('dur.h', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  }

  function fmtRate(n) {
    if (n === null || n === undefined || isNaN(n)) return '';
    return formats().rate.format(Math.round(n * 10) / 10);
  }

  function fmtInt(n) {
    return n === null || n === undefined ? '' : formats().int.format(n);
  }
  function fmtMoney(n) {
    return n === null || n === undefined ? '' : formats().int.format(n) + ' ₫';
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
    return DICT['status.' + code] ? `${code} · ${t('status.' + code)}` : String(code);
  }

  // A badge says a state in words; data-state keeps the API's value.
  function badge(text, kind, state) {
    return h('span', { class: `badge ${kind || ''}`, 'data-state': state }, text || '—');
  }

  // The breaker's colour is the at-a-glance health of a portal.
  function breakerBadge(state) {
    const known = { closed: 'ok', 'half-open': 'warn', open: 'bad' };
    const e = badge(state ? tOr('breaker.' + state, state) : t('breaker.none'), known[state] || 'idle', state || 'none');
    if (state) e.setAttribute('title', t('breaker.title', { state }));
    return e;
  }

  function stateLabel(state) {
    return state ? tOr('state.' + state, state) : '';
  }

  // payMethod names a fee's payment method (schemas.PayOnline…).
  function payMethod(m) {
    return m ? tOr('pay.' + m, m) : t('pay.none');
  }

  function stateBadge(state) {
    const kinds = {
      paid: 'ok', settled: 'ok', delivered: 'ok', held: 'ok', replayed: 'ok', alive: 'ok', gone: 'bad',
      new: 'idle', pending: 'warn', ordered: 'warn', open: 'warn',
      failed: 'bad', cancelled: 'bad', discarded: 'idle', returned: 'bad',
    };
    return badge(stateLabel(state), kinds[state] || 'idle', state);
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

  // request calls the hub with the token, asking for accept. An answer
  // other than 2xx is thrown as an ApiError with the hub's message; a 401
  // ends the session (the token was revoked or never valid) and goes back
  // to the sign-in form.
  async function request(path, options, accept) {
    const headers = { Authorization: 'Bearer ' + session.token, Accept: accept };
    const init = { method: options.method || 'GET', headers, cache: 'no-store', credentials: 'same-origin' };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, t('err.unreachable', { message: e.message }));
    }
    if (res.ok) return res;
    const data = parseJSON(await res.text());
    const message = (data && typeof data.error === 'string' && data.error) || `HTTP ${res.status} ${res.statusText}`.trim();
    if (res.status === 401) signOut(t('login.refused', { message }));
    throw new ApiError(res.status, message, data);
  }

  function parseJSON(text) {
    try {
      return text ? JSON.parse(text) : null;
    } catch (e) {
      return null;
    }
  }

  // api calls the hub for JSON.
  async function api(path, options) {
    const res = await request(path, options || {}, 'application/json');
    return parseJSON(await res.text());
  }

  // saveCSV asks the hub for path's CSV with the token, which a plain link
  // could not send, and saves the answer as a file, named as the hub names
  // it (else name). button is disabled meanwhile; onError(err) says what
  // went wrong.
  async function saveCSV(button, path, name, onError) {
    button.disabled = true;
    try {
      const res = await request(path, {}, 'text/csv');
      const blob = await res.blob();
      const m = /filename="?([^";]+)"?/.exec(res.headers.get('Content-Disposition') || '');
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: m ? m[1] : name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      // The export may hold personal data: its URL lives until the browser has saved it.
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) onError(e);
    } finally {
      button.disabled = false;
    }
  }

  // fetchPage asks the hub (path, with the query p) for the page of
  // owner.list on screen, PAGE_SIZE rows of a list the hub pages, and shows
  // it; onData(answer), if given, sees the answer first. owner.seq drops an
  // answer that a later load overtook. When the list got shorter (entries
  // replayed, drift resolved), its last page is asked for instead.
  async function fetchPage(owner, path, p, onData) {
    const seq = ++owner.seq;
    const list = owner.list;
    p.set('limit', String(PAGE_SIZE));
    p.set('offset', String(list.page * PAGE_SIZE));
    let data;
    try {
      data = await api(path + '?' + p.toString());
    } catch (e) {
      if (seq !== owner.seq) return;
      if (!(e instanceof ApiError && e.status === 401)) list.set([], describe(e), 0);
      return;
    }
    if (seq !== owner.seq) return;
    const items = data.items || [], total = data.total || 0;
    if (items.length === 0 && list.page > 0 && list.page * PAGE_SIZE >= total) {
      list.page = Math.max(0, Math.ceil(total / PAGE_SIZE) - 1);
      return owner.load();
    }
    if (onData) onData(data);
    list.set(items, null, total);
  }

  // describe turns an error into a sentence for the page.
  function describe(err) {
    if (!(err instanceof ApiError)) return t('err.generic', { message: err && err.message ? err.message : String(err) });
    if (err.status === 403) return t('err.forbidden', { message: err.message });
    if (err.status === 0) return t('err.generic', { message: err.message });
    return t('err.status', { status: err.status, message: err.message });
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
    let who = me.role ? tOr('role.' + me.role, me.role) : '?';
    if (me.role === 'provincial') who += ' · ' + (provinceLabel(me.province) || t('who.noProvince'));
    else if (me.role === 'national') who += ' · ' + t('who.allProvinces');
    else if (me.province) who += ' · ' + provinceLabel(me.province);
    $('whoami').replaceChildren(h('strong', null, who), h('span', { class: 'muted' }, ' ' + t('who.token', { id: me.token_id || '' })));
    for (const v of VIEWS) $('nav-' + v).hidden = !canView(v);
    fillSources($('q-source'));
    fillSources($('ot-source'));
    fillSources($('dr-source'));
    $('audit-export').hidden = me.role !== 'national'; // GET /api/audit is theirs only
  }

  // fillSources lists the token's sources in a source filter, after "all",
  // keeping the one chosen.
  function fillSources(sel) {
    const keep = sel.value;
    sel.replaceChildren(h('option', { value: '', 'data-i18n': 'q.all' }, t('q.all')));
    for (const s of (session.me && session.me.sources) || []) sel.append(h('option', { value: s }, sourceLabel(s)));
    sel.value = keep;
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
    for (const id of ['sources', 'targets', 'chart-throughput', 'chart-lag', 'timeline',
      'search-results', 'dossier-summary',
      'dossier-record', 'targets-held', 'q-meta', 'q-payload', 'whoami']) {
      $(id).replaceChildren();
    }
    for (const id of ['overview-updated', 'overview-error', 'dossier-error', 'q-message', 'q-reason-text',
      'q-payload-note', 'level4-updated', 'chart-throughput-note', 'chart-lag-note', 'au-message', 'ot-error', 'ot-totals',
      'ontime-updated', 'drift-updated', 'dr-message', 'dr-confirm-text']) {
      setText(id, '');
    }
    for (const id of ['search', 'q-field', 'q-reason', 'q-dossier', 'q-discard-reason', 'au-since', 'au-until', 'au-actor']) $(id).value = '';
    for (const id of ['q-source', 'ot-source', 'au-action', 'dr-source', 'dr-kind', 'dr-state']) $(id).value = '';
    $('q-state').value = 'open';
    $('dossier-body').hidden = true;
    $('q-detail').hidden = true;
    $('q-confirm').hidden = true;
    quarantine.reset();
    ontime.reset();
    drift.reset();
    level4.reset();
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

  // robustMax is the scale of a chart's y axis: the largest value, unless
  // a few values (such as the start-up burst) are far above the rest; then
  // the 95th percentile, and the points above it are clipped and marked.
  function robustMax(values) {
    const v = values.filter((x) => typeof x === 'number' && isFinite(x)).sort((a, b) => a - b);
    if (v.length === 0) return { max: 0, clipped: false };
    const max = v[v.length - 1];
    const p95 = v[Math.min(v.length - 1, Math.ceil(0.95 * v.length) - 1)];
    if (v.length >= 10 && p95 > 0 && max > 1.5 * p95) return { max: p95 * 1.1, clipped: true };
    return { max, clipped: false };
  }

  // drawChart draws one line per source of points[i][key][source] against
  // time, with axes, grid, labels and a legend, into the <svg> element.
  // Its note (#<svg id>-note) says when points are off the scale.
  function drawChart(el, points, key, yLabel, fmtY) {
    const W = 600, H = 250;
    const pad = { l: 54, r: 14, t: 12, b: 62 };
    const pw = W - pad.l - pad.r, ph = H - pad.t - pad.b;
    el.setAttribute('viewBox', `0 0 ${W} ${H}`);
    el.replaceChildren();

    points = (points || []).filter((p) => !isNaN(Date.parse(p.at)));
    const names = [];
    const values = [];
    for (const p of points) {
      for (const [name, v] of Object.entries(p[key] || {})) {
        if (!names.includes(name)) names.push(name);
        values.push(v);
      }
    }
    const scale = robustMax(values);
    const max = scale.max;
    const note = document.getElementById(el.id + '-note');
    if (note) note.textContent = '';
    // Legend and lines in the order the token's sources are listed.
    names.forEach(seriesClass);
    names.sort((a, b) => session.colours.indexOf(a) - session.colours.indexOf(b));
    if (points.length === 0 || names.length === 0) {
      el.append(svg('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' }, t('chart.noData')));
      return;
    }

    const t0 = Date.parse(points[0].at);
    let t1 = Date.parse(points[points.length - 1].at);
    if (t1 <= t0) t1 = t0 + 60000;
    const ticks = niceTicks(max, 4);
    const yMax = ticks[ticks.length - 1];
    const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * pw;
    const y = (v) => pad.t + ph - (Math.min(v, yMax) / yMax) * ph; // clipped at the top
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
    el.setAttribute('data-y-max', String(yMax));

    // Axis titles.
    el.append(svg('text', { x: pad.l + pw / 2, y: bottom + 32, 'text-anchor': 'middle', class: 'axis-label' }, t('chart.time')));
    el.append(svg('text', {
      x: 0, y: 0, transform: `translate(14 ${pad.t + ph / 2}) rotate(-90)`, 'text-anchor': 'middle', class: 'axis-label',
    }, yLabel));

    // One path per source; a point where the source has no value breaks the line.
    let clipped = 0;
    for (const name of names) {
      let d = '';
      let pen = false;
      let last = null;
      const marks = [];
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
        if (v > yMax) marks.push({ px, py, v });
      }
      const cls = seriesClass(name);
      el.append(svg('path', { d: d.trim(), class: 'line ' + cls }, svg('title', null, sourceLabel(name))));
      // A point off the scale is drawn at the top with a ▲ giving its value.
      for (const m of marks) {
        clipped++;
        el.append(svg('text', { x: m.px, y: Number(m.py) + 9, 'text-anchor': 'middle', class: 'clip-mark ' + cls },
          '▲', svg('title', null, t('chart.clippedPoint', { source: sourceLabel(name), value: fmtY(m.v) }))));
      }
      if (last) {
        // The newest value, also what shows a series with a single point.
        el.append(svg('circle', { cx: last.px, cy: last.py, r: 3, class: 'dot ' + cls },
          svg('title', null, `${sourceLabel(name)}: ${fmtY(last.v)}`)));
      }
    }

    if (clipped && note) note.textContent = t('chart.clipped');
    el.setAttribute('data-clipped', String(clipped));

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

  // sourceCell names a source for people, with its name and province code.
  const sourceCell = (s) => [h('strong', null, s.label || sourceLabel(s.source)), h('span', { class: 'muted small' }, ` ${s.source} · ${s.province || ''}`)];

  const SOURCE_COLS = [
    { label: 'col.province', cell: sourceCell },
    { label: 'col.lag', cls: 'lag num', cell: (s) => fmtSeconds(s.lag_seconds), attrs: (s) => ({ 'data-value': s.lag_seconds }) },
    { label: 'col.perMinute', cls: 'per-minute num', cell: (s) => fmtRate(s.per_minute), attrs: (s) => ({ 'data-value': s.per_minute }) },
    { label: 'col.pulled', cls: 'num', cell: (s) => fmtInt(s.pulled_total) },
    { label: 'col.normalised', cls: 'num', cell: (s) => fmtInt(s.normalised_total) },
    { label: 'col.synced', cls: 'num', cell: (s) => fmtInt(s.synced_total) },
    { label: 'col.quarantined', cls: 'num', cell: (s) => fmtInt(s.quarantined_total) },
    { label: 'col.errors', cls: 'num', cell: (s) => fmtInt(s.errors), attrs: (s) => ({ class: 'num' + (s.errors > 0 ? ' warn-text' : '') }) },
    { label: 'col.openQuarantine', cls: 'num', cell: (s) => fmtInt(s.quarantine_open), attrs: (s) => ({ class: 'num' + (s.quarantine_open > 0 ? ' warn-text' : '') }) },
    { label: 'col.breaker', cell: (s) => breakerBadge(s.breaker) },
    { label: 'col.lastSuccess', cls: 'last-success', cell: (s) => fmtAgo(s.last_success, overview.ref), attrs: (s) => ({ title: fmtTime(s.last_success) }) },
  ];

  const TARGET_COLS = [
    { label: 'col.target', cell: (t) => h('strong', null, t.target) },
    { label: 'col.callsPerMinute', cls: 'per-minute num', cell: (t) => fmtRate(t.per_minute), attrs: (t) => ({ 'data-value': t.per_minute }) },
    { label: 'col.errors', cls: 'num', cell: (t) => fmtInt(t.errors), attrs: (t) => ({ class: 'num' + (t.errors > 0 ? ' warn-text' : '') }) },
    { label: 'col.breaker', cell: (t) => breakerBadge(t.breaker) },
    { label: 'col.lastSuccess', cls: 'last-success', cell: (t) => fmtAgo(t.last_success, overview.ref), attrs: (t) => ({ title: fmtTime(t.last_success) }) },
    { label: 'col.lag', cls: 'lag num', cell: (t) => fmtSeconds(t.lag_seconds), attrs: (t) => ({ 'data-value': t.lag_seconds }) },
  ];

  const INSTANCE_COLS = [
    { label: 'col.instance', cell: (i) => [h('strong', null, i.name), h('span', { class: 'muted small mono' }, ' ' + i.id)] },
    { label: 'col.state', cell: (i) => stateBadge(i.alive ? 'alive' : 'gone') },
    { label: 'col.started', cls: 'time', cell: (i) => fmtTime(i.started_at) },
    { label: 'col.lastReport', cls: 'last-success', cell: (i) => fmtAgo(i.seen_at, overview.ref), attrs: (i) => ({ title: fmtTime(i.seen_at) }) },
    { label: 'col.leases', cell: (i) => (i.leases || []).join(', ') },
    { label: 'col.partitions', cls: 'small', cell: (i) => Object.keys(i.partitions || {}).sort().map((t) => `${t}: ${i.partitions[t].join(' ')}`).join(' · ') },
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
        setText('overview-updated', t('ov.refreshes', { time: fmtClock(new Date()) }));
        setText('overview-error', '');
      } catch (e) {
        if (seq !== this.seq) return;
        report('overview-error', e);
      }
      if (seq === this.seq && session.me) this.timer = setTimeout(() => this.load(), OVERVIEW_EVERY_MS);
    },

    render(data) {
      this.data = data; // redrawn as it is when the language changes
      this.ref = Date.parse(data.generated_at) || Date.now();
      const sources = data.sources || [];
      for (const s of sources) {
        if (s.label) session.labels[s.source] = s.label;
        if (s.label && s.province) session.provinces[s.province] = s.label;
      }
      fillTable($('sources'), SOURCE_COLS, sources, {
        rowAttrs: (s) => ({ 'data-source': s.source }),
        empty: t('ov.noSource'),
      });
      fillTable($('targets'), TARGET_COLS, data.targets || [], {
        rowAttrs: (t) => ({ 'data-target': t.target }),
        empty: t('ov.noTarget'),
      });
      // Shown to national operators only (the API sends none to others).
      const instances = data.instances || [];
      $('overview-instances').hidden = instances.length === 0;
      fillTable($('instances'), INSTANCE_COLS, instances, { rowAttrs: (i) => ({ 'data-instance': i.name }) });
      // Both charts are per source: pointless for a token that sees none (postal).
      $('overview-charts').hidden = sources.length === 0;
      const points = (data.history && data.history.points) || [];
      drawChart($('chart-throughput'), points, 'per_minute', t('chart.perMinute'), (v) => fmtRate(v));
      drawChart($('chart-lag'), points, 'lag_seconds', t('chart.lagSeconds'), (v) => fmtRate(v));
    },
  };

  // ---------------------------------------------------------------- dossier

  const TIMELINE_COLS = [
    { label: 'col.time', cls: 'time', cell: (e) => fmtTime(e.at) },
    { label: 'col.kind', cls: 'kind', cell: (e) => e.kind },
    { label: 'col.detail', cls: 'detail', cell: (e) => e.detail },
    { label: 'col.version', cls: 'num', cell: (e) => (e.version ? String(e.version) : '') },
  ];

  const PAYMENT_COLS = [
    { label: 'col.ref', cls: 'mono', cell: (p) => p.ref },
    { label: 'col.state', cell: (p) => stateBadge(p.state) },
    { label: 'col.amount', cls: 'num', cell: (p) => fmtMoney(p.amount) },
    { label: 'col.fees', cell: (p) => (p.fee_codes || []).join(', ') },
    { label: 'col.transaction', cls: 'mono', cell: (p) => p.txn_id },
    { label: 'col.paid', cls: 'time', cell: (p) => fmtTime(p.paid_at) },
    { label: 'col.settled', cls: 'time', cell: (p) => fmtTime(p.settled_at) },
    { label: 'col.updated', cls: 'time', cell: (p) => fmtTime(p.updated_at) },
  ];

  const DELIVERY_COLS = [
    { label: 'col.order', cls: 'mono', cell: (d) => d.order_number },
    { label: 'col.item', cls: 'mono', cell: (d) => d.item_code },
    { label: 'col.state', cell: (d) => stateBadge(d.state) },
    { label: 'col.vnpostStatus', cls: 'num', cell: (d) => (d.status ? String(d.status) : ''), attrs: (d) => ({ title: fmtTime(d.status_at) }) },
    { label: 'col.cod', cls: 'num', cell: (d) => fmtMoney(d.cod) },
    { label: 'col.fee', cls: 'num', cell: (d) => fmtMoney(d.total_fee) },
    { label: 'col.delivered', cls: 'time', cell: (d) => fmtTime(d.delivered_at) },
    { label: 'col.problem', cell: (d) => d.problem, attrs: (d) => ({ class: d.problem ? 'error-text' : null }) },
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
        setText('dossier-error', t('ds.enter'));
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
      out.replaceChildren(h('p', { class: 'muted' }, t('ds.searching')));
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
        out.replaceChildren(h('p', { class: 'muted' }, t('ds.noneForCCCD')));
        return;
      }
      out.replaceChildren(
        h('p', { class: 'muted' }, t('ds.forCCCD', { n: fmtInt(items.length) })),
        h('ul', { class: 'results' }, items.map((d) => h('li', null,
          h('a', { class: 'result', href: '#/dossier/' + encodeURIComponent(d.id), 'data-id': d.id }, d.id),
          h('span', { class: 'muted' }, ' · ' + [
            sourceLabel(d.source), d.procedure, t('ds.status', { status: statusLabel(d.status) }),
            d.national_state ? t('ds.national', { state: stateLabel(d.national_state) }) : t('ds.notNational'),
            d.updated_at ? t('ds.updatedAt', { time: fmtTime(d.updated_at) }) : '',
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
          setText('dossier-error', t('ds.notFound', { id }));
        } else {
          report('dossier-error', e);
        }
        return;
      }
      if (seq !== this.seq) return;
      this.shown = d; // redrawn as it is when the language changes
      this.render(d);
      $('dossier-body').hidden = false;
    },

    render(d) {
      const rec = d.dossier || {};
      const summary = $('dossier-summary');
      summary.replaceChildren(
        h('div', { class: 'summary-id' }, h('span', { class: 'mono big' }, d.id),
          d.deleted ? badge(t('ds.deleted'), 'bad', 'deleted') : null),
        facts([
          [t('ds.source'), `${sourceLabel(d.source)} (${d.source})`],
          [t('ds.province'), provinceLabel(d.province)],
          [t('ds.statusLabel'), statusLabel(d.status)],
          [t('ds.nationalPortal'), d.targets && d.targets.national ? stateBadge(d.targets.national.state) : t('ds.notSent')],
        ]));

      $('dossier-record').replaceChildren(this.recordTable(rec),
        h('details', { class: 'json' }, h('summary', null, t('ds.json')),
          h('pre', { class: 'payload' }, JSON.stringify(rec, null, 2))));

      fillTable($('timeline'), TIMELINE_COLS, d.timeline || [], {
        rowAttrs: (e) => ({ class: 'event', title: e.instance ? t('ds.instance', { name: e.instance }) : null }),
        empty: t('ds.noEvent'),
      });
      this.targets(d.targets || {}, rec.fees || []);
    },

    // recordTable shows the fields an operator looks for first.
    recordTable(r) {
      const a = r.applicant || {};
      const addr = (x) => (x ? [x.detail, x.communeCode, x.districtCode, x.provinceCode].filter(Boolean).join(', ') : '');
      const pair = (code, name) => [code, name].filter(Boolean).join(' — ');
      const rows = [
        ['rec.procedure', pair(r.procedure && r.procedure.code, r.procedure && r.procedure.name) +
          (r.procedure && r.procedure.level ? ' ' + t('rec.level', { level: r.procedure.level }) : '')],
        ['rec.field', r.procedure ? pair(r.procedure.fieldCode, r.procedure.fieldName) : ''],
        ['rec.agency', r.agency ? pair(r.agency.code, r.agency.name) : ''],
        ['rec.channel', r.channel ? tOr('channel.' + r.channel, String(r.channel)) : ''],
        ['rec.summary', r.summary],
        ['rec.applicant', a.name ? a.name + (a.kind === 2 ? ' ' + t('rec.organisation') : '') : ''],
        ['rec.idNumber', a.idNumber ? a.idNumber + (a.idType ? ` (${a.idType})` : '') : ''],
        ['rec.phone', a.phone],
        ['rec.email', a.email],
        ['rec.address', addr(a.address)],
        ['rec.status', statusLabel(r.status) + (r.sourceStatus ? ' · ' + t('rec.sourceStatus', { status: r.sourceStatus }) : '')],
        ['rec.sourceVersion', r.sourceVersion ? String(r.sourceVersion) : ''],
        ['rec.submitted', fmtTime(r.submittedAt)],
        ['rec.received', fmtTime(r.receivedAt)],
        ['rec.due', fmtTime(r.dueAt)],
        ['rec.returned', fmtTime(r.returnedAt)],
        ['rec.ended', fmtTime(r.processingEndedAt)],
        ['rec.sourceUpdated', fmtTime(r.sourceUpdated)],
        ['rec.resultDelivery', r.resultDelivery ? tOr('delivery.' + r.resultDelivery, r.resultDelivery) : ''],
        ['rec.resultAddress', r.resultAddress ? [r.resultAddress.name, r.resultAddress.phone, addr(r.resultAddress.address)].filter(Boolean).join(' · ') : ''],
        ['rec.attachments', r.attachments && r.attachments.length ? String(r.attachments.length) : ''],
        ['rec.steps', r.steps && r.steps.length ? String(r.steps.length) : ''],
      ];
      const body = h('tbody');
      for (const [k, v] of rows) {
        if (!v) continue;
        body.append(h('tr', null, h('th', { scope: 'row' }, t(k)), h('td', null, v)));
      }
      const fees = r.fees || [];
      body.append(h('tr', null, h('th', { scope: 'row' }, t('rec.fees')), h('td', null, fees.length === 0 ? t('rec.noFee') :
        h('table', { class: 'grid inner fees' },
          h('thead', null, h('tr', null, ['fee.code', 'fee.name', 'fee.kind', 'fee.amount', 'fee.paid', 'fee.method'].map((k) => h('th', { scope: 'col' }, t(k))))),
          h('tbody', null, fees.map((f) => h('tr', { 'data-fee': f.code, 'data-method': f.paymentMethod || null },
            h('td', { class: 'mono' }, f.code || '—'), h('td', null, f.name || '—'),
            h('td', null, f.kind ? tOr('fee.kind' + f.kind, String(f.kind)) : '—'),
            h('td', { class: 'num' }, fmtMoney(f.amount)),
            h('td', { class: f.paid ? 'paid' : 'unpaid' }, f.paid ? t('fee.isPaid') : t('fee.isUnpaid')),
            h('td', { class: 'method' }, payMethod(f.paymentMethod)))))))));
      return h('table', { class: 'record' }, body);
    },

    // targets shows each target's copy: national, payments, deliveries,
    // and what was written back to the province. Without an online payment,
    // the fees' own payment methods are shown (cash on delivery, at the
    // office…) rather than a bare "no payment".
    targets(held, fees) {
      const n = held.national;
      const sub = (title, node) => h('div', { class: 'held' }, h('h4', null, title), node);
      const payments = held.payments || [];
      const feeMethods = () => {
        if (fees.length === 0) return h('p', { class: 'muted' }, t('held.noPayment'));
        return h('div', { class: 'fee-methods' }, h('p', { class: 'muted' }, t('held.feesBy')),
          h('ul', null, fees.map((f) => h('li', { 'data-fee': f.code, 'data-method': f.paymentMethod || null },
            `${f.name || f.code}: ${fmtMoney(f.amount)} · `, h('strong', null, payMethod(f.paymentMethod)),
            ' · ', f.paid ? t('fee.isPaid') : t('fee.isUnpaid')))));
      };
      const table = (cols, rows, empty, attrs) => {
        const el = h('table', { class: 'grid' });
        fillTable(el, cols, rows, { empty, rowAttrs: attrs });
        return el;
      };
      $('targets-held').replaceChildren(
        sub(t('held.national'), n ? facts([
          [t('col.state'), stateBadge(n.state)], [t('col.version'), n.version ? String(n.version) : ''],
          [t('rec.steps'), n.steps !== undefined ? String(n.steps) : ''], [t('col.at'), fmtTime(n.at)],
        ]) : h('p', { class: 'muted' }, t('held.notSent'))),
        sub(t('held.payments'), payments.length ? table(PAYMENT_COLS, payments, t('held.noPayment'), (p) => ({ 'data-ref': p.ref })) : feeMethods()),
        sub(t('held.deliveries'), table(DELIVERY_COLS, held.deliveries || [], t('held.noDelivery'), (d) => ({ 'data-order': d.order_number }))),
        sub(t('held.province'), table(TIMELINE_COLS, held.province || [], t('held.nothingBack'))));
    },
  };

  // ------------------------------------------------------------- quarantine

  // The hub sorts and pages the quarantine (GET /api/dlq's sort keys), so
  // that every entry can be reached; the reason is not a key.
  const QUARANTINE_COLS = [
    { label: 'col.id', cls: 'num', cell: (q) => String(q.id), sort: 'id' },
    { label: 'col.at', cls: 'time', cell: (q) => fmtTime(q.at), sort: 'at' },
    { label: 'col.source', cell: (q) => sourceLabel(q.source), sort: 'source' },
    { label: 'col.dossier', cls: 'mono', cell: (q) => q.dossier_id + (q.version ? ` v${q.version}` : ''), sort: 'dossier' },
    { label: 'col.field', cls: 'mono', cell: (q) => q.field, sort: 'field' },
    // The reason wraps in its cell; the title holds it whole as well.
    { label: 'col.reason', cls: 'reason-cell', cell: (q) => q.reason, attrs: (q) => ({ title: q.reason }) },
    { label: 'col.state', cell: (q) => stateBadge(q.state), sort: 'state' },
  ];

  const quarantine = {
    seq: 0,
    detailSeq: 0,
    applied: { state: 'open' }, // the filters the list shows
    selected: null, // the entry in #q-detail
    list: null, // the PagedTable of #quarantine, made by wire

    reset() {
      this.applied = { state: 'open' };
      this.selected = null;
      if (this.list) this.list.clear();
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
      if (this.list) this.list.page = 0;
      $('q-confirm').hidden = true;
      return this.load();
    },

    // listParams is the query of the list as shown: the filters applied and
    // the order.
    listParams() {
      const p = this.params(this.applied, true);
      const sort = this.list.sortKey();
      if (sort) p.set('sort', sort);
      return p;
    },

    // load fetches the page of the list on screen, sorted by the hub.
    load() {
      return fetchPage(this, '/api/dlq', this.listParams());
    },

    // csv saves the list as shown, every page of it, as a CSV file.
    csv() {
      const p = this.listParams();
      p.set('format', 'csv');
      return saveCSV($('q-csv'), '/api/dlq?' + p.toString(), 'quarantine.csv',
        (e) => this.message(t('csv.failed', { error: describe(e) }), true));
    },

    async show(id) {
      const seq = ++this.detailSeq;
      let d;
      try {
        d = await api('/api/dlq/' + encodeURIComponent(id));
      } catch (e) {
        if (seq !== this.detailSeq) return;
        if (e instanceof ApiError && e.status === 404) this.message(t('q.gone', { id }), true);
        else if (!(e instanceof ApiError && e.status === 401)) this.message(describe(e), true);
        return;
      }
      if (seq !== this.detailSeq) return;
      this.selected = d;
      $('q-discard-reason').value = '';
      this.detail(d);
    },

    // detail writes the entry into #q-detail (again when the language changes).
    detail(d) {
      for (const tr of $('quarantine').querySelectorAll('tbody tr')) {
        tr.classList.toggle('selected', tr.getAttribute('data-id') === String(d.id));
      }
      setText('q-id', String(d.id));
      facts([
        [t('q.source'), `${sourceLabel(d.source)} (${d.source})`],
        [t('q.dossier'), dossierLink(d.dossier_id)],
        [t('q.version'), d.version ? String(d.version) : ''],
        [t('q.field'), d.field],
        [t('q.format'), d.format],
        [t('q.state'), stateBadge(d.state)],
        [t('col.at'), fmtTime(d.at)],
        [t('q.size'), typeof d.payload_size === 'number' ? t('bytes', { n: fmtInt(d.payload_size) }) : ''],
      ], $('q-meta'));
      setText('q-reason-text', d.reason || t('q.noReason'));
      this.payload(d);
      const open = d.state === 'open';
      $('q-replay').disabled = !open;
      $('q-discard').disabled = !open;
      $('q-discard-reason').disabled = !open;
      setText('q-state-note', open ? '' : t('q.notOpen', { state: stateLabel(d.state) }));
      $('q-detail').hidden = false;
    },

    // payload shows JSON pretty-printed when it parses, XML and other text
    // as received, and says so when the bytes were not text (base64).
    payload(d) {
      let text = d.payload || '';
      let note = '';
      if (d.payload_encoding === 'base64') {
        note = t('q.base64');
      } else if (d.format === 'json' || /^\s*[[{]/.test(text)) {
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
          note = t('q.json');
        } catch (e) {
          note = t('q.badJson');
        }
      } else if (d.format === 'xml' || /^\s*</.test(text)) {
        note = t('q.xml');
      } else if (d.format) {
        note = t('q.otherFormat', { format: d.format });
      }
      setText('q-payload-note', note);
      setText('q-payload', text || t('q.emptyPayload'));
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
          this.message(t('q.giveReason', { id: d.id }), true);
          $('q-discard-reason').focus();
          return;
        }
        body = { reason };
      }
      $('q-replay').disabled = $('q-discard').disabled = true;
      try {
        const res = await api(`/api/dlq/${encodeURIComponent(d.id)}/${kind}`, { method: 'POST', body });
        this.message(t(kind === 'replay' ? 'q.replayed' : 'q.discarded', { id: res.id, state: stateLabel(res.state) }), false);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        this.message(t(kind === 'replay' ? 'q.replayFailed' : 'q.discardFailed', { id: d.id, error: describe(e) }), true);
      }
      await Promise.all([this.show(d.id), this.load()]);
    },

    // askReplayAll applies the filters as typed, then asks in the page:
    // what is replayed is exactly what the list now shows the filters for.
    async askReplayAll() {
      await this.apply();
      const f = this.applied;
      const parts = ['source', 'field', 'reason', 'dossier'].filter((k) => f[k]).map((k) =>
        t('q.cond.' + k, { value: k === 'source' ? sourceLabel(f[k]) : f[k] }));
      // How many the replay would take: the open entries the filters select.
      let count = '';
      try {
        const p = this.params(f, false);
        p.set('state', 'open');
        p.set('limit', '1');
        count = t('q.askCount', { n: fmtInt((await api('/api/dlq?' + p.toString())).total || 0) });
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        // asked without the count
      }
      setText('q-confirm-text', (parts.length
        ? t('q.askSome', { conditions: parts.join(t('q.and')) })
        : t('q.askAll')) + count);
      $('q-confirm').hidden = false;
      $('q-replay-all-confirm').focus();
    },

    async replayAll() {
      $('q-confirm').hidden = true;
      const p = this.params(this.applied, false); // the hub replays open entries only
      try {
        const res = await api('/api/dlq/replay' + (p.toString() ? '?' + p.toString() : ''), { method: 'POST' });
        this.message(t('q.replayedAll', { n: fmtInt(res.replayed) }), false);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        const done = e.body && typeof e.body.replayed === 'number' ? t('q.stoppedAfter', { n: fmtInt(e.body.replayed) }) : '';
        this.message(t('q.replayAllFailed', { error: describe(e) }) + done, true);
      }
      await this.load();
      if (this.selected) await this.show(this.selected.id);
    },
  };

  // -------------------------------------------------------------- audit log

  // The audit log's CSV by the dates (days in Vietnam, both included), the
  // token and the action given; national operators only, as the API.
  const audit = {
    query() {
      const p = new URLSearchParams();
      const since = $('au-since').value, until = $('au-until').value;
      if (since) p.set('since', since + 'T00:00:00+07:00');
      if (until) p.set('until', nextDay(until) + 'T00:00:00+07:00'); // the API's until is exclusive
      const actor = $('au-actor').value.trim();
      if (actor) p.set('actor', actor);
      if ($('au-action').value) p.set('action', $('au-action').value);
      p.set('format', 'csv');
      return p;
    },

    csv() {
      setText('au-message', '');
      return saveCSV($('au-csv'), '/api/audit?' + this.query().toString(), 'audit.csv',
        (e) => setText('au-message', t('csv.failed', { error: describe(e) }), 'message error'));
    },
  };

  // nextDay is the day after day (YYYY-MM-DD).
  function nextDay(day) {
    const [y, m, d] = day.split('-').map(Number);
    return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  }

  // ---------------------------------------------------------------- on time

  const ONTIME_COLS = [
    { label: 'col.source', cell: (r) => sourceLabel(r.source), sort: (r) => sourceLabel(r.source) },
    { label: 'col.procedure', cls: 'mono', cell: (r) => r.procedure, sort: (r) => r.procedure },
    { label: 'col.due', cls: 'num', cell: (r) => fmtInt(r.due), sort: (r) => r.due },
    { label: 'col.onTime', cls: 'num', cell: (r) => fmtInt(r.on_time), sort: (r) => r.on_time },
    { label: 'col.late', cls: 'num', cell: (r) => fmtInt(r.late), sort: (r) => r.late,
      attrs: (r) => ({ class: 'num' + (r.late > 0 ? ' warn-text' : '') }) },
    { label: 'col.overdueNow', cls: 'num', cell: (r) => fmtInt(r.overdue_now), sort: (r) => r.overdue_now,
      attrs: (r) => ({ class: 'num' + (r.overdue_now > 0 ? ' error-text' : '') }) },
    { label: 'col.notYetDue', cls: 'num', cell: (r) => fmtInt(r.open), sort: (r) => r.open },
  ];

  // The on-time report of a month or a quarter (the API's period), every
  // row at once: the PagedTable pages and sorts them.
  const ontime = {
    seq: 0,
    data: null, // the report on screen
    list: null, // the PagedTable of #ontime, made by wire

    reset() {
      this.seq++;
      this.data = null;
      if (this.list) this.list.clear();
      $('ot-period').replaceChildren();
    },

    enter() {
      if (!$('ot-period').value) this.fillPeriods();
      this.load();
    },
    leave() {
      this.seq++;
    },

    // fillPeriods offers this month and the 23 before it, this quarter and
    // the 7 before it, in Vietnam's calendar; the choice is kept, this
    // month by default.
    fillPeriods() {
      const sel = $('ot-period');
      const parts = {};
      for (const x of new Intl.DateTimeFormat('en-GB', { timeZone: TZ, year: 'numeric', month: 'numeric' }).formatToParts(new Date())) parts[x.type] = +x.value;
      const now = parts.year * 12 + parts.month - 1; // months since year 0
      const monthName = new Intl.DateTimeFormat(LANGS[lang].locale, { timeZone: 'UTC', year: 'numeric', month: 'long' });
      const two = (n) => String(n).padStart(2, '0');
      const months = h('optgroup', { label: t('ot.months') });
      for (let k = now; k > now - 24; k--) {
        const y = Math.floor(k / 12), m = (k % 12) + 1, name = monthName.format(Date.UTC(y, m - 1, 15));
        months.append(h('option', { value: `${y}-${two(m)}` }, name.charAt(0).toUpperCase() + name.slice(1)));
      }
      const quarters = h('optgroup', { label: t('ot.quarters') });
      for (let k = Math.floor(now / 3); k > Math.floor(now / 3) - 8; k--) {
        const y = Math.floor(k / 4), q = (k % 4) + 1;
        quarters.append(h('option', { value: `${y}-Q${q}` }, t('ot.quarter', { q, y })));
      }
      const keep = sel.value;
      sel.replaceChildren(months, quarters);
      if (keep) sel.value = keep;
    },

    query() {
      const p = new URLSearchParams({ period: $('ot-period').value });
      if ($('ot-source').value) p.set('source', $('ot-source').value);
      return p;
    },

    apply() {
      this.list.page = 0;
      return this.load();
    },

    async load() {
      const seq = ++this.seq;
      setText('ot-error', '');
      let data;
      try {
        data = await api('/api/ontime?' + this.query().toString());
      } catch (e) {
        if (seq !== this.seq) return;
        this.data = null;
        setText('ot-totals', '');
        if (!(e instanceof ApiError && e.status === 401)) this.list.set([], describe(e));
        return;
      }
      if (seq !== this.seq) return;
      this.data = data;
      this.updated = new Date();
      this.list.set(data.rows || []);
      this.totals();
    },

    // totals writes the report's sums (again when the language changes).
    totals() {
      const d = this.data;
      if (!d) return;
      const n = d.totals || {};
      const opt = [...$('ot-period').options].find((o) => o.value === d.period);
      setText('ot-totals', t('ot.totals', {
        period: opt ? opt.textContent : d.period, due: fmtInt(n.due || 0), onTime: fmtInt(n.on_time || 0),
        late: fmtInt(n.late || 0), overdue: fmtInt(n.overdue_now || 0), open: fmtInt(n.open || 0),
      }));
      setText('ontime-updated', t('updated', { time: fmtClock(this.updated) }));
    },

    // csv saves the report as chosen (period and source) as a CSV file.
    csv() {
      setText('ot-error', '');
      const p = this.query();
      p.set('format', 'csv');
      return saveCSV($('ot-csv'), '/api/ontime?' + p.toString(), 'ontime.csv',
        (e) => setText('ot-error', t('csv.failed', { error: describe(e) })));
    },
  };

  // --------------------------------------------------------- reconciliation

  const DRIFT_KINDS = ['missing_at_national', 'older_status', 'field_differs', 'unknown_to_hub'];

  function driftKind(kind) {
    return kind ? tOr('drift.kind.' + kind, kind) : '';
  }

  function driftBadge(state) {
    const kinds = { open: 'bad', resyncing: 'warn', resolved: 'ok' };
    return badge(state ? tOr('drift.state.' + state, state) : '', kinds[state] || 'idle', state);
  }

  // Per source, the drift not resolved yet by kind (GET /api/drift's summary).
  const DRIFT_SUMMARY_COLS = [{ label: 'col.province', cell: sourceCell }].concat(DRIFT_KINDS.map((k) => (
    { label: 'drift.kind.' + k, cls: 'num', cell: (s) => fmtInt(s.open[k] || 0),
      attrs: (s) => ({ class: 'num' + (s.open[k] > 0 ? ' warn-text' : ''), 'data-kind': k }) })), [
    { label: 'dr.total', cls: 'num', cell: (s) => fmtInt(DRIFT_KINDS.reduce((n, k) => n + (s.open[k] || 0), 0)) },
  ]);

  // The hub orders the list (most recently found first): no column sorts.
  const DRIFT_COLS = [
    { label: 'col.dossier', cls: 'mono', cell: (d) => dossierLink(d.dossier_id) },
    { label: 'col.source', cell: (d) => sourceLabel(d.source) },
    { label: 'col.kind', cell: (d) => driftKind(d.kind) },
    { label: 'dr.fields', cls: 'mono', cell: (d) => (d.fields || []).join(', ') },
    { label: 'col.detail', cell: (d) => d.detail },
    { label: 'dr.foundAt', cls: 'time', cell: (d) => fmtTime(d.found_at) },
    { label: 'dr.checkedAt', cls: 'time', cell: (d) => fmtTime(d.checked_at) },
    { label: 'col.state', cell: (d) => driftBadge(d.state), attrs: (d) => (d.resynced_at ? { title: t('dr.resyncedAt') + ' ' + fmtTime(d.resynced_at) } : null) },
    { label: 'dr.action', cell: (d) => (drift.canResync && d.state === 'open'
      ? h('button', { type: 'button', class: 'resync', 'data-resync': d.dossier_id }, t('dr.resync')) : '') },
  ];

  const drift = {
    seq: 0,
    data: null, // the last answer, redrawn when the language changes
    canResync: false, // the answer's resync: this hub can send dossiers again
    applied: {}, // the filters the list shows
    list: null, // the PagedTable of #drift, made by wire

    reset() {
      this.seq++;
      this.data = null;
      this.canResync = false;
      this.applied = {};
      if (this.list) this.list.clear();
      $('drift-summary').replaceChildren();
      $('dr-resync-all').hidden = true;
      $('dr-confirm').hidden = true;
    },

    enter() {
      this.load();
    },
    leave() {
      this.seq++;
      $('dr-confirm').hidden = true;
    },

    // params is the query of the filters f; empty ones are left out (the
    // hub refuses unknown or empty parameters rather than ignore them).
    params(f, withState) {
      const p = new URLSearchParams();
      for (const k of ['source', 'kind']) if (f[k]) p.set(k, f[k]);
      if (withState && f.state) p.set('state', f.state);
      return p;
    },

    apply() {
      this.applied = { source: $('dr-source').value, kind: $('dr-kind').value, state: $('dr-state').value };
      this.list.page = 0;
      $('dr-confirm').hidden = true;
      return this.load();
    },

    // load fetches the page of the list on screen and the summary.
    load() {
      return fetchPage(this, '/api/drift', this.params(this.applied, true), (data) => {
        this.data = data;
        this.canResync = !!data.resync; // before the rows are drawn with their buttons
        $('dr-resync-all').hidden = !this.canResync;
        this.updated = new Date();
        this.summary();
      });
    },

    // summary writes the per-source counts (again when the language changes).
    summary() {
      if (!this.data) return;
      fillTable($('drift-summary'), DRIFT_SUMMARY_COLS, this.data.summary || [], {
        rowAttrs: (s) => ({ 'data-source': s.source }), empty: t('dr.noSource'),
      });
      setText('drift-updated', t('updated', { time: fmtClock(this.updated) }));
    },

    message(text, isError) {
      setText('dr-message', text, isError ? 'message error' : 'message ok');
    },

    async resync(id, button) {
      button.disabled = true;
      try {
        await api(`/api/drift/${encodeURIComponent(id)}/resync`, { method: 'POST' });
        this.message(t('dr.resynced', { id }), false);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        this.message(t('dr.resyncFailed', { id, error: describe(e) }), true);
      }
      await this.load();
    },

    // askResyncAll applies the filters as chosen, then asks in the page,
    // saying how many open drifts the resync would take.
    async askResyncAll() {
      await this.apply();
      const f = this.applied;
      const parts = ['source', 'kind'].filter((k) => f[k]).map((k) =>
        t('dr.cond.' + k, { value: k === 'source' ? sourceLabel(f[k]) : driftKind(f[k]) }));
      const p = this.params(f, false);
      p.set('state', 'open'); // what the hub resyncs, whatever the list shows
      p.set('limit', '1');
      let n;
      try {
        n = (await api('/api/drift?' + p.toString())).total || 0;
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 401)) this.message(t('dr.resyncAllFailed', { error: describe(e) }), true);
        return;
      }
      const max = 1000; // the hub's bound on one bulk resync
      setText('dr-confirm-text', (parts.length
        ? t('dr.askSome', { n: fmtInt(n), conditions: parts.join(t('q.and')) })
        : t('dr.askAll', { n: fmtInt(n) })) + (n > max ? t('dr.askMax', { max: fmtInt(max) }) : ''));
      $('dr-confirm').setAttribute('data-count', String(n));
      $('dr-confirm').hidden = false;
      $('dr-resync-all-confirm').focus();
    },

    async resyncAll() {
      $('dr-confirm').hidden = true;
      const p = this.params(this.applied, false);
      try {
        const res = await api('/api/drift/resync' + (p.toString() ? '?' + p.toString() : ''), { method: 'POST' });
        this.message(t('dr.resyncedAll', { n: fmtInt(res.resynced) }), false);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        this.message(t('dr.resyncAllFailed', { error: describe(e) }), true);
      }
      await this.load();
    },

    // csv saves the list as filtered, every page of it, as a CSV file.
    csv() {
      const p = this.params(this.applied, true);
      p.set('format', 'csv');
      return saveCSV($('dr-csv'), '/api/drift?' + p.toString(), 'drift.csv',
        (e) => this.message(t('csv.failed', { error: describe(e) }), true));
    },
  };

  // ---------------------------------------------------------------- level 4

  const withDossier = (cols) => [
    { label: 'col.dossier', cls: 'mono', cell: (r) => dossierLink(r.dossier_id), sort: (r) => r.dossier_id },
    { label: 'col.source', cell: (r) => sourceLabel(r.source), sort: (r) => sourceLabel(r.source) },
  ].concat(cols);

  const L4_PAYMENT_COLS = withDossier([
    { label: 'col.ref', cls: 'mono', cell: (p) => p.ref, sort: (p) => p.ref },
    { label: 'col.state', cell: (p) => stateBadge(p.state), sort: (p) => stateLabel(p.state) },
    { label: 'col.amount', cls: 'num', cell: (p) => fmtMoney(p.amount), sort: (p) => p.amount },
    { label: 'col.fees', cell: (p) => (p.fee_codes || []).join(', ') },
    { label: 'col.created', cls: 'time', cell: (p) => fmtTime(p.created_at), sort: (p) => Date.parse(p.created_at) },
    { label: 'col.lastChange', cls: 'time', cell: (p) => fmtAgo(p.updated_at), attrs: (p) => ({ title: fmtTime(p.updated_at) }), sort: (p) => Date.parse(p.updated_at) },
  ]);

  const L4_DELIVERY_COLS = withDossier([
    { label: 'col.order', cls: 'mono', cell: (d) => d.order_number, sort: (d) => d.order_number },
    { label: 'col.item', cls: 'mono', cell: (d) => d.item_code, sort: (d) => d.item_code },
    { label: 'col.state', cell: (d) => stateBadge(d.state), sort: (d) => stateLabel(d.state) },
    { label: 'col.vnpostStatus', cls: 'num', cell: (d) => (d.status ? String(d.status) : ''), sort: (d) => d.status },
    { label: 'col.statusAt', cls: 'time', cell: (d) => fmtTime(d.status_at), sort: (d) => Date.parse(d.status_at) },
    { label: 'col.cod', cls: 'num', cell: (d) => fmtMoney(d.cod), sort: (d) => d.cod },
    { label: 'col.lastChange', cls: 'time', cell: (d) => fmtAgo(d.updated_at), attrs: (d) => ({ title: fmtTime(d.updated_at) }), sort: (d) => Date.parse(d.updated_at) },
  ]);

  const L4_PROBLEM_COLS = L4_DELIVERY_COLS.concat([
    { label: 'col.problem', cell: (d) => d.problem, attrs: (d) => ({ class: d.problem ? 'error-text' : null }), sort: (d) => d.problem },
  ]);

  const level4 = {
    seq: 0,
    timer: null,
    lists: {}, // table id → PagedTable, made by wire

    reset() {
      for (const l of Object.values(this.lists)) l.clear();
    },

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
      // Each list is paged and sorted in the page (the API answers every row).
      const one = async (id, path) => {
        let rows = [], error = null;
        try {
          rows = (await api(path)).items || [];
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) return;
          error = describe(e);
        }
        if (seq !== this.seq) return;
        this.lists[id].set(rows, error);
      };
      await Promise.all([
        payments && one('payments', '/api/payments'),
        payments && one('stale-payments', '/api/payments?state=new,pending&stale=30m'),
        one('deliveries', '/api/deliveries?inflight=true'),
        one('problems', '/api/deliveries?problems=true'),
      ]);
      if (seq !== this.seq || !session.me) return;
      this.updated = new Date();
      setText('level4-updated', t('updated', { time: fmtClock(this.updated) }));
      this.timer = setTimeout(() => this.load(), LEVEL4_EVERY_MS);
    },
  };

  Object.assign(pages, { overview, dossier, quarantine, ontime, drift, level4 });

  // ------------------------------------------------------------------ wiring

  function wire() {
    $('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const token = $('token').value.trim();
      if (!token) {
        setText('login-error', t('login.empty'));
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
    $('logout').addEventListener('click', () => signOut(t('login.signedOut')));
    $('lang').addEventListener('change', () => setLang($('lang').value));
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
    quarantine.list = new PagedTable($('quarantine'), QUARANTINE_COLS, {
      empty: 'q.empty',
      sort: { col: 0, dir: 1 }, // by ID: oldest first, as the API lists them
      remote: () => quarantine.load(),
      rowAttrs: (q) => ({
        'data-id': q.id, tabindex: 0,
        class: quarantine.selected && quarantine.selected.id === q.id ? 'selected' : null,
      }),
      pager: { nav: $('q-prev').parentElement, prev: $('q-prev'), next: $('q-next'), label: $('q-page') },
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
    $('q-csv').addEventListener('click', () => quarantine.csv());
    $('au-filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      audit.csv();
    });

    ontime.list = new PagedTable($('ontime'), ONTIME_COLS, {
      empty: 'ot.empty',
      sort: { col: 0, dir: 1 },
      rowAttrs: (r) => ({ 'data-source': r.source, 'data-procedure': r.procedure }),
    });
    $('ot-filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      ontime.apply();
    });
    for (const id of ['ot-period', 'ot-source']) $(id).addEventListener('change', () => ontime.apply());
    $('ot-csv').addEventListener('click', () => ontime.csv());

    drift.list = new PagedTable($('drift'), DRIFT_COLS, {
      empty: 'dr.empty',
      remote: () => drift.load(),
      rowAttrs: (d) => ({ 'data-id': d.dossier_id, 'data-kind': d.kind, 'data-state': d.state }),
    });
    for (const id of ['dr-source', 'dr-kind', 'dr-state']) $(id).addEventListener('change', () => drift.apply());
    $('dr-filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      drift.apply();
    });
    $('drift').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-resync]');
      if (b) drift.resync(b.getAttribute('data-resync'), b);
    });
    $('dr-refresh').addEventListener('click', () => drift.load());
    $('dr-resync-all').addEventListener('click', () => drift.askResyncAll());
    $('dr-resync-all-confirm').addEventListener('click', () => drift.resyncAll());
    $('dr-resync-all-cancel').addEventListener('click', () => {
      $('dr-confirm').hidden = true;
    });
    $('dr-csv').addEventListener('click', () => drift.csv());

    $('level4-refresh').addEventListener('click', () => level4.load());
    const byKey = (key) => (r) => ({ [key[0]]: r[key[1]] });
    for (const [id, cols, empty, key] of [
      ['payments', L4_PAYMENT_COLS, 'l4.noPayment', ['data-ref', 'ref']],
      ['stale-payments', L4_PAYMENT_COLS, 'l4.noStale', ['data-ref', 'ref']],
      ['deliveries', L4_DELIVERY_COLS, 'l4.noDelivery', ['data-order', 'order_number']],
      ['problems', L4_PROBLEM_COLS, 'l4.noProblem', ['data-order', 'order_number']],
    ]) {
      level4.lists[id] = new PagedTable($(id), cols, { empty, rowAttrs: byKey(key) });
    }
  }

  // setLang switches the console's language, remembers it (local storage,
  // the only thing kept there) and rewrites what is on screen from the data
  // already loaded, without calling the API again.
  function setLang(next) {
    if (!LANGS[next]) return;
    lang = next;
    try {
      localStorage.setItem(LANG_KEY, lang);
    } catch (e) {
      // not remembered: still switched
    }
    translateStatic();
    if (!session.me) return;
    showApp();
    if (!$('view-overview').hidden && overview.data) overview.render(overview.data);
    if (!$('dossier-body').hidden && dossier.shown) dossier.render(dossier.shown);
    if (quarantine.list.loaded) quarantine.list.render();
    if (quarantine.selected && !$('q-detail').hidden) quarantine.detail(quarantine.selected);
    if (!$('q-confirm').hidden) $('q-confirm').hidden = true; // asked in the other language: ask again
    if ($('ot-period').value) ontime.fillPeriods();
    if (ontime.list.loaded) ontime.list.render();
    ontime.totals();
    if (drift.list.loaded) drift.list.render();
    drift.summary();
    $('dr-confirm').hidden = true; // asked in the other language: ask again
    for (const l of Object.values(level4.lists)) if (l.loaded) l.render();
    if (level4.updated) setText('level4-updated', t('updated', { time: fmtClock(level4.updated) }));
  }

  function boot() {
    translateStatic();
    wire();
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) start(token);
    else showLogin('');
  }

  boot(); // the script is deferred: the document is parsed
})();
