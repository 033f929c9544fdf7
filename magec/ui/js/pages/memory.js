// Memory: session and long-term providers, active selection (settings), health, re-embed, browser.
import { api } from '../api.js';
import { store, load, nameOf, modelLabel, setSettings } from '../store.js';
import { toast } from '../toast.js';
import { route, clearParams, onAction } from '../router.js';
import { Icon } from '../components/icon.js';
import { PageHeader, ErrorBanner, Skeleton } from '../components/common.js';
import { confirmDelete } from '../components/confirm.js';
import { MemoryDialog, memoryTypes } from './memory-dialog.js';
import { MemoryBrowser } from './memory-browser.js';

const CATS = [
  { key: 'session', setting: 'sessionProvider', title: 'Session memory', text: 'Where conversations (ADK sessions) are kept between messages.',
    defName: 'Main database', defBadge: 'default', defText: "Sessions live in magec's own database (SQLite or PostgreSQL, per database.url). No setup." },
  { key: 'longterm', setting: 'longTermProvider', title: 'Long-term memory', text: 'Facts agents save and recall across conversations, searched by embeddings.',
    defName: 'Off', defBadge: 'none', defText: 'Agents keep no memories between conversations. Add a provider and select it to turn memory on.' },
];

export default {
  name: 'MemoryPage',
  components: { Icon, PageHeader, ErrorBanner, Skeleton, MemoryDialog, MemoryBrowser },
  // finished: job ids that ended while this page watched them (an old "done" job is not news)
  data() { return { s: store, health: {}, jobs: {}, pending: {}, timers: {}, finished: {} }; },
  template: `
  <div class="page">
    <PageHeader title="Memory" icon="database" :count="s.memory.length" new-label="New provider" @new="$refs.dlg.show()"
      subtitle="Pick where conversations and long-term memories live. Changes apply without a restart."/>
    <ErrorBanner :error="s.errors.memory"/>
    <Skeleton v-if="!s.loaded.memory" :n="2"/>
    <section v-else class="panel" v-for="c in CATS" :key="c.key" :data-testid="'memory-' + c.key">
      <div class="panel-head"><h2>{{ c.title }}</h2>
        <span class="badge" :class="s.settings[c.setting] ? 'ok' : 'muted'" :data-testid="'memory-' + c.key + '-state'">{{ state(c) }}</span>
        <button class="btn ghost sm" type="button" @click="$refs.dlg.show(null, c.key)"><Icon name="plus" :size="14"/> Add</button></div>
      <p class="muted small">{{ c.text }}</p>
      <div class="grid">
        <label class="card entity memory selectable" :class="{active: !s.settings[c.setting]}">
          <header class="card-head"><input type="radio" :name="'active-' + c.key" :checked="!s.settings[c.setting]" @change="activate(c, '')">
            <h3>{{ c.defName }}</h3><span class="badge muted">{{ c.defBadge }}</span></header>
          <p class="muted small">{{ c.defText }}</p>
        </label>
        <article class="card entity memory selectable" v-for="m in providers(c.key)" :key="m.id" :class="{active: s.settings[c.setting] === m.id}" :data-testid="'provider-' + m.name">
          <header class="card-head">
            <input type="radio" :name="'active-' + c.key" :checked="s.settings[c.setting] === m.id" @change="activate(c, m.id)" :aria-label="'Use ' + m.name">
            <h3>{{ m.name }}</h3>
            <span class="type-badge t-mem">{{ typeName(m.type) }}</span>
            <span class="dot" v-if="health[m.id]" :class="health[m.id].healthy ? 'healthy' : 'unhealthy'" :title="health[m.id].detail"></span>
          </header>
          <p class="small" v-if="health[m.id]" :class="health[m.id].healthy ? 'ok-text' : 'error-text'">{{ health[m.id].healthy ? 'Healthy' : 'Unhealthy' }}{{ health[m.id].detail ? ': ' + health[m.id].detail : '' }}</p>
          <dl class="kv-list" v-if="m.category === 'longterm'">
            <dt>Embeddings</dt><dd>{{ m.embedding && m.embedding.backend ? nameOf('backends', m.embedding.backend) : 'not set' }}
              <code v-if="m.embedding && m.embedding.model">{{ m.embedding.model }}</code></dd>
          </dl>
          <div class="banner warn small" v-if="pending[m.id] && !running(m)" data-testid="reembed-needed">
            <!-- the search embeds the query with every model in the store, and reads rows whose model is gone by their words -->
            {{ pending[m.id] }} stored {{ pending[m.id] === 1 ? 'memory uses' : 'memories use' }} another embedding model: still found (with that model, or by {{ pending[m.id] === 1 ? 'its' : 'their' }} words if it is gone). Re-embed to move {{ pending[m.id] === 1 ? 'it' : 'them' }} to this one.</div>
          <div v-if="showJob(m)" class="job" data-testid="reembed-job">
            <div class="row small"><span>Re-embedding {{ jobs[m.id].fromModel ? modelLabel(jobs[m.id].fromModel) + ' → ' : '' }}{{ modelLabel(jobs[m.id].toModel) }}</span>
              <span class="spacer"></span><span>{{ jobs[m.id].status }} · {{ jobs[m.id].done || 0 }}/{{ jobs[m.id].total || 0 }}</span></div>
            <div class="progress"><div :style="{width: pct(jobs[m.id]) + '%'}"></div></div>
            <p class="error-text small" v-if="jobs[m.id].error">{{ jobs[m.id].error }}</p>
          </div>
          <footer class="card-actions">
            <button class="btn ghost sm" type="button" @click="check(m)"><Icon name="activity" :size="14"/> Health</button>
            <button class="btn ghost sm" type="button" v-if="m.category === 'longterm'" @click="reembed(m)" :disabled="running(m)"><Icon name="refresh" :size="14"/> Re-embed</button>
            <span class="spacer"></span>
            <button class="icon-btn" type="button" @click="$refs.dlg.show(m)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
            <button class="icon-btn danger" type="button" @click="remove(m)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
          </footer>
        </article>
      </div>
    </section>
    <MemoryBrowser ref="browser"/>
    <MemoryDialog ref="dlg"/>
  </div>`,
  setup() { return { CATS, nameOf, modelLabel }; },
  mounted() {
    this.off = onAction('new', () => this.$refs.dlg.show());
    if (route.params.edit) clearParams();
    this.loadJobs();
  },
  unmounted() { this.off(); Object.values(this.timers).forEach(clearTimeout); },
  watch: { 's.memory'() { this.loadJobs(); } },
  methods: {
    providers(cat) { return store.memory.filter((m) => m.category === cat); },
    typeName(t) { return memoryTypes().find((x) => x.type === t)?.displayName || t; },
    pct(j) { return j.total ? Math.round((100 * (j.done || 0)) / j.total) : (j.status === 'done' ? 100 : 0); },
    // Long-term: "On · <provider>" / "Off"; session: the provider or the main database.
    state(c) {
      const id = store.settings[c.setting];
      if (c.key === 'longterm') return id ? `On · ${nameOf('memory', id)}` : 'Off';
      return id ? nameOf('memory', id) : c.defName;
    },
    // A running job, a failed one, or one that just finished with nothing left to re-embed;
    // never a finished bar beside "needs re-embedding" (the model changed again since).
    showJob(m) {
      const j = this.jobs[m.id];
      if (!j) return false;
      if (this.running(m) || j.status === 'failed') return true;
      return !this.pending[m.id] && this.finished[m.id] === (j.id || true);
    },
    running(m) { const j = this.jobs[m.id]; return !!j && ['pending', 'queued', 'running'].includes(j.status); },
    async activate(c, id) {
      const next = { ...store.settings, [c.setting]: id };
      try {
        setSettings((await api.put('/settings', next)) || next);
        toast.success(`${c.title}: ${id ? nameOf('memory', id) : c.defName.toLowerCase()}`);
        this.loadJobs();
      } catch (e) { toast.error(e); }
    },
    async check(m) {
      this.health[m.id] = { healthy: false, detail: 'checking…' };
      try { this.health[m.id] = await api.get(`/memory/${m.id}/health`); } catch (e) { this.health[m.id] = { healthy: false, detail: e.message }; }
    },
    // GET /memory/{id}/reembed → {job, pending, model} (older servers: the job itself).
    async jobStatus(id) {
      const st = await api.get(`/memory/${id}/reembed`);
      const job = st && ('job' in st ? st.job : (st.status ? st : null));
      if (job) this.jobs[id] = job;
      this.pending[id] = (st && st.pending) || 0;
      return job;
    },
    loadJobs() {
      for (const m of store.memory.filter((x) => x.category === 'longterm')) {
        if (this.timers[m.id]) continue;
        this.jobStatus(m.id).then((j) => { if (j) this.poll(m.id); }).catch(() => {});
      }
    },
    async reembed(m) {
      try {
        const j = this.jobs[m.id] = await api.post(`/memory/${m.id}/reembed`, {});
        toast.info(`Re-embedding memories of ${m.name}…`);
        if (this.running(m)) this.poll(m.id); else { await this.jobStatus(m.id); this.ended(m.id, this.jobs[m.id] || j); }
      } catch (e) { toast.error(e); }
    },
    ended(id, j) {
      this.finished[id] = j.id || true;
      if (j.status === 'failed') toast.error(`Re-embed failed: ${j.error || 'unknown error'}`);
      else toast.success(`Re-embedded ${j.done}/${j.total} memories`);
      this.$refs.browser?.refresh(); // the rows' embedding model changed
    },
    poll(id) {
      clearTimeout(this.timers[id]);
      if (!this.running({ id })) { delete this.timers[id]; return; }
      this.timers[id] = setTimeout(async () => {
        let j;
        try { j = await this.jobStatus(id); } catch { return; }
        if (j && !this.running({ id })) this.ended(id, j);
        this.poll(id);
      }, 1000);
    },
    async remove(m) {
      if (await confirmDelete({ kind: 'memory provider', name: m.name, path: `/memory/${m.id}` })) {
        await Promise.all([load('memory'), load('backends')]);
        setSettings(await api.get('/settings').catch(() => ({})));
      }
    },
  },
};
