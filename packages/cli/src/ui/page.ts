// The page `strata ui` serves: one HTML document with its style and script inline (allowed by a
// per-response nonce in the Content-Security-Policy). No framework and no build step: the page
// draws a tree, two tables and a diff from three JSON answers, which plain DOM calls do in a few
// hundred lines. Every value from the store is inserted as text (textContent), never as HTML.

const STYLE = `
:root { --fg: #1d232a; --muted: #66707a; --line: #d9dee3; --bg: #f6f7f9; --accent: #2f6fd6; --add: #e3f5e1; --del: #fbe4e4; --chg: #fff4d6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 10px 18px; background: #16202c; color: #fff; display: flex; gap: 16px; align-items: baseline; }
header h1 { font-size: 17px; margin: 0; }
header .meta { color: #aab4c0; font-size: 13px; }
main { display: grid; grid-template-columns: minmax(300px, 38%) 1fr; gap: 14px; padding: 14px 18px; }
section, nav { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; min-width: 0; }
h2 { font-size: 16px; margin: 4px 0 8px; } h3 { font-size: 14px; margin: 14px 0 6px; } h4 { font-size: 13px; margin: 10px 0 4px; }
ul.tree, ul.tree ul { list-style: none; margin: 0; padding-left: 16px; } ul.tree { padding-left: 0; }
ul.tree li { margin: 1px 0; }
button.branch { all: unset; cursor: pointer; display: grid; grid-template-columns: minmax(90px, 1fr) 110px 74px auto; gap: 8px; align-items: center; width: 100%; padding: 2px 4px; border-radius: 4px; }
button.branch:hover { background: #eef3fb; } button.branch.selected { background: #dce8fb; }
.name { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar { height: 9px; background: var(--accent); border-radius: 2px; }
.bytes { color: var(--muted); font-size: 12px; text-align: right; }
.badge { font-size: 11px; padding: 0 5px; border-radius: 8px; margin-left: 3px; background: #eef0f2; color: var(--muted); }
.badge.held { background: #e7e1fa; color: #4b2aa8; } .badge.ttl { background: #fdf0d5; color: #8a5a00; } .badge.expired { background: #fbe4e4; color: #a12020; }
.root { color: var(--muted); font-style: italic; padding: 2px 4px; }
summary { cursor: pointer; color: var(--muted); padding: 2px 4px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; } dt { color: var(--muted); } dd { margin: 0; font-family: ui-monospace, Menlo, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; } th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; } td.num { text-align: right; } td.mono { font-family: ui-monospace, Menlo, monospace; }
tr.added td { background: var(--add); } tr.removed td { background: var(--del); } tr.changed td { background: var(--chg); }
.controls { margin: 8px 0; display: flex; gap: 8px; align-items: center; }
button.primary { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: 5px 12px; cursor: pointer; }
.muted { color: var(--muted); } .error { color: #a12020; }
`

