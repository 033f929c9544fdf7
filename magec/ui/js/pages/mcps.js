// MCP servers: HTTP (endpoint, headers, insecure) or stdio (command, args, env, workDir).
// Cards show the health this server process last observed (a turn's tool listing or a test) and
// a Test button (POST /mcps/{id}/test) whose tools or error stay on the card.
import { api } from '../api.js';
import { store, load, liveHealth, HEALTH_LABEL } from '../store.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';
import { Modal } from '../components/modal.js';
import { KvEditor, Switch } from '../components/inputs.js';
import { PageHeader, EmptyState, Skeleton, HealthDot, ErrorBanner, matches, clone } from '../components/common.js';
import { entityPage } from '../components/entity-page.js';
import { plural, verdict } from '../components/test-results.js';

const blank = () => ({ name: '', type: 'http', endpoint: '', headers: {}, insecure: false, command: '', args: [], env: {}, workDir: '', systemPrompt: '' });

const McpDialog = {
  name: 'McpDialog',
  components: { Modal, KvEditor, Switch },
  data() { return { open: false, editing: null, form: blank(), argsText: '', saving: false, error: '' }; },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit MCP server' : 'New MCP server'" wide testid="mcp-dialog">
    <form class="form" id="mcp-form" @submit.prevent="save">
      <div class="grid-2">
        <div class="field"><label for="mc-name">Name <span class="req">*</span></label><input id="mc-name" v-model="form.name" required autofocus placeholder="e.g. Home Assistant"></div>
        <div class="field"><label>Transport</label>
          <div class="seg"><label :class="{on: form.type === 'http'}"><input type="radio" value="http" v-model="form.type"> HTTP</label>
            <label :class="{on: form.type === 'stdio'}"><input type="radio" value="stdio" v-model="form.type"> Stdio</label></div></div>
      </div>
      <template v-if="form.type === 'http'">
        <div class="field"><label for="mc-ep">Endpoint <span class="req">*</span></label><input id="mc-ep" v-model.trim="form.endpoint" placeholder="http://localhost:3000/mcp" class="mono"></div>
        <div class="field"><label>Headers</label><KvEditor v-model="form.headers" add-label="Add header"/></div>
        <Switch v-model="form.insecure" label="Skip TLS verification"/>
      </template>
      <template v-else>
        <div class="grid-2">
          <div class="field"><label for="mc-cmd">Command <span class="req">*</span></label><input id="mc-cmd" v-model.trim="form.command" placeholder="npx" class="mono"></div>
          <div class="field"><label for="mc-args">Arguments</label><input id="mc-args" v-model="argsText" placeholder="-y, @modelcontextprotocol/server-filesystem, /data" class="mono">
            <p class="hint">Comma-separated.</p></div>
        </div>
        <div class="field"><label>Environment</label><KvEditor v-model="form.env" key-placeholder="VAR" value-placeholder="value or \${SECRET}" add-label="Add variable"/></div>
        <div class="field"><label for="mc-wd">Working directory</label><input id="mc-wd" v-model.trim="form.workDir" class="mono"></div>
      </template>
      <div class="field"><label for="mc-sp">System prompt</label><textarea id="mc-sp" v-model="form.systemPrompt" rows="3" placeholder="Appended to the prompt of every agent that uses this server"></textarea></div>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="mcp-form" :disabled="saving">{{ editing ? 'Save' : 'Create' }}</button>
    </template>
  </Modal>`,
  methods: {
    show(m) {
      this.editing = m || null;
      this.form = { ...blank(), ...clone(m || {}) };
      this.argsText = (this.form.args || []).join(', ');
      Object.assign(this, { error: '', saving: false, open: true });
    },
    async save() {
      this.saving = true; this.error = '';
      const f = clone(this.form);
      delete f.id; delete f.health;  // observed state, not a setting
      f.args = this.argsText.split(',').map((x) => x.trim()).filter(Boolean);
      try {
        if (this.editing) await api.put(`/mcps/${this.editing.id}`, f); else await api.post('/mcps', f);
        toast.success(`MCP server “${f.name}” ${this.editing ? 'saved' : 'created'}`);
        this.open = false; await load('mcps');
      } catch (e) { this.error = e.message; } finally { this.saving = false; }
    },
  },
};

export default {
  name: 'McpsPage',
  mixins: [entityPage('mcps', 'MCP server', ['agents'])],
  components: { Icon, PageHeader, EmptyState, Skeleton, HealthDot, ErrorBanner, McpDialog },
  data() { return { testing: {}, results: {} }; },
  computed: {
    items() { return this.sorted(store.mcps.filter((x) => matches(x, this.filter, ['name', 'endpoint', 'command']))); },
  },
  template: `
  <div class="page">
    <PageHeader title="MCP servers" icon="plug" :count="s.mcps.length" new-label="New MCP server" v-model:filter="filter" v-model:sort="sort" :shown="items.length" @new="$refs.dlg.show()"
      subtitle="Tool servers (Model Context Protocol) that agents can use."/>
    <ErrorBanner :error="s.errors.mcps"/>
    <Skeleton v-if="!s.loaded.mcps"/>
    <EmptyState v-else-if="!s.mcps.length" icon="plug" title="No MCP servers yet" text="Connect an MCP server over HTTP or launch one as a subprocess." action="New MCP server" @action="$refs.dlg.show()"/>
    <div v-else class="grid">
      <article class="card entity mcp" v-for="m in items" :key="m.id" tabindex="0" @click="$refs.dlg.show(m)" @keydown.enter="$refs.dlg.show(m)">
        <header class="card-head"><span class="type-badge t-mcp">{{ (m.type || 'http').toUpperCase().slice(0, 4) }}</span><h3>{{ m.name }}</h3>
          <HealthDot :status="m.health && m.health.status" :title="healthTitle(m)"/></header>
        <p class="health-line small" :data-testid="'mcp-health-' + m.name" :data-status="healthWord(m)" :class="'h-' + healthWord(m)" aria-live="polite">
          <template v-if="HEALTH_LABEL[m.health && m.health.status]">{{ HEALTH_LABEL[m.health.status] }}<template v-if="m.health.checkedAt"> · checked {{ new Date(m.health.checkedAt).toLocaleTimeString() }}</template></template>
          <template v-else>not checked yet</template></p>
        <p class="mono small url">{{ m.type === 'stdio' ? [m.command, ...(m.args || [])].join(' ') : m.endpoint }}</p>
        <p class="error-text small clamp" v-if="m.health && m.health.status === 'down' && m.health.lastError && !(results[m.id] && !results[m.id].ok)" :data-testid="'mcp-health-error-' + m.name" :title="m.health.lastError">{{ m.health.lastError }}</p>
        <div class="test-results" v-if="results[m.id]" :data-testid="'mcp-test-' + m.name" @click.stop>
          <div class="banner" :class="verdict(results[m.id]).cls" role="status"><Icon :name="verdict(results[m.id]).icon" :size="16"/>
            <span>{{ results[m.id].ok ? 'Connected · ' + plural(results[m.id].tools.length, 'tool') + (results[m.id].latencyMs != null ? ' · ' + Math.round(results[m.id].latencyMs) + ' ms' : '') : verdict(results[m.id]).text }}</span></div>
          <div class="chip-list" v-if="results[m.id].ok && results[m.id].tools.length"><code class="chip" v-for="t in results[m.id].tools" :key="t.name" :title="t.description">{{ t.name }}</code></div>
        </div>
        <div class="chip-list"><span class="badge k-agent" v-for="a in usedBy(m)" :key="a.id">{{ a.name }}</span>
          <span class="muted small" v-if="!usedBy(m).length">Not used by any agent</span></div>
        <footer class="card-actions" @click.stop><span class="spacer"></span>
          <button class="btn ghost sm" type="button" @click="test(m)" :disabled="testing[m.id]" title="Connect and list the tools"><Icon :name="testing[m.id] ? 'refresh' : 'zap'" :size="14" :class="{ spin: testing[m.id] }"/> {{ testing[m.id] ? 'Testing…' : 'Test' }}</button>
          <button class="icon-btn" type="button" @click="$refs.dlg.show(m)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
          <button class="icon-btn danger" type="button" @click="remove(m)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
        </footer>
      </article>
    </div>
    <McpDialog ref="dlg"/>
  </div>`,
  setup() { return { HEALTH_LABEL, plural, verdict }; },
  // the status changes when a turn lists a server's tools: refresh like the backends page does
  mounted() { this.stopLive = liveHealth(['mcps']); },
  unmounted() { this.stopLive(); },
  methods: {
    usedBy(m) { return store.agents.filter((a) => (a.mcpServers || []).includes(m.id)); },
    healthWord(m) { return HEALTH_LABEL[m.health && m.health.status] || 'unknown'; },
    healthTitle(m) {
      const h = m.health || {};
      return `${h.status || 'unknown'}${h.checkedAt ? ' · checked ' + new Date(h.checkedAt).toLocaleString() : ''}${h.lastError ? ' · ' + h.lastError : ''}`;
    },
    async test(m) {
      this.testing[m.id] = true;
      try {
        const r = await api.post(`/mcps/${m.id}/test`, {});
        this.results[m.id] = r;
        if (r.ok) toast.success(`${m.name}: connected, ${plural(r.tools.length, 'tool')}`);
        else toast.error(`${m.name}: ${r.error || 'connection failed'}`);
      } catch (e) { toast.error(e); } finally {
        this.testing[m.id] = false;
        // the test is the server's health now, and its agents' health follows it
        load('mcps'); load('agents');
      }
    },
  },
};
