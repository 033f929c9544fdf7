// Playground: chat with any agent or flow over run_sse (streaming), tool calls, authors, voice.
// The conversation survives leaving the page: the server session id is kept per agent/flow and user
// in sessionStorage (this tab only) and the history is read back from the server on return, so what
// is shown is what the agent remembers. Recording shows a timer and a level meter; the transcript
// lands in the message box to be edited and sent by hand. A turn still answering when the user
// leaves goes on in the background (leaving is not "Stop"): on return it is shown live again.
import { reactive } from 'vue';
import { api, raw } from '../api.js';
import { store, isPending } from '../store.js';
import { toast } from '../toast.js';
import { route } from '../router.js';
import { readSSE, applyEvent } from '../sse.js';
import { Recorder, transcribe, speak, stopSpeaking } from '../voice.js';
import { Icon } from '../components/icon.js';
import { renderMarkdown } from '../markdown.js';

const newSession = () => `pg-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const MAX_REC_MS = 120000; // a forgotten recording stops by itself (uploads stay small)
const sidKey = (app, user) => `magec.pg.sid|${app}|${user}`;
const draftKey = (app, user) => `magec.pg.draft|${app}|${user}`;
// Turns still streaming, by app|user|session, kept across page visits: {turn, ctrl, done}.
const live = new Map();
const liveKey = (app, user, sid) => `${app}|${user}|${sid}`;
const clock = (ms) => { const s = Math.floor(ms / 1000); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`; };

// A stored session's events as chat turns: each user message opens a turn, every other event is
// folded into it exactly as the live stream is (same authors, tool calls and results).
export function turnsFromEvents(events) {
  const turns = [];
  let t = null;
  for (const ev of events || []) {
    if (ev.author === 'user') {
      const text = (ev.content?.parts || []).map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
      if (!text) continue; // a state update, not a message
      t = { user: text, items: [], error: '', pending: false };
      turns.push(t);
      continue;
    }
    if (!t) { t = { user: '', items: [], error: '', pending: false }; turns.push(t); }
    applyEvent(t, { ...ev, partial: false });
  }
  turns.forEach((x) => x.items.forEach((it) => { it.open = false; }));
  return turns;
}

