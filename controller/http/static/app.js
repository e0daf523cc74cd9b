// Gantry dashboard: plain ES2017, no framework, no build step (docs/api.md).
// Pages render from the JSON API and stay current through one EventSource
// per page (GET /api/v1/events). Every action goes through the API, which
// checks the caller again; buttons are shown only where /api/v1/permissions
// says the action would be allowed.
'use strict';

const app = document.getElementById('app');
let me = null;           // {user, admin, pipelines: {name: {operate, trigger}}}
let events = null;       // the page's EventSource
let timers = [];         // the page's intervals

// --- helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function cookie(name) {
  const m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
  return m ? m[1] : '';
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || ('HTTP ' + status));
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = {'Content-Type': 'application/json'};
  if (method !== 'GET') headers['X-Gantry-CSRF'] = cookie('gantry_csrf');
  const res = await fetch(path, {method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body)});
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (res.status === 401) showSignIn();
    throw new ApiError(res.status, json);
  }
  return json;
}

const enc = encodeURIComponent;
function runPath(p, n) { return '/api/v1/pipelines/' + enc(p) + '/runs/' + n; }
function link(href, text) { return h('a', {href, 'data-nav': true}, text); }
function ts(t) { return t ? Date.parse(t) : 0; }
function when(t) { return t ? new Date(ts(t)).toLocaleString() : '-'; }
function duration(start, end) {
  if (!start) return '-';
  const ms = (end ? ts(end) : Date.now()) - ts(start);
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? s + 's' : s < 3600 ? Math.floor(s / 60) + 'm ' + (s % 60) + 's'
                                     : Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm';
}
function badge(state) { return h('span', {class: 'badge state-' + state}, state.replace('_', ' ')); }
function may(pipeline, what) {
  return !!(me && (me.admin || (me.pipelines[pipeline] && me.pipelines[pipeline][what])));
}
function decode(b64) {
  const bin = atob(b64 || '');
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

// A button that runs `fn`, shows its error beside it, and re-renders nothing
// itself: the live events bring the change.
function action(label, fn, extra) {
  const err = h('span', {class: 'error'});
  const b = h('button', Object.assign({onclick: async () => {
    b.disabled = true; err.textContent = '';
    try { await fn(); } catch (e) { err.textContent = e.message; } finally { b.disabled = false; }
  }}, extra || {}), label);
  return h('span', {}, b, err);
}

function listen(params, handlers) {
  if (events) events.close();
  events = new EventSource('/api/v1/events?' + params);
  for (const [name, fn] of Object.entries(handlers)) {
    events.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  }
}

function stopPage() {
  if (events) { events.close(); events = null; }
  timers.forEach(clearInterval); timers = [];
}

// --- sign-in

function showSignIn() {
  stopPage();
  me = null;
  document.getElementById('who').textContent = '';
  document.getElementById('signout').hidden = true;
  app.replaceChildren(document.getElementById('signin').content.cloneNode(true));
  document.getElementById('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/api/v1/session', {token: document.getElementById('token').value});
      await route();
    } catch (err) {
      document.getElementById('signin-error').textContent = err.message;
    }
  });
}

document.getElementById('signout').addEventListener('click', async () => {
  await api('DELETE', '/api/v1/session').catch(() => {});
  showSignIn();
});

// --- pages

async function pipelinesPage() {
  const list = (await api('GET', '/api/v1/pipelines')).pipelines;
  const cards = new Map();  // pipeline -> function(run) updating its card
  const groups = new Map();
  for (const p of list) {
    if (!groups.has(p.group)) groups.set(p.group, []);
    groups.get(p.group).push(p);
  }
  const page = [h('h1', {}, 'Pipelines')];
  if (list.length === 0) page.push(h('p', {class: 'muted'}, 'No pipelines you may view.'));
  for (const [group, ps] of groups) {
    page.push(h('h2', {}, group || '(no group)'));
    page.push(h('div', {class: 'grid'}, ps.map((p) => pipelineCard(p, cards))));
  }
  app.replaceChildren(...page);
  // The latest run of each, for its stage bar.
  await Promise.all(list.filter((p) => Number(p.latestCounter) > 0).map(async (p) => {
    try { cards.get(p.name)(await api('GET', runPath(p.name, p.latestCounter))); } catch (e) {}
  }));
  listen('', {run: (ev) => { const f = cards.get(ev.run.pipeline); if (f) f(ev.run, true); }});
}

