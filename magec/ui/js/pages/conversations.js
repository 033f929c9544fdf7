// Conversations: the audit of every turn (docs/conversations.md). Browse and filter
// (GET /conversations), open one as the user saw it or as the admin (?view=user|admin), delete,
// clear, export (GET /conversations/export, fetched with the admin password, saved as a file).
import { api, raw } from '../api.js';
import { store, nameOf, fmtTime, userLabel, setSettings } from '../store.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';
import { PageHeader } from '../components/common.js';
import { ask } from '../components/confirm.js';
import { renderMarkdown } from '../markdown.js';
import { route } from '../router.js';

const LIMIT = 25;
const SOURCES = [['direct', 'Direct'], ['voice-ui', 'Voice UI'], ['playground', 'Playground'], ['telegram', 'Telegram'],
  ['slack', 'Slack'], ['discord', 'Discord'], ['webhook', 'Webhook'], ['cron', 'Cron']];

export default {
  name: 'ConversationsPage',
  components: { Icon, PageHeader },
  data() {
    // a link may preset a filter (#/conversations?clientId=…: a client card's "Conversations")
    const p = route.params;
    return { s: store, f: { agentId: p.agentId || '', source: p.source || '', clientId: p.clientId || '', userId: '', from: '', to: '', q: '' },
      items: [], total: 0, offset: 0, stats: null, loading: false, open: null, view: 'user', detail: null, SOURCES,
      retention: null };
  },
  template: `
  <div class="page" data-testid="conversations-page">
    <PageHeader title="Conversations" icon="activity" :count="stats ? stats.total : null"
      subtitle="Every turn on every surface: who asked, which agent, backend and model answered, tokens, latency, tools and errors.">
      <button class="btn secondary" type="button" @click="exportAs('csv')" data-testid="export-csv"><Icon name="down" :size="14"/> CSV</button>
      <button class="btn secondary" type="button" @click="exportAs('jsonl')" data-testid="export-jsonl"><Icon name="down" :size="14"/> JSON lines</button>
      <button class="btn danger" type="button" @click="clearAll" :disabled="!total" data-testid="clear-all"><Icon name="trash" :size="14"/> Clear all</button>
    </PageHeader>
    <div class="tiles" v-if="stats" data-testid="conversation-stats">
      <div class="tile"><Icon name="chat" :size="20"/><span class="tile-n">{{ stats.turns }}</span><span class="tile-l">Turns</span></div>
      <div class="tile"><Icon name="zap" :size="20"/><span class="tile-n">{{ stats.inputTokens + stats.outputTokens }}</span><span class="tile-l">Tokens</span></div>
      <div class="tile"><Icon name="activity" :size="20"/><span class="tile-n">{{ stats.avgLatencyMs == null ? '—' : Math.round(stats.avgLatencyMs) + ' ms' }}</span><span class="tile-l">Avg latency</span></div>
      <div class="tile"><Icon name="alert" :size="20"/><span class="tile-n">{{ stats.errors }}</span><span class="tile-l">Errors</span></div>
      <div class="tile" v-if="stats.cancelled" data-testid="stats-cancelled" title="Turns whose client hung up (or magec stopped) before the answer was complete: not errors"><Icon name="x" :size="20"/><span class="tile-n">{{ stats.cancelled }}</span><span class="tile-l">Cancelled</span></div>
      <div class="tile"><Icon name="refresh" :size="20"/><span class="tile-n">{{ stats.fallbacks }}</span><span class="tile-l">Fallbacks</span></div>
    </div>
    <details class="panel" v-if="!open && retention" data-testid="retention">
      <summary><strong>Recording and retention</strong> <span class="muted small">{{ retention.enabled ? 'recording' : 'off' }}{{ retention.retentionDays ? ' · ' + retention.retentionDays + ' days' : '' }}{{ retention.maxTurns ? ' · at most ' + retention.maxTurns + ' turns' : '' }}</span></summary>
      <form class="row wrap filters" @submit.prevent="saveRetention">
        <label class="row"><input type="checkbox" v-model="retention.enabled"> Record conversations</label>
        <label>Keep days <input type="number" min="0" v-model.number="retention.retentionDays" aria-label="Retention days" style="width: 7em"></label>
        <label>Max turns <input type="number" min="0" v-model.number="retention.maxTurns" aria-label="Maximum turns" style="width: 9em"></label>
        <span class="muted small">0 = keep everything</span>
        <button class="btn secondary" type="submit">Save</button>
        <button class="btn ghost" type="button" @click="pruneNow">Prune now</button>
      </form>
    </details>
    <section class="panel" v-if="!open">
      <form class="row wrap filters" @submit.prevent="search(0)">
        <select v-model="f.agentId" aria-label="Agent or flow" data-testid="filter-agent"><option value="">All agents and flows</option>
          <option v-for="a in s.agents" :key="a.id" :value="a.id">{{ a.name }}</option>
          <option v-for="fl in s.flows" :key="fl.id" :value="fl.id">{{ fl.name }} (flow)</option></select>
        <select v-model="f.source" aria-label="Source" data-testid="filter-source"><option value="">All sources</option>
          <option v-for="o in SOURCES" :key="o[0]" :value="o[0]">{{ o[1] }}</option></select>
        <select v-model="f.clientId" aria-label="Client" data-testid="filter-client"><option value="">All clients</option>
          <option v-for="c in s.clients" :key="c.id" :value="c.id">{{ c.name }}</option></select>
        <input v-model.trim="f.userId" placeholder="User id" aria-label="User">
        <input v-model="f.from" type="date" aria-label="From">
        <input v-model="f.to" type="date" aria-label="To">
        <input v-model.trim="f.q" placeholder="Search messages…" type="search" aria-label="Search conversations" class="grow" data-testid="filter-q">
        <button class="btn secondary" type="submit"><Icon name="search" :size="14"/> Search</button>
      </form>
      <div class="table-wrap" v-if="items.length">
        <table class="table" data-testid="conversation-list">
          <thead><tr><th>Conversation</th><th>Agent</th><th>Source</th><th>User</th><th>Turns</th><th>Tokens</th><th>Last activity</th><th></th></tr></thead>
          <tbody>
            <tr v-for="c in items" :key="c.id" style="cursor: pointer" @click="show(c, 'user')" :data-id="c.id">
              <td class="content">{{ c.summary || c.preview || '(no text)' }}
                <span class="badge danger" v-if="c.errors">{{ c.errors }} error{{ c.errors > 1 ? 's' : '' }}</span><span class="badge" v-if="c.cancelled" title="the client hung up before the answer was complete">{{ c.cancelled }} cancelled</span></td>
              <td>{{ c.agentName || nameOf('agents', c.agentId) }}<span class="badge muted" v-if="c.flowId">flow</span></td>
              <td><span class="badge muted">{{ sourceLabel(c.source) }}</span><div class="small muted" v-if="c.clientName">{{ c.clientName }}</div></td>
              <td class="user"><code data-testid="conversation-user" :title="c.userId">{{ userLabel(c.userId, c.userName) }}</code></td>
              <td>{{ c.turns }}</td>
              <td class="small">{{ c.inputTokens }} / {{ c.outputTokens }}</td>
              <td class="small nowrap">{{ fmtTime(c.endedAt) }}</td>
              <td class="nowrap" @click.stop>
                <button class="icon-btn" type="button" @click="show(c, 'admin')" title="Open as admin" aria-label="Open as admin"><Icon name="eye"/></button>
                <button class="icon-btn danger" type="button" @click="remove(c)" title="Delete" aria-label="Delete conversation"><Icon name="trash"/></button></td>
            </tr>
          </tbody>
        </table>
      </div>
      <p class="muted" v-else-if="!loading" data-testid="no-conversations">No conversations{{ filtered ? ' match these filters' : ' recorded yet' }}.</p>
      <div class="row pager" v-if="total > LIMIT">
        <button class="btn ghost sm" type="button" :disabled="offset === 0" @click="search(offset - LIMIT)">Previous</button>
        <span class="muted small">{{ offset + 1 }}–{{ Math.min(offset + LIMIT, total) }} of {{ total }}</span>
        <button class="btn ghost sm" type="button" :disabled="offset + LIMIT >= total" @click="search(offset + LIMIT)">Next</button>
      </div>
    </section>
    <section class="panel" v-else data-testid="conversation-detail">
      <div class="panel-head">
        <button class="btn ghost sm" type="button" @click="close"><Icon name="right" :size="14" style="transform: rotate(180deg)"/> Back</button>
        <h2>{{ open.agentName }} · <code data-testid="detail-user">{{ userLabel(open.userId, open.userName) }}</code></h2>
        <div class="seg" role="tablist" aria-label="Perspective">
          <label :class="{on: view === 'user'}"><input type="radio" value="user" v-model="view" @change="load">As the user saw it</label>
          <label :class="{on: view === 'admin'}"><input type="radio" value="admin" v-model="view" @change="load">Admin (steps, tools, models)</label>
        </div>
        <button class="btn danger sm" type="button" @click="remove(open)"><Icon name="trash" :size="14"/> Delete</button>
      </div>
      <p class="small muted">Session <code>{{ open.sessionId }}</code> · {{ sourceLabel(open.source) }}<span v-if="open.clientName"> · {{ open.clientName }}</span> · started {{ fmtTime(open.startedAt) }}</p>
      <div class="pg-log" v-if="detail" :data-view="view">
        <template v-for="(m, i) in detail.messages" :key="i">
          <div v-if="m.role === 'user'" class="msg user" data-testid="user-message">
            <div class="bubble">{{ m.content }}</div>
            <div class="small muted" v-if="m.metadata">{{ m.metadata.surface }} · {{ m.metadata.backendName || m.metadata.backend }} {{ m.metadata.model }}<span v-if="m.metadata.fallback"> (fallback {{ m.metadata.fallback }})</span> · {{ m.metadata.inputTokens }}+{{ m.metadata.outputTokens }} tokens · {{ Math.round(m.metadata.latencyMs) }} ms</div>
          </div>
          <template v-else>
            <details v-for="(t, j) in (m.toolCalls || [])" :key="i + '-' + j" class="tool-call" data-testid="tool-call">
              <summary><Icon name="tool" :size="14"/> <strong>{{ t.name }}</strong> <span class="muted small">by {{ m.agent }}</span></summary>
              <div class="small"><template v-if="t.args !== undefined"><div class="label">Arguments</div><pre>{{ fmt(t.args) }}</pre></template>
                <template v-if="t.result !== undefined"><div class="label">Result</div><pre>{{ fmt(t.result) }}</pre></template></div>
            </details>
            <div v-if="m.content || !(m.toolCalls || []).length" class="msg agent" :class="{intermediate: m.metadata && m.metadata.visible === false}" data-testid="agent-message">
              <div class="author">{{ m.agent }}<span class="badge muted" v-if="m.metadata && m.metadata.visible === false">not shown to the user</span>
                <span class="badge muted" v-if="m.metadata && m.metadata.model">{{ m.metadata.model }}</span>
                <span class="badge warn" v-if="m.metadata && m.metadata.fallback">fallback</span>
                <span class="badge muted" v-if="m.metadata && m.metadata.errorCode === 'cancelled'" data-testid="interrupted" title="the client hung up (or magec stopped) before the answer was complete: what had been said is kept">interrupted</span></div>
              <div class="bubble md" :class="{error: m.metadata && m.metadata.errorCode && m.metadata.errorCode !== 'cancelled'}" v-html="renderMarkdown(m.content || '')"></div>
            </div>
          </template>
        </template>
      </div>
    </section>
  </div>`,
  setup() { return { nameOf, fmtTime, renderMarkdown, userLabel, LIMIT }; },
  computed: { filtered() { return Object.values(this.f).some(Boolean); } },
  mounted() { this.search(0); this.loadRetention(); },
  methods: {
    params(extra = {}) {
      const qs = new URLSearchParams(extra);
      for (const [k, v] of Object.entries(this.f)) if (v) qs.set(k, v);
      return qs;
    },
    async search(offset) {
      this.loading = true;
      try {
        const [list, stats] = await Promise.all([
          api.get(`/conversations?${this.params({ perspective: 'user', limit: LIMIT, offset })}`),
          api.get(`/conversations/stats?${this.params()}`),
        ]);
        this.items = list.items || []; this.total = list.total || 0; this.offset = offset; this.stats = stats;
      } catch (e) { toast.error(e); } finally { this.loading = false; }
    },
    sourceLabel(src) { return (SOURCES.find((o) => o[0] === src) || [src, src || '—'])[1]; },
    fmt(v) { return typeof v === 'string' ? v : JSON.stringify(v, null, 2); },
    show(c, view) { this.open = c; this.view = view; this.detail = null; this.load(); },
    close() { this.open = null; this.detail = null; },
    async load() {
      try {
        const r = await api.get(`/conversations/${this.open.id}?view=${this.view}&msgLimit=0`);
        this.detail = r.conversation;
      } catch (e) { toast.error(e); }
    },
    async remove(c) {
      if (!(await ask('Delete this conversation log? The session itself is kept.', { title: 'Delete conversation', ok: 'Delete', danger: true }))) return;
      try { await api.del(`/conversations/${c.id}`); toast.success('Conversation deleted'); this.close(); this.search(this.offset); } catch (e) { toast.error(e); }
    },
    async clearAll() {
      if (!(await ask('Delete ALL conversation logs? Sessions are kept. This cannot be undone.', { title: 'Clear conversations', ok: 'Clear all', danger: true }))) return;
      try { await api.del('/conversations/clear'); toast.success('All conversations cleared'); this.search(0); } catch (e) { toast.error(e); }
    },
    async loadRetention() {
      try {
        const settings = await api.get('/settings');
        this.retention = { enabled: true, retentionDays: 0, maxTurns: 0, ...(settings.conversations || {}) };
      } catch (e) { toast.error(e); }
    },
    async saveRetention() {
      // the whole settings object: an absent Magec field (sessionProvider…) would go back to its default
      try {
        const settings = await api.get('/settings');
        setSettings(await api.put('/settings', { ...settings, conversations: this.retention }));
        toast.success('Retention saved');
      } catch (e) { toast.error(e); }
    },
    async pruneNow() {
      try { const r = await api.post('/conversations/prune'); toast.success(`${r.deleted} old turns deleted`); this.search(0); } catch (e) { toast.error(e); }
    },
    async exportAs(format) {
      try {
        const res = await raw('GET', `/conversations/export?${this.params({ format })}`);
        const url = URL.createObjectURL(await res.blob());
        const a = document.createElement('a');
        a.href = url; a.download = `conversations.${format}`;
        document.body.appendChild(a); a.click(); a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      } catch (e) { toast.error(e); }
    },
  },
};