const SCRIPT = `
'use strict';
var token = new URLSearchParams(location.search).get('token') || '';
var graph = null;
var selected = null;

function api(path) {
  return fetch(path + (path.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(token)).then(function (r) {
    return r.json().then(function (body) {
      if (!r.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + r.status));
      return body;
    });
  });
}
function el(tag, attrs, children) {
  var e = document.createElement(tag);
  for (var k in (attrs || {})) {
    if (k === 'text') e.textContent = attrs[k]; else if (k === 'cls') e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
  }
  (children || []).forEach(function (c) { if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
  return e;
}
function bytes(n) {
  var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return i === 0 ? n + ' B' : n.toFixed(n < 10 ? 2 : 1) + ' ' + u[i];
}
function short(id) { return id ? String(id).slice(0, 12) : '-'; }
function ago(iso) {
  var s = Math.max(0, Math.round((Date.parse(graph.readAt) - Date.parse(iso)) / 1000));
  if (s < 90) return s + 's'; if (s < 5400) return Math.round(s / 60) + 'm'; if (s < 129600) return Math.round(s / 3600) + 'h'; return Math.round(s / 86400) + 'd';
}
function parentText(p) {
  if (!p) return 'nothing (standalone)';
  if (p.kind === 'branch') return p.branch + '@' + short(p.snapshot) + (p.atHead ? '' : ' (an older snapshot)');
  if (p.kind === 'deleted') return (p.branchName || '?') + '@' + short(p.snapshot) + ' (deleted branch)';
  return p.store.url + '#' + short(p.snapshot) + (p.pinned === true ? ' (pinned)' : p.pinned === false ? ' (NOT pinned)' : '');
}

function renderTree() {
  var byName = {};
  graph.branches.forEach(function (b) { byName[b.name] = b; });
  var max = Math.max.apply(null, [1].concat(graph.branches.map(function (b) { return b.ownBytes; })));
  function item(node) {
    if (node.kind === 'group') {
      return el('li', {}, [el('details', {}, [el('summary', { text: node.label }), el('ul', {}, node.children.map(item))])]);
    }
    var b = node.kind === 'branch' ? byName[node.label] : null;
    var row;
    if (!b) row = el('div', { cls: 'root', text: node.label });
    else {
      var badges = el('span', {}, []);
      if (b.held) badges.appendChild(el('span', { cls: 'badge held', text: 'held' }));
      if (b.expiresAt) {
        var expired = Date.parse(b.expiresAt) <= Date.parse(graph.readAt);
        badges.appendChild(el('span', { cls: 'badge ' + (expired ? 'expired' : 'ttl'), text: expired ? 'expired' : 'TTL' }));
      }
      if (b.parent && b.parent.kind === 'store') badges.appendChild(el('span', { cls: 'badge', text: 'other store' }));
      var bar = el('div', { cls: 'bar' });
      bar.style.width = Math.max(b.ownBytes > 0 ? 2 : 0, Math.round(100 * b.ownBytes / max)) + 'px';
      row = el('button', { cls: 'branch', 'data-branch': b.name, title: 'own ' + bytes(b.ownBytes) + ', stacks on ' + parentText(b.parent) }, [
        el('span', { cls: 'name', text: b.name }), el('span', {}, [bar]), el('span', { cls: 'bytes', text: bytes(b.ownBytes) }), badges,
      ]);
      row.addEventListener('click', function () { select(b.name); });
    }
    return el('li', {}, [row, node.children.length ? el('ul', {}, node.children.map(item)) : null]);
  }
  var nav = document.getElementById('tree');
  nav.replaceChildren(el('h2', { text: 'Branches' }), el('p', { cls: 'muted', text: 'Bars: bytes each branch stores itself (its own pages).' }), el('ul', { cls: 'tree' }, graph.roots.map(item)));
}

function select(name) {
  selected = name;
  document.querySelectorAll('button.branch').forEach(function (x) { x.classList.toggle('selected', x.getAttribute('data-branch') === name); });
  var b = graph.branches.find(function (x) { return x.name === name; });
  var detail = document.getElementById('detail');
  detail.replaceChildren(el('h2', { text: name }), el('p', { cls: 'muted', text: 'loading history…' }));
  api('/api/log?branch=' + encodeURIComponent(name)).then(function (log) {
    if (selected !== name) return;
    var facts = [
      ['head', b.head], ['stacks on', parentText(b.parent)],
      ['chain', b.chain.map(function (l) { return (l.store ? l.store + '#' : (l.branch || '?') + '@') + short(l.snapshot); }).join(' → ')],
      ['own', bytes(b.ownBytes) + ' (' + b.ownPages + ' pages)'], ['deleting frees', bytes(b.exclusiveBytes)],
      ['size', b.pageCount + ' pages of ' + b.pageSize + ' B'], ['depth', String(b.chainDepth)],
      ['created', b.createdAt + ' (' + ago(b.createdAt) + ' ago)'], ['expires', b.expiresAt || 'never'], ['hold', b.held ? 'held' : 'no'],
    ];
    var dl = el('dl', { id: 'facts' }, []);
    facts.forEach(function (f) { dl.appendChild(el('dt', { text: f[0] })); dl.appendChild(el('dd', { text: f[1] })); });
    var rows = log.entries.map(function (e, i) {
      return el('tr', { 'data-snapshot': e.id }, [
        el('td', {}, [el('input', { type: 'radio', name: 'a', value: e.id, 'aria-label': 'A: ' + short(e.id) })]),
        el('td', {}, [el('input', { type: 'radio', name: 'b', value: e.id, 'aria-label': 'B: ' + short(e.id) })]),
        el('td', { cls: 'mono', text: short(e.id) }), el('td', { text: e.createdAt.replace('T', ' ').slice(0, 19) }),
        el('td', { cls: 'mono', text: e.branch || '' }), el('td', { text: e.message }), el('td', { text: e.operation }),
        el('td', { cls: 'num', text: bytes(e.ownBytes) }),
      ]);
    });
    var history = el('table', { id: 'history' }, [
      el('thead', {}, [el('tr', {}, ['A', 'B', 'snapshot', 'when (UTC)', 'branch', 'message', 'operation', 'own'].map(function (h) { return el('th', { text: h }); }))]),
      el('tbody', {}, rows),
    ]);
    var compare = el('button', { cls: 'primary', id: 'compare', text: 'Compare A → B' });
    compare.addEventListener('click', runDiff);
    detail.replaceChildren(el('h2', { text: name }), dl, el('h3', { text: 'History (newest first)' }), history,
      el('div', { cls: 'controls' }, [compare, el('span', { cls: 'muted', text: 'tables and rows; both sides are exported to compare them' })]), el('div', { id: 'diff' }));
    var radios = function (n) { return detail.querySelectorAll('input[name=' + n + ']'); };
    if (log.entries.length > 1) radios('a')[1].checked = true; else if (log.entries.length) radios('a')[0].checked = true;
    if (log.entries.length) radios('b')[0].checked = true;
  }).catch(function (e) { detail.replaceChildren(el('h2', { text: name }), el('p', { cls: 'error', text: e.message })); });
}

function value(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'object' && v.$blob !== undefined) return "x'" + v.$blob.slice(0, 32) + (v.$blob.length > 32 ? '…' : '') + "'";
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}
function record(r) {
  if (!r) return '';
  return Object.keys(r).map(function (k) { return k + '=' + value(r[k]); }).join(', ');
}

function runDiff() {
  var a = document.querySelector('input[name=a]:checked'), b = document.querySelector('input[name=b]:checked');
  var out = document.getElementById('diff');
  if (!a || !b) { out.replaceChildren(el('p', { cls: 'error', text: 'choose A and B' })); return; }
  out.replaceChildren(el('p', { cls: 'muted', text: 'comparing ' + short(a.value) + ' → ' + short(b.value) + '…' }));
  api('/api/diff?a=' + a.value + '&b=' + b.value + '&level=rows').then(function (d) {
    var parts = [el('h3', { text: 'Diff ' + short(d.a.snapshot) + ' → ' + short(d.b.snapshot) })];
    if (d.identical) { out.replaceChildren(parts[0], el('p', { id: 'diff-summary', text: 'identical: no page differs' })); return; }
    parts.push(el('p', { id: 'diff-summary', text: 'pages: ' + d.pages.changed + ' changed, ' + d.pages.added + ' added, ' + d.pages.removed + ' removed (' + d.a.pageCount + ' → ' + d.b.pageCount + ' pages)' }));
    parts.push(el('h4', { text: 'Tables and indexes owning the differing pages' }));
    parts.push(el('table', { id: 'diff-tables' }, [
      el('thead', {}, [el('tr', {}, ['type', 'name', 'changed', 'added', 'removed'].map(function (h) { return el('th', { text: h }); }))]),
      el('tbody', {}, (d.tables || []).map(function (t) {
        return el('tr', {}, [el('td', { text: t.type }), el('td', { cls: 'mono', text: t.name }), el('td', { cls: 'num', text: String(t.changed) }), el('td', { cls: 'num', text: String(t.added) }), el('td', { cls: 'num', text: String(t.removed) })]);
      })),
    ]));
    if (d.schema && d.schema.length) {
      parts.push(el('h4', { text: 'Schema' }));
      parts.push(el('ul', { id: 'diff-schema' }, d.schema.map(function (s) { return el('li', { text: s.change + ' ' + s.type + ' ' + s.name }); })));
    }
    (d.rows || []).forEach(function (t) {
      parts.push(el('h4', { text: t.table + ' (key ' + t.keyKind + '): ' + t.added + ' added, ' + t.removed + ' removed, ' + t.changed + ' changed' + (t.note ? ' — ' + t.note : '') }));
      var trs = [];
      ['added', 'removed', 'changed'].forEach(function (kind) {
        t.rows[kind].forEach(function (c) {
          trs.push(el('tr', { cls: kind }, [el('td', { text: kind === 'added' ? '+' : kind === 'removed' ? '−' : '~' }), el('td', { cls: 'mono', text: record(c.key) }), el('td', { cls: 'mono', text: record(c.before) }), el('td', { cls: 'mono', text: record(c.after) })]));
        });
      });
      if (t.truncated) trs.push(el('tr', {}, [el('td', { colspan: '4', cls: 'muted', text: '… more rows (counts above are exact)' })]));
      parts.push(el('table', { cls: 'diff-rows', 'data-table': t.table }, [el('thead', {}, [el('tr', {}, ['', 'key', 'before', 'after'].map(function (h) { return el('th', { text: h }); }))]), el('tbody', {}, trs)]));
    });
    out.replaceChildren.apply(out, parts);
  }).catch(function (e) { out.replaceChildren(el('p', { cls: 'error', text: e.message })); });
}

api('/api/graph').then(function (g) {
  graph = g;
  document.getElementById('store').textContent = g.store + ' · ' + g.branches.length + ' branches · read ' + g.readAt.replace('T', ' ').slice(0, 19) + ' UTC';
  renderTree();
}).catch(function (e) { document.getElementById('tree').replaceChildren(el('p', { cls: 'error', text: e.message })); });
`

/** The page, with `nonce` on its inline style and script. */
export function pageHtml(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Strata</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header><h1>Strata</h1><span class="meta" id="store">loading…</span><span class="meta">read-only</span></header>
<main>
<nav id="tree"><p class="muted">loading branches…</p></nav>
<section id="detail"><h2>Select a branch</h2><p class="muted">Click a branch to see its history and compare two of its snapshots.</p></section>
</main>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`
}
