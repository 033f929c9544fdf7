// Browse / search / delete stored memories: GET /memory/entries?agent=&user=&q=&limit=&offset=
// The count is the number of memories stored ("N of M" while filters narrow the table).
// Memories are stored per session owner, "<clientId>:<userId>" for a client's users: the table
// shows the user id as the client knows it with the client's name (as Conversations does), and the
// filter takes a client and a user id apart (the raw key was a uuid nobody could type).
import { api } from '../api.js';
import { store, nameOf, modelLabel, fmtTime, userLabel } from '../store.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';
import { ask } from '../components/confirm.js';

const LIMIT = 20;

export const MemoryBrowser = {
  name: 'MemoryBrowser',
  components: { Icon },
  data() { return { s: store, f: { agent: '', client: '', user: '', q: '' }, items: [], total: 0, stored: 0, offset: 0, shown: {}, loading: false, error: '', inactive: false }; },
  template: `
  <section class="panel" data-testid="memory-browser">
    <div class="panel-head"><h2>Stored memories</h2><span class="count" data-testid="memory-count" :title="filtered ? total + ' match of ' + stored + ' stored' : stored + ' stored'">{{ filtered ? total + ' of ' + stored : stored }}</span></div>
    <form class="row wrap filters" @submit.prevent="search(0)">
      <select v-model="f.agent" aria-label="Agent"><option value="">All agents</option>
        <option v-for="a in s.agents" :key="a.id" :value="a.id">{{ a.name }}</option></select>
      <select v-if="s.clients.length" v-model="f.client" aria-label="Client" data-testid="memory-client"><option value="">All clients</option>
        <option v-for="c in s.clients" :key="c.id" :value="c.id">{{ c.name }}</option></select>
      <input v-model.trim="f.user" placeholder="User id" aria-label="User">
      <input v-model.trim="f.q" placeholder="Search text…" type="search" aria-label="Search memories" class="grow">
      <button class="btn secondary" type="submit"><Icon name="search" :size="14"/> Search</button>
    </form>
    <p :class="inactive ? 'muted' : 'error-text'" v-if="error">{{ error }}</p>
    <div class="table-wrap" v-if="items.length">
      <table class="table memory-table">
        <thead><tr><th>Memory</th><th>Agent</th><th>User</th><th>Model</th><th>Created</th><th></th></tr></thead>
        <tbody>
          <tr v-for="m in items" :key="m.id">
            <td class="content">{{ m.content }}<span class="badge muted" v-if="m.score != null" title="similarity">{{ Number(m.score).toFixed(2) }}</span></td>
            <td>{{ nameOf('agents', m.appName || m.app) }}</td>
            <td class="user" :title="m.userId || m.user"><code data-testid="memory-user">{{ userLabel(owner(m).user, m.userName) }}</code>
              <div class="small muted" v-if="owner(m).client" data-testid="memory-client-name">{{ owner(m).client }}</div></td>
            <td class="small">{{ modelLabel(m.embeddingModel) }}</td>
            <td class="small nowrap">{{ fmtTime(m.createdAt) }}</td>
            <td><button class="icon-btn danger" type="button" @click="remove(m)" title="Delete memory" aria-label="Delete memory"><Icon name="trash"/></button></td>
          </tr>
        </tbody>
      </table>
    </div>
    <p class="muted" v-else-if="!loading && !inactive">No memories{{ f.q || f.agent || f.user ? ' match these filters' : ' stored yet' }}. Agents save facts with the <code>save_to_memory</code> tool.</p>
    <div class="row pager" v-if="total > LIMIT">
      <button class="btn ghost sm" type="button" :disabled="offset === 0" @click="search(offset - LIMIT)">Previous</button>
      <span class="muted small">{{ offset + 1 }}–{{ Math.min(offset + LIMIT, total) }} of {{ total }}</span>
      <button class="btn ghost sm" type="button" :disabled="offset + LIMIT >= total" @click="search(offset + LIMIT)">Next</button>
    </div>
  </section>`,
  computed: { filtered() { return !!(this.shown.q || this.shown.agent || this.shown.user); } },
  setup() { return { nameOf, modelLabel, fmtTime, userLabel, LIMIT }; },
  mounted() { this.search(0); },
  // The runtime switches providers in the background: look again once it has settled.
  watch: { 's.settings.longTermProvider'() { setTimeout(() => this.search(0), 1200); } },
  methods: {
    async search(offset) {
      if (store.settings && !store.settings.longTermProvider) { // none active: nothing to ask for
        Object.assign(this, { inactive: true, items: [], total: 0, stored: 0, loading: false,
          error: 'No long-term memory provider is active (Settings → Long-term provider).' });
        return;
      }
      this.loading = true; this.error = '';
      const shown = { ...this.f };
      const qs = new URLSearchParams({ limit: LIMIT, offset });
      // a client's users are stored as "<clientId>:<userId>": the API takes the client and the user
      // id apart (a user id alone is that id under any client, a client alone all its users)
      for (const [k, v] of Object.entries(shown)) if (v) qs.set(k, v);
      const any = Object.values(shown).some(Boolean);
      try {
        const [r, all] = await Promise.all([api.get(`/memory/entries?${qs}`), any ? api.get('/memory/entries?limit=1') : null]);
        this.items = r.items || []; this.total = r.total ?? this.items.length; this.offset = offset; this.inactive = false;
        this.stored = all ? (all.total ?? 0) : this.total; this.shown = shown;
      } catch (e) {
        // 404 = no long-term provider active: not an error, just nothing to browse.
        this.inactive = e.status === 404; this.error = e.message; this.items = []; this.total = 0; this.stored = 0;
      } finally { this.loading = false; }
    },
    refresh() { return this.search(this.offset); },
    // {user, client name} of a stored owner: "<clientId>:<userId>" when the prefix is a client's id
    owner(m) {
      const key = String(m.userId || m.user || '');
      const i = key.indexOf(':');
      const c = i > 0 ? store.clients.find((x) => x.id === key.slice(0, i)) : null;
      return c ? { user: key.slice(i + 1), client: c.name } : { user: key, client: '' };
    },
    async remove(m) {
      if (!(await ask('Delete this memory? The agent will no longer recall it.', { title: 'Delete memory', ok: 'Delete', danger: true }))) return;
      try { await api.del(`/memory/entries/${m.id}`); toast.success('Memory deleted'); this.search(this.offset); } catch (e) { toast.error(e); }
    },
  },
};