function pipelineCard(p, cards) {
  const bar = h('div', {class: 'bar'}, p.stages.map((s) => h('span', {title: s})));
  const label = h('span', {class: 'muted'}, Number(p.latestCounter) ? '' : 'never run');
  const controls = p.controls || {};
  const status = h('div', {class: 'note'});
  if (controls.paused) {
    status.append(h('span', {class: 'paused'}, 'Paused'),
      ' by ' + controls.pausedBy + (controls.pauseReason ? ': ' + controls.pauseReason : ''));
  }
  if (Number(controls.lockedBy)) status.append(' Locked by run ' + controls.lockedBy + '.');
  let latest = Number(p.latestCounter);
  const actions = h('div', {class: 'actions'});
  if (may(p.name, 'trigger')) actions.append(triggerButton(p.name));
  if (may(p.name, 'operate')) {
    actions.append(controls.paused
      ? action('Unpause', () => api('POST', '/api/v1/pipelines/' + enc(p.name) + '/unpause').then(route))
      : action('Pause', async () => {
        const reason = prompt('Why pause ' + p.name + '?', '');
        if (reason === null) return;
        await api('POST', '/api/v1/pipelines/' + enc(p.name) + '/pause', {reason});
        await route();
      }));
    if (Number(controls.lockedBy)) {
      actions.append(action('Unlock', () =>
        api('POST', '/api/v1/pipelines/' + enc(p.name) + '/unlock').then(route)));
    }
  }
  const card = h('div', {class: 'card pipeline', 'data-pipeline': p.name},
    h('div', {class: 'head'}, h('span', {class: 'name'}, p.name), label), bar, status, actions);
  cards.set(p.name, (run, live) => {
    const n = Number(run.counter);
    if (n < latest) return;  // an older run changed: the bar shows the latest
    latest = n;
    card.dataset.state = run.state;
    label.replaceChildren(link('/ui/runs/' + enc(run.pipeline) + '/' + n, run.label || ('#' + n)),
      ' ', badge(run.state));
    const byName = new Map(run.stages.map((s) => [s.name, s]));
    [...bar.children].forEach((seg) => {
      const s = byName.get(seg.title);
      seg.className = s && s.state !== 'not_run' ? 'state-' + s.state : '';
    });
  });
  return card;
}

function triggerButton(pipeline) {
  const box = h('div', {class: 'dialog', hidden: true});
  const vars = h('div', {class: 'vars'});
  const addVar = () => vars.append(h('div', {}, h('input', {placeholder: 'NAME', size: 10}),
    h('input', {placeholder: 'value', size: 14})));
  box.append(h('span', {class: 'note'}, 'Variables (optional)'), vars,
    h('div', {class: 'actions'}, h('button', {type: 'button', onclick: addVar}, '+ variable'),
      action('Run', async () => {
        const variables = [...vars.children].map((d) => ({name: d.children[0].value.trim(),
          value: d.children[1].value})).filter((v) => v.name);
        const run = await api('POST', '/api/v1/pipelines/' + enc(pipeline) + '/trigger',
          {variables});
        box.hidden = true;
        navigate('/ui/runs/' + enc(pipeline) + '/' + Number(run.counter));
      }, {class: 'primary'})));
  return h('span', {}, h('button', {onclick: () => {
    box.hidden = !box.hidden;
    if (!vars.children.length) addVar();
  }}, 'Trigger…'), box);
}