export default {
  name: 'PlaygroundPage',
  components: { Icon },
  data() {
    return { s: store, apps: [], app: route.params.app || localStorage.getItem('magec.pg.app') || '', userId: localStorage.getItem('magec.pg.user') || 'admin',
      sessionId: newSession(), created: false, turns: [], input: '', busy: false, ctrl: null, rec: null,
      recState: '', recMs: 0, level: 0, transcript: null, autoSpeak: false, loadError: '', restoring: false };
  },
  computed: {
    // list-apps, plus the chosen app while the runtime is still building it (e.g. "Run" right after a save)
    allApps() {
      if (!this.app || this.apps.some((a) => a.id === this.app)) return this.apps;
      const a = store.agents.find((x) => x.id === this.app);
      const f = store.flows.find((x) => x.id === this.app);
      const extra = a ? { ...a, kind: 'agent' } : f ? { ...f, kind: 'flow' } : null;
      return extra ? [...this.apps, { ...extra, valid: false, invalidReason: 'building' }] : this.apps;
    },
    current() { return this.allApps.find((a) => a.id === this.app); },
    recording() { return this.recState === 'recording'; },
    transcribing() { return this.recState === 'transcribing'; },
    recClock() { return clock(this.recMs); },
    agent() { return store.agents.find((a) => a.id === this.app); },
    // Agents that can speak/listen for this app: the agent itself, or (flows) any agent in it.
    voiceAgents() {
      if (this.agent) return [this.agent];
      const flow = store.flows.find((f) => f.id === this.app);
      const ids = [];
      const walk = (st) => { if (!st) return; if (st.type === 'agent' && st.agentId) ids.push(st.agentId); (st.steps || []).forEach(walk); };
      if (flow) (flow.nodes || [flow.root]).forEach(walk); // graph flows: their nodes
      return ids.map((id) => store.agents.find((a) => a.id === id)).filter(Boolean);
    },
    canListen() { return this.voiceAgents.some((a) => a.transcription?.backend); },
    canSpeak() { return this.voiceAgents.some((a) => a.tts?.backend); },
    agentsList() { return this.allApps.filter((a) => a.kind !== 'flow'); },
    flowsList() { return this.allApps.filter((a) => a.kind === 'flow'); },
    // For flows: ids of the agents whose answer the end user sees.
    responders() {
      const flow = store.flows.find((f) => f.id === this.app);
      const out = new Set();
      const walk = (st) => { if (!st) return; if (st.type === 'agent' && st.responseAgent) out.add(st.agentId); (st.steps || []).forEach(walk); };
      if (flow) (flow.nodes || [flow.root]).forEach(walk); // graph flows: their nodes
      return out;
    },
  },
  watch: {
    app(v) { localStorage.setItem('magec.pg.app', v); this.restore(); },
    userId(v) { localStorage.setItem('magec.pg.user', v); this.restore(); },
    input(v) { if (this.app) { if (v) sessionStorage.setItem(draftKey(this.app, this.userId), v); else sessionStorage.removeItem(draftKey(this.app, this.userId)); } },
    'route.params.app'(v) { if (v) this.app = v; },
    // Validity changes as the runtime rebuilds: follow the store's refreshes.
    's.agents'() { this.loadApps(); },
    's.flows'() { this.loadApps(); },
  },
  template: `
  <div class="page playground">
    <aside class="pg-side panel">
      <h1><Icon name="chat" :size="22"/> Playground</h1>
      <div class="field"><label for="pg-app">Agent or flow</label>
        <select id="pg-app" v-model="app" data-testid="pg-app">
          <option value="" disabled>— choose —</option>
          <optgroup label="Agents" v-if="agentsList.length"><option v-for="a in agentsList" :key="a.id" :value="a.id">{{ a.name }}{{ suffix(a) }}</option></optgroup>
          <optgroup label="Flows" v-if="flowsList.length"><option v-for="a in flowsList" :key="a.id" :value="a.id">{{ a.name }}{{ suffix(a) }}</option></optgroup>
        </select>
        <p class="error-text small" v-if="current && current.valid === false && !isPending(current)">{{ current.invalidReason || 'This app is invalid.' }}</p>
        <p class="error-text small" v-if="loadError">{{ loadError }}</p></div>
      <div class="field pg-extra"><label for="pg-user">User id</label><input id="pg-user" v-model.lazy.trim="userId"></div>
      <div class="field pg-extra"><label>Session</label><code class="small">{{ sessionId }}</code></div>
      <label class="check" v-if="canSpeak"><input type="checkbox" v-model="autoSpeak"> Speak answers</label>
      <div class="muted small pg-extra" v-if="current">
        <div v-if="canListen"><Icon name="mic" :size="12"/> Speech-to-text ready</div>
        <div v-if="canSpeak"><Icon name="volume" :size="12"/> Text-to-speech ready</div>
        <div v-if="!canListen && !canSpeak">No voice configured for this {{ agent ? 'agent' : 'flow' }}.</div></div>
      <button class="btn secondary" type="button" @click="reset(true)" data-testid="pg-reset"><Icon name="refresh" :size="16"/> Reset session</button>
    </aside>
    <section class="pg-chat panel">
      <div class="pg-log" ref="log" data-testid="pg-log">
        <div class="muted pg-empty" v-if="restoring && !turns.length">Loading the conversation…</div>
        <div class="muted pg-empty" v-else-if="!turns.length">{{ app ? 'Say something to ' + (current ? current.name : 'the agent') + '.' : 'Choose an agent or a flow to start.' }}</div>
        <div v-for="(t, ti) in turns" :key="ti" class="turn">
          <div class="msg user" v-if="t.user"><div class="bubble">{{ t.user }}</div></div>
          <template v-for="(it, i) in t.items" :key="i">
            <div v-if="it.kind === 'text'" class="msg agent" :class="{intermediate: responders.size && !isResponder(it.author)}" :data-author="it.author">
              <div class="author">{{ authorName(it.author) }}<span class="badge ok" v-if="responders.size && isResponder(it.author)">response</span></div>
              <div class="bubble md" :class="{streaming: it.open}" data-testid="agent-text" v-html="renderMarkdown(it.text)"></div>
              <span class="badge muted pg-interrupted" v-if="it.interrupted" data-testid="interrupted"
                title="The answer was cut off (Stop, or the client hung up): only what had been said is kept, and the agent remembers just that">interrupted</span>
              <button v-if="speakerFor(it.author) && !it.open" class="icon-btn sm" type="button" @click="play(it.text, it.author)" title="Play" aria-label="Play answer"><Icon name="play" :size="14"/></button>
            </div>
            <details v-else class="tool-call" :data-author="it.author">
              <summary><Icon name="tool" :size="14"/> <strong>{{ it.name }}</strong> <span class="muted small">by {{ authorName(it.author) }}</span>
                <span class="badge" :class="it.response === undefined ? 'muted' : 'ok'">{{ it.response === undefined ? 'calling…' : 'done' }}</span></summary>
              <div class="small"><div class="label">Arguments</div><pre>{{ fmt(it.args) }}</pre>
                <template v-if="it.response !== undefined"><div class="label">Result</div><pre>{{ fmt(it.response) }}</pre></template></div>
            </details>
          </template>
          <div class="typing" v-if="t.pending && !t.items.length"><span></span><span></span><span></span></div>
          <div class="banner error small" v-if="t.error" role="alert"><Icon name="alert" :size="14"/> {{ t.error }}</div>
        </div>
      </div>
      <div class="pg-transcript small" v-if="transcript !== null && !recState" data-testid="pg-transcript">
        <Icon name="mic" :size="14"/> <span>From speech: edit it if needed, then send.</span>
        <button class="btn ghost sm" type="button" @click="discardTranscript">Discard</button></div>
      <form class="pg-input" @submit.prevent="send()" @keydown.esc="cancelRec">
        <button v-if="canListen" class="icon-btn big" :class="{rec: recording}" type="button" @click="toggleRec" :disabled="transcribing || busy"
          :title="recording ? 'Stop recording' : 'Record'" :aria-label="recording ? 'Stop recording' : 'Record'"><Icon :name="recording ? 'stop' : 'mic'"/></button>
        <div v-if="recState" class="pg-rec" data-testid="pg-rec">
          <span class="pg-rec-dot" v-if="recording" aria-hidden="true"></span>
          <span class="pg-rec-time" role="timer" aria-label="Recording time" data-testid="pg-rec-timer">{{ recClock }}</span>
          <div class="pg-meter" role="meter" aria-label="Microphone level" aria-valuemin="0" aria-valuemax="100" :aria-valuenow="Math.round(level * 100)"
            data-testid="pg-rec-level"><span :style="{ width: Math.round(level * 100) + '%' }"></span></div>
          <span class="muted small pg-rec-note" aria-live="polite"><template v-if="transcribing"><Icon name="refresh" :size="14" class="spin"/> Transcribing…</template>
            <template v-else>Recording… press stop when done</template></span>
          <button class="btn ghost sm" type="button" @click="cancelRec" data-testid="pg-rec-cancel">Cancel</button>
        </div>
        <textarea v-show="!recState" ref="input" v-model="input" rows="1" placeholder="Message… (Enter to send, Shift+Enter: new line)"
          @keydown.enter.exact.prevent="send()" :disabled="!app" aria-label="Message" data-testid="pg-input"></textarea>
        <button v-if="busy" class="btn secondary" type="button" @click="stop"><Icon name="stop" :size="16"/> Stop</button>
        <button v-else class="btn" type="submit" :disabled="!app || !input.trim() || !!recState"><Icon name="send" :size="16"/> Send</button>
      </form>
    </section>
  </div>`,
  setup() { return { route, renderMarkdown }; },
  async mounted() {
    await this.loadApps();
    // An app asked for in the URL ("Run" / "Chat") wins even while the runtime still builds it.
    const known = (id) => !!id && (this.apps.some((a) => a.id === id) || store.agents.some((a) => a.id === id) || store.flows.some((f) => f.id === id));
    const app = known(this.app) ? this.app : this.apps[0]?.id || '';
    if (app !== this.app) { this.app = app; return; } // the watcher remembers it and restores its conversation
    if (app) localStorage.setItem('magec.pg.app', app); // e.g. the flow "Run" opened: the next visit returns to it
    await this.restore();
  },
  unmounted() {
    this.ctrl = null; // a running turn goes on (see `live`); it is shown again on return
    this.cancelRec(); stopSpeaking(); clearTimeout(this.appsTimer);
  },
  methods: {
    authorName(a) {
      const x = store.agents.find((g) => g.id === a || g.name === a) || store.flows.find((f) => f.id === a || f.name === a);
      return x ? x.name : a;
    },
    isPending,
    suffix(a) { return isPending(a) ? ' (building…)' : a.valid === false ? ' (invalid)' : ''; },
    async loadApps() {
      clearTimeout(this.appsTimer);
      try {
        this.apps = await api.get('/agent/list-apps'); this.loadError = '';
        if (this.apps.some(isPending) && (this.appsPolls = (this.appsPolls || 0) + 1) < 30) this.appsTimer = setTimeout(() => this.loadApps(), 700);
      } catch (e) {
        this.loadError = `Could not list apps: ${e.message}`;
        this.apps = [...store.agents.map((a) => ({ ...a, kind: 'agent' })), ...store.flows.map((f) => ({ ...f, kind: 'flow' }))];
      }
    },
    isResponder(a) {
      const ag = store.agents.find((g) => g.id === a || g.name === a);
      return this.responders.has(ag ? ag.id : a);
    },
    fmt(v) { return v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v, null, 2); },
    scroll() { this.$nextTick(() => { const l = this.$refs.log; if (l) l.scrollTop = l.scrollHeight; }); },
    sessionPath() { return `/agent/apps/${encodeURIComponent(this.app)}/users/${encodeURIComponent(this.userId)}/sessions/${encodeURIComponent(this.sessionId)}`; },
    focusInput() { this.$nextTick(() => { const el = this.$refs.input; if (el && !el.disabled && !this.recState) el.focus(); }); },
    // Show the conversation this tab last had with the chosen app and user (read back from the
    // server: it is what the agent remembers), or a fresh session id when there is none.
    async restore() {
      this.ctrl = null; this.busy = false; // another app's running turn goes on in the background
      this.cancelRec(); this.transcript = null;
      const seq = (this.restoreSeq = (this.restoreSeq || 0) + 1);
      const app = this.app; const user = this.userId;
      const sid = app ? sessionStorage.getItem(sidKey(app, user)) : null;
      this.turns = []; this.created = false; this.sessionId = sid || newSession();
      this.input = app ? sessionStorage.getItem(draftKey(app, user)) || '' : '';
      this.focusInput();
      if (!sid) return;
      const running = live.get(liveKey(app, user, sid));
      if (running) this.follow(running);
      this.restoring = true;
      try {
        const session = await api.get(this.sessionPath());
        if (seq !== this.restoreSeq) return; // the user moved on meanwhile
        let past = turnsFromEvents(session.events);
        if (running) {
          // the stored part of the running turn is replaced by the live one (which has all of it)
          if (past.length && past[past.length - 1].user === running.turn.user) past = past.slice(0, -1);
          if (!this.turns.includes(running.turn)) past.push(running.turn);
        }
        // a message sent while the history was loading stays, after it
        this.turns = [...past, ...this.turns]; this.created = true;
      } catch (e) {
        if (seq !== this.restoreSeq) return;
        if (e.status === 404) { sessionStorage.removeItem(sidKey(app, user)); this.sessionId = newSession(); } // deleted elsewhere
        else this.loadError = `Could not load the conversation: ${e.message}`;
      } finally { if (seq === this.restoreSeq) { this.restoring = false; this.scroll(); this.focusInput(); } }
    },
    // Show `run` (a turn streaming in the background, or just started) as this page's busy turn.
    follow(run) {
      this.busy = true; this.ctrl = run.ctrl;
      run.done.then(() => {
        if (this.ctrl !== run.ctrl) return; // left, switched or reset meanwhile
        this.busy = false; this.ctrl = null; this.scroll(); this.focusInput();
      });
    },
    async reset(server) {
      if (this.ctrl) this.ctrl.abort();
      if (server && this.created) { try { await api.del(this.sessionPath()); toast.info('Session reset'); } catch (e) { if (e.status !== 404) toast.error(e); } }
      if (this.app) sessionStorage.removeItem(sidKey(this.app, this.userId));
      this.turns = []; this.created = false; this.sessionId = newSession(); this.focusInput();
    },
    async send(text) {
      const msg = (text ?? this.input).trim();
      if (!msg || !this.app || this.busy || this.recState) return;
      this.input = ''; this.transcript = null;
      // module-level and reactive: the turn outlives this page visit (see `live`)
      const t = reactive({ user: msg, items: [], error: '', pending: true });
      this.turns.push(t);
      const app = this.app; const user = this.userId; const sid = this.sessionId; const key = liveKey(app, user, sid);
      let finish;
      const run = { turn: t, ctrl: new AbortController(), done: new Promise((r) => { finish = r; }) };
      live.set(key, run);
      this.follow(run); this.scroll();
      try {
        if (!this.created) {
          await api.post(this.sessionPath(), {}); this.created = true;
          sessionStorage.setItem(sidKey(app, user), sid);
        }
        const res = await raw('POST', '/agent/run_sse', { signal: run.ctrl.signal, headers: { Accept: 'text/event-stream' },
          body: { appName: app, userId: user, sessionId: sid, newMessage: { role: 'user', parts: [{ text: msg }] }, streaming: true } });
        for await (const ev of readSSE(res)) { applyEvent(t, ev); if (this.ctrl === run.ctrl) this.scroll(); }
        if (!t.items.length && !t.error) t.error = 'The agent returned no answer.';
      } catch (e) {
        if (e.name !== 'AbortError') t.error = e.message;
        // Stop: the server keeps what was said as an interrupted answer; show it as the history will
        else t.items.forEach((it) => { if (it.kind === 'text' && it.open) it.interrupted = true; });
      } finally {
        t.pending = false; t.items.forEach((it) => { it.open = false; });
        live.delete(key);
      }
      const shown = this.ctrl === run.ctrl;
      finish();
      if (shown && this.autoSpeak && this.canSpeak) {
        const last = [...t.items].reverse().find((it) => it.kind === 'text' && this.speakerFor(it.author));
        if (last) this.play(last.text, last.author);
      }
    },
    stop() { if (this.ctrl) this.ctrl.abort(); },
    // Which agent reads a message aloud: the author when it has TTS, else (agents) the agent itself.
    speakerFor(author) {
      const a = store.agents.find((g) => g.id === author || g.name === author);
      if (a && a.tts?.backend && this.voiceAgents.includes(a)) return a.id;
      return this.agent && this.canSpeak ? this.agent.id : null;
    },
    async play(text, author) {
      const who = author ? this.speakerFor(author) : null;
      try { await speak(this.app, text, this.agent ? null : who); } catch (e) { toast.error(`Speech failed: ${e.message}`); }
    },
    // Record → stop → the transcript is put in the message box (never sent by itself); Cancel (or
    // Escape) drops the recording or the pending transcription.
    async toggleRec() {
      if (this.recState === 'transcribing') return;
      if (!this.recording) {
        const rec = new Recorder();
        try { await rec.start(); } catch (e) { toast.error(`Microphone unavailable: ${e.message}`); return; }
        this.rec = rec; this.recState = 'recording'; this.recMs = 0; this.level = 0;
        this.recTimer = setInterval(() => this.tick(), 100);
        return;
      }
      this.stopMeter();
      const rec = this.rec; this.rec = null; this.recState = 'transcribing';
      const ctrl = (this.recCtrl = new AbortController());
      try {
        const blob = await rec.stop();
        const text = (await transcribe(this.app, blob, undefined, ctrl.signal)).trim();
        if (ctrl.signal.aborted) return;
        if (!text) { toast.info('Nothing was heard'); return; }
        const before = this.input;
        this.input = before.trim() ? `${before.trimEnd()} ${text}` : text;
        this.transcript = { before };
      } catch (e) {
        if (e.name !== 'AbortError' && !ctrl.signal.aborted) toast.error(`Transcription failed: ${e.message}`);
      } finally {
        if (this.recCtrl === ctrl) { this.recCtrl = null; this.recState = ''; this.placeCaret(); }
      }
    },
    tick() {
      if (!this.rec) return;
      this.recMs = this.rec.elapsed();
      this.level = Math.max(this.rec.level(), this.level * 0.75); // fast attack, slow decay
      if (this.recMs >= MAX_REC_MS) this.toggleRec();
    },
    stopMeter() { clearInterval(this.recTimer); this.recTimer = null; this.level = 0; },
    cancelRec() {
      this.stopMeter();
      if (this.rec) { this.rec.cancel(); this.rec = null; }
      if (this.recCtrl) { this.recCtrl.abort(); this.recCtrl = null; }
      if (this.recState) { this.recState = ''; this.focusInput(); }
    },
    discardTranscript() { if (this.transcript) { this.input = this.transcript.before; this.transcript = null; } this.focusInput(); },
    placeCaret() {
      this.$nextTick(() => {
        const el = this.$refs.input;
        if (!el || el.disabled) return;
        el.focus(); el.setSelectionRange(el.value.length, el.value.length);
      });
    },
  },
};
