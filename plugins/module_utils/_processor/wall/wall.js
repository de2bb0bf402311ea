// The wall screen's script: polls api/state (or api/session for the page of one session)
// and renders it.  Every value from the log goes into the page through textContent: never
// as markup.
// Private to whotouched.server_audit: it may change in any release.
'use strict';
(function () {
  var LEVELS = ['critical', 'high', 'medium', 'low', 'info'];
  var token = new URLSearchParams(window.location.search).get('token');
  var refresh = 3000;
  var timer = null;
  var NAME_KEY = 'wall-ack-name';

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
  function badge(name) { return el('span', 'badge ' + level(name), level(name)); }
  // A click anywhere on an event, item or session row opens the page of its session.
  function opens(node, session) {
    if (!session) { return; }
    node.classList.add('link');
    node.setAttribute('data-session', session);
    node.addEventListener('click', function (event) {
      if (event.target.closest('button')) { return; }
      window.location.hash = '#session=' + encodeURIComponent(session);
    });
  }
  function headers(extra) {
    var found = {'Accept': 'application/json'};
    if (token) { found['X-Wall-Token'] = token; }
    Object.keys(extra || {}).forEach(function (name) { found[name] = extra[name]; });
    return found;
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

  function acknowledge(item, button) {
    var input = document.getElementById('ack-name');
    var name = input.value.trim();
    if (!name) {
      input.focus();
      status('live', 'type your name to acknowledge');
      return;
    }
    window.localStorage.setItem(NAME_KEY, name);
    button.disabled = true;
    fetch('api/ack', {method: 'POST', headers: headers({'Content-Type': 'application/json'}),
                      body: JSON.stringify({item: item.id, by: name}), cache: 'no-store',
                      credentials: 'same-origin'})
      .then(function (response) {
        return response.json().then(function (answer) {
          if (!response.ok) { throw new Error(answer.error || 'refused'); }
        });
      })
      .catch(function (error) { status('stale', 'not acknowledged: ' + error.message); })
      .then(function () { schedule(0); });
  }

  function renderOpen(items) {
    var box = document.getElementById('open');
    clear(box);
    var waiting = items.filter(function (item) { return !item.ack; }).length;
    document.getElementById('open-count').textContent = items.length ?
      waiting + ' open' + (items.length > waiting ? ', ' + (items.length - waiting) + ' acknowledged' : '') : '';
    if (!items.length) { box.appendChild(el('p', 'empty', 'nothing open')); return; }
    items.slice(0, 4).forEach(function (item) {
      var card = el('div', 'item ' + level(item.level) + (item.ack ? ' acked' : ''));
      card.setAttribute('data-item', item.id);
      var top = el('div', 'top');
      top.appendChild(badge(item.level));
      var host = el('span', 'host', item.host);
      if (item.address) { host.appendChild(el('span', 'addr', item.address)); }
      top.appendChild(host);
      top.appendChild(el('span', 'who', who(item)));
      top.appendChild(el('span', 'times', (item.count > 1 ? '\u00d7' + item.count + '  ' : '') + when(item.last)));
      card.appendChild(top);
      card.appendChild(el('div', 'what', item.what));
      var bottom = el('div', 'bottom');
      bottom.appendChild(el('span', 'why', item.reason || item.rule || ''));
      if (item.ack) {
        bottom.appendChild(el('span', 'ack', 'acknowledged by ' + item.ack.by + ' at ' + when(item.ack.at)));
      } else {
        if (item.previous_ack) {
          bottom.appendChild(el('span', 'ack', 'again since ' + item.previous_ack.by + ' acknowledged it'));
        }
        var button = el('button', 'ack-button', 'Acknowledge');
        button.type = 'button';
        button.addEventListener('click', function () { acknowledge(item, button); });
        bottom.appendChild(button);
      }
      card.appendChild(bottom);
      opens(card, item.session);
      box.appendChild(card);
    });
  }

  function renderSessions(rows) {
    var body = document.getElementById('sessions');
    clear(body);
    if (!rows.length) {
      var tr = el('tr');
      var cell = el('td', 'empty', 'no session open or active');
      cell.colSpan = 6;
      tr.appendChild(cell);
      body.appendChild(tr);
    }
    rows.slice(0, 5).forEach(function (row) {
      var tr = el('tr', level(row.level) + (row.open ? ' is-open' : ''));
      var cell = el('td', 'level');
      cell.appendChild(badge(row.level));
      tr.appendChild(cell);
      var host = el('td', 'host', row.host);
      if (row.address) { host.appendChild(el('span', 'addr', row.address)); }
      tr.appendChild(host);
      var person = row.login_user || (row.users || []).join(', ') || '?';
      if (row.kind === 'processes') { person += ' (' + (row.program || '?') + ')'; }
      if (row.kind === 'host') { person = 'the sender'; }
      tr.appendChild(el('td', 'who', person));
      var from = row.kind === 'login' ? (row.remote_address || 'unknown address') : 'no login';
      if (row.terminal) { from += ' on ' + row.terminal; }
      tr.appendChild(el('td', 'from', from));
      tr.appendChild(el('td', 'time', when(row.last) + (row.open ? ' \u2022 open' : '')));
      tr.appendChild(el('td', 'n', row.commands));
      tr.title = row.title;
      opens(tr, row.id);
      body.appendChild(tr);
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
      cell.appendChild(badge(row.level));
      tr.appendChild(cell);
      tr.appendChild(el('td', 'why', row.reason || ''));
      opens(tr, row.session);
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
    renderSessions(state.sessions || []);
    renderEvents(state.events || []);
    renderBars('hosts', state.hosts || []);
    renderBars('users', state.users || []);
    var minutes = Math.round((state.window_seconds || 3600) / 60);
    document.getElementById('window').textContent = 'counts over the last ' + minutes + ' min';
    document.body.setAttribute('data-generated', String(state.generated || ''));
    if (state.refresh_seconds) { refresh = 1000 * state.refresh_seconds; }
  }

  function renderSession(found) {
    document.getElementById('session-title').textContent = found.title;
    var title = document.getElementById('session-title');
    title.insertBefore(badge(found.level), title.firstChild);
    document.getElementById('session-facts').textContent = found.facts;
    document.getElementById('session-counts').textContent = found.counts;
    var body = document.getElementById('tree');
    clear(body);
    (found.rows || []).forEach(function (row) {
      var tr = el('tr', level(row.level) + ' ' + (row.kind === 'call' ? 'call' : 'command'));
      tr.appendChild(el('td', 'time', when(row.time)));
      var cell = el('td', 'level');
      cell.appendChild(badge(row.level));
      tr.appendChild(cell);
      var what = el('td', 'what', row.text);
      what.title = row.text;
      what.setAttribute('data-depth', String(row.depth));
      what.style.paddingLeft = (0.6 + 1.4 * row.depth) + 'em';
      if (row.failed) { tr.classList.add('failed-row'); }
      tr.appendChild(what);
      body.appendChild(tr);
    });
    document.getElementById('tree-more').textContent = found.rows_left_out ?
      found.rows_left_out + ' more lines not shown' : '';
    document.title = 'Wall screen: session';
  }

  function status(state, text) {
    document.body.setAttribute('data-state', state);
    document.getElementById('status').textContent = text;
  }

  function shownSession() {
    var match = /^#session=([0-9a-f]{1,64})$/.exec(window.location.hash);
    return match ? match[1] : null;
  }

  function poll() {
    var session = shownSession();
    var url = session ? 'api/session?id=' + session : 'api/state';
    fetch(url, {headers: headers(), cache: 'no-store', credentials: 'same-origin'})
      .then(function (response) {
        if (response.status === 403) { throw new Error('token refused'); }
        if (response.status === 404 && session) {
          return response.json().then(function (answer) { throw new Error(answer.error); });
        }
        if (!response.ok) { throw new Error('server answered ' + response.status); }
        return response.json();
      })
      .then(function (found) {
        if (session !== shownSession()) { return; }
        if (session) {
          renderSession(found);
          status('live', 'live \u2022 one session');
        } else {
          render(found);
          status('live', 'live \u2022 ' + (found.seen || 0) + ' events seen');
        }
        document.body.setAttribute('data-loaded', session ? 'session' : 'overview');
      })
      .catch(function (error) { status('stale', 'no data: ' + error.message); })
      .then(function () { schedule(refresh); });
  }

  function schedule(delay) {
    if (timer !== null) { window.clearTimeout(timer); }
    timer = window.setTimeout(function () { timer = null; poll(); }, delay);
  }

  function route() {
    var session = shownSession();
    document.body.setAttribute('data-view', session ? 'session' : 'overview');
    document.body.removeAttribute('data-loaded');
    document.getElementById('overview').hidden = Boolean(session);
    document.getElementById('session').hidden = !session;
    if (!session) { document.title = 'Wall screen'; }
    schedule(0);
  }

  function tick() {
    var now = new Date();
    document.getElementById('clock').textContent =
      pad(now.getHours()) + ':' + pad(now.getMinutes()) + ':' + pad(now.getSeconds());
  }

  document.addEventListener('DOMContentLoaded', function () {
    var input = document.getElementById('ack-name');
    input.value = window.localStorage.getItem(NAME_KEY) || '';
    input.addEventListener('change', function () {
      window.localStorage.setItem(NAME_KEY, input.value.trim());
    });
    renderLevels({});
    tick();
    window.setInterval(tick, 1000);
    window.addEventListener('hashchange', route);
    route();
  });
}());