async function runPage(pipeline, counter) {
  let run = await api('GET', runPath(pipeline, counter));
  counter = Number(run.counter);
  let viewing = null;  // {stage, stageCounter, job, attemptId}
  const top = h('div');
  const consoleBox = h('div');
  const draw = () => {
    const cause = run.cause || {};
    const mats = (cause.materials || []).map((m) => h('li', {}, m.material + ': ',
      m.type === 'pipeline'
        ? link('/ui/runs/' + enc(m.upstreamPipeline) + '/' + m.upstreamCounter,
          m.upstreamPipeline + '/' + m.upstreamCounter + ' (' + m.upstreamStage + ')')
        : h('code', {}, m.revision)));
    top.replaceChildren(
      h('h1', {}, run.pipeline + ' ', run.label || ('#' + counter), ' ', badge(run.state)),
      h('div', {class: 'card'},
        h('div', {}, 'Triggered ', cause.kind === 'upstream' ? 'by an upstream run' : 'by ' + cause.user,
          ' at ', when(run.createdAt), cause.message ? ' — ' + cause.message : ''),
        mats.length ? h('ul', {}, mats) : null,
        (run.variables || []).length
          ? h('div', {class: 'note'}, 'Variables: ',
            run.variables.map((v) => v.name + '=' + (v.secure ? '****' : v.value)).join(', '))
          : null,
        h('div', {class: 'actions'}, link('/ui/vsm/' + enc(run.pipeline) + '/' + counter,
          'Value stream'), link('/', 'All pipelines'))),
      ...run.stages.map(stageBlock));
  };
  const stageBlock = (s) => {
    const operate = may(run.pipeline, 'operate');
    const acts = h('div', {class: 'actions'});
    if (operate && s.state === 'awaiting_approval') {
      acts.append(action('Approve', async () => {
        const comment = prompt('Approve ' + s.name + '? Comment (optional):', '');
        if (comment === null) return;
        run = await api('POST', runPath(run.pipeline, counter) + '/stages/' + enc(s.name) +
          '/approve', {comment});
        draw();
      }, {class: 'primary', 'data-action': 'approve'}));
    }
    if (operate && (s.state === 'building' || s.state === 'queued')) {
      acts.append(action('Cancel', async () => {
        run = await api('POST', runPath(run.pipeline, counter) + '/stages/' + enc(s.name) + '/cancel');
        draw();
      }, {'data-action': 'cancel'}));
    }
    if (operate && ['passed', 'failed', 'cancelled'].includes(s.state)) {
      acts.append(action('Re-run', async () => {
        run = await api('POST', runPath(run.pipeline, counter) + '/stages/' + enc(s.name) + '/rerun');
        draw();
      }, {'data-action': 'rerun'}));
    }
    const approvals = (s.approvals || []).map((a) => a.user + (a.comment ? ' (' + a.comment + ')' : ''));
    return h('div', {class: 'stage ' + s.state, 'data-stage': s.name},
      h('div', {}, h('strong', {}, s.name), s.counter > 1 ? ' (attempt ' + s.counter + ')' : '', ' ',
        badge(s.state), ' ', h('span', {class: 'note'}, duration(s.createdAt, s.finishedAt))),
      s.waitingReason ? h('div', {class: 'note'}, s.waitingReason) : null,
      s.approval === 'manual'
        ? h('div', {class: 'note'}, 'Manual gate; approvals ', (s.approvals || []).length, ' of ',
          s.approvalsRequired || 1, approvals.length ? ': ' + approvals.join(', ') : '')
        : null,
      s.jobs.length ? h('div', {class: 'table-wrap'}, h('table', {},
        h('tr', {}, h('th', {}, 'job'), h('th', {}, 'state'), h('th', {}, 'agent'),
          h('th', {}, 'duration'), h('th', {}, '')),
        s.jobs.map((j) => h('tr', {},
          h('td', {}, j.name), h('td', {}, badge(j.state), j.reason ? ' ' + j.reason : ''),
          h('td', {}, j.agentName || '-'), h('td', {}, duration(j.startedAt, j.finishedAt)),
          h('td', {}, h('button', {onclick: () => openConsole(s, j)}, 'Console')))))) : null,
      acts);
  };
  const openConsole = (s, j) => {
    viewing = {stage: s.name, stageCounter: s.counter, job: j.name, attemptId: Number(j.attemptId)};
    let offset = 0;
    const pre = h('pre', {class: 'console', 'data-attempt': viewing.attemptId});
    const state = h('span', {class: 'note'});
    consoleBox.replaceChildren(h('h2', {}, 'Console: ' + s.name + ' / ' + j.name, ' ', state), pre);
    const append = (log, from) => {
      const text = decode(log.data);
      if (from > offset) return false;  // a gap: read it from the API first
      const skip = offset - from;       // bytes already shown
      if (skip < text.length || text.length === 0) pre.append(text.slice(skip));
      offset = Math.max(offset, Number(log.nextOffset));
      if (log.complete) state.textContent = '(complete)';
      pre.scrollTop = pre.scrollHeight;
      return true;
    };
    const params = 'attempt=' + viewing.attemptId + '&pipeline=' + enc(run.pipeline) + '&counter=' +
      counter + '&stage=' + enc(s.name) + '&stageCounter=' + s.counter + '&job=' + enc(j.name) +
      '&offset=0';
    listen(params + '&pipelines=' + enc(run.pipeline), {
      run: onRun,
      console: async (ev) => {
        if (ev.attemptId !== viewing.attemptId) return;
        if (!append(ev.log, Number(ev.offset))) {
          const log = await api('GET', runPath(run.pipeline, counter) + '/stages/' + enc(s.name) +
            '/jobs/' + enc(j.name) + '/log?stageCounter=' + s.counter + '&offset=' + offset);
          append(log, offset);
          append(ev.log, Number(ev.offset));
        }
      }});
  };
  const onRun = (ev) => {
    if (ev.run.pipeline !== run.pipeline || Number(ev.run.counter) !== counter) return;
    run = ev.run;
    draw();
  };
  draw();
  app.replaceChildren(top, consoleBox);
  listen('pipelines=' + enc(pipeline), {run: onRun});
  // Durations of what runs tick without events.
  timers.push(setInterval(() => { if (run.state === 'building') draw(); }, 5000));
}

