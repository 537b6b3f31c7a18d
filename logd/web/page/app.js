'use strict';
// The Brisk log viewer: follows one task's log from brisk-logd's node log API
// (GET /v1/logs/{namespace}/{id}?follow=1&format=ndjson). A log is whatever the
// task printed, so its text only ever reaches the page through textContent.
(() => {
	const MAX_LINES = 50000; // lines kept in the page; older ones are dropped with a note
	const BLOCK_LINES = 1000; // lines per block: the unit that skips layout off screen
	const FRAME_LINES = 5000; // lines added to the page per animation frame
	const TOKEN_KEY = 'brisk-logd-token';
	const PENDING_CHARS = 20000; // of a line still being written, the end shown

	const $ = (id) => document.getElementById(id);
	const form = $('open'), nsBox = $('ns'), idBox = $('id'), tokenBox = $('token');
	const logEl = $('log'), hiddenEl = $('hidden'), stateEl = $('state'), exitEl = $('exit');
	const durationEl = $('duration'), countEl = $('count'), sourceEl = $('source');
	const errorEl = $('error'), errorText = $('error-text'), retryBtn = $('retry');

	let current = null; // the Follow being shown

	// The view: lines queue up as they arrive and join the page once per frame,
	// so a burst of records costs one layout, not one per line.
	class View {
		constructor() {
			// The lines still being written (partial records) stay
			// below the others, one per stream, until their end comes.
			this.tail = document.createElement('div');
			logEl.replaceChildren(this.tail);
			this.pending = { stdout: '', stderr: '' };
			this.pendingShown = true;
			this.queue = [];
			this.block = null;
			this.kept = 0; // lines in the page
			this.hidden = 0; // lines dropped to stay under MAX_LINES
			this.total = 0;
			this.scheduled = false;
			this.closed = false;
			this.showHidden();
			countEl.textContent = '';
		}

		add(stream, text) {
			this.queue.push(stream, text);
			this.total++;
			this.schedule();
		}

		// setPending shows text as stream's line in progress ('' for none).
		setPending(stream, text) {
			this.pending[stream] = text;
			this.pendingShown = false;
			this.schedule();
		}

		schedule() {
			if (!this.scheduled) {
				this.scheduled = true;
				requestAnimationFrame(() => this.flush());
				// A hidden tab gets no frames; the queue still drains, slowly.
				setTimeout(() => this.flush(), 500);
			}
		}

		flush() {
			// A view replaced by another (a new task, a retry) must not
			// touch the page its successor now owns.
			if (!this.scheduled || this.closed) return;
			this.scheduled = false;
			const atBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40;
			const q = this.queue;
			const over = q.length / 2 - MAX_LINES;
			if (over > 0) {
				q.splice(0, over * 2);
				this.hidden += over;
			}
			const n = Math.min(q.length, FRAME_LINES * 2);
			for (let i = 0; i < n; i += 2) {
				if (!this.block || this.block.childElementCount >= BLOCK_LINES) {
					this.block = document.createElement('div');
					this.block.className = 'block';
					logEl.insertBefore(this.block, this.tail);
				}
				const div = document.createElement('div');
				div.className = 'line ' + q[i];
				div.textContent = q[i + 1];
				this.block.appendChild(div);
			}
			q.splice(0, n);
			this.kept += n / 2;
			this.trim();
			this.showPending();
			this.showHidden();
			countEl.textContent = this.total + (this.total === 1 ? ' line' : ' lines');
			if (atBottom) logEl.scrollTop = logEl.scrollHeight;
			if (q.length) this.schedule();
		}

		// trim drops the oldest lines beyond MAX_LINES: whole blocks, then the
		// front of the first block.
		trim() {
			let over = this.kept - MAX_LINES;
			while (over > 0) {
				const first = logEl.firstElementChild;
				const n = first.childElementCount;
				if (n <= over) {
					first.remove();
					this.kept -= n;
					this.hidden += n;
					over -= n;
					continue;
				}
				const r = document.createRange();
				r.setStartBefore(first.firstElementChild);
				r.setEndAfter(first.children[over - 1]);
				r.deleteContents();
				this.kept -= over;
				this.hidden += over;
				over = 0;
			}
		}

		showPending() {
			if (this.pendingShown) return;
			this.pendingShown = true;
			const lines = [];
			for (const s of ['stdout', 'stderr']) {
				const text = this.pending[s];
				if (!text) continue;
				const div = document.createElement('div');
				div.className = 'line-pending ' + s;
				div.textContent = text.length > PENDING_CHARS ? '…' + text.slice(-PENDING_CHARS) : text;
				lines.push(div);
			}
			this.tail.replaceChildren(...lines);
		}

		showHidden() {
			hiddenEl.hidden = this.hidden === 0;
			hiddenEl.textContent = this.hidden + ' earlier lines hidden (the page keeps the last ' + MAX_LINES + ')';
		}
	}

	// Follow reads one task's log as a stream of NDJSON records.
	class Follow {
		constructor(ns, id) {
			this.ns = ns;
			this.id = id;
			this.ctrl = new AbortController();
			this.stopped = false;
			this.exited = false;
			this.failure = ''; // an error record's text
			this.pending = { stdout: '', stderr: '' }; // partial records not yet ended by a newline
			this.view = new View();
		}

		stop() {
			this.stopped = true;
			this.view.closed = true;
			this.ctrl.abort();
		}

		async run() {
			setError('');
			setState('connecting', 'connecting…');
			exitEl.textContent = durationEl.textContent = sourceEl.textContent = '';
			exitEl.className = '';
			document.title = this.id + ' · brisk logs';
			const url = '/v1/logs/' + encodeURIComponent(this.ns) + '/' + encodeURIComponent(this.id) +
				'?follow=1&format=ndjson';
			const headers = { Accept: 'application/x-ndjson' };
			const token = sessionStorage.getItem(TOKEN_KEY);
			if (token) headers.Authorization = 'Bearer ' + token;
			let resp;
			try {
				resp = await fetch(url, { headers, signal: this.ctrl.signal, cache: 'no-store', credentials: 'omit' });
			} catch (e) {
				return this.lost(e);
			}
			if (this.stopped) return;
			if (!resp.ok) {
				let body = '';
				try { body = (await resp.text()).trim(); } catch (e) { /* the status says enough */ }
				return this.fail(resp.status, body);
			}
			this.showSource(resp.headers);
			setState('following', 'following');
			const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
			let rest = '';
			try {
				for (;;) {
					const { value, done } = await reader.read();
					if (done) break;
					const parts = (rest + value).split('\n');
					rest = parts.pop();
					for (const p of parts) this.record(p);
				}
				this.record(rest);
			} catch (e) {
				return this.lost(e);
			}
			if (this.exited) return;
			if (this.failure) return this.broken(this.failure);
			this.lost(null);
		}

		record(line) {
			if (this.stopped || !line.trim()) return;
			let r;
			try {
				r = JSON.parse(line);
			} catch (e) {
				setError('An unreadable record was skipped: ' + line.slice(0, 200));
				return;
			}
			if (r.exit) return this.finish(r.exit);
			// The service met an error after its answer began (a store
			// read failed, a peer went away): the answer ends here.
			if (typeof r.error === 'string') {
				this.failure = r.error;
				return;
			}
			if (typeof r.log !== 'string') return;
			const stream = r.stream === 'stderr' ? 'stderr' : 'stdout';
			if (r.partial) {
				this.pending[stream] += r.log;
				this.view.setPending(stream, this.pending[stream]);
				return;
			}
			this.view.add(stream, this.pending[stream] + r.log);
			if (this.pending[stream]) this.view.setPending(stream, '');
			this.pending[stream] = '';
		}

		// flushPending shows the lines the log ended without a newline.
		flushPending() {
			for (const s of ['stdout', 'stderr']) {
				if (!this.pending[s]) continue;
				this.view.add(s, this.pending[s]);
				this.view.setPending(s, '');
				this.pending[s] = '';
			}
		}

		finish(exit) {
			this.flushPending();
			this.exited = true;
			setState('exited', 'exited');
			exitEl.textContent = 'exit code ' + exit.code;
			exitEl.className = exit.code === 0 ? 'ok' : 'fail';
			const d = duration(exit.started, exit.exited);
			durationEl.textContent = d ? 'ran ' + d : '';
			if (exit.complete === false) durationEl.textContent += ' (the log is incomplete: some output was not kept)';
		}

		fail(status, body) {
			if (this.stopped) return;
			const hints = {
				401: 'Enter a valid token.',
				403: 'The token is not allowed to read namespace "' + this.ns + '".',
				404: 'No such task.',
				503: 'The log service is busy or cannot reach the store; retry later.',
			};
			setState('error', 'error ' + status);
			setError('HTTP ' + status + (body ? ': ' + body : '') + (hints[status] ? '\n' + hints[status] : ''));
			if (status === 401 || status === 403) tokenBox.focus();
		}

		broken(msg) {
			if (this.stopped) return;
			this.flushPending();
			setState('error', 'error');
			setError('The log service ended the log with an error: ' + msg + '\nRetry reads the log again from its start.');
		}

		lost(e) {
			if (this.stopped) return;
			this.flushPending();
			setState('lost', 'connection lost');
			setError('The connection was lost before the task\'s end' + (e ? ' (' + e.message + ')' : '') +
				'. Retry reads the log again from its start.');
		}

		showSource(h) {
			const node = h.get('Brisk-Node'), source = h.get('Brisk-Source'), down = h.get('Brisk-Unreachable-Peers');
			const parts = [];
			if (node) parts.push('node ' + node);
			if (source) parts.push('from ' + source);
			if (down) parts.push('peers not reached: ' + down);
			sourceEl.textContent = parts.join(' · ');
			sourceEl.className = down ? 'warn' : '';
		}
	}

	// duration formats the time between two RFC 3339 times, or '' when either
	// is missing or zero.
	function duration(a, b) {
		const t0 = parseTime(a), t1 = parseTime(b);
		if (!t0 || !t1 || t1 < t0) return '';
		const s = (t1 - t0) / 1000;
		if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
		const m = Math.floor(s / 60);
		return m + ' min ' + Math.round(s - m * 60) + ' s';
	}

	// parseTime reads RFC3339Nano, whose fractions Date.parse need not take
	// beyond milliseconds.
	function parseTime(s) {
		if (typeof s !== 'string' || s.startsWith('0001-')) return 0;
		const t = Date.parse(s.replace(/(\.\d{3})\d+/, '$1'));
		return Number.isNaN(t) ? 0 : t;
	}

	function setState(state, text) {
		stateEl.dataset.state = state;
		stateEl.textContent = text;
	}

	function setError(text) {
		errorText.textContent = text;
		errorEl.hidden = !text;
	}

	function open(ns, id) {
		if (current) current.stop();
		current = new Follow(ns, id);
		current.run();
	}

	function taskFromPath() {
		const m = /^\/t\/([^/]+)\/([^/]+)\/?$/.exec(location.pathname);
		if (!m) return null;
		try {
			return { ns: decodeURIComponent(m[1]), id: decodeURIComponent(m[2]) };
		} catch (e) {
			return null;
		}
	}

	function openFromPath() {
		const t = taskFromPath();
		if (!t) return;
		nsBox.value = t.ns;
		idBox.value = t.id;
		open(t.ns, t.id);
	}

	tokenBox.value = sessionStorage.getItem(TOKEN_KEY) || '';
	tokenBox.addEventListener('change', () => sessionStorage.setItem(TOKEN_KEY, tokenBox.value.trim()));

	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		sessionStorage.setItem(TOKEN_KEY, tokenBox.value.trim());
		const ns = nsBox.value.trim() || 'default', id = idBox.value.trim();
		if (!id) {
			idBox.focus();
			return;
		}
		// The address of what is shown is the link a CI system prints.
		const path = '/t/' + encodeURIComponent(ns) + '/' + encodeURIComponent(id);
		if (location.pathname !== path) history.pushState(null, '', path);
		open(ns, id);
	});

	retryBtn.addEventListener('click', () => current && open(current.ns, current.id));
	window.addEventListener('popstate', openFromPath);
	for (const s of ['stdout', 'stderr']) {
		$('show-' + s).addEventListener('change', (ev) => logEl.classList.toggle('no-' + s, !ev.target.checked));
	}

	openFromPath();
})();
