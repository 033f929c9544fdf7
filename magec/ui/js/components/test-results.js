// Renders a "Test connection" report (POST /backends/test, /backends/{id}/test) or a card's
// lastTest: only what was MEASURED. A role not tested says so (never the type's role list as if
// measured); an optional check that failed (tool calling) is a warning, not a failed connection.
import { Icon } from './icon.js';

const ROLE_LABELS = { models: 'Model list', llm: 'Chat (LLM)', tools: 'Tool calling', embeddings: 'Embeddings', tts: 'Text-to-speech', stt: 'Speech-to-text' };
export const ROLE_SHORT = { llm: 'LLM', embeddings: 'Embeddings', tts: 'TTS', stt: 'STT' };
const ORDER = ['models', 'llm', 'tools', 'embeddings', 'tts', 'stt'];

export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// "ok" | "failed" | "warning" (optional role failed) | "not tested"
export function roleState(r) {
  if (r.ok === true) return 'ok';
  if (r.ok === false) return r.optional ? 'warning' : 'failed';
  return 'not tested';
}

// The banner of a report: passed, passed with warnings, or failed (with the first error).
export function verdict(result) {
  if (!result) return null;
  if (!result.ok) return { cls: 'error', icon: 'alert', text: 'Connection failed' + (result.error ? ': ' + result.error : '') };
  const warnings = result.warnings || [];
  if (warnings.length) return { cls: 'warn', icon: 'alert', text: `Connection OK, with ${plural(warnings.length, 'warning')}` };
  return { cls: 'success', icon: 'check', text: 'Connection OK' };
}

export const TestResults = {
  name: 'TestResults',
  components: { Icon },
  props: { result: Object },
  data() { return { showAll: false }; },
  computed: {
    banner() { return verdict(this.result); },
    roles() {
      const rs = this.result?.roles || {};
      const keys = [...ORDER.filter((k) => k in rs), ...Object.keys(rs).filter((k) => !ORDER.includes(k))];
      return keys.map((k) => ({ key: k, label: ROLE_LABELS[k] || k, ...(rs[k] || {}), state: roleState(rs[k] || {}) }));
    },
    // measured roles only; what the type may serve besides is labelled as not tested
    works() { return (this.result?.measured || []).map((r) => ROLE_SHORT[r] || r); },
    untested() {
      const measured = new Set([...(this.result?.measured || []), ...(this.result?.failed || [])]);
      return (this.result?.typeRoles || []).filter((r) => !measured.has(r)).map((r) => ROLE_SHORT[r] || r);
    },
    dimension() { return this.result?.capabilities?.embeddingDimension || this.result?.embeddingDimension || null; },
    tools() {
      const t = this.result?.roles?.tools;
      if (!t || t.ok == null) return null;
      const c = this.result?.capabilities || {};
      return t.ok ? (c.streamingTools ? 'yes (plain and streamed)' : 'yes (plain only)') : 'no';
    },
    models() { return (this.result?.models || []).map((m) => (typeof m === 'string' ? m : m.id)); },
    shownModels() { return this.showAll ? this.models : this.models.slice(0, 24); },
  },
  template: `
  <div class="test-results" v-if="result" data-testid="test-results">
    <div class="banner" :class="banner.cls" data-testid="test-verdict" role="status">
      <Icon :name="banner.icon" :size="16"/><span>{{ banner.text }}</span>
    </div>
    <ul class="warnings small" v-if="result.warnings && result.warnings.length" data-testid="test-warnings">
      <li v-for="w in result.warnings" :key="w" class="warn-text">{{ w }}</li>
    </ul>
    <table class="roles test-roles" v-if="roles.length">
      <colgroup><col class="c-role"><col class="c-state"><col class="c-ms"><col></colgroup>
      <tbody>
        <tr v-for="r in roles" :key="r.key" :data-role="r.key" :data-state="r.state">
          <td><span class="dot" :class="{ ok: 'healthy', failed: 'unhealthy', warning: 'degraded' }[r.state] || 'unknown'"></span> {{ r.label }}</td>
          <td class="state small" :class="'s-' + r.state.replace(' ', '-')">{{ r.state }}</td>
          <td class="num">{{ r.latencyMs != null && r.state !== 'not tested' ? Math.round(r.latencyMs) + ' ms' : '' }}</td>
          <td class="muted small detail" :title="r.detail"><code v-if="r.model" class="model">{{ r.model }}</code>{{ r.model ? ' · ' : '' }}{{ r.detail }}</td>
        </tr>
      </tbody>
    </table>
    <dl class="caps" data-testid="test-caps">
      <dt>Works for</dt><dd data-testid="test-works">{{ works.length ? works.join(', ') : (result.full ? 'no role passed' : 'not tested — tick “Full probe” to test chat, embeddings and voice') }}</dd>
      <template v-if="dimension"><dt>Embedding dimension</dt><dd data-testid="test-dimension">{{ dimension }}</dd></template>
      <template v-if="tools"><dt>Tool calling</dt><dd>{{ tools }}</dd></template>
      <template v-if="untested.length"><dt>Not tested</dt><dd class="muted" data-testid="test-untested">{{ untested.join(', ') }} (the type may serve them)</dd></template>
    </dl>
    <div v-if="models.length" class="models">
      <div class="label">{{ plural(models.length, 'model') }} listed</div>
      <div class="chip-list"><code class="chip" v-for="m in shownModels" :key="m">{{ m }}</code>
        <button type="button" class="btn ghost sm" v-if="models.length > 24" @click="showAll = !showAll">{{ showAll ? 'Show less' : 'Show all' }}</button>
      </div>
    </div>
  </div>`,
  setup() { return { plural }; },
};
