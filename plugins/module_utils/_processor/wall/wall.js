// The wall screen's script: polls api/state and renders it.  Every value from the log goes
// into the page through textContent: never as markup.
// Private to whotouched.server_audit: it may change in any release.
'use strict';
(function () {
  var LEVELS = ['critical', 'high', 'medium', 'low', 'info'];
  var token = new URLSearchParams(window.location.search).get('token');
  var refresh = 3000;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function level(name) { return LEVELS.indexOf(name) >= 0 ? name : 'info'; }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function when(iso) {
    if (!iso) { return '\u2014'; }
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return String(iso); }
    var clock = pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds());
    var today = new Date();
    if (date.toDateString() === today.toDateString()) { return clock; }
    return (date.getMonth() + 1) + '/' + date.getDate() + ' ' + clock.slice(0, 5);
  }
  function who(row) {
    var login = row.login_user || '?';
    var user = row.user || '?';
    return login === user ? login : login + ' \u2192 ' + user;
  }

  function renderLevels(levels) {
    var box = document.getElementById('levels');
    clear(box);
    LEVELS.forEach(function (name) {
      var count = (levels && levels[name]) || 0;
      var pill = el('div', 'pill ' + name + (count ? ' on' : ''));
      pill.id = 'level-' + name;
      pill.appendChild(el('strong', null, count));
      pill.appendChild(el('span', null, name));
      box.appendChild(pill);
    });
  }

  function renderOpen(items) {
    var box = document.getElementById('open');
    clear(box);
    document.getElementById('open-count').textContent = items.length ? String(items.length) : '';
    if (!items.length) { box.appendChild(el('p', 'empty', 'nothing open')); return; }
    items.slice(0, 6).forEach(function (item) {
      var card = el('div', 'item ' + level(item.level));
      var top = el('div', 'top');
      top.appendChild(el('span', 'badge ' + level(item.level), level(item.level)));
      top.appendChild(el('span', 'host', item.host));
      top.appendChild(el('span', 'who', who(item)));
      top.appendChild(el('span', 'times', (item.count > 1 ? '\u00d7' + item.count + '  ' : '') + when(item.last)));
      card.appendChild(top);
      card.appendChild(el('div', 'what', item.what));
      card.appendChild(el('div', 'why', item.reason || item.rule || ''));
      box.appendChild(card);
    });
  }

  function renderEvents(rows) {
    var body = document.getElementById('events');
    clear(body);
    rows.slice(0, 40).forEach(function (row) {
      var tr = el('tr', level(row.level));
      tr.appendChild(el('td', 'time', when(row.time)));
      var host = el('td', 'host', row.host);
      if (row.address) { host.appendChild(el('span', 'addr', row.address)); }
      tr.appendChild(host);
      tr.appendChild(el('td', 'who', who(row)));
      var what = el('td', 'what', row.what);
      what.title = row.what || '';
      if (row.failed) { what.appendChild(el('span', 'failed', 'failed')); }
      tr.appendChild(what);
      var cell = el('td', 'level');
      cell.appendChild(el('span', 'badge ' + level(row.level), level(row.level)));
      tr.appendChild(cell);
      tr.appendChild(el('td', 'why', row.reason || ''));
      body.appendChild(tr);
    });
  }

  function renderBars(id, rows) {
    var list = document.getElementById(id);
    clear(list);
    var most = rows.length ? rows[0].count : 1;
    rows.slice(0, 12).forEach(function (row) {
      var item = el('li');
      var bar = el('span', 'bar');
      bar.style.width = Math.max(2, Math.round(100 * row.count / most)) + '%';
      item.appendChild(bar);
      item.appendChild(el('span', 'name', row.name));
      item.appendChild(el('span', 'n', row.count));
      list.appendChild(item);
    });
  }

  function render(state) {
    renderLevels(state.levels);
    renderOpen(state.open || []);
    renderEvents(state.events || []);
    renderBars('hosts', state.hosts || []);
    renderBars('users', state.users || []);
    var minutes = Math.round((state.window_seconds || 3600) / 60);
    document.getElementById('window').textContent = 'counts over the last ' + minutes + ' min';
    document.body.setAttribute('data-generated', String(state.generated || ''));
    if (state.refresh_seconds) { refresh = 1000 * state.refresh_seconds; }
  }

  function status(state, text) {
    document.body.setAttribute('data-state', state);
    document.getElementById('status').textContent = text;
  }

  function poll() {
    var headers = {'Accept': 'application/json'};
    if (token) { headers['X-Wall-Token'] = token; }
    fetch('api/state', {headers: headers, cache: 'no-store', credentials: 'same-origin'})
      .then(function (response) {
        if (response.status === 403) { throw new Error('token refused'); }
        if (!response.ok) { throw new Error('server answered ' + response.status); }
        return response.json();
      })
      .then(function (state) {
        render(state);
        status('live', 'live \u2022 ' + (state.seen || 0) + ' events seen');
      })
      .catch(function (error) { status('stale', 'no data: ' + error.message); })
      .then(function () { window.setTimeout(poll, refresh); });
  }

  function tick() {
    var now = new Date();
    document.getElementById('clock').textContent =
      pad(now.getHours()) + ':' + pad(now.getMinutes()) + ':' + pad(now.getSeconds());
  }

  document.addEventListener('DOMContentLoaded', function () {
    renderLevels({});
    tick();
    window.setInterval(tick, 1000);
    poll();
  });
}());
