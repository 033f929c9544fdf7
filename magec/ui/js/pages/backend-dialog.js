// New/Edit backend dialog: name, type, URL, API key (or ${SECRET}), headers, test connection.
import { api } from '../api.js';
import { store, load } from '../store.js';
import { toast } from '../toast.js';
import { Modal } from '../components/modal.js';
import { Icon } from '../components/icon.js';
import { KvEditor, PasswordInput } from '../components/inputs.js';
import { TestResults } from '../components/test-results.js';
import { clone } from '../components/common.js';

export const FALLBACK_TYPES = [
  { type: 'openai', displayName: 'OpenAI-compatible', defaultUrl: 'https://api.openai.com/v1',
    description: 'OpenAI and anything that speaks its API: Ollama, LM Studio, vLLM, LocalAI, Parakeet, Edge TTS…' },
  { type: 'anthropic', displayName: 'Anthropic', defaultUrl: 'https://api.anthropic.com',
    description: 'Claude models through the Anthropic Messages API. LLM only.' },
  { type: 'gemini', displayName: 'Google Gemini', defaultUrl: 'https://generativelanguage.googleapis.com',
    description: 'Gemini models through the Google GenAI API.' },
  { type: 'local', displayName: 'Local (offline)', defaultUrl: '',
    description: 'Small models running inside magec itself: no key, no network.' },
];

const ORDER = ['openai', 'anthropic', 'gemini', 'local'];
const rank = (t) => (ORDER.includes(t.type) ? ORDER.indexOf(t.type) : ORDER.length);
export function backendTypes() {
  const list = store.backendTypes.length ? store.backendTypes : FALLBACK_TYPES;
  return [...list].sort((a, b) => rank(a) - rank(b));
}

// deadlines and retry budget: empty = the server's default
const LIMITS = ['timeout', 'connectTimeout', 'totalTimeout', 'maxAttempts'];
const blank = () => ({ name: '', type: 'openai', url: '', apiKey: '', headers: {}, timeout: null, connectTimeout: null, totalTimeout: null, maxAttempts: null });