async function vsmPage(pipeline, counter) {
  const vsm = await api('GET', runPath(pipeline, counter) + '/vsm');
  const levels = new Map();  // depth -> nodes
  const walk = (node, depth, dir) => {
    if (!levels.has(depth)) levels.set(depth, []);
    levels.get(depth).push(node);
    for (const n of (dir <= 0 ? node.upstream || [] : [])) walk(n, depth - 1, -1);
    for (const n of (dir >= 0 ? node.downstream || [] : [])) walk(n, depth + 1, 1);
  };
  walk(vsm.run, 0, 0);
  const depths = [...levels.keys()].sort((a, b) => a - b);
  app.replaceChildren(h('h1', {}, 'Value stream of ' + pipeline + ' #' + Number(vsm.run.counter)),
    h('div', {class: 'vsm'}, depths.map((d) => h('div', {class: 'level'}, levels.get(d).map((n) =>
      h('div', {class: 'node' + (d === 0 ? ' self' : '')},
        link('/ui/runs/' + enc(n.pipeline) + '/' + Number(n.counter), n.pipeline + ' ' + (n.label || n.counter)),
        ' ', badge(n.state),
        (n.materials || []).filter((m) => m.type === 'git').map((m) =>
          h('div', {class: 'note'}, m.material + ' ' + (m.revision || '').slice(0, 12)))))))),
    vsm.truncated ? h('p', {class: 'note'}, 'Truncated: the stream is larger than shown.') : null);
}

