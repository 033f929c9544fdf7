// Clients: API tokens (mgc_…) that may call a set of agents/flows. Token shown once.
// Bots, webhooks and cron jobs: a per-type config form generated from GET /clients/types (no field
// lost on save), live status (connected, identity, last error/message; cron next/last run), why a
// client cannot run (no agent it may use: its warnings) and a token test for bots.
import { api } from '../api.js';
import { store, load, nameOf, liveHealth } from '../store.js';
import { ClientConfigForm, configForSave } from './client-config.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';
import { Modal } from '../components/modal.js';
import { ToggleChips, Switch } from '../components/inputs.js';
import { PageHeader, EmptyState, Skeleton, ErrorBanner, matches, copyText } from '../components/common.js';
import { entityPage } from '../components/entity-page.js';
import { ask } from '../components/confirm.js';
import { go } from '../router.js';

const TokenDialog = {
  name: 'TokenDialog',
  components: { Modal, Icon },
  props: { userApi: { type: String, default: '' } },
  data() { return { open: false, token: '', name: '', client: null }; },
  computed: {
    hook() { return this.client?.type === 'webhook' ? webhookUrl(this.userApi, this.client) : ''; },
    BOTS: () => BOT_TYPES,
    platform() { return { telegram: 'Telegram', slack: 'Slack', discord: 'Discord' }[this.client?.type] || ''; },
    // passthrough: the body's prompt is the message; command: the body is the command's payload
    passthrough() { return !!this.client?.config?.webhook?.passthrough; },
    // with a signing secret the token alone is refused (401): the line signs the body it sends
    signed() { return !!this.client?.config?.webhook?.signingSecretSet; },
    // what an OpenAI client reads from the environment (the openai SDKs; LangChain through them)
    openaiEnv() { return `export OPENAI_BASE_URL=${this.userApi}/v1\nexport OPENAI_API_KEY=${this.token}`; },
    curl() {
      const body = this.passthrough ? '{"prompt": "Hello"}' : '{}';
      const head = `curl -X POST ${this.hook} \\\n  -H 'Authorization: Bearer ${this.token}' \\\n  -H 'Content-Type: application/json' \\\n`;
      if (!this.signed) return `${head}  -d '${body}'`;
      // the signature covers "<timestamp>.<body>": a call older than 5 minutes is refused (no replay)
      return `BODY='${body}'\nTS=$(date +%s)\nSIG=$(printf '%s.%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SIGNING_SECRET" | sed 's/^.* //')\n`
        + `${head}  -H "X-Magec-Timestamp: $TS" \\\n  -H "X-Magec-Signature: sha256=$SIG" \\\n  -d "$BODY"`;
    },
  },
  template: `
  <Modal v-model:open="open" title="Client token" testid="token-dialog">
    <p>This is the token for <strong>{{ name }}</strong>. Copy it now — it will not be shown again.</p>
    <div class="token-box"><code data-testid="client-token">{{ token }}</code>
      <button class="btn secondary sm" type="button" @click="copy(token, 'Token')"><Icon name="copy" :size="14"/> Copy</button></div>
    <template v-if="hook">
      <p v-if="passthrough">POST <code>{"prompt": "…"}</code> to this webhook URL with the token as <code>Authorization: Bearer {{ token.slice(0, 8) }}…</code>; the answer comes back as <code>{"ok": true, "response": …}</code>.</p>
      <p v-else>POST a JSON body (the command's <code v-pre>{{body}}</code>) to this webhook URL with the token as <code>Authorization: Bearer {{ token.slice(0, 8) }}…</code>; the answer comes back as <code>{"ok": true, "response": …}</code>.</p>
      <div class="token-box"><code data-testid="webhook-url">{{ hook }}</code>
        <button class="btn secondary sm" type="button" @click="copy(hook, 'Webhook URL')"><Icon name="copy" :size="14"/> Copy</button></div>
      <p v-if="signed" data-testid="webhook-signed">This client signs its requests: each one also needs <code>X-Magec-Timestamp</code> (the time, in Unix seconds) and <code>X-Magec-Signature: sha256=…</code>, the HMAC-SHA256 of <code>timestamp.body</code> (the exact body) with the signing secret; a call more than 5 minutes old is refused (set <code>SIGNING_SECRET</code> for the lines below).</p>
      <pre class="mono small" data-testid="webhook-curl">{{ curl }}</pre>
    </template>
    <template v-else-if="client && client.type === 'cron'">
      <p class="hint" data-testid="token-use">Nothing needs this token for the schedule: magec runs the command itself and shows the last run's answer on this client's card. It also works as a client token (<code>Authorization: Bearer {{ token.slice(0, 8) }}…</code>) on the run API, limited to this client's agents; if nothing else calls magec as this client, you need not keep it.</p>
    </template>
    <template v-else-if="client && BOTS.includes(client.type)">
      <p class="hint" data-testid="token-use">The bot does not use this token: people talk to it in {{ platform }}, with the bot token saved in its settings. It also works as a client token (<code>Authorization: Bearer {{ token.slice(0, 8) }}…</code>) on the run API, limited to this client's agents; if nothing else calls magec as this client, you need not keep it.</p>
    </template>
    <template v-else>
      <p class="hint" data-testid="token-use">Send it as <code>Authorization: Bearer {{ token.slice(0, 8) }}…</code> to the run API, or use it as the API key of any OpenAI client pointed at <code>{{ userApi }}/v1</code>.
        The openai SDKs and LangChain's <code>ChatOpenAI</code> read these two variables: paste them in a shell, then use <code>OpenAI()</code> or <code>ChatOpenAI(model="…")</code> with an agent's name as the model.</p>
      <div class="token-box"><pre class="mono small" data-testid="openai-env">{{ openaiEnv }}</pre>
        <button class="btn secondary sm" type="button" @click="copy(openaiEnv, 'Settings')"><Icon name="copy" :size="14"/> Copy</button></div>
      <p class="hint" v-if="!client || client.type === 'direct'" data-testid="voice-ui-hint">To talk from a phone, open the Voice UI at <a :href="userApi + '/'" target="_blank" rel="noopener" data-testid="voice-ui-url">{{ userApi }}/</a> and pair it with this token.</p>
    </template>
    <template #footer><button class="btn" type="button" @click="open = false">Done</button></template>
  </Modal>`,
  methods: {
    show(name, token, client = null) { Object.assign(this, { name, token, client, open: true }); },
    async copy(text, what) { await copyText(text); toast.success(`${what} copied`); },
  },
};

