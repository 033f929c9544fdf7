// Secrets: write-only values referenced anywhere as ${KEY}.
import { api } from '../api.js';
import { store, load } from '../store.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';
import { Modal } from '../components/modal.js';
import { PasswordInput } from '../components/inputs.js';
import { PageHeader, EmptyState, Skeleton, ErrorBanner, matches, copyText } from '../components/common.js';
import { entityPage } from '../components/entity-page.js';
import { go } from '../router.js';

const KINDS = [['backends', 'backend', 'backend'], ['agents', 'agent', 'agent'], ['mcps', 'mcp', 'MCP server'],
  ['memory', 'memoryProvider', 'memory'], ['clients', 'client', 'client']];
const toKey = (s) => s.trim().toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '').replace(/^(\d)/, '_$1');

const SecretDialog = {
  name: 'SecretDialog',
  components: { Modal, PasswordInput },
  data() { return { open: false, editing: null, form: {}, keyTouched: false, saving: false, error: '' }; },
  computed: { valueRequired() { return !this.editing || !!this.editing.needsValue; } },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit secret' : 'New secret'" testid="secret-dialog">
    <form class="form" id="secret-form" @submit.prevent="save">
      <div class="field"><label for="s-name">Name <span class="req">*</span></label>
        <input id="s-name" v-model="form.name" required autofocus placeholder="e.g. OpenAI API key" @input="autoKey"></div>
      <div class="field"><label for="s-key">Key <span class="req">*</span></label>
        <input id="s-key" v-model="form.key" required pattern="[A-Z_][A-Z0-9_]*" title="Only capital letters, digits and _, not starting with a digit (e.g. OPENAI_API_KEY)" class="mono" placeholder="OPENAI_API_KEY" @input="keyTouched = true; form.key = form.key.toUpperCase()">
        <p class="hint">Use it in any field as <code>\${{ '{' + (form.key || 'KEY') + '}' }}</code>.</p></div>
      <div class="field"><label for="s-value">Value <span class="req" v-if="valueRequired">*</span></label>
        <PasswordInput id="s-value" v-model="form.value" name="secret-value" :placeholder="valueRequired ? 'secret value' : 'Leave empty to keep the current value'"/>
        <p class="warn-text" v-if="editing && editing.needsValue">This secret has no value (imported without it): what uses it sends nothing until you enter it.</p>
        <p class="hint">Values are encrypted at rest and never shown again.</p></div>
      <div class="field"><label for="s-desc">Description</label><input id="s-desc" v-model="form.description"></div>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="secret-form" :disabled="saving">{{ editing ? 'Save' : 'Create' }}</button>
    </template>
  </Modal>`,
  methods: {
    show(s) {
      this.editing = s || null;
      this.form = { name: s?.name || '', key: s?.key || '', value: '', description: s?.description || '' };
      Object.assign(this, { keyTouched: !!s, error: '', saving: false, open: true });
    },
    autoKey() { if (!this.keyTouched) this.form.key = toKey(this.form.name); },
    async save() {
      if (this.valueRequired && !this.form.value) { this.error = 'Value is required'; return; }
      this.saving = true; this.error = '';
      const body = { ...this.form };
      if (this.editing && !body.value) delete body.value;
      try {
        if (this.editing) await api.put(`/secrets/${this.editing.id}`, body); else await api.post('/secrets', body);
        toast.success(`Secret ${body.key} ${this.editing ? 'saved' : 'created'}`);
        this.open = false; await load('secrets');
      } catch (e) { this.error = e.message; } finally { this.saving = false; }
    },
  },
};

export default {
  name: 'SecretsPage',
  mixins: [entityPage('secrets', 'secret', ['backends', 'agents', 'mcps', 'memory', 'clients'])],
  components: { Icon, PageHeader, EmptyState, Skeleton, ErrorBanner, SecretDialog },
  computed: { items() { return this.sorted(store.secrets.filter((x) => matches(x, this.filter, ['name', 'key', 'description']))); } },
  setup() { return { go }; },
  template: `
  <div class="page">
    <PageHeader title="Secrets" icon="key" :count="s.secrets.length" new-label="New secret" v-model:filter="filter" v-model:sort="sort" :shown="items.length" @new="$refs.dlg.show()"
      subtitle="API keys and passwords. Reference them as \${KEY} in backends, MCP servers or any other field."/>
    <ErrorBanner :error="s.errors.secrets"/>
    <Skeleton v-if="!s.loaded.secrets"/>
    <EmptyState v-else-if="!s.secrets.length" icon="key" title="No secrets yet" text="Store an API key once and reference it as \${OPENAI_API_KEY}." action="New secret" @action="$refs.dlg.show()"/>
    <div v-else class="list">
      <div class="list-row" v-for="x in items" :key="x.id" :data-testid="'secret-' + x.key">
        <Icon name="key" class="muted"/>
        <div class="grow"><strong>{{ x.name }}</strong><div class="muted small">{{ x.description }}</div>
          <div class="secret-used small" :data-testid="'secret-used-' + x.key">
            <span class="muted" v-if="!usedBy(x).length">Not used yet</span>
            <template v-else><span class="muted">Used by</span>
              <button type="button" class="badge use link-badge" v-for="u in usedBy(x)" :key="u.page + u.id" :class="'k-' + u.kind" @click="go(u.page, u.page === 'agents' || u.page === 'backends' ? { edit: u.id } : {})"
                :title="u.label + ' ' + u.name + (u.how ? ' (' + u.how + ')' : '')">{{ u.name }} · {{ u.label }}</button></template>
          </div></div>
        <button type="button" class="chip mono" @click="copy(x)" title="Copy reference"><Icon name="copy" :size="12"/> \${{ '{' + x.key + '}' }}</button>
        <span class="muted small mono" v-if="!x.needsValue">••••••••</span>
        <button v-else type="button" class="badge warn link-badge" :data-testid="'secret-needs-value-' + x.key" @click="$refs.dlg.show(x)"
          title="Imported without its value: everything using it sends nothing until you enter it">No value: enter it</button>
        <button class="icon-btn" type="button" @click="$refs.dlg.show(x)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
        <button class="icon-btn danger" type="button" @click="remove(x)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
      </div>
    </div>
    <SecretDialog ref="dlg"/>
  </div>`,
  methods: {
    // Who references ${KEY} (in any field of what this page loaded) or lets an agent use KEY.
    usedBy(x) {
      const ref = '${' + x.key + '}';
      const out = [];
      for (const [page, kind, label] of KINDS) {
        for (const r of store[page] || []) {
          const inText = JSON.stringify(r).includes(ref);
          const allowed = page === 'agents' && (r.secrets || []).includes(x.key);
          if (inText || allowed) out.push({ page, kind, label, id: r.id, name: r.name || r.id, how: allowed && !inText ? 'allowed in tool calls' : '' });
        }
      }
      return out;
    },
    async copy(x) { await copyText('${' + x.key + '}'); toast.info(`Copied \${${x.key}}`); } },
};