async function environmentsPage() {
  const envs = (await api('GET', '/api/v1/environments')).environments;
  const pending = h('div');
  const page = [h('h1', {}, 'Environments'), h('div', {class: 'grid'}, await Promise.all(envs.map(async (e) => {
    const view = await api('GET', '/api/v1/environments/' + enc(e.name)).catch(() => ({}));
    const d = e.current;
    return h('div', {class: 'card', 'data-environment': e.name},
      h('strong', {}, e.name),
      h('div', {}, d ? ['Deployed: ', link('/ui/runs/' + enc(d.pipeline) + '/' + Number(d.counter),
        d.pipeline + ' ' + (d.label || d.counter)), ' at ', when(d.at),
      ' by ', d.triggeredBy || '-'] : h('span', {class: 'muted'}, 'nothing deployed yet')),
      view.lock ? h('div', {class: 'note'}, 'Deploy lock: ' + (view.holder || 'free') +
        ((view.queue || []).length ? '; waiting: ' + view.queue.map((w) =>
          w.pipeline + '/' + w.counter + '/' + w.stage).join(', ') : '')) : null,
      h('div', {class: 'note'}, 'Pipelines: ' + (e.pipelines || []).join(', ')));
  }))), h('h2', {}, 'Pending approvals'), pending];
  app.replaceChildren(...page);
  // Runs of the environments' pipelines stopped at a manual gate.
  const names = [...new Set(envs.flatMap((e) => e.pipelines || []))];
  const rows = [];
  await Promise.all(names.map(async (p) => {
    const runs = (await api('GET', '/api/v1/pipelines/' + enc(p) + '/runs?limit=5').catch(() => ({runs: []}))).runs;
    for (const r of runs) {
      for (const s of r.stages) {
        if (s.state === 'awaiting_approval') {
          rows.push(h('li', {}, link('/ui/runs/' + enc(p) + '/' + Number(r.counter),
            p + ' ' + (r.label || r.counter)), ' waits for approval of ' + s.name));
        }
      }
    }
  }));
  pending.replaceChildren(rows.length ? h('ul', {}, rows) : h('p', {class: 'muted'}, 'None.'));
  listen('', {run: () => {}});
}

async function agentsPage() {
  const table = h('div', {class: 'table-wrap'});
  const draw = (agents) => {
    table.replaceChildren(h('table', {},
      h('tr', {}, ['agent', 'state', 'resources', 'environments', 'building', 'last contact', '']
        .map((t) => h('th', {}, t))),
      agents.map((a) => h('tr', {'data-agent': a.name},
        h('td', {}, a.name, h('div', {class: 'note'}, a.hostname)),
        h('td', {}, badge(a.status)),
        h('td', {}, (a.resources || []).join(', ') || '-'),
        h('td', {}, (a.environments || []).join(', ') || '-'),
        h('td', {}, a.building ? link('/ui/runs/' + a.building.split('/').slice(0, 2).map(enc).join('/'),
          a.building) : '-'),
        h('td', {}, when(a.lastContact)),
        h('td', {}, me && me.admin ? (a.configState === 'disabled'
          ? action('Enable', () => api('POST', '/api/v1/agents/' + enc(a.name) + '/enable'))
          : action('Disable', () => api('POST', '/api/v1/agents/' + enc(a.name) + '/disable'))) : '')))));
  };
  draw((await api('GET', '/api/v1/agents')).agents);
  app.replaceChildren(h('h1', {}, 'Agents'), table);
  listen('agents=1&pipelines=-', {agents: (ev) => draw(ev.agents)});
}

// --- routing

async function route() {
  stopPage();
  try {
    if (!me) {
      me = await api('GET', '/api/v1/permissions');
      document.getElementById('who').textContent = me.user + (me.admin ? ' (admin)' : '');
      document.getElementById('signout').hidden = false;
    }
    const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'ui') return await pipelinesPage();
    if (parts[1] === 'runs' && parts.length === 4) return await runPage(parts[2], parts[3]);
    if (parts[1] === 'vsm' && parts.length === 4) return await vsmPage(parts[2], parts[3]);
    if (parts[1] === 'environments') return await environmentsPage();
    if (parts[1] === 'agents') return await agentsPage();
    app.replaceChildren(h('p', {}, 'No such page. '), link('/', 'Pipelines'));
  } catch (e) {
    if (e.status !== 401) app.replaceChildren(h('p', {class: 'error'}, e.message));
  }
}

function navigate(path) {
  history.pushState(null, '', path);
  route();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', route);
route();