// GET /server (the user API's base URL), fetched once per page load
let serverPromise = null;
function serverInfo() {
  if (!serverPromise) serverPromise = api.get('/server').catch((e) => { serverPromise = null; throw e; });
  return serverPromise;
}
// where a webhook client is called (user port, docs/clients.md)
const webhookUrl = (userApi, c) => `${userApi}/api/v1/webhooks/${encodeURIComponent(c.id)}`;

// GET /clients/types, fetched once per page load
let typesPromise = null;
export function clientTypes() {
  if (!typesPromise) typesPromise = api.get('/clients/types').catch((e) => { typesPromise = null; throw e; });
  return typesPromise;
}
const BOT_TYPES = ['telegram', 'slack', 'discord'];

const ClientDialog = {
  name: 'ClientDialog',
  components: { Modal, ToggleChips, Switch, ClientConfigForm },
  emits: ['token'],
  data() { return { open: false, editing: null, form: {}, saving: false, error: '', types: [] }; },
  computed: {
    typeInfo() { return this.types.find((t) => t.type === this.form.type) || null; },
    section: {
      get() { const v = (this.form.config || {})[this.form.type]; return v && typeof v === 'object' ? v : {}; },
      set(v) { this.form.config = { ...(this.form.config || {}), [this.form.type]: v }; },
    },
    targets() {
      return [...store.agents.map((a) => ({ value: a.id, label: a.name, hint: 'agent' })),
        ...store.flows.map((f) => ({ value: f.id, label: `⇶ ${f.name}`, hint: 'flow' }))];
    },
  },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit client' : 'New client'" :track="form" testid="client-dialog">
    <form class="form" id="client-form" @submit.prevent="save">
      <div class="field"><label for="c-name">Name <span class="req">*</span></label><input id="c-name" v-model="form.name" required autofocus placeholder="e.g. Voice UI, Mobile app"></div>
      <div class="field"><label for="c-type">Type</label><select id="c-type" v-model="form.type" data-testid="client-type">
        <option v-for="t in typeOptions()" :key="t.type" :value="t.type">{{ t.type === 'direct' ? 'Direct (API token)' : t.displayName }}</option></select></div>
      <div class="field"><label>Allowed agents and flows</label>
        <ToggleChips v-model="form.allowedAgents" :options="targets" empty="Create an agent first." search="Search agents and flows"/>
        <p class="warn-text small" v-if="targets.length && !form.allowedAgents.length" data-testid="no-agents-hint">None picked: this
          client can run nothing (its OpenAI model list is empty and every turn is refused) until you pick at least one.</p>
        <p class="hint" v-else>The first one is the default.</p></div>
      <Switch v-model="form.enabled" label="Enabled"/>
      <fieldset class="client-type-config" v-if="typeInfo && form.type !== 'direct'"><legend>{{ typeInfo.displayName }} settings</legend>
        <ClientConfigForm :schema="typeInfo.configSchema" :ctype="form.type" v-model="section"/></fieldset>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="client-form" :disabled="saving">{{ editing ? 'Save' : 'Create' }}</button>
    </template>
  </Modal>`,
  methods: {
    typeOptions() {
      const list = this.types.length ? this.types : [{ type: 'direct', displayName: 'Direct' }];
      return list.some((t) => t.type === this.form.type) ? list : [...list, { type: this.form.type, displayName: this.form.type }];
    },
    show(c) {
      this.editing = c || null;
      // the whole stored config is kept (every section, every field); the form edits config[type]
      const config = JSON.parse(JSON.stringify(c?.config || {}));
      this.form = { name: c?.name || '', type: c?.type || 'direct', allowedAgents: [...(c?.allowedAgents || [])], enabled: c ? c.enabled !== false : true, config };
      Object.assign(this, { error: '', saving: false, open: true });
      clientTypes().then((t) => { this.types = t || []; }).catch((e) => { this.error = `Client types: ${e.message}`; });
      if (!store.loaded.commands) load('commands');
    },
    body() {
      const f = this.form;
      return { name: f.name, type: f.type, allowedAgents: f.allowedAgents, enabled: f.enabled, config: configForSave(f.config, this.types) };
    },
    async save() {
      this.saving = true; this.error = '';
      try {
        if (this.editing) { await api.put(`/clients/${this.editing.id}`, this.body()); toast.success('Client saved'); } else {
          const c = await api.post('/clients', this.body());
          toast.success('Client created');
          if (c?.token) this.$emit('token', c.name || this.form.name, c.token, c);
        }
        this.open = false; await load('clients');
      } catch (e) { this.error = e.message; } finally { this.saving = false; }
    },
  },
};

export default {
  name: 'ClientsPage',
  mixins: [entityPage('clients', 'client')],
  components: { Icon, PageHeader, EmptyState, Skeleton, ErrorBanner, ClientDialog, TokenDialog },
  computed: { items() { return this.sorted(store.clients.filter((x) => matches(x, this.filter))); } },
  template: `
  <div class="page">
    <PageHeader title="Clients" icon="users" :count="s.clients.length" new-label="New client" v-model:filter="filter" v-model:sort="sort" :shown="items.length" @new="$refs.dlg.show()"
      subtitle="Apps that call magec's run API. Each gets a token and a list of agents or flows it may use."/>
    <ErrorBanner :error="s.errors.clients"/>
    <Skeleton v-if="!s.loaded.clients"/>
    <EmptyState v-else-if="!s.clients.length" icon="users" title="No clients yet" text="Without clients the run API is open; add one to require a token." action="New client" @action="$refs.dlg.show()"/>
    <div v-else class="grid">
      <article class="card entity client" v-for="c in items" :key="c.id" tabindex="0" @click="$refs.dlg.show(c)" @keydown.enter="$refs.dlg.show(c)" :data-testid="'client-' + c.name">
        <header class="card-head"><span class="type-badge t-client">{{ (c.type || 'dir').slice(0, 3).toUpperCase() }}</span><h3>{{ c.name }}</h3>
          <span class="badge" :class="c.enabled === false ? 'muted' : 'ok'">{{ c.enabled === false ? 'disabled' : 'enabled' }}</span></header>
        <p class="mono small">{{ c.tokenPreview || 'mgc_…' }}</p>
        <p v-if="c.type === 'webhook' && userApi" class="mono small break-any" :title="'POST ' + hookUrl(c)" :data-testid="'webhook-url-' + c.name">POST {{ hookUrl(c) }}</p>
        <div class="client-status small" v-if="c.status" :data-testid="'client-status-' + c.name">
          <span class="badge" :class="statusClass(c.status)" data-testid="client-state">{{ statusText(c.status, c.type) }}</span>
          <span v-if="c.status.identity" class="mono">{{ c.status.identity }}</span>
          <span v-if="c.status.runningElsewhere" class="muted">on {{ c.status.owner }}</span>
          <div v-if="c.type === 'cron'" class="muted">
            <div>Next run: <span data-testid="cron-next">{{ when(c.status.nextRun) }}</span></div>
            <div>Last run: <span data-testid="cron-last">{{ when(c.status.lastRun) }}</span><span v-if="c.status.lastOk === false" class="error-text"> (failed)</span></div>
            <div v-if="c.status.lastResult" class="ellipsis" :title="c.status.lastResult">{{ c.status.lastResult }}</div>
          </div>
          <div v-else-if="c.status.lastMessageAt" class="muted">Last message: {{ when(c.status.lastMessageAt) }}</div>
          <div v-if="c.status.lastIgnored" class="muted" data-testid="client-last-ignored">Ignored {{ c.status.lastIgnored.name || 'a user' }} (user id <code>{{ c.status.lastIgnored.userId }}</code>, chat <code>{{ c.status.lastIgnored.chatId }}</code>) {{ when(c.status.lastIgnored.at) }}: not in the allowed users or chats.</div>
          <div v-if="c.status.lastError && liveState(c.status) === 'disabled'" class="muted ellipsis" :title="c.status.lastError" data-testid="client-last-error">Last error: {{ c.status.lastError }}</div>
          <div v-else-if="c.status.lastError" class="error-text ellipsis" :title="c.status.lastError" data-testid="client-last-error">{{ c.status.lastError }}</div>
        </div>
        <p class="small warn-text" v-for="w in c.warnings || []" :key="w" :data-testid="'client-warning-' + c.name"><span class="badge warn">cannot run</span> {{ w }}</p>
        <div class="chip-list"><span class="badge k-agent" v-for="id in c.allowedAgents || []" :key="id">{{ targetName(id) }}</span>
          <span class="muted small" v-if="!(c.allowedAgents || []).length">No agents allowed</span></div>
        <footer class="card-actions" @click.stop>
          <button class="btn ghost sm" type="button" @click="regen(c)"><Icon name="refresh" :size="14"/> New token</button>
          <button v-if="bot(c)" class="btn ghost sm" type="button" @click="test(c)" :data-testid="'client-test-' + c.name"><Icon name="zap" :size="14"/> Test</button>
          <button class="btn ghost sm" type="button" @click="conversations(c)" :data-testid="'client-conversations-' + c.name" title="What this client ran: its turns, answers and errors"><Icon name="activity" :size="14"/> Conversations</button>
          <span class="spacer"></span>
          <button class="icon-btn" type="button" @click="$refs.dlg.show(c)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
          <button class="icon-btn danger" type="button" @click="remove(c)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
        </footer>
      </article>
    </div>
    <ClientDialog ref="dlg" @token="(n, t, c) => $refs.tok.show(n, t, c)"/>
    <TokenDialog ref="tok" :user-api="userApi"/>
  </div>`,
  data() { return { userApi: '' }; },
  mounted() {
    this.stopLive = liveHealth(['clients']);
    serverInfo().then((s) => { this.userApi = s.userApiUrl; }).catch(() => {});  // the URLs stay hidden
  },
  unmounted() { this.stopLive?.(); },
  methods: {
    bot(c) { return BOT_TYPES.includes(c.type); },
    // a webhook's calls and a cron job's runs, their answers and failures, are in the conversation
    // audit: the card shows no history of its own (a webhook has no status at all)
    conversations(c) { go('conversations', { clientId: c.id }); },
    hookUrl(c) { return webhookUrl(this.userApi, c); },
    when(t) { return t ? new Date(t).toLocaleString() : '—'; },
    // The server's live state when it gives one (a disabled client is 'disabled' whatever it last
    // recorded: its last error is history, not the state). A cron job connects to nothing: its
    // live scheduler is 'scheduled', not the bots' 'connected'.
    statusText(st, type) {
      const state = this.liveState(st);
      return type === 'cron' && (state === 'connected' || state === 'running') ? 'scheduled' : state;
    },
    liveState(st) {
      if (st.state) return st.state;
      if (st.connected) return 'connected';
      if (st.running) return 'running';
      if (st.runningElsewhere) return 'running';
      return st.lastError ? 'error' : 'stopped';
    },
    statusClass(st) { return ({ connected: 'ok', running: 'ok', error: 'err' })[this.liveState(st)] || 'muted'; },
    async test(c) {
      try {
        const r = await api.post(`/clients/${c.id}/${c.type}-test`, {});
        if (r.ok) toast.success(`Token OK: ${r.identity || r.name}`); else toast.error(`Test failed: ${r.error}`);
      } catch (e) { toast.error(e); }
    },
    targetName(id) { return store.agents.some((a) => a.id === id) ? nameOf('agents', id) : nameOf('flows', id); },
    async regen(c) {
      if (!(await ask(`Generate a new token for ${c.name}? The current token stops working immediately.`, { title: 'New token', ok: 'Generate', danger: true }))) return;
      try { const r = await api.post(`/clients/${c.id}/regenerate-token`, {}); this.$refs.tok.show(c.name, r.token, c); await load('clients'); } catch (e) { toast.error(e); }
    },
  },
};
