// The report's script. Every value it shows comes from the state file and
// may be hostile, so it reaches the page only through textContent, DOM
// properties and setAttribute of fixed names: never as markup.
(function () {
  'use strict';

  var PAGE = 60;        // cards added at a time as the grid is scrolled
  var KEYS_SHOWN = 100; // keys listed per failure group before "show all"

  var data = JSON.parse(document.getElementById('report-data').textContent);
  var rows = data.rows;
  var sum = data.summary;

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  // Dollars as pikabatch prints them (account.USD): three decimals, up to
  // six for a smaller amount ($1.500, $0.044, $0.0035).
  function usd(v) {
    var s = (Math.round(v * 1e6) / 1e6).toFixed(6).replace(/0+$/, '');
    var decimals = s.length - s.indexOf('.') - 1;
    if (decimals < 3) s += '000'.slice(decimals);
    return '$' + s;
  }

  // Header: counts and spend.
  $('folder').textContent = sum.dir;
  document.title = 'pikabatch report: ' + sum.dir;
  $('generated').textContent = 'generated ' + sum.generated_at + ' from ' +
    (sum.state_files.length ? sum.state_files.join(', ') : 'no state file') +
    (sum.live ? ' while a run was going on: run pikabatch report again to bring it up to date' : '');
  $('account').textContent = sum.account_text || '';
  $('account-spend').textContent = sum.spend_text || '';
  $('jobs').textContent = sum.jobs;
  $('clips').textContent = sum.clips;
  $('failed').textContent = sum.failed;
  if (sum.priced_jobs > 0) {
    $('spend').textContent = usd(sum.spend_usd);
    $('spend-note').textContent = plural(sum.submits, 'submit', 'submits') + ' sent; ' +
      sum.priced_jobs + ' of ' + sum.jobs + ' jobs priced';
  } else {
    $('spend').textContent = plural(sum.submits, 'submit', 'submits');
    $('spend-note').textContent = 'sent, re-sends included: each may be charged';
  }
  $('failed').parentNode.appendChild(el('span', 'note', 'failed, timed out, expired or cancelled'));
  if (sum.missing_files > 0) {
    $('clips').parentNode.appendChild(el('span', 'note',
      plural(sum.missing_files, 'file', 'files') + ' missing from the folder'));
  }

  // The state filter: a select, the state chips, and the address's #state=….
  var filter = $('state-filter');
  var known = {};
  filter.appendChild(el('option', '', 'all states (' + sum.jobs + ')')).value = '';
  var chips = $('states');
  sum.states.forEach(function (s) {
    known[s.state] = true;
    filter.appendChild(el('option', '', s.state + ' (' + s.count + ')')).value = s.state;
    var chip = el('button', 'chip st-' + s.state, s.state + ' ' + s.count);
    chip.type = 'button';
    chip.dataset.state = s.state;
    chip.addEventListener('click', function () {
      setFilter(filter.value === s.state ? '' : s.state);
    });
    chips.appendChild(chip);
  });

  function hashState() {
    var m = /^#state=(.*)$/.exec(location.hash);
    var s = m ? decodeURIComponent(m[1]) : '';
    return known[s] ? s : '';
  }

  function setFilter(state) {
    var hash = state ? '#state=' + encodeURIComponent(state) : '';
    if (location.hash !== hash) {
      // Keeps the filter in the address (a link to the failures), without
      // a history entry per click.
      history.replaceState(null, '', hash || location.pathname + location.search);
    }
    show(state);
  }

  filter.addEventListener('change', function () { setFilter(filter.value); });
  window.addEventListener('hashchange', function () { show(hashState()); });

  // The grid: cards for the filtered rows, PAGE at a time, added when the
  // sentinel below the grid comes near the viewport, so 10,000 rows cost a
  // page of cards (and of videos' metadata) until they are scrolled to.
  var grid = $('grid');
  var more = $('more');
  var sentinel = $('sentinel');
  var showing = $('showing');
  var filtered = rows;
  var shown = 0;

  function show(state) {
    filter.value = state;
    Array.prototype.forEach.call(chips.children, function (c) {
      c.setAttribute('aria-pressed', String(c.dataset.state === state));
    });
    filtered = state ? rows.filter(function (r) { return r.state === state; }) : rows;
    grid.replaceChildren();
    shown = 0;
    addPage();
  }

  function addPage() {
    var end = Math.min(shown + PAGE, filtered.length);
    var frag = document.createDocumentFragment();
    for (var i = shown; i < end; i++) frag.appendChild(card(filtered[i]));
    grid.appendChild(frag);
    shown = end;
    more.hidden = shown >= filtered.length;
    showing.textContent = 'showing ' + shown + ' of ' + plural(filtered.length, 'job', 'jobs');
    // Observing again reports the sentinel's position at once: if a page
    // did not fill the screen, the next one follows.
    observer.unobserve(sentinel);
    if (shown < filtered.length) observer.observe(sentinel);
  }

  var observer = new IntersectionObserver(function (entries) {
    if (entries.some(function (e) { return e.isIntersecting; }) && shown < filtered.length) addPage();
  }, { rootMargin: '0px 0px 1200px 0px' });
  more.addEventListener('click', addPage);

  function card(r) {
    var c = el('article', 'card');
    c.dataset.state = r.state;
    var clips = (r.videos || []).filter(function (v) { return v.src; });
    clips.forEach(function (v) {
      var video = document.createElement('video');
      // Attributes rather than properties alone, so that the page's markup
      // says what it does.
      video.setAttribute('muted', '');
      video.setAttribute('loop', '');
      video.setAttribute('playsinline', '');
      video.setAttribute('controls', '');
      video.setAttribute('preload', 'metadata');
      video.muted = true;
      video.setAttribute('src', v.src);
      video.title = v.path;
      video.addEventListener('mouseenter', function () { video.play().catch(function () {}); });
      video.addEventListener('mouseleave', function () { video.pause(); });
      c.appendChild(video);
    });
    if (!clips.length) c.appendChild(el('div', 'placeholder st-' + r.state, placeholder(r)));

    var body = el('div', 'body');
    body.appendChild(el('div', 'key', r.key));
    if (r.prompt) {
      var p = el('p', 'prompt', r.prompt);
      p.title = r.prompt;
      body.appendChild(p);
    }
    var meta = [];
    if (r.seed) meta.push('seed ' + r.seed);
    if (r.duration) meta.push(r.duration);
    if (r.resolution) meta.push(r.resolution);
    meta.push(r.state);
    meta.push(plural(r.attempts, 'submit', 'submits'));
    if (r.cost_usd !== undefined) meta.push(usd(r.cost_usd));
    if (r.orphan) meta.push('orphan: no manifest row claims it');
    body.appendChild(el('p', 'meta', meta.join(' · ')));
    (r.videos || []).forEach(function (v) {
      if (!v.src) body.appendChild(el('p', 'error', 'file missing: ' + v.path));
    });
    if (r.error) body.appendChild(el('p', 'error', r.error));
    c.appendChild(body);
    return c;
  }

  function placeholder(r) {
    if (r.videos && r.videos.length) return 'file missing';
    return r.state;
  }

  // Failures, grouped by message, with the keys of their jobs.
  var byGroup = {};
  rows.forEach(function (r) {
    if (r.failure) (byGroup[r.failure] = byGroup[r.failure] || []).push(r.key);
  });
  $('failure-total').textContent = sum.failed ? '(' + sum.failed + ')' : '';
  var groups = $('failure-groups');
  if (!sum.failures.length) groups.appendChild(el('p', 'muted', 'No failures.'));
  sum.failures.forEach(function (g) {
    var box = el('div', 'failure-group');
    var head = el('div', 'failure-head');
    head.appendChild(el('span', 'failure-count', g.count));
    head.appendChild(el('span', 'failure-message', g.message));
    box.appendChild(head);
    var list = el('div', 'failure-keys');
    var keys = byGroup[g.id] || [];
    var addKeys = function (from, to) {
      for (var i = from; i < to; i++) list.appendChild(el('span', 'failure-key', keys[i]));
    };
    addKeys(0, Math.min(keys.length, KEYS_SHOWN));
    if (keys.length > KEYS_SHOWN) {
      var all = el('button', '', 'show all ' + keys.length);
      all.type = 'button';
      all.addEventListener('click', function () {
        all.remove();
        addKeys(KEYS_SHOWN, keys.length);
      });
      list.appendChild(all);
    }
    box.appendChild(list);
    groups.appendChild(box);
  });

  show(hashState());
})();