export const BackendDialog = {
  name: 'BackendDialog',
  components: { Modal, Icon, KvEditor, PasswordInput, TestResults },
  emits: ['saved'],
  data() {
    return { open: false, editing: null, form: blank(), original: '', saving: false, error: '',
      testing: false, result: null, testedPayload: '', full: false, probe: { model: '', embeddingModel: '', ttsModel: '', ttsVoice: '', sttModel: '' },
      advanced: false };
  },
  computed: {
    types() { return backendTypes(); },
    typeInfo() { return this.types.find((t) => t.type === this.form.type) || {}; },
    keyStored() { return this.editing?.apiKeySet && !this.form.apiKey; },
    // Stored keys and header values are bound to the URL and type they were saved with: after
    // changing either, the server refuses to keep them (they must be typed again).
    moved() { return !!this.editing && (this.form.url !== (this.editing.url || '') || this.form.type !== this.editing.type); },
    urlMasked() { return (this.form.url || '').includes('***'); },
    secretKeys() { return store.secrets.map((s) => s.key).filter(Boolean); },
    dirty() { return JSON.stringify(this.payload()) !== this.original; },
  },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit backend' : 'New backend'" wide testid="backend-dialog">
    <form class="form" @submit.prevent="save" id="backend-form">
      <div class="field">
        <label for="b-name">Name <span class="req">*</span></label>
        <input id="b-name" v-model="form.name" required placeholder="e.g. OpenAI Production, Local Ollama" autofocus>
      </div>
      <div class="field">
        <label>Type</label>
        <div class="type-options" role="radiogroup">
          <label v-for="t in types" :key="t.type" class="type-option" :class="{on: form.type === t.type}">
            <input type="radio" name="b-type" :value="t.type" v-model="form.type">
            <span class="type-badge" :class="'t-' + t.type">{{ t.type.slice(0, 3).toUpperCase() }}</span>
            <span class="type-text"><strong>{{ t.displayName || t.type }}</strong><span class="muted small one-line" :title="t.description">{{ t.description }}</span></span>
          </label>
        </div>
      </div>
      <div class="field">
        <label for="b-url">URL</label>
        <input id="b-url" v-model.trim="form.url" :placeholder="typeInfo.defaultUrl || 'http://localhost:11434/v1'" spellcheck="false">
        <p class="hint" v-if="typeInfo.defaultUrl" data-testid="url-hint">Leave empty to use <code>{{ typeInfo.defaultUrl }}</code>.<template v-if="form.type === 'openai'"> For Ollama use <code>http://ollama:11434/v1</code>.</template></p>
        <p class="hint" v-if="urlMasked" data-testid="url-masked-hint">Credentials in the URL are stored encrypted and shown as <code>***</code>; leave the URL as is to keep them, or type the whole URL again.</p>
        <p class="hint warn" v-if="moved && (editing.apiKeySet || Object.values(form.headers || {}).includes(''))" data-testid="url-moved-hint">
          The URL or type changed: enter the API key and header values again — stored ones are only sent to the URL they were saved with.</p>
      </div>
      <div class="field">
        <label for="b-key">API key</label>
        <PasswordInput id="b-key" v-model="form.apiKey" name="apiKey"
          :placeholder="keyStored && !moved ? '•••••••• stored — leave empty to keep it' : 'sk-… or \${SECRET_KEY}'"/>
        <p class="hint">Paste a key or reference a secret as <code>\${KEY}</code>; stored keys are never shown again.
          <template v-if="secretKeys.length"> Secrets:
            <button type="button" class="link" v-for="k in secretKeys" :key="k" @click="form.apiKey = '\${' + k + '}'">\${{ '{' + k + '}' }}</button>
          </template>
        </p>
      </div>
      <div class="field">
        <label>Headers</label>
        <KvEditor v-model="form.headers" add-label="Add header"/>
      </div>
      <details class="field" :open="advanced" @toggle="advanced = $event.target.open">
        <summary>Advanced</summary>
        <div class="grid-2">
          <div class="field"><label for="b-timeout">Read timeout (s between bytes)</label>
            <input id="b-timeout" type="number" min="0.1" step="any" v-model.number="form.timeout" placeholder="60"></div>
          <div class="field"><label for="b-connect">Connect timeout (s)</label>
            <input id="b-connect" type="number" min="0.1" step="any" v-model.number="form.connectTimeout" placeholder="10"></div>
          <div class="field"><label for="b-total">Total timeout per call (s, retries included)</label>
            <input id="b-total" type="number" min="0.1" step="any" v-model.number="form.totalTimeout" placeholder="300"></div>
          <div class="field"><label for="b-attempts">Max attempts (1 = no retry)</label>
            <input id="b-attempts" type="number" min="1" max="10" v-model.number="form.maxAttempts" placeholder="3"></div>
        </div>
      </details>

      <section class="test-box">
        <div class="row wrap">
          <button type="button" class="btn secondary" @click="test" :disabled="testing" data-testid="test-connection">
            <Icon :name="testing ? 'refresh' : 'zap'" :size="16" :class="{ spin: testing }" data-testid="test-spinner"/> {{ testing ? 'Testing…' : 'Test connection' }}</button>
          <label class="check"><input type="checkbox" v-model="full" data-testid="full-probe"> Full probe (chat, tools, embeddings, voice)</label>
        </div>
        <div class="grid-2" v-if="full">
          <p class="hint grid-span">Empty = <em>auto</em>: the first listed model that fits the role; a role with no fitting listed model is reported as not tested.</p>
          <div class="field"><label for="p-model">Chat model</label><input id="p-model" v-model="probe.model" placeholder="auto" list="probe-models"></div>
          <div class="field"><label for="p-embed">Embedding model</label><input id="p-embed" v-model="probe.embeddingModel" placeholder="auto" list="probe-models"></div>
          <div class="field"><label for="p-stt">STT model</label><input id="p-stt" v-model="probe.sttModel" placeholder="auto" list="probe-models"></div>
          <div class="field"><label for="p-tts">TTS model / voice</label>
            <div class="row"><input id="p-tts" v-model="probe.ttsModel" placeholder="auto" list="probe-models" aria-label="TTS model"><input v-model="probe.ttsVoice" placeholder="voice" aria-label="TTS voice"></div></div>
          <datalist id="probe-models"><option v-for="m in (result && result.models) || []" :key="m.id || m" :value="m.id || m"/></datalist>
        </div>
        <TestResults :result="result"/>
      </section>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="backend-form" :disabled="saving">{{ saving ? 'Saving…' : (editing ? 'Save' : 'Create') }}</button>
    </template>
  </Modal>`,
  methods: {
    show(b) {
      this.editing = b || null;
      this.form = b ? { ...blank(), ...clone({ name: b.name, type: b.type, url: b.url || '', apiKey: b.apiKey || '', headers: b.headers || {}, ...Object.fromEntries(LIMITS.map(k => [k, b[k] ?? null])) }) } : blank();
      this.original = JSON.stringify(this.payload());
      this.probe = { model: '', embeddingModel: '', ttsModel: '', ttsVoice: '', sttModel: '' };
      Object.assign(this, { error: '', result: null, testedPayload: '', full: false, saving: false, advanced: false, open: true });
    },
    payload() {
      const p = { name: this.form.name.trim(), type: this.form.type, url: this.form.url, apiKey: this.form.apiKey, headers: this.form.headers || {} };
      for (const k of LIMITS) if (this.form[k]) p[k] = this.form[k];
      if (this.editing && !p.apiKey) delete p.apiKey; // keep the stored key
      return p;
    },
    async test() {
      this.testing = true; this.result = null; this.testedPayload = '';
      // empty model fields are "auto": the server picks from the models it lists (never a guess here)
      const opts = this.full ? Object.fromEntries(Object.entries({ full: true, ...this.probe }).filter(([, v]) => v !== '')) : {};
      const saved = this.editing && !this.dirty;
      try {
        if (saved) this.result = await api.post(`/backends/${this.editing.id}/test`, opts);
        else {
          this.result = await api.post('/backends/test', { ...this.payload(), ...(this.editing ? { id: this.editing.id } : {}), ...opts });
          this.testedPayload = JSON.stringify(this.payload()); // saved unchanged: the card keeps this result
        }
      } catch (e) {
        this.result = { ok: false, error: e.message, roles: {} };
      } finally {
        if (saved) load('backends'); // the card shows the new result and status at once
        this.testing = false;
        this.$nextTick(() => document.querySelector('[data-testid=test-results]')?.scrollIntoView({ block: 'nearest' }));
      }
    },
    async save() {
      if (!this.form.name.trim()) { this.error = 'Name is required'; return; }
      this.saving = true; this.error = '';
      try {
        const saved = this.editing
          // an emptied limit is sent as null: a PUT keeps magec's fields it leaves out (docs/admin-api.md)
          ? await api.put(`/backends/${this.editing.id}`, { ...Object.fromEntries(LIMITS.map((k) => [k, null])), ...this.payload() })
          : await api.post('/backends', this.payload());
        toast.success(`Backend “${this.form.name}” ${this.editing ? 'saved' : 'created'}`);
        this.open = false;
        // the connection tested in this dialog was saved unchanged: keep its results on the card
        if (this.result && this.testedPayload === JSON.stringify(this.payload()) && saved?.id) {
          await api.post(`/backends/${saved.id}/test`, { reuse: true }).catch(() => null);
        }
        await load('backends');
        this.$emit('saved', saved);
      } catch (e) { this.error = e.message; } finally { this.saving = false; }
    },
  },
};
